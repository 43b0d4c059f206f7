"""The simulated PowerFlex system: the objects the MDM keeps and its rules.

This is the model half of the simulator (the HTTP half is in ``routes`` and
``server``): plain Python objects (:mod:`~sio_backend.simulator.objects`)
guarded by one re-entrant lock (:mod:`~sio_backend.simulator.model`), methods
that enforce what a real MDM enforces and raise :class:`SimulatorError` with
the real return code when a rule is broken.  The rules come in families, as
moto's models do: hosts and mapping, V-Trees (snapshots, migration), and
here the topology, the volumes and the statistics.  Volume data lives
elsewhere, behind the :class:`~sio_backend.simulator.dataplane.DataPlane`
protocol, so the model can be tested on its own.
"""

from __future__ import annotations

import time
from typing import Any

from sio_backend.simulator import errors, statistics
from sio_backend.simulator.hosts import HostRules
from sio_backend.simulator.model import locked
from sio_backend.simulator.objects import (
    FINE_GRANULARITY,
    GIB_KB,
    GRANULARITY_KB,
    MEDIUM_GRANULARITY,
    REMOVE_MODES,
    THICK,
    THIN,
    ProtectionDomain,
    StoragePool,
    Volume,
    VTree,
)
from sio_backend.simulator.vtrees import VTreeRules


