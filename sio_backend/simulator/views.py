"""The JSON shapes of gateway objects, as each generation returns them.

Only the representation lives here; the callers hold the model lock while
rendering so an object is never shown half-changed.  The 4.x/5.x fields and
their nulls follow cinder's recorded answers (``tests/unit/volume/drivers/
dell_emc/powerflex/mockup/query_{sdc_by_id,hosts,sdc_volumes}_response.json``,
SDC software R5_5.0.0) and Dell's 5.0 API file for ``genType``.
"""

from __future__ import annotations

from typing import Any

from sio_backend.simulator.objects import (
    ERASURE_CODING,
    MEDIUM_GRANULARITY,
    NVME_HOST,
    SDC_HOST,
    Host,
    Mapping,
    NvmeHost,
    ProtectionDomain,
    Sdc,
    StoragePool,
    Volume,
    VTree,
)
from sio_backend.simulator.state import GatewayState


def _links(type_name: str, object_id: str, *relationships: str) -> list[dict[str, str]]:
    href = f"/api/instances/{type_name}::{object_id}"
    return [{"rel": "self", "href": href}] + [
        {"rel": f"/api/{type_name}/relationship/{name}", "href": f"{href}/relationships/{name}"}
        for name in relationships
    ]


def system_view(state: GatewayState) -> dict[str, Any]:
    version = state.generation.version_info
    return {
        "id": state.system_id,
        "name": "simulated-powerflex",
        "systemVersionName": f"DellEMC PowerFlex Version: {version}",
        "mdmCluster": {
            "clusterState": "ClusteredNormal",
            "clusterMode": "ThreeNodes",
            "master": {"name": "mdm1", "role": "Manager", "versionInfo": version},
        },
        "capacityAlertHighThresholdPercent": 80,
        "capacityAlertCriticalThresholdPercent": 90,
        "restrictedSdcModeEnabled": False,
        "restrictedSdcMode": "None",
        "perfProfile": "Default",
        "links": _links("System", state.system_id, "Statistics", "ProtectionDomain", "Sdc"),
    }


def protection_domain_view(state: GatewayState, pd: ProtectionDomain) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": pd.id,
        "name": pd.name,
        "systemId": state.system_id,
        "protectionDomainState": "Active",
        "rebuildNetworkThrottlingEnabled": False,
        "links": _links("ProtectionDomain", pd.id, "Statistics", "StoragePool"),
    }
    if pd.gen_type is not None:  # absent up to 4.x: cinder reads it as "Mirroring"
        view["genType"] = pd.gen_type
    return view


def storage_pool_view(pool: StoragePool) -> dict[str, Any]:
    fine = pool.data_layout != MEDIUM_GRANULARITY
    view = {
        "id": pool.id,
        "name": pool.name,
        "protectionDomainId": pool.protection_domain_id,
        "zeroPaddingEnabled": pool.zero_padding,
        "dataLayout": pool.data_layout,
        "compressionMethod": "Normal" if fine else "Invalid",
        "sparePercentage": 10,
        "mediaType": "SSD" if fine else "HDD",
        "useRmcache": False,
        "useRfcache": False,
        "capacityAlertHighThreshold": 80,
        "capacityAlertCriticalThreshold": 90,
        "links": _links("StoragePool", pool.id, "Statistics", "Volume"),
    }
    if pool.data_layout == ERASURE_CODING:  # the 5.0 API file's StoragePool, 2+2
        view.update(protectionScheme="TwoPlusTwo", numDataSlices=2, numProtectionSlices=2)
    return view


def volume_view(state: GatewayState, volume: Volume) -> dict[str, Any]:
    pool = state.storage_pool(volume.pool_id)
    view: dict[str, Any] = {
        "id": volume.id,
        "name": volume.name,
        "sizeInKb": volume.size_kb,
        "storagePoolId": volume.pool_id,
        "vtreeId": volume.vtree_id,
        "volumeType": volume.volume_type,
        "ancestorVolumeId": volume.ancestor_id,
        "consistencyGroupId": volume.snapshot_group_id,
        "creationTime": volume.creation_time,
        "dataLayout": pool.data_layout,
        "compressionMethod": volume.compression_method,
        "useRmcache": False,
        "isObfuscated": False,
        "accessModeLimit": volume.access_mode_limit,
        "volumeReplicationState": "UnmarkedForReplication",
        # null, not [], when unmapped (cinder's _unmap_volume_from_all_sdcs checks for None)
        "mappedSdcInfo": [
            _mapped_view(state, state.host(m.sdc_id), m) for m in volume.mappings.values()
        ]
        or None,
        "links": _links("Volume", volume.id, "Statistics"),
    }
    if not state.generation.manager:
        view["mappingToAllSdcsEnabled"] = False
        return view
    view.update(
        volumeClass="defaultclass",
        nsid=volume.nsid,
        pairIds=None,
        snplIdOfSourceVolume=None,
        snplIdOfAutoSnapshot=None,
        autoSnapshotGroupId=None,
    )
    if state.generation.erasure_coding:
        view["genType"] = state.protection_domain(pool.protection_domain_id).gen_type
    return view


