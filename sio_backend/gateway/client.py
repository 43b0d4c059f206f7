"""``GatewayClient``: the one object the rest of sio_backend talks to.

One client is shared by every nova-compute thread that touches PowerFlex. It
holds one HTTP connection pool, one gateway session and the name-to-id
caches, and it turns every gateway answer into a typed value or a typed
exception: callers never get a silent ``None`` on failure and never compare
error numbers.  The methods here only delegate: the work is in the module
of each resource (``system``, ``volumes``, ``vtrees``, ``sdcs``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from oslo_log import log as logging
from requests.adapters import BaseAdapter

from sio_backend import conf as sio_conf
from sio_backend.credentials import gateway_password
from sio_backend.exceptions import ConfigurationError
from sio_backend.gateway.api import Api
from sio_backend.gateway.auth import login_for
from sio_backend.gateway.models import Generation, PoolCapacity, Sdc, StoragePool, Volume
from sio_backend.gateway.sdcs import Sdcs
from sio_backend.gateway.session import Session
from sio_backend.gateway.system import System
from sio_backend.gateway.transport import Transport
from sio_backend.gateway.volumes import Volumes
from sio_backend.gateway.vtrees import VTrees

if TYPE_CHECKING:
    from oslo_config import cfg

LOG = logging.getLogger(__name__)


class GatewayClient:
    """The PowerFlex gateway, as one shared, self-authenticating connection pool."""

    def __init__(
        self,
        host: str,
        port: int = 443,
        username: str = "",
        password: str = "",
        *,
        verify: bool | str = False,
        timeout: float = 60,
        max_connections: int = 100,
        scheme: str = "https",
        auth_method: str = "auto",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``auth_method`` is ``[scaleio] rest_auth_method`` (auto, legacy or
        oauth); ``clock`` and ``sleep`` exist so tests can move time without waiting."""
        if not host:
            raise ConfigurationError(
                "the PowerFlex gateway address is empty: set [scaleio] rest_server_ip"
            )
        self._transport = Transport(
            host,
            port,
            scheme=scheme,
            verify=verify,
            timeout=timeout,
            max_connections=max_connections,
        )
        self.endpoint = self._transport.endpoint
        login = login_for(auth_method, self._transport, username, password)
        self._session = Session(self._transport, login, clock)
        api = Api(self._transport, self._session, clock=clock, sleep=sleep)
        self._system = System(api)
        self._volumes = Volumes(api, self._system)
        self._vtrees = VTrees(api, self._volumes)
        self._sdcs = Sdcs(api)

    @classmethod
    def from_config(cls, conf: cfg.ConfigOpts) -> GatewayClient:
        """Build the client from ``[scaleio]``; a missing setting names its option."""
        sio_conf.register_opts(conf)
        group = conf.scaleio
        for option in ("rest_server_ip", "rest_server_username"):
            if not getattr(group, option):
                raise ConfigurationError(
                    f"[scaleio] {option} is not set; the PowerFlex gateway cannot be used "
                    "without it"
                )
        password = gateway_password(group.rest_server_password, group.rest_server_password_file)
        verify: bool | str = group.verify_server_certificate
        ca_path = group.server_certificate_path
        if verify and ca_path:
            if not os.path.isfile(ca_path):
                raise ConfigurationError(
                    f"[scaleio] server_certificate_path {ca_path!r} is not a readable file; "
                    "point it at the PEM CA bundle that signed the gateway certificate"
                )
            verify = ca_path
        elif ca_path:
            LOG.warning(
                "[scaleio] server_certificate_path is set but verify_server_certificate is "
                "False, so the gateway certificate is not checked"
            )
        return cls(
            group.rest_server_ip,
            group.rest_server_port,
            group.rest_server_username,
            password,
            verify=verify,
            timeout=group.rest_request_timeout,
            max_connections=group.rest_max_connections,
            auth_method=group.rest_auth_method,
        )

    # -- connection ---------------------------------------------------------

    @property
    def adapter(self) -> BaseAdapter:
        """The transport adapter every request goes through."""
        return self._transport.adapter

    def mount(self, adapter: BaseAdapter) -> None:
        """Send every request through ``adapter`` (a test double, a fault injector)."""
        self._transport.mount(adapter)

    def login(self) -> None:
        """Log in now, rather than on the first request."""
        self._session.grant()

    def close(self) -> None:
        """End the session and close the connection pool: an OAuth session is
        logged out, a legacy token is left to expire (logout would end it for
        every other holder of it too)."""
        try:
            self._session.close()
        finally:
            self._transport.close()

    # -- system -------------------------------------------------------------

    def api_version(self) -> str:
        """The REST API version as "major.minor", fetched once per client."""
        return self._system.api_version()

    def generation(self) -> Generation:
        """The API version and the login this client uses (logging in if need be)."""
        api_version = self._system.api_version()
        return Generation(api_version=api_version, auth_method=self._session.auth_method or "")

    def system_id(self) -> str:
        """The id that names devices ``emc-vol-<system id>-<volume id>``."""
        return self._system.system_id()

    def protection_domain_id(self, name: str) -> str:
        """Id of a protection domain by name; cached for five minutes."""
        return self._system.protection_domain_id(name)

    def storage_pool_id(self, protection_domain: str, pool: str) -> str:
        """Id of a storage pool by domain and pool name; cached for five minutes."""
        return self._system.storage_pool_id(protection_domain, pool)

    def get_storage_pool(self, pool_id: str) -> StoragePool:
        """The pool, with its protection domain's generation (``gen_type``)."""
        return self._system.get_storage_pool(pool_id)

    def pool_capacity(self, pool_id: str) -> PoolCapacity:
        """Capacity in KiB: from selected statistics, or on an Erasure Coding
        pool from the metrics service."""
        return self._system.pool_capacity(pool_id)

    # -- volumes ------------------------------------------------------------

    def create_volume(
        self, name: str, pool_id: str, size_gb: int, *, thin: bool, exclusive: bool = False
    ) -> Volume:
        """Create a volume of ``size_gb`` rounded up to the pool's granularity
        (8 GiB, or 1 GiB on an Erasure Coding pool).

        A replayed or unanswered create is resolved by name: a volume that is
        exactly what was asked for is adopted, any other one is a conflict.
        ``exclusive`` callers use the name as a lock between hosts, so for them
        a name in use is :class:`NameInUse` and nothing is adopted.
        """
        return self._volumes.create(name, pool_id, size_gb, thin=thin, exclusive=exclusive)

    def volume_id_by_name(self, name: str) -> str | None:
        return self._volumes.id_by_name(name)

    def find_volume(self, name: str) -> Volume | None:
        return self._volumes.find(name)

    def get_volume(self, volume_id: str) -> Volume:
        return self._volumes.get(volume_id)

    def volumes_by_ids(self, volume_ids: list[str]) -> list[Volume]:
        """Those of the volumes that exist, read in one request (queryBySelectedIds)."""
        return self._volumes.by_ids(volume_ids)

    def list_volumes(self) -> list[Volume]:
        """Every volume of the system: for operator audits only, never per instance."""
        return self._volumes.list_all()

    def rename_volume(self, volume_id: str, new_name: str) -> None:
        self._volumes.rename(volume_id, new_name)

    def extend_volume(
        self, volume_id: str, size_gb: int, *, current: Volume | None = None
    ) -> Volume:
        """Grow to ``size_gb`` rounded up to the pool's granularity; the gateway
        itself does not round.

        ``current``, the caller's reading of the volume, spares reading it
        first; if it is out of date, the gateway's refusal to shrink (or to
        keep the size) is checked against a fresh reading.
        """
        return self._volumes.extend(volume_id, size_gb, current=current)

    def remove_volume(self, volume_id: str, *, mapped: bool | None = None) -> None:
        """Unmap from every SDC, then remove; a volume already gone is success.

        ``mapped`` is what the caller knows from a fresh read (or, when
        True, assumes); None reads the volume first.  A mapping made after
        that read still makes the removal fail: someone may be using it.
        """
        self._volumes.remove(volume_id, mapped=mapped)

    def map_volume(self, volume_id: str, sdc_id: str, *, allow_multiple: bool = True) -> bool:
        """Map to an SDC (addMappedSdc, or addMappedHost where that is what the
        gateway serves); multiple mappings stay allowed for live migration.

        False when the gateway says the mapping was there already, so that a
        caller rolling back undoes only a mapping its own call made.
        """
        return self._volumes.map(volume_id, sdc_id, allow_multiple=allow_multiple)

    def unmap_volume(self, volume_id: str, sdc_id: str | None = None) -> None:
        """Unmap from one SDC, or from all when ``sdc_id`` is None."""
        self._volumes.unmap(volume_id, sdc_id)

    def set_sdc_limits(
        self,
        volume_id: str,
        sdc_id: str,
        *,
        iops_limit: int | None = None,
        bandwidth_limit_kbps: int | None = None,
    ) -> None:
        """Set QoS on a mapping; only the limits given are sent, 0 means unlimited."""
        self._volumes.set_limits(
            volume_id, sdc_id, iops_limit=iops_limit, bandwidth_limit_kbps=bandwidth_limit_kbps
        )

    def snapshot_volume(
        self,
        volume_id: str,
        snapshot_name: str,
        *,
        pool_id: str | None = None,
        exclusive: bool = False,
    ) -> str:
        """A writable snapshot of the volume (a thin clone on Erasure Coding
        pools); a replayed request adopts the snapshot it made.

        ``pool_id``, the volume's pool when the caller knows it, spares a read
        of the volume on 5.x systems.  ``exclusive``: nothing is adopted, a
        failure that may hide success (NameInUse, a lost answer) is raised,
        for callers to whom a same-named snapshot is an older one.
        """
        return self._volumes.snapshot(
            volume_id, snapshot_name, pool_id=pool_id, exclusive=exclusive
        )

    def overwrite_volume_content(self, volume_id: str, source_volume_id: str) -> None:
        """Revert a volume to a snapshot of its own V-Tree."""
        self._volumes.overwrite_content(volume_id, source_volume_id)

    # -- V-Trees ------------------------------------------------------------

    def vtree_volumes(self, vtree_id: str) -> list[Volume]:
        """The volumes of one V-Tree: its base volume and every snapshot of it."""
        return self._vtrees.volumes(vtree_id)

    def get_vtree(self, vtree_id: str) -> dict:
        return self._vtrees.get(vtree_id)

    def migrate_vtree(
        self,
        volume_id: str,
        dest_pool_id: str,
        *,
        conversion: str = "NoConversion",
        poll_interval: float = 3.0,
        timeout: float = 3600.0,
    ) -> None:
        """Move a volume's V-Tree to another pool and wait until it is there."""
        self._vtrees.migrate(
            volume_id,
            dest_pool_id,
            conversion=conversion,
            poll_interval=poll_interval,
            timeout=timeout,
        )

    # -- SDCs ---------------------------------------------------------------

    def list_sdcs(self) -> list[Sdc]:
        return self._sdcs.list_all()

    def get_sdc(self, sdc_id: str) -> Sdc:
        return self._sdcs.get(sdc_id)

    def sdc_by_guid(self, guid: str) -> Sdc:
        """The kernel reports GUIDs lower-case, the gateway upper-case."""
        return self._sdcs.by_guid(guid)

    def sdc_by_ip(self, ip: str) -> Sdc:
        return self._sdcs.by_ip(ip)
