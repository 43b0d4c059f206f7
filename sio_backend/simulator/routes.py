"""The gateway's REST surface: which URL does what to the model.

Each route is an HTTP method, a URL template and a handler that reads the
body, calls the model and renders the answer.  Both URL styles real clients
use are here: ``queryIdByKey`` with the key in the body and the older
``getByName::`` with a double URL-encoded name in the path.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from sio_backend.simulator import errors, views
from sio_backend.simulator.errors import SimulatorError
from sio_backend.simulator.params import Body
from sio_backend.simulator.sessions import SessionStore
from sio_backend.simulator.state import GatewayState

EMPTY = object()  # a handler's answer for "200 with an empty body"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: Body
    authorization: str | None = None
    token: str | None = None
    params: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Any]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Handler
    pattern: re.Pattern[str]
    public: bool = False


def _compile(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    regex = ""
    for index, part in enumerate(parts):
        if index % 2 == 0:
            regex += re.escape(part)
        else:
            regex += f"(?P<{part}>.+)" if part == "name" else f"(?P<{part}>[^/]+)"
    return re.compile(f"^{regex}$")


def _decode_name(raw: str) -> str:
    """Undo the double URL-encoding clients apply to names in paths."""
    return unquote(unquote(raw))


class GatewayApi:
    """The route table and handlers of one simulated gateway."""

    def __init__(self, state: GatewayState, sessions: SessionStore) -> None:
        self.state = state
        self.sessions = sessions
        self.routes = [
            Route(method, template, handler, _compile(template), template == "/api/login")
            for method, template, handler in self._table()
        ]

    def find(self, method: str, path: str) -> Route | None:
        """The route a request would take, if any (for logging faulted requests)."""
        try:
            return self.match(method, path)[0]
        except SimulatorError:
            return None

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        if re.search(r"%2f|%5c", path, re.IGNORECASE):
            # Like the gateway's servlet container: encoded slashes never reach it.
            raise errors.invalid_request(f"the URI {path} contains an encoded slash")
        path = path.rstrip("/") or "/"  # the legacy getByIp URL ends with a slash
        allowed = False
        for route in self.routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method:
                return route, found.groupdict()
            allowed = True
        if allowed:
            raise SimulatorError(405, 0, f"Method {method} is not allowed for {path}")
        raise SimulatorError(404, 0, f"No gateway resource at {path}")

    def _table(self) -> list[tuple[str, str, Handler]]:
        vol = "/api/instances/Volume::{id}/action/"
        return [
            ("GET", "/api/login", self.login),
            ("GET", "/api/logout", self.logout),
            ("GET", "/api/version", self.version),
            # System
            ("GET", "/api/types/System/instances", self.list_systems),
            ("GET", "/api/instances/System::{id}", self.get_system),
            ("GET", "/api/instances/System::{id}/relationships/Statistics", self.system_stats),
            ("GET", "/api/instances/System::{id}/relationships/ProtectionDomain", self.system_pds),
            ("GET", "/api/instances/System::{id}/relationships/Sdc", self.system_sdcs),
            (
                "POST",
                "/api/types/System/instances/action/querySelectedStatistics",
                self.query_system_stats,
            ),
            ("POST", "/api/instances/System::{id}/action/snapshotVolumes", self.snapshot_volumes),
            ("POST", "/api/instances/System/action/snapshotVolumes", self.snapshot_volumes),
            (
                "POST",
                "/api/instances/System::{id}/action/removeConsistencyGroupSnapshots",
                self.remove_snapshot_group,
            ),
            # Protection domains
            ("GET", "/api/types/ProtectionDomain/instances", self.list_pds),
            ("GET", "/api/instances/ProtectionDomain::{id}", self.get_pd),
            (
                "GET",
                "/api/instances/ProtectionDomain::{id}/relationships/StoragePool",
                self.pd_pools,
            ),
            (
                "GET",
                "/api/instances/ProtectionDomain::{id}/relationships/Statistics",
                self.pd_stats,
            ),
            (
                "POST",
                "/api/types/ProtectionDomain/instances/action/queryIdByKey",
                self.pd_id_by_key,
            ),
            (
                "POST",
                "/api/types/ProtectionDomain/instances/action/queryBySelectedIds",
                self.pds_by_ids,
            ),
            ("GET", "/api/types/Domain/instances/getByName::{name}", self.pd_id_by_name),
            # Storage pools
            ("GET", "/api/types/StoragePool/instances", self.list_pools),
            ("GET", "/api/instances/StoragePool::{id}", self.get_pool),
            ("GET", "/api/instances/StoragePool::{id}/relationships/Statistics", self.pool_stats),
            ("GET", "/api/instances/StoragePool::{id}/relationships/Volume", self.pool_volumes),
            ("POST", "/api/types/StoragePool/instances/action/queryIdByKey", self.pool_id_by_key),
            (
                "POST",
                "/api/types/StoragePool/instances/action/queryBySelectedIds",
                self.pools_by_ids,
            ),
            (
                "POST",
                "/api/types/StoragePool/instances/action/querySelectedStatistics",
                self.query_pool_stats,
            ),
            ("GET", "/api/types/Pool/instances/getByName::{name}", self.pool_id_by_name),
            # Volumes
            ("GET", "/api/types/Volume/instances", self.list_volumes),
            ("POST", "/api/types/Volume/instances", self.create_volume),
            ("GET", "/api/instances/Volume::{id}", self.get_volume),
            ("GET", "/api/instances/Volume::{id}/relationships/Statistics", self.volume_stats),
            ("POST", "/api/types/Volume/instances/action/queryIdByKey", self.volume_id_by_key),
            ("POST", "/api/types/Volume/instances/action/queryBySelectedIds", self.volumes_by_ids),
            ("GET", "/api/types/Volume/instances/getByName::{name}", self.volume_id_by_name),
            ("POST", vol + "setVolumeName", self.rename_volume),
            ("POST", vol + "setVolumeSize", self.resize_volume),
            ("POST", vol + "removeVolume", self.remove_volume),
            ("POST", vol + "addMappedSdc", self.map_volume),
            ("POST", vol + "removeMappedSdc", self.unmap_volume),
            ("POST", vol + "setMappedSdcLimits", self.set_limits),
            ("POST", vol + "overwriteVolumeContent", self.overwrite_volume),
            ("POST", vol + "migrateVTree", self.migrate_vtree),
            # V-Trees
            ("GET", "/api/types/VTree/instances", self.list_vtrees),
            ("GET", "/api/instances/VTree::{id}", self.get_vtree),
            ("GET", "/api/instances/VTree::{id}/relationships/Statistics", self.vtree_stats),
            ("GET", "/api/instances/VTree::{id}/relationships/Volume", self.vtree_volumes),
            # SDCs
            ("GET", "/api/types/Sdc/instances", self.list_sdcs),
            ("GET", "/api/instances/Sdc::{id}", self.get_sdc),
            ("GET", "/api/instances/Sdc::{id}/relationships/Volume", self.sdc_volumes),
            ("POST", "/api/types/Sdc/instances/action/queryIdByKey", self.sdc_id_by_key),
            ("POST", "/api/types/Sdc/instances/action/queryBySelectedIds", self.sdcs_by_ids),
            ("GET", "/api/types/Client/instances/getByIp::{ip}", self.sdc_id_by_ip),
        ]

    # ------------------------------------------------------------ sessions
    def login(self, request: Request) -> Any:
        username, password = _basic_credentials(request.authorization)
        return self.sessions.login(username, password)

    def logout(self, request: Request) -> Any:
        if request.token is not None:
            self.sessions.logout(request.token)
        return EMPTY

    def version(self, request: Request) -> Any:
        return self.state.api_version

    # -------------------------------------------------------------- system
    def _check_system(self, request: Request) -> None:
        if request.params.get("id", self.state.system_id) != self.state.system_id:
            raise errors.NOT_FOUND.error(message="Could not find the System")

    def list_systems(self, request: Request) -> Any:
        return [views.system_view(self.state)]

    def get_system(self, request: Request) -> Any:
        self._check_system(request)
        return views.system_view(self.state)

    def system_stats(self, request: Request) -> Any:
        self._check_system(request)
        return self.state.system_statistics()

    def system_pds(self, request: Request) -> Any:
        self._check_system(request)
        return self.list_pds(request)

    def system_sdcs(self, request: Request) -> Any:
        self._check_system(request)
        return self.list_sdcs(request)

    def query_system_stats(self, request: Request) -> Any:
        properties = request.body.strings("properties", required=True)
        return _select(self.state.system_statistics(), properties)

    def snapshot_volumes(self, request: Request) -> Any:
        self._check_system(request)
        definitions = [
            (d.text("volumeId", required=True) or "", d.text("snapshotName"))
            for d in request.body.objects("snapshotDefs", required=True)
        ]
        group_id, volume_ids = self.state.snapshot_volumes(definitions)
        return {"snapshotGroupId": group_id, "volumeIdList": volume_ids}

    def remove_snapshot_group(self, request: Request) -> Any:
        self._check_system(request)
        group_id = request.body.text("snapGroupId", required=True) or ""
        return {"numberOfVolumes": self.state.remove_snapshot_group(group_id)}

    # --------------------------------------------------- protection domains
    def list_pds(self, request: Request) -> Any:
        return [
            views.protection_domain_view(self.state, pd) for pd in self.state.protection_domains()
        ]

    def get_pd(self, request: Request) -> Any:
        return views.protection_domain_view(
            self.state, self.state.protection_domain(request.params["id"])
        )

    def pd_pools(self, request: Request) -> Any:
        pd = self.state.protection_domain(request.params["id"])
        return [views.storage_pool_view(p) for p in self.state.storage_pools(pd.id)]

    def pd_stats(self, request: Request) -> Any:
        return self.state.protection_domain_statistics(request.params["id"])

    def pd_id_by_key(self, request: Request) -> Any:
        return self.state.protection_domain_id_by_name(
            request.body.text("name", required=True) or ""
        )

    def pds_by_ids(self, request: Request) -> Any:
        return [
            views.protection_domain_view(self.state, self.state.protection_domain(i))
            for i in request.body.strings("ids", required=True)
        ]

    def pd_id_by_name(self, request: Request) -> Any:
        return self.state.protection_domain_id_by_name(_decode_name(request.params["name"]))

    # -------------------------------------------------------- storage pools
    def list_pools(self, request: Request) -> Any:
        return [views.storage_pool_view(p) for p in self.state.storage_pools()]

    def get_pool(self, request: Request) -> Any:
        return views.storage_pool_view(self.state.storage_pool(request.params["id"]))

    def pool_stats(self, request: Request) -> Any:
        return self.state.pool_statistics(request.params["id"])

    def pool_volumes(self, request: Request) -> Any:
        pool = self.state.storage_pool(request.params["id"])
        return [views.volume_view(self.state, v) for v in self.state.volumes(pool_id=pool.id)]

    def pool_id_by_key(self, request: Request) -> Any:
        body = request.body
        name = body.text("name", required=True) or ""
        pd_id = body.text("protectionDomainId")
        pd_name = body.text("protectionDomainName")
        if pd_id is None and pd_name is None:
            raise errors.missing_parameters("protectionDomainId")
        if pd_id is None:
            pd_id = self.state.protection_domain_id_by_name(pd_name or "")
        return self.state.storage_pool_id_by_name(pd_id, name)

    def pools_by_ids(self, request: Request) -> Any:
        return [
            views.storage_pool_view(self.state.storage_pool(i))
            for i in request.body.strings("ids", required=True)
        ]

    def query_pool_stats(self, request: Request) -> Any:
        body = request.body
        properties = body.strings("properties", required=True)
        if body.has("allIds"):
            ids = [p.id for p in self.state.storage_pools()]
        else:
            ids = body.strings("ids", required=True)
        return {i: _select(self.state.pool_statistics(i), properties) for i in ids}

    def pool_id_by_name(self, request: Request) -> Any:
        pd_id, comma, name = request.params["name"].partition(",")
        if not comma:
            raise errors.invalid_request("getByName for a pool takes <protectionDomainId>,<name>")
        return self.state.storage_pool_id_by_name(pd_id, _decode_name(name))

    # -------------------------------------------------------------- volumes
    def list_volumes(self, request: Request) -> Any:
        return [views.volume_view(self.state, v) for v in self.state.volumes()]

    def create_volume(self, request: Request) -> Any:
        body = request.body
        if body.has("volumeSizeInKb"):
            size_kb = body.integer("volumeSizeInKb") or 0
        elif body.has("volumeSizeInGb"):
            size_kb = (body.integer("volumeSizeInGb") or 0) * 1024 * 1024
        else:
            raise errors.missing_parameters("volumeSizeInKb")
        volume = self.state.create_volume(
            body.text("storagePoolId", required=True) or "",
            size_kb,
            name=body.text("name"),
            volume_type=body.text("volumeType"),
            protection_domain_id=body.text("protectionDomainId"),
            compression_method=body.text("compressionMethod"),
        )
        return {"id": volume.id}

    def get_volume(self, request: Request) -> Any:
        return views.volume_view(self.state, self.state.volume(request.params["id"]))

    def volume_stats(self, request: Request) -> Any:
        return self.state.volume_statistics(request.params["id"])

    def volume_id_by_key(self, request: Request) -> Any:
        return self.state.volume_id_by_name(request.body.text("name", required=True) or "")

    def volumes_by_ids(self, request: Request) -> Any:
        ids = request.body.strings("ids", required=True)
        return [views.volume_view(self.state, v) for v in self.state.volumes() if v.id in ids]

    def volume_id_by_name(self, request: Request) -> Any:
        return self.state.volume_id_by_name(_decode_name(request.params["name"]))

    def rename_volume(self, request: Request) -> Any:
        new_name = request.body.text("newName", required=True) or ""
        self.state.rename_volume(request.params["id"], new_name)
        return EMPTY

    def resize_volume(self, request: Request) -> Any:
        size_gb = request.body.integer("sizeInGB", required=True) or 0
        self.state.resize_volume(request.params["id"], size_gb)
        return EMPTY

    def remove_volume(self, request: Request) -> Any:
        mode = request.body.text("removeMode", required=True) or ""
        self.state.remove_volume(request.params["id"], mode)
        return EMPTY

    def _sdc_id(self, body: Body) -> str:
        if body.has("sdcId"):
            return self.state.sdc(body.text("sdcId") or "").id
        if body.has("guid"):
            return self.state.sdc_by_guid(body.text("guid") or "").id
        raise errors.missing_parameters("sdcId")

    def map_volume(self, request: Request) -> Any:
        body = request.body
        if body.has("allSdcs"):
            raise errors.NOT_SUPPORTED.error(message="Mapping to all SDCs is not simulated")
        self.state.map_volume(
            request.params["id"],
            self._sdc_id(body),
            allow_multiple=body.boolean("allowMultipleMappings"),
            access_mode=body.text("accessMode") or "ReadWrite",
        )
        return EMPTY

    def unmap_volume(self, request: Request) -> Any:
        body = request.body
        sdc_id = None if body.has("allSdcs") else self._sdc_id(body)
        self.state.unmap_volume(request.params["id"], sdc_id)
        return EMPTY

    def set_limits(self, request: Request) -> Any:
        body = request.body
        self.state.set_mapped_sdc_limits(
            request.params["id"],
            self._sdc_id(body),
            iops_limit=body.integer("iopsLimit"),
            bandwidth_limit_kbps=body.integer("bandwidthLimitInKbps"),
        )
        return EMPTY

    def overwrite_volume(self, request: Request) -> Any:
        source = request.body.text("srcVolumeId", required=True) or ""
        self.state.overwrite_volume_content(request.params["id"], source)
        return EMPTY

    def migrate_vtree(self, request: Request) -> Any:
        body = request.body
        body.boolean("allowDuringRebuild")  # validated, no rebuild is ever running
        self.state.migrate_vtree(
            request.params["id"],
            body.text("destSPId", required=True) or "",
            conversion=body.text("volTypeConversion") or "NoConversion",
        )
        return EMPTY

    # --------------------------------------------------------------- V-Trees
    def list_vtrees(self, request: Request) -> Any:
        return [views.vtree_view(self.state, t) for t in self.state.vtrees()]

    def get_vtree(self, request: Request) -> Any:
        return views.vtree_view(self.state, self.state.vtree(request.params["id"]))

    def vtree_stats(self, request: Request) -> Any:
        return self.state.vtree_statistics(request.params["id"])

    def vtree_volumes(self, request: Request) -> Any:
        vtree = self.state.vtree(request.params["id"])
        return [views.volume_view(self.state, v) for v in self.state.volumes(vtree_id=vtree.id)]

    # ----------------------------------------------------------------- SDCs
    def list_sdcs(self, request: Request) -> Any:
        return [views.sdc_view(self.state, s) for s in self.state.sdcs()]

    def get_sdc(self, request: Request) -> Any:
        return views.sdc_view(self.state, self.state.sdc(request.params["id"]))

    def sdc_volumes(self, request: Request) -> Any:
        sdc = self.state.sdc(request.params["id"])
        return [views.volume_view(self.state, v) for v in self.state.volumes(sdc_id=sdc.id)]

    def sdc_id_by_key(self, request: Request) -> Any:
        body = request.body
        if not (body.has("ip") or body.has("name")):
            raise errors.missing_parameters("ip")
        return self.state.sdc_id_by_key(ip=body.text("ip"), name=body.text("name"))

    def sdcs_by_ids(self, request: Request) -> Any:
        return [
            views.sdc_view(self.state, self.state.sdc(i))
            for i in request.body.strings("ids", required=True)
        ]

    def sdc_id_by_ip(self, request: Request) -> Any:
        return self.state.sdc_id_by_key(ip=unquote(request.params["ip"]))


def _select(statistics: dict[str, Any], properties: list[str]) -> dict[str, Any]:
    return {p: statistics[p] for p in properties if p in statistics}


def _basic_credentials(authorization: str | None) -> tuple[str, str]:
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        raise errors.unauthorized()
    try:
        username, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise errors.unauthorized() from None
    return username, password


def token_from(authorization: str | None, *, bearer_allowed: bool) -> str | None:
    """The session token a request presents: Basic password, or Bearer on 4.x."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and bearer_allowed:
        return value.strip()
    if scheme.lower() == "basic":
        return _basic_credentials(authorization)[1]
    return None
