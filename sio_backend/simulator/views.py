"""The JSON shapes of gateway objects, as PowerFlex 3.5 and 4.x return them.

Only the representation lives here; the callers hold the model lock while
rendering so an object is never shown half-changed.
"""

from __future__ import annotations

from typing import Any

from sio_backend.simulator.objects import (
    FINE_GRANULARITY,
    ProtectionDomain,
    Sdc,
    StoragePool,
    Volume,
    VTree,
)
from sio_backend.simulator.state import GatewayState


def version_info(api_version: str) -> str:
    """The MDM's version string for an API version: "3.5" -> "R3_5.0.0"."""
    major, _, minor = api_version.partition(".")
    return f"R{major}_{minor or 0}.0.0"


def _links(type_name: str, object_id: str, *relationships: str) -> list[dict[str, str]]:
    href = f"/api/instances/{type_name}::{object_id}"
    return [{"rel": "self", "href": href}] + [
        {"rel": f"/api/{type_name}/relationship/{name}", "href": f"{href}/relationships/{name}"}
        for name in relationships
    ]


def system_view(state: GatewayState) -> dict[str, Any]:
    version = version_info(state.api_version)
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
    return {
        "id": pd.id,
        "name": pd.name,
        "systemId": state.system_id,
        "protectionDomainState": "Active",
        "rebuildNetworkThrottlingEnabled": False,
        "links": _links("ProtectionDomain", pd.id, "Statistics", "StoragePool"),
    }


def storage_pool_view(pool: StoragePool) -> dict[str, Any]:
    fine = pool.data_layout == FINE_GRANULARITY
    return {
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
        "accessModeLimit": "ReadWrite",
        "volumeReplicationState": "UnmarkedForReplication",
        "mappedSdcInfo": [
            _mapped_sdc_view(
                state.sdc(m.sdc_id), m.iops_limit, m.bandwidth_limit_kbps, m.access_mode
            )
            for m in volume.mappings.values()
        ]
        or None,
        "links": _links("Volume", volume.id, "Statistics"),
    }
    if state.v4:
        view["volumeClass"] = "defaultclass"
    else:
        view["mappingToAllSdcsEnabled"] = False
    return view


def _mapped_sdc_view(sdc: Sdc, iops: int, bandwidth_kbps: int, access_mode: str) -> dict[str, Any]:
    return {
        "sdcId": sdc.id,
        "sdcIp": sdc.ip,
        "sdcName": sdc.name,
        "limitIops": iops,
        "limitBwInMbps": bandwidth_kbps // 1024,
        "accessMode": access_mode,
        "isDirectBufferMapping": False,
    }


def sdc_view(state: GatewayState, sdc: Sdc) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": sdc.id,
        "name": sdc.name,
        "sdcGuid": sdc.guid,
        "sdcIp": sdc.ip,
        "sdcIps": [sdc.ip],
        "mdmConnectionState": "Connected" if sdc.connected else "Disconnected",
        "sdcApproved": True,
        "systemId": state.system_id,
        "osType": "Linux",
        "versionInfo": version_info(state.api_version),
        "perfProfile": "HighPerformance",
        "links": _links("Sdc", sdc.id, "Volume", "Statistics"),
    }
    if state.v4:
        view["hostType"] = "SdcHost"
    return view


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