def round_up_to_granularity(size_kb: int) -> int:
    return -(-size_kb // GRANULARITY_KB) * GRANULARITY_KB


class GatewayState(HostRules, VTreeRules):
    """One simulated PowerFlex system and everything in it."""

    # ------------------------------------------------------------- topology
    @locked
    def add_protection_domain(self, name: str) -> ProtectionDomain:
        self._check_name(name)
        if any(pd.name == name for pd in self._domains.values()):
            raise errors.invalid_request(f"protection domain {name!r} already exists")
        pd = ProtectionDomain(self._new_id("pd"), name)
        self._domains[pd.id] = pd
        return pd

    @locked
    def add_storage_pool(
        self,
        protection_domain_id: str,
        name: str,
        *,
        zero_padding: bool = True,
        data_layout: str = MEDIUM_GRANULARITY,
        capacity_gb: int = 10240,
    ) -> StoragePool:
        self.protection_domain(protection_domain_id)
        self._check_name(name)
        if data_layout not in (MEDIUM_GRANULARITY, FINE_GRANULARITY):
            raise errors.invalid_request(
                f"dataLayout must be one of {MEDIUM_GRANULARITY}, {FINE_GRANULARITY}"
            )
        if any(
            p.name == name and p.protection_domain_id == protection_domain_id
            for p in self._pools.values()
        ):
            raise errors.invalid_request(f"storage pool {name!r} already exists")
        pool = StoragePool(
            self._new_id("sp"),
            name,
            protection_domain_id,
            zero_padding,
            data_layout,
            capacity_gb * GIB_KB,
        )
        self._pools[pool.id] = pool
        return pool

    # ---------------------------------------------------------------- volumes
    @locked
    def create_volume(
        self,
        pool_id: str,
        size_kb: int,
        *,
        name: str | None = None,
        volume_type: str | None = None,
        protection_domain_id: str | None = None,
        compression_method: str | None = None,
    ) -> Volume:
        pool = self.storage_pool(pool_id)
        if protection_domain_id is not None:
            self.protection_domain(protection_domain_id)
            if pool.protection_domain_id != protection_domain_id:
                raise errors.FD_AND_SP_MISMATCH.error(v4=self.v4)
        fine = pool.data_layout == FINE_GRANULARITY
        volume_type = volume_type or (THIN if fine else THICK)
        if volume_type not in (THIN, THICK):
            raise errors.invalid_request(f"volumeType must be one of {THIN}, {THICK}")
        if fine and volume_type == THICK:
            raise errors.NOT_SUPPORTED.error(
                v4=self.v4,
                message="Thick provisioned volumes are not supported in a Fine Granularity "
                "Storage Pool",
            )
        if size_kb <= 0:
            raise errors.invalid_request("the volume size must be a positive number")
        if name is not None:
            self._check_volume_name(name)
        size_kb = round_up_to_granularity(size_kb)
        self._check_capacity(pool, size_kb if volume_type == THICK else 0)
        volume = Volume(
            id=self._new_id("volume"),
            name=name,
            size_kb=size_kb,
            pool_id=pool.id,
            vtree_id=self._new_id("vtree"),
            volume_type=volume_type,
            ancestor_id=None,
            creation_time=int(time.time()),
            compression_method=compression_method or ("Normal" if fine else "None"),
        )
        self._data.create(volume.id, size_kb)
        self._vtrees[volume.vtree_id] = VTree(volume.vtree_id, volume.id, pool.id)
        self._volumes[volume.id] = volume
        return volume

    @locked
    def rename_volume(self, volume_id: str, new_name: str) -> None:
        volume = self.volume(volume_id)
        if volume.name == new_name:
            return
        self._check_volume_name(new_name)
        volume.name = new_name

    @locked
    def resize_volume(self, volume_id: str, size_gb: int) -> None:
        """Extend to exactly ``size_gb``: no rounding here, unlike create."""
        volume = self.volume(volume_id)
        if size_gb <= 0 or size_gb % 8:
            raise errors.VOL_SIZE_ILLEGAL.error(v4=self.v4, status=400)
        size_kb = size_gb * GIB_KB
        if size_kb <= volume.size_kb:
            raise errors.VOL_DECREASE_NOT_SUPPORTED.error(v4=self.v4, status=400)
        if volume.volume_type == THICK:
            self._check_capacity(self._pools[volume.pool_id], size_kb - volume.size_kb)
        self._data.extend(volume.id, size_kb)
        volume.size_kb = size_kb

    @locked
    def remove_volume(self, volume_id: str, mode: str = "ONLY_ME") -> list[str]:
        """Remove a volume and/or its descendants; returns the ids removed."""
        volume = self.volume(volume_id)
        if mode not in REMOVE_MODES:
            raise errors.invalid_request(f"removeMode must be one of {', '.join(REMOVE_MODES)}")
        descendants = self._descendants(volume.id)
        doomed = {
            "ONLY_ME": [volume.id],
            "INCLUDING_DESCENDANTS": [volume.id, *descendants],
            "DESCENDANTS_ONLY": descendants,
            "WHOLE_VTREE": [v.id for v in self.volumes(vtree_id=volume.vtree_id)],
        }[mode]
        self._remove_volumes(doomed)
        return doomed

    # ------------------------------------------------------------ statistics
    @locked
    def pool_statistics(self, pool_id: str) -> dict[str, int]:
        pool = self.storage_pool(pool_id)
        return statistics.pool_statistics(pool, self.volumes(pool_id=pool.id), self._allocated_kb)

    @locked
    def protection_domain_statistics(self, pd_id: str) -> dict[str, int]:
        pools = self.storage_pools(self.protection_domain(pd_id).id)
        totals = statistics.sum_statistics(self.pool_statistics(p.id) for p in pools)
        totals["numOfStoragePools"] = len(pools)
        return totals

    @locked
    def system_statistics(self) -> dict[str, int]:
        totals = statistics.sum_statistics(self.pool_statistics(p.id) for p in self._pools.values())
        totals["numOfProtectionDomains"] = len(self._domains)
        totals["numOfStoragePools"] = len(self._pools)
        totals["numOfSdc"] = len(self._sdcs)
        return totals

    @locked
    def volume_statistics(self, volume_id: str) -> dict[str, Any]:
        volume = self.volume(volume_id)
        children = sum(1 for v in self._volumes.values() if v.ancestor_id == volume.id)
        return statistics.volume_statistics(volume, children, len(self._descendants(volume.id)))

    @locked
    def vtree_statistics(self, vtree_id: str) -> dict[str, int]:
        vtree = self.vtree(vtree_id)
        return statistics.vtree_statistics(
            self.volumes(vtree_id=vtree.id),
            self._volumes.get(vtree.base_volume_id),
            self._allocated_kb,
        )

    # ------------------------------------------------------------- checking
    def _check_capacity(self, pool: StoragePool, extra_thick_kb: int) -> None:
        if (
            extra_thick_kb
            > self.pool_statistics(pool.id)["capacityAvailableForVolumeAllocationInKb"]
        ):
            raise errors.TOO_MUCH_THIN_CAPACITY.error(v4=self.v4)
