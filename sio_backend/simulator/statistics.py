"""The gateway's statistics, computed from the model's objects.

Pure functions: the model (:class:`~sio_backend.simulator.state.GatewayState`)
calls them under its lock with the objects concerned and a way to read how
much of a volume has been written, and they return the figures a real
gateway reports, in its units (KiB; raw figures count both mirror copies).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sio_backend.simulator.objects import (
    GRANULARITY_KB,
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
    available = unused // GRANULARITY_KB * GRANULARITY_KB
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


def volume_statistics(volume: Volume, children: int, descendants: int) -> dict[str, Any]:
    return {
        "mappedSdcIds": list(volume.mappings),
        "numOfMappedSdcs": len(volume.mappings),
        "numOfChildVolumes": children,
        "numOfDescendantVolumes": descendants,
        "userDataReadBwc": _idle_bwc(),
        "userDataWriteBwc": _idle_bwc(),
    }


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


def _idle_bwc() -> dict[str, int]:
    """A bandwidth counter of an object nobody does I/O on through the MDM."""
    return {"numOccured": 0, "numSeconds": 0, "totalWeightInKb": 0}
