"""The gateway's REST surface: which URL does what to the model.

Each route is an HTTP method, a URL template and a handler that reads the
body, calls the model and renders the answer.  Both URL styles real clients
use are here: ``queryIdByKey`` with the key in the body and the older
``getByName::`` with a double URL-encoded name in the path.

Which routes a simulator serves depends on its generation (see
:mod:`~sio_backend.simulator.generations`); a route it does not serve is a
404, as on a real system of that generation.  Actions answer ``{}``: Dell's
4.5.5/5.0 Block API files give ``setVolumeSize``, ``removeVolume``,
``setVolumeName``, ``removeMappedSdc``, ``setMappedSdcLimits``,
``addMappedHost`` and ``removeMappedHost`` a 200 ``application/json``
empty-object answer, and PyPowerFlex calls ``.json()`` on every answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from sio_backend.simulator import errors, views
from sio_backend.simulator.auth import AuthApi
from sio_backend.simulator.metrics import MetricsApi
from sio_backend.simulator.params import Body
from sio_backend.simulator.routing import (
    AfterLock,
    Request,
    Route,
    Router,
    Table,
    decode_name,
    route,
)
from sio_backend.simulator.sessions import SessionStore
from sio_backend.simulator.state import GatewayState

DONE: dict[str, Any] = {}  # an action's answer


class GatewayApi(Router):
    """The route table and handlers of one simulated gateway."""

    def __init__(self, state: GatewayState, sessions: SessionStore) -> None:
        self.state = state
        self.auth = AuthApi(sessions, state.generation)
        routes: list[Route] = self.auth.routes()
        routes += [route(method, template, handler) for method, template, handler in self._table()]
        if state.generation.erasure_coding:
            routes += MetricsApi(state).routes()
        super().__init__(routes)

    def _table(self) -> Table:
        generation = self.state.generation
        table = self._common_table()
        if generation.manager:
            table += self._manager_table()
        if generation.erasure_coding:
            table += self._gen2_table()
        else:
            table += self._mirroring_table()
        return table

    def _common_table(self) -> Table:
        """What every generation serves (cinder and os-brick call all of it on 5.x too)."""
        vol = "/api/instances/Volume::{id}/action/"
        return [
            ("GET", "/api/version", self.version),
            # System
            ("GET", "/api/types/System/instances", self.list_systems),
            ("GET", "/api/instances/System::{id}", self.get_system),
            ("GET", "/api/instances/System::{id}/relationships/Statistics", self.system_stats),
            ("GET", "/api/instances/System::{id}/relationships/ProtectionDomain", self.system_pds),
            ("GET", "/api/instances/System::{id}/relationships/Sdc", self.system_sdcs),
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
            ("GET", "/api/instances/Sdc::{id}/relationships/Statistics", self.sdc_stats),
            ("POST", "/api/types/Sdc/instances/action/queryIdByKey", self.sdc_id_by_key),
            ("POST", "/api/types/Sdc/instances/action/queryBySelectedIds", self.sdcs_by_ids),
            ("GET", "/api/types/Client/instances/getByIp::{ip}", self.sdc_id_by_ip),
        ]

    def _mirroring_table(self) -> Table:
        """3.x/4.x only: gone from Dell's 5.0 Block API file, and Dell's clients
        switch away from them on 5.x (cinder on EC pools, PyPowerFlex gen2)."""
        stats = "/instances/action/querySelectedStatistics"
        return [
            ("POST", "/api/types/System" + stats, self.query_system_stats),
            ("POST", "/api/types/StoragePool" + stats, self.query_pool_stats),
            ("POST", "/api/types/Volume" + stats, self.query_volume_stats),
            ("POST", "/api/types/Sdc" + stats, self.query_sdc_stats),
            ("POST", "/api/instances/System::{id}/action/snapshotVolumes", self.snapshot_volumes),
            ("POST", "/api/instances/System/action/snapshotVolumes", self.snapshot_volumes),
        ]

    def _manager_table(self) -> Table:
        """4.x and later: NVMe hosts, and mapping that serves SDCs and them alike
        (Dell's 4.5.5 Block API file: addMappedHost "Map a volume to one or all
        SDC or NVMe hosts"; POST Host/instances creates an NVMe host)."""
        vol = "/api/instances/Volume::{id}/action/"
        return [
            ("POST", vol + "addMappedHost", self.map_host),
            ("POST", vol + "removeMappedHost", self.unmap_host),
            ("POST", "/api/types/Host/instances", self.create_host),
            ("GET", "/api/instances/Host::{id}", self.get_host),
        ]

    def _gen2_table(self) -> Table:
        """5.x: snapshots through createSnapshot (read-only) and createThinClone
        (writable), with and without the system id as cinder sends them."""
        return [
            ("POST", "/api/instances/System::{id}/action/createSnapshot", self.create_snapshot),
            ("POST", "/api/instances/System/action/createSnapshot", self.create_snapshot),
            ("POST", "/api/instances/System::{id}/action/createThinClone", self.thin_clone),
            ("POST", "/api/instances/System/action/createThinClone", self.thin_clone),
        ]

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

    def snapshot_volumes(self, request: Request, *, read_only: bool = False) -> Any:
        """Answered ``{snapshotGroupId, volumeIdList}``; cinder reads
        ``volumeIdList[0]`` on 5.x too, csi-powerflex decodes both fields."""
        self._check_system(request)
        definitions = [
            (d.text("volumeId", required=True) or "", d.text("snapshotName"))
            for d in request.body.objects("snapshotDefs", required=True)
        ]
        pending = self.state.begin_snapshot_volumes(definitions, read_only=read_only)

        def copied() -> Any:
            group_id, volume_ids = pending.finish()
            return {"snapshotGroupId": group_id, "volumeIdList": volume_ids}

        return AfterLock(copied)

    def create_snapshot(self, request: Request) -> Any:
        return self.snapshot_volumes(request, read_only=True)

    def thin_clone(self, request: Request) -> Any:
        return self.snapshot_volumes(request)

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
        return self.state.protection_domain_id_by_name(decode_name(request.params["name"]))

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
        return _query_selected(
            request.body,
            [p.id for p in self.state.storage_pools()],
            self.state.pool_statistics,
        )

    def pool_id_by_name(self, request: Request) -> Any:
        pd_id, comma, name = request.params["name"].partition(",")
        if not comma:
            raise errors.invalid_request("getByName for a pool takes <protectionDomainId>,<name>")
        return self.state.storage_pool_id_by_name(pd_id, decode_name(name))

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

    def query_volume_stats(self, request: Request) -> Any:
        return _query_selected(
            request.body, [v.id for v in self.state.volumes()], self.state.volume_statistics
        )

    def volume_id_by_key(self, request: Request) -> Any:
        return self.state.volume_id_by_name(request.body.text("name", required=True) or "")

    def volumes_by_ids(self, request: Request) -> Any:
        ids = request.body.strings("ids", required=True)
        return [views.volume_view(self.state, v) for v in self.state.volumes() if v.id in ids]

    def volume_id_by_name(self, request: Request) -> Any:
        return self.state.volume_id_by_name(decode_name(request.params["name"]))

    def rename_volume(self, request: Request) -> Any:
        new_name = request.body.text("newName", required=True) or ""
        self.state.rename_volume(request.params["id"], new_name)
        return DONE

    def resize_volume(self, request: Request) -> Any:
        size_gb = request.body.integer("sizeInGB", required=True) or 0
        self.state.resize_volume(request.params["id"], size_gb)
        return DONE

    def remove_volume(self, request: Request) -> Any:
        mode = request.body.text("removeMode", required=True) or ""
        self.state.remove_volume(request.params["id"], mode)
        return DONE

    def _host_id(self, body: Body, id_key: str = "sdcId") -> str:
        """The host a mapping action names: by id (an SDC's, or on 4.x/5.x an
        NVMe host's: cinder maps NVMe hosts through addMappedSdc's sdcId), by
        SDC GUID, or with addMappedHost also by NQN."""
        if body.has(id_key):
            return self.state.host(body.text(id_key) or "").id
        if body.has("guid"):
            return self.state.sdc_by_guid(body.text("guid") or "").id
        if id_key == "hostId" and body.has("nqn"):
            return self.state.nvme_host_by_nqn(body.text("nqn") or "").id
        raise errors.missing_parameters(id_key)

    def map_volume(
        self, request: Request, *, id_key: str = "sdcId", all_key: str = "allSdcs"
    ) -> Any:
        body = request.body
        if body.has(all_key):
            raise errors.NOT_SUPPORTED.error(message="Mapping to all hosts is not simulated")
        self.state.map_volume(
            request.params["id"],
            self._host_id(body, id_key),
            allow_multiple=body.boolean("allowMultipleMappings"),
            access_mode=body.text("accessMode") or "ReadWrite",
        )
        return DONE

    def unmap_volume(
        self, request: Request, *, id_key: str = "sdcId", all_key: str = "allSdcs"
    ) -> Any:
        body = request.body
        host_id = None if body.has(all_key) else self._host_id(body, id_key)
        self.state.unmap_volume(request.params["id"], host_id)
        return DONE

    def map_host(self, request: Request) -> Any:
        return self.map_volume(request, id_key="hostId", all_key="allHosts")

    def unmap_host(self, request: Request) -> Any:
        return self.unmap_volume(request, id_key="hostId", all_key="allHosts")

    def set_limits(self, request: Request) -> Any:
        body = request.body
        self.state.set_mapped_sdc_limits(
            request.params["id"],
            self._host_id(body),
            iops_limit=body.integer("iopsLimit"),
            bandwidth_limit_kbps=body.integer("bandwidthLimitInKbps"),
        )
        return DONE

    def overwrite_volume(self, request: Request) -> Any:
        source = request.body.text("srcVolumeId", required=True) or ""
        self.state.overwrite_volume_content(request.params["id"], source)
        return DONE

    def migrate_vtree(self, request: Request) -> Any:
        body = request.body
        body.boolean("allowDuringRebuild")  # validated, no rebuild is ever running
        self.state.migrate_vtree(
            request.params["id"],
            body.text("destSPId", required=True) or "",
            conversion=body.text("volTypeConversion") or "NoConversion",
        )
        return DONE

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

    # ------------------------------------------------- SDCs and NVMe hosts
    def list_sdcs(self, request: Request) -> Any:
        return [views.host_view(self.state, h) for h in self.state.hosts()]

    def get_sdc(self, request: Request) -> Any:
        return views.host_view(self.state, self.state.host(request.params["id"]))

    def sdc_volumes(self, request: Request) -> Any:
        host = self.state.host(request.params["id"])
        return [views.volume_view(self.state, v) for v in self.state.volumes(sdc_id=host.id)]

    def sdc_stats(self, request: Request) -> Any:
        return self.state.sdc_statistics(request.params["id"])

    def query_sdc_stats(self, request: Request) -> Any:
        return _query_selected(
            request.body, [h.id for h in self.state.hosts()], self.state.sdc_statistics
        )

    def sdc_id_by_key(self, request: Request) -> Any:
        body = request.body
        if not (body.has("ip") or body.has("name")):
            raise errors.missing_parameters("ip")
        return self.state.sdc_id_by_key(ip=body.text("ip"), name=body.text("name"))

    def sdcs_by_ids(self, request: Request) -> Any:
        return [
            views.host_view(self.state, self.state.host(i))
            for i in request.body.strings("ids", required=True)
        ]

    def sdc_id_by_ip(self, request: Request) -> Any:
        return self.state.sdc_id_by_key(ip=unquote(request.params["ip"]))

    def create_host(self, request: Request) -> Any:
        body = request.body
        host = self.state.add_nvme_host(
            body.text("name") or f"nvme-{len(self.state.hosts())}",
            nqn=body.text("nqn", required=True),
            max_num_paths=body.integer("maxNumPaths") or 4,
            max_num_sys_ports=body.integer("maxNumSysPorts") or 10,
        )
        return {"id": host.id}

    def get_host(self, request: Request) -> Any:
        return views.host_view(self.state, self.state.host(request.params["id"]))


def _query_selected(
    body: Body, all_ids: list[str], statistics_of: Callable[[str], dict[str, Any]]
) -> dict[str, Any]:
    """``querySelectedStatistics`` of a type: {id: {property: value}}, for
    ``ids`` or ``allIds`` (cinder reads ``response.values()``)."""
    properties = body.strings("properties", required=True)
    ids = all_ids if body.has("allIds") else body.strings("ids", required=True)
    return {i: _select(statistics_of(i), properties) for i in ids}


def _select(statistics: dict[str, Any], properties: list[str]) -> dict[str, Any]:
    """The properties asked for; ones the object does not have are left out."""
    return {p: statistics[p] for p in properties if p in statistics}
