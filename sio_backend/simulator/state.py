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
    EC,
    ERASURE_CODING,
    FINE_GRANULARITY,
    GIB_KB,
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


class GatewayState(HostRules, VTreeRules):
    """One simulated PowerFlex system and everything in it."""

    # ------------------------------------------------------------- topology
    @locked
    def add_protection_domain(self, name: str) -> ProtectionDomain:
        self._check_name(name)
        if any(pd.name == name for pd in self._domains.values()):
            raise errors.invalid_request(f"protection domain {name!r} already exists")
        # cinder: "PowerFlex v5.0+ systems return genType explicitly", 4.x none, and
        # "the backend enforces a consistent gentype across all pools" (63dc4c47e).
        gen_type = EC if self.generation.erasure_coding else None
        pd = ProtectionDomain(self._new_id("pd"), name, gen_type)
        self._domains[pd.id] = pd
        return pd

    @locked
    def add_storage_pool(
        self,
        protection_domain_id: str,
        name: str,
        *,
        zero_padding: bool = True,
        data_layout: str | None = None,
        capacity_gb: int = 10240,
    ) -> StoragePool:
        """A pool; 3.x/4.x: Medium (default) or Fine Granularity, 5.x: Erasure Coding."""
        self.protection_domain(protection_domain_id)
        self._check_name(name)
        layouts = (
            (ERASURE_CODING,)
            if self.generation.erasure_coding
            else (MEDIUM_GRANULARITY, FINE_GRANULARITY)
        )
        data_layout = data_layout or layouts[0]
        if data_layout not in layouts:
            raise errors.invalid_request(
                f"dataLayout must be one of {', '.join(layouts)} on PowerFlex "
                f"{self.generation.api_version}"
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
        medium = pool.data_layout == MEDIUM_GRANULARITY
        volume_type = volume_type or (THICK if medium else THIN)
        if volume_type not in (THIN, THICK):
            raise errors.invalid_request(f"volumeType must be one of {THIN}, {THICK}")
        if not medium and volume_type == THICK:
            raise self._thick_refused(pool)
        if pool.data_layout == ERASURE_CODING and compression_method is not None:
            # cinder drops compressionMethod when creating on EC (63dc4c47e).
            raise errors.invalid_request(
                "compressionMethod is not a volume property in an Erasure Coding storage pool"
            )
        if size_kb <= 0:
            raise errors.invalid_request("the volume size must be a positive number")
        if name is not None:
            self._check_volume_name(name)
        granularity = pool.granularity_kb
        size_kb = -(-size_kb // granularity) * granularity
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
            compression_method=compression_method
            or ("Normal" if pool.data_layout == FINE_GRANULARITY else "None"),
            nsid=next(self._nsids),
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
        if size_gb <= 0 or size_gb * GIB_KB % self._pools[volume.pool_id].granularity_kb:
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
        totals["numOfSdc"] = len(self.sdcs())
        return totals

    @locked
    def volume_statistics(self, volume_id: str) -> dict[str, Any]:
        volume = self.volume(volume_id)
        children = [v.id for v in self._volumes.values() if v.ancestor_id == volume.id]
        return statistics.volume_statistics(volume, children, self._descendants(volume.id))

    @locked
    def vtree_statistics(self, vtree_id: str) -> dict[str, int]:
        vtree = self.vtree(vtree_id)
        return statistics.vtree_statistics(
            self.volumes(vtree_id=vtree.id),
            self._volumes.get(vtree.base_volume_id),
            self._allocated_kb,
        )

    @locked
    def volume_metrics(self, volume_id: str) -> dict[str, float]:
        volume = self.volume(volume_id)
        return statistics.volume_metrics(volume, self._allocated_kb(volume))

    # ------------------------------------------------------------- checking
    def _check_capacity(self, pool: StoragePool, extra_thick_kb: int) -> None:
        if (
            extra_thick_kb
            > self.pool_statistics(pool.id)["capacityAvailableForVolumeAllocationInKb"]
        ):
            raise errors.TOO_MUCH_THIN_CAPACITY.error(v4=self.v4)