def _mapped_view(state: GatewayState, host: Host, mapping: Mapping) -> dict[str, Any]:
    view: dict[str, Any] = {
        "sdcId": host.id,
        "sdcIp": host.ip if isinstance(host, Sdc) else None,
        "sdcName": host.name,
        "limitIops": mapping.iops_limit,
        "limitBwInMbps": mapping.bandwidth_limit_kbps // 1024,
        "accessMode": mapping.access_mode,
        "isDirectBufferMapping": False,
    }
    if state.generation.manager:
        view["nqn"] = host.nqn if isinstance(host, NvmeHost) else None
        view["hostType"] = NVME_HOST if isinstance(host, NvmeHost) else SDC_HOST
    return view


def host_view(state: GatewayState, host: Host) -> dict[str, Any]:
    """An SDC listing entry: an SDC, or on 4.x/5.x an NVMe host."""
    if isinstance(host, NvmeHost):
        return _nvme_host_view(state, host)
    version = state.generation.version_info
    view: dict[str, Any] = {
        "id": host.id,
        "name": host.name,
        "sdcGuid": host.guid,
        "sdcIp": host.ip,
        "sdcIps": [host.ip],
        "mdmConnectionState": "Connected" if host.connected else "Disconnected",
        "sdcApproved": True,
        "systemId": state.system_id,
        "osType": "Linux",
        "versionInfo": version,
        "perfProfile": "HighPerformance",
        "links": _links("Sdc", host.id, "Volume", "Statistics"),
    }
    if state.generation.manager:
        view.update(_NULL_ON_SDC)
        view.update(
            hostType=SDC_HOST,
            sdcType="AppSdc",
            softwareVersionInfo=version,
            installedSoftwareVersionInfo=version,
            sdcAgentActive=False,
            mdmIpAddressesCurrent=False,
            kernelVersion="6.1.0",
        )
    return view


# Fields a 4.x/5.x SDC entry has but leaves null (cinder's query_sdc_by_id_response).
_NULL_ON_SDC = dict.fromkeys(
    (
        "hostOsFullType",
        "nqn",
        "maxNumPaths",
        "maxNumSysPorts",
        "peerMdmId",
        "sdtId",
        "socketAllocationFailure",
        "memoryAllocationFailure",
        "kernelBuildNumber",
        "sdcApprovedIps",
        "sdrId",
    )
)

# Fields an NVMe host entry leaves null (cinder's query_hosts_response).
_NULL_ON_NVME_HOST = dict.fromkeys(
    (
        "sdcIps",
        "osType",
        "sdcApproved",
        "sdcAgentActive",
        "mdmIpAddressesCurrent",
        "sdcIp",
        "perfProfile",
        "peerMdmId",
        "sdtId",
        "mdmConnectionState",
        "softwareVersionInfo",
        "socketAllocationFailure",
        "memoryAllocationFailure",
        "versionInfo",
        "sdcType",
        "sdcGuid",
        "installedSoftwareVersionInfo",
        "kernelVersion",
        "kernelBuildNumber",
        "sdcApprovedIps",
        "sdrId",
    )
)


def _nvme_host_view(state: GatewayState, host: NvmeHost) -> dict[str, Any]:
    return {
        "id": host.id,
        "name": host.name,
        "hostOsFullType": "Generic",
        **_NULL_ON_NVME_HOST,
        "nqn": host.nqn,
        "maxNumPaths": host.max_num_paths,
        "maxNumSysPorts": host.max_num_sys_ports,
        "hostType": NVME_HOST,
        "systemId": state.system_id,
        "links": _links("Host", host.id, "Volume", "NvmeController"),
    }


def vtree_view(state: GatewayState, vtree: VTree) -> dict[str, Any]:
    pool = state.storage_pool(vtree.pool_id)
    migration = vtree.migration
    return {
        "id": vtree.id,
        "name": None,
        "baseVolumeId": vtree.base_volume_id,
        "storagePoolId": vtree.pool_id,
        "dataLayout": pool.data_layout,
        "inDeletion": False,
        "vtreeMigrationInfo": {
            "migrationStatus": "MigrationInProgress" if migration else "NotInMigration",
            "migrationPauseReason": None,
            "migrationQueuePosition": 0,
            "sourceStoragePoolId": migration.source_pool_id if migration else None,
            "destinationStoragePoolId": migration.destination_pool_id if migration else None,
            "thicknessConversionType": migration.conversion if migration else None,
        },
        "links": _links("VTree", vtree.id, "Statistics", "Volume"),
    }
