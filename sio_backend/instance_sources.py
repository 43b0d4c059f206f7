"""Where ``sio-backend audit`` learns which instances exist.

Three sources, from the most to the least explicit: a list the operator
gives, the libvirt domains of this host, or nova's API.  Each returns a
complete answer or raises: a partial list would make live instances look
deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from pathlib import Path

from oslo_config import cfg

from sio_backend import exceptions
from sio_backend.audit import KnownInstances

NOVA_PAGE_SIZE = 1000


class SourceError(exceptions.ScaleIOError):
    """The list of instances could not be read completely."""


def _canonical(value: str, where: str) -> str:
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise SourceError(f"{value.strip()!r} in {where} is not an instance UUID") from None


def from_list(uuids: Iterable[str], files: Iterable[Path]) -> KnownInstances:
    """UUIDs given with ``--instance`` and one per line in ``--instances-file``s.

    Blank lines and lines starting with ``#`` are skipped, so the output of
    ``openstack server list --all-projects -f value -c ID`` works as is.
    """
    found = {_canonical(value, "--instance") for value in uuids}
    for path in files:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise SourceError(f"cannot read the instances file {path}: {error}") from error
        found |= {
            _canonical(line, str(path))
            for line in lines
            if line.strip() and not line.lstrip().startswith("#")
        }
    return KnownInstances(frozenset(found), "the instance list given")


def from_libvirt(uri: str, local_sdc_id: str) -> KnownInstances:
    """Every domain libvirt defines on this host, running or not."""
    try:
        import libvirt  # noqa: PLC0415 - only this source needs libvirt-python
    except ImportError as error:
        raise SourceError(
            "--libvirt-uri needs libvirt-python in this Python environment"
        ) from error
    try:
        connection = libvirt.openReadOnly(uri)
        try:
            domains = {domain.UUIDString() for domain in connection.listAllDomains()}
        finally:
            connection.close()
    except libvirt.libvirtError as error:
        raise SourceError(f"cannot list the libvirt domains of {uri}: {error}") from error
    return KnownInstances(frozenset(domains), f"libvirt ({uri}) on this host", local_sdc_id)


def register_nova_api_options(conf: cfg.ConfigOpts, section: str) -> None:
    """Keystone session, auth and adapter options of ``section``, as nova registers them."""
    from keystoneauth1 import loading as ks_loading  # noqa: PLC0415 - installed with nova

    ks_loading.register_session_conf_options(conf, section)
    ks_loading.register_auth_conf_options(conf, section)
    ks_loading.register_adapter_conf_options(conf, section)


def from_nova_api(conf: cfg.ConfigOpts, section: str) -> KnownInstances:
    """Every instance of every project, as nova's API lists them.

    Only the credentials (session and auth options) and the region and
    interfaces of ``section`` are used; the service is always ``compute``.
    """
    from keystoneauth1 import adapter  # noqa: PLC0415
    from keystoneauth1 import exceptions as ks_exceptions  # noqa: PLC0415
    from keystoneauth1 import loading as ks_loading  # noqa: PLC0415

    register_nova_api_options(conf, section)
    group = conf[section]
    auth = ks_loading.load_auth_from_conf_options(conf, section)
    if auth is None:
        raise SourceError(f"[{section}] has no auth_type; nova's API cannot be asked")
    session = ks_loading.load_session_from_conf_options(conf, section, auth=auth)
    compute = adapter.Adapter(
        session,
        auth=auth,
        service_type="compute",
        interface=group.valid_interfaces or ["internal", "public"],
        region_name=group.region_name,
    )
    found: set[str] = set()
    marker = None
    try:
        while True:
            query = {"all_tenants": "1", "limit": str(NOVA_PAGE_SIZE)}
            if marker:
                query["marker"] = marker
            response = compute.get("/servers", params=query, raise_exc=True)
            servers = response.json().get("servers")
            if not isinstance(servers, list):
                raise SourceError("nova's API answered /servers without a servers list")
            if not servers:
                break
            ids = [server["id"] for server in servers]
            if marker in ids or set(ids) <= found:
                raise SourceError("nova's API repeated a page of /servers; the list is unusable")
            found.update(ids)
            marker = ids[-1]
    except ks_exceptions.ClientException as error:
        raise SourceError(
            f"cannot list instances from nova's API with the [{section}] credentials: {error}"
        ) from error
    return KnownInstances(frozenset(found), f"nova's API ([{section}] credentials)")
