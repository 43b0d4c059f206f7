"""The gateway's statistics, computed from the model's objects.

Pure functions: the model (:class:`~sio_backend.simulator.state.GatewayState`)
calls them under its lock with the objects concerned and a way to read how
much of a volume has been written, and they return the figures a real
gateway reports, in its units: KiB for the 3.x/4.x ``Statistics`` objects
(raw figures count both mirror copies; an Erasure Coding 2+2 pool has the
same 2x overhead), bytes for the 5.x ``/dtapi`` metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sio_backend.simulator.objects import (
    SNAPSHOT,
    SPARE_PERCENTAGE,
    THICK,
    THIN,
    StoragePool,
    Volume,
)

AllocatedKb = Callable[[Volume], int]


def pool_statistics(
    pool: StoragePool, members: Sequence[Volume], allocated_kb: AllocatedKb
) -> dict[str, int]:
    """Capacity figures in KiB, raw ones counting both mirror copies."""
    thick = sum(v.size_kb for v in members if v.volume_type == THICK)
    thin_provisioned = sum(v.size_kb for v in members if v.volume_type == THIN)
    thin_used = sum(allocated_kb(v) for v in members if v.volume_type == THIN)
    snap_used = sum(allocated_kb(v) for v in members if v.volume_type == SNAPSHOT)
    in_use = min(pool.capacity_kb, thick + thin_used + snap_used)
    unused = pool.capacity_kb - in_use
    spare = 2 * pool.capacity_kb * SPARE_PERCENTAGE // (100 - SPARE_PERCENTAGE)
    raw_total = 2 * pool.capacity_kb + spare
    available = unused // pool.granularity_kb * pool.granularity_kb
    return {
        "capacityLimitInKb": raw_total,
        "maxCapacityInKb": raw_total,
        "spareCapacityInKb": spare,
        "capacityInUseInKb": 2 * in_use,
        "unusedCapacityInKb": 2 * unused,
        "thickCapacityInUseInKb": 2 * thick,
        "thinCapacityInUseInKb": 2 * thin_used,
        "thinCapacityAllocatedInKb": 2 * thin_provisioned,
        "thinCapacityAllocatedInKm": 2 * thin_provisioned,
        "snapCapacityInUseInKb": 2 * snap_used,
        "snapCapacityInUseOccupiedInKb": 2 * snap_used,
        "snapshotCapacityInKb": 2 * snap_used,
        "netCapacityInUseInKb": in_use,
        "netUnusedCapacityInKb": unused,
        "netThickCapacityInUseInKb": thick,
        "netThinCapacityInUseInKb": thin_used,
        "netSnapshotCapacityInKb": snap_used,
        "netMaxCapacityInKb": pool.capacity_kb,
        "capacityAvailableForVolumeAllocationInKb": available,
        "volumeAllocationLimitInKb": available,
        "numOfVolumes": len(members),
        "numOfSnapshots": sum(1 for v in members if v.volume_type == SNAPSHOT),
        "numOfThickBaseVolumes": sum(1 for v in members if v.volume_type == THICK),
        "numOfThinBaseVolumes": sum(1 for v in members if v.volume_type == THIN),
        "numOfVtrees": len({v.vtree_id for v in members}),
        "numOfMappedToAllVolumes": 0,
        "numOfUnmappedVolumes": sum(1 for v in members if not v.mappings),
    }


def sum_statistics(items: Iterable[dict[str, int]]) -> dict[str, int]:
    """Figures of several objects added up, as a domain or the system reports them."""
    totals: dict[str, int] = {}
    for item in items:
        for key, value in item.items():
            totals[key] = totals.get(key, 0) + value
    return totals


def volume_statistics(
    volume: Volume, children: Sequence[str], descendants: Sequence[str]
) -> dict[str, Any]:
    """The 4.5.5 API file's Volume-Statistics, I/O counters idle."""
    return {
        "mappedSdcIds": list(volume.mappings),
        "numOfMappedSdcs": len(volume.mappings),
        "childVolumeIds": list(children),
        "numOfChildVolumes": len(children),
        "descendantVolumeIds": list(descendants),
        "numOfDescendantVolumes": len(descendants),
        **_idle_io(),
        "userDataSdcReadLatency": _idle_bwc(),
    }


def sdc_statistics(mapped: Sequence[Volume]) -> dict[str, Any]:
    """The 4.5.5 API file's SDC-Statistics, I/O counters idle."""
    return {"volumeIds": [v.id for v in mapped], "numOfMappedVolumes": len(mapped), **_idle_io()}


def vtree_statistics(
    members: Sequence[Volume], base: Volume | None, allocated_kb: AllocatedKb
) -> dict[str, int]:
    allocated = sum(v.size_kb if v.volume_type == THICK else allocated_kb(v) for v in members)
    return {
        "numOfVolumes": len(members),
        "numOfSnapshots": sum(1 for v in members if v.volume_type == SNAPSHOT),
        "netProvisionedAddressesInKb": allocated,
        "baseNetCapacityInUseInKb": allocated_kb(base) if base else 0,
        "netCapacityInUseInKb": allocated,
    }


def pool_metrics(figures: dict[str, int]) -> dict[str, float]:
    """A pool's (or a sum of pools') capacity as 5.x ``/dtapi`` metrics, in bytes.

    Physical is the usable capacity after protection, raw the devices',
    logical what volumes were given (provisioned) and what was written
    (used); cinder reads ``physical_total``/``physical_free``/``logical_provisioned``.
    """
    kib = 1024
    return {
        "physical_total": figures["netMaxCapacityInKb"] * kib,
        "physical_used": figures["netCapacityInUseInKb"] * kib,
        "physical_free": figures["netUnusedCapacityInKb"] * kib,
        "raw_total": figures["maxCapacityInKb"] * kib,
        "raw_used": figures["capacityInUseInKb"] * kib,
        "raw_free": (figures["maxCapacityInKb"] - figures["capacityInUseInKb"]) * kib,
        "logical_provisioned": (
            figures["thinCapacityAllocatedInKb"] + figures["thickCapacityInUseInKb"]
        )
        // 2
        * kib,
        "logical_used": figures["netCapacityInUseInKb"] * kib,
        **_idle_metrics(),
    }


def volume_metrics(volume: Volume, written_kb: int) -> dict[str, float]:
    """A volume's 5.x ``/dtapi`` metrics, in bytes (PyPowerFlex gen2's defaults)."""
    return {
        "logical_provisioned": volume.size_kb * 1024,
        "logical_used": written_kb * 1024,
        **_idle_metrics(),
    }


def host_metrics() -> dict[str, float]:
    """An SDC's 5.x ``/dtapi`` metrics: nobody does I/O through the simulator's MDM."""
    return _idle_metrics()


def _idle_metrics() -> dict[str, float]:
    names = ("host_read", "host_write", "host_trim")
    idle: dict[str, float] = {}
    for name in names:
        idle[f"{name}_iops"] = 0
        idle[f"{name}_bandwidth"] = 0
        idle[f"avg_{name}_latency"] = 0
    return idle


def _idle_io() -> dict[str, Any]:
    return {
        "userDataReadBwc": _idle_bwc(),
        "userDataWriteBwc": _idle_bwc(),
        "userDataTrimBwc": _idle_bwc(),
        "userDataSdcWriteLatency": _idle_bwc(),
        "userDataSdcTrimLatency": _idle_bwc(),
    }


def _idle_bwc() -> dict[str, int]:
    """A bandwidth counter of an object nobody does I/O on through the MDM."""
    return {"numOccured": 0, "numSeconds": 0, "totalWeightInKb": 0}
