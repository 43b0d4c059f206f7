"""The simulated PowerFlex system: the objects the MDM keeps and its rules.

This is the model half of the simulator (the HTTP half is in ``routes`` and
``server``): plain Python objects guarded by one re-entrant lock, methods that
enforce what a real MDM enforces and raise :class:`SimulatorError` with the
real return code when a rule is broken.  Volume data lives elsewhere, behind
the :class:`DataPlane` protocol, so the model can be tested on its own.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar

from sio_backend.simulator import errors, statistics
from sio_backend.simulator.dataplane import DataPlane, NoDataPlane
from sio_backend.simulator.objects import (
    CONVERSIONS,
    FINE_GRANULARITY,
    GIB_KB,
    GRANULARITY_KB,
    MAX_NAME_LENGTH,
    MAX_SNAPSHOTS_PER_VTREE,
    MEDIUM_GRANULARITY,
    REMOVE_MODES,
    SNAPSHOT,
    THICK,
    THIN,
    Mapping,
    Migration,
    ProtectionDomain,
    Sdc,
    StoragePool,
    Volume,
    VTree,
    converted_type,
)

_PRINTABLE_NO_SPACE = re.compile(r"^[\x21-\x7e]+$")
_FIRST_SDC_IP = ipaddress.IPv4Address("198.18.0.11")  # the benchmarking range, never routed


P = ParamSpec("P")
R = TypeVar("R")


def _locked(method: Callable[P, R]) -> Callable[P, R]:
    """Run a public method under the model lock, after finishing due migrations."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        self = args[0]
        assert isinstance(self, GatewayState)
        with self.lock:
            self._finish_due_migrations()
            return method(*args, **kwargs)

    return wrapper


def round_up_to_granularity(size_kb: int) -> int:
    return -(-size_kb // GRANULARITY_KB) * GRANULARITY_KB


class GatewayState:
    """One simulated PowerFlex system and everything in it."""

    def __init__(
        self,
        *,
        system_id: str | None = None,
        api_version: str = "3.5",
        data: DataPlane | None = None,
        clock: Callable[[], float] = time.monotonic,
        migration_delay: float = 0.5,
        max_snapshots_per_vtree: int = MAX_SNAPSHOTS_PER_VTREE,
    ) -> None:
        self.lock = threading.RLock()
        self.max_snapshots_per_vtree = max_snapshots_per_vtree
        self.system_id = system_id or secrets.token_hex(8)
        self.api_version = api_version
        self.v4 = int(api_version.split(".", maxsplit=1)[0]) >= 4
        self.migration_delay = migration_delay
        self._data: DataPlane = data or NoDataPlane()
        self._clock = clock
        self._prefixes: dict[str, str] = {}
        self._counters: dict[str, itertools.count[int]] = {}
        self._domains: dict[str, ProtectionDomain] = {}
        self._pools: dict[str, StoragePool] = {}
        self._sdcs: dict[str, Sdc] = {}
        self._volumes: dict[str, Volume] = {}
        self._vtrees: dict[str, VTree] = {}
        self._snapshot_groups: dict[str, list[str]] = {}
        self._ip_counter = itertools.count()

    # ----------------------------------------------------------- identifiers
    def _new_id(self, kind: str) -> str:
        """16 hex digits like the MDM's: a per-type prefix and a counter."""
        prefix = self._prefixes.setdefault(kind, secrets.token_hex(4))
        counter = self._counters.setdefault(kind, itertools.count())
        return f"{prefix}{next(counter):08x}"

    # ------------------------------------------------------------- topology
    @_locked
    def add_protection_domain(self, name: str) -> ProtectionDomain:
        self._check_name(name)
        if any(pd.name == name for pd in self._domains.values()):
            raise errors.invalid_request(f"protection domain {name!r} already exists")
        pd = ProtectionDomain(self._new_id("pd"), name)
        self._domains[pd.id] = pd
        return pd

    @_locked
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

    @_locked
    def add_sdc(
        self, name: str, *, guid: str | None = None, ip: str | None = None, connected: bool = True
    ) -> Sdc:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,30}", name):
            raise errors.invalid_request(
                f"SDC name {name!r} must be 1-31 letters, digits, '.', '_' or '-'"
            )
        if any(s.name == name for s in self._sdcs.values()):
            raise errors.invalid_request(f"SDC {name!r} already exists")
        sdc = Sdc(
            id=self._new_id("sdc"),
            name=name,
            guid=str(uuid.UUID(guid) if guid else uuid.uuid4()).upper(),
            ip=ip or str(_FIRST_SDC_IP + next(self._ip_counter)),
            connected=connected,
        )
        self._sdcs[sdc.id] = sdc
        self._data.add_sdc(sdc.id, sdc.name)
        return sdc

    @_locked
    def set_sdc_connected(self, sdc_id: str, connected: bool) -> None:
        """Flip an SDC's MDM connection; on reconnect its mapped volumes appear."""
        sdc = self.sdc(sdc_id)
        was_connected, sdc.connected = sdc.connected, connected
        if connected and not was_connected:
            for volume in self._volumes.values():
                if sdc.id in volume.mappings:
                    self._data.attach(sdc.id, volume.id)

    # --------------------------------------------------------------- lookups
    @_locked
    def protection_domains(self) -> list[ProtectionDomain]:
        return list(self._domains.values())

    @_locked
    def protection_domain(self, pd_id: str) -> ProtectionDomain:
        try:
            return self._domains[pd_id]
        except KeyError:
            raise errors.FD_NOT_FOUND.error(v4=self.v4) from None

    @_locked
    def protection_domain_id_by_name(self, name: str) -> str:
        for pd in self._domains.values():
            if pd.name == name:
                return pd.id
        raise errors.NOT_FOUND.error(v4=self.v4)

    @_locked
    def storage_pools(self, protection_domain_id: str | None = None) -> list[StoragePool]:
        return [
            p
            for p in self._pools.values()
            if protection_domain_id is None or p.protection_domain_id == protection_domain_id
        ]

    @_locked
    def storage_pool(self, pool_id: str) -> StoragePool:
        try:
            return self._pools[pool_id]
        except KeyError:
            raise errors.STORAGE_POOL_NOT_FOUND.error(v4=self.v4) from None

    @_locked
    def storage_pool_id_by_name(self, protection_domain_id: str, name: str) -> str:
        for pool in self._pools.values():
            if pool.name == name and pool.protection_domain_id == protection_domain_id:
                return pool.id
        raise errors.NOT_FOUND.error(v4=self.v4)

    @_locked
    def sdcs(self) -> list[Sdc]:
        return list(self._sdcs.values())

    @_locked
    def sdc(self, sdc_id: str) -> Sdc:
        try:
            return self._sdcs[sdc_id]
        except KeyError:
            raise errors.INI_NOT_FOUND.error(v4=self.v4) from None

    @_locked
    def sdc_by_guid(self, guid: str) -> Sdc:
        """GUIDs compare case-insensitively: the gateway shows them upper-case,
        the SDC's ioctl reports them lower-case."""
        for sdc in self._sdcs.values():
            if sdc.guid.lower() == guid.lower():
                return sdc
        raise errors.INI_NOT_FOUND.error(v4=self.v4)

    @_locked
    def sdc_id_by_key(self, *, ip: str | None = None, name: str | None = None) -> str:
        for sdc in self._sdcs.values():
            if (ip is not None and sdc.ip == ip) or (name is not None and sdc.name == name):
                return sdc.id
        raise errors.NOT_FOUND.error(v4=self.v4)

    @_locked
    def volumes(
        self,
        *,
        pool_id: str | None = None,
        vtree_id: str | None = None,
        sdc_id: str | None = None,
    ) -> list[Volume]:
        return [
            v
            for v in self._volumes.values()
            if (pool_id is None or v.pool_id == pool_id)
            and (vtree_id is None or v.vtree_id == vtree_id)
            and (sdc_id is None or sdc_id in v.mappings)
        ]

    @_locked
    def volume(self, volume_id: str) -> Volume:
        try:
            return self._volumes[volume_id]
        except KeyError:
            raise errors.VOL_NOT_FOUND.error(v4=self.v4) from None

    @_locked
    def volume_id_by_name(self, name: str) -> str:
        for volume in self._volumes.values():
            if volume.name == name:
                return volume.id
        raise errors.NOT_FOUND.error(v4=self.v4)

    @_locked
    def vtrees(self) -> list[VTree]:
        return list(self._vtrees.values())

    @_locked
    def vtree(self, vtree_id: str) -> VTree:
        try:
            return self._vtrees[vtree_id]
        except KeyError:
            raise errors.INVALID_VTREE_ID.error(v4=self.v4) from None

    # ---------------------------------------------------------------- volumes
    @_locked
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

    @_locked
    def rename_volume(self, volume_id: str, new_name: str) -> None:
        volume = self.volume(volume_id)
        if volume.name == new_name:
            return
        self._check_volume_name(new_name)
        volume.name = new_name

    @_locked
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

    @_locked
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

    def _descendants(self, volume_id: str) -> list[str]:
        found: list[str] = []
        frontier = [volume_id]
        while frontier:
            parent = frontier.pop()
            children = [v.id for v in self._volumes.values() if v.ancestor_id == parent]
            found.extend(children)
            frontier.extend(children)
        return found

    def _remove_volumes(self, volume_ids: Iterable[str]) -> None:
        doomed = [self._volumes[v] for v in volume_ids]
        if any(v.mappings for v in doomed):
            raise errors.VOL_MAPPED.error(v4=self.v4)
        for volume in doomed:
            self._data.remove(volume.id)
            del self._volumes[volume.id]
            if volume.snapshot_group_id is not None:
                self._snapshot_groups[volume.snapshot_group_id].remove(volume.id)
                if not self._snapshot_groups[volume.snapshot_group_id]:
                    del self._snapshot_groups[volume.snapshot_group_id]
            if not self.volumes(vtree_id=volume.vtree_id):
                del self._vtrees[volume.vtree_id]

    # --------------------------------------------------------------- mapping
    @_locked
    def map_volume(
        self,
        volume_id: str,
        sdc_id: str,
        *,
        allow_multiple: bool = False,
        access_mode: str = "ReadWrite",
    ) -> None:
        volume = self.volume(volume_id)
        sdc = self.sdc(sdc_id)
        if sdc.id in volume.mappings:
            raise errors.VOL_ALREADY_MAPPED_TO_THIS_INI.error(v4=self.v4)
        if volume.mappings and not allow_multiple:
            raise errors.NOT_ALLOWED_MORE_THAN_ONE_MAPPING.error(v4=self.v4)
        volume.mappings[sdc.id] = Mapping(sdc.id, access_mode=access_mode)
        if sdc.connected:
            self._data.attach(sdc.id, volume.id)

    @_locked
    def unmap_volume(self, volume_id: str, sdc_id: str | None = None) -> None:
        """Unmap from one SDC, or from every SDC when ``sdc_id`` is None."""
        volume = self.volume(volume_id)
        if sdc_id is None:
            targets = list(volume.mappings)
        else:
            targets = [self.sdc(sdc_id).id]
        if not targets or any(t not in volume.mappings for t in targets):
            raise errors.VOL_NOT_MAPPED_TO_INI.error(v4=self.v4)
        for target in targets:
            del volume.mappings[target]
            self._data.detach(target, volume.id)

    @_locked
    def set_mapped_sdc_limits(
        self,
        volume_id: str,
        sdc_id: str,
        *,
        iops_limit: int | None = None,
        bandwidth_limit_kbps: int | None = None,
    ) -> None:
        volume = self.volume(volume_id)
        sdc = self.sdc(sdc_id)
        if iops_limit is None and bandwidth_limit_kbps is None:
            raise errors.missing_parameters("iopsLimit", "bandwidthLimitInKbps")
        if iops_limit is not None and not (iops_limit == 0 or iops_limit > 10):
            raise errors.invalid_request(
                f"iopsLimit must be 0 (unlimited) or greater than 10, got {iops_limit}"
            )
        if bandwidth_limit_kbps is not None and (
            bandwidth_limit_kbps < 0 or bandwidth_limit_kbps % 1024
        ):
            raise errors.invalid_request(
                "bandwidthLimitInKbps must be 0 (unlimited) or a multiple of 1024, got "
                f"{bandwidth_limit_kbps}"
            )
        mapping = volume.mappings.get(sdc.id)
        if mapping is None:
            raise errors.VOL_NOT_MAPPED_TO_INI.error(v4=self.v4)
        if iops_limit is not None:
            mapping.iops_limit = iops_limit
        if bandwidth_limit_kbps is not None:
            mapping.bandwidth_limit_kbps = bandwidth_limit_kbps

    # ------------------------------------------------------------- snapshots
    @_locked
    def snapshot_volumes(self, definitions: list[tuple[str, str | None]]) -> tuple[str, list[str]]:
        """Snapshot every (volume id, snapshot name) at one instant, all or none."""
        if not definitions:
            raise errors.missing_parameters("snapshotDefs")
        sources = [self.volume(volume_id) for volume_id, _ in definitions]
        names = [name for _, name in definitions if name is not None]
        for name in names:
            self._check_volume_name(name)
        if len(set(names)) != len(names):
            raise errors.VOL_NAME_IN_USE.error(v4=self.v4)
        for vtree_id in {s.vtree_id for s in sources}:
            existing = sum(1 for v in self.volumes(vtree_id=vtree_id) if v.volume_type == SNAPSHOT)
            asked = sum(1 for s in sources if s.vtree_id == vtree_id)
            if existing + asked > self.max_snapshots_per_vtree:
                raise errors.with_details(errors.TOO_MANY_SNAPS_IN_VTREE)
        group_id = self._new_id("snapgroup")
        created = []
        for source, (_, name) in zip(sources, definitions, strict=True):
            snapshot = Volume(
                id=self._new_id("volume"),
                name=name,
                size_kb=source.size_kb,
                pool_id=source.pool_id,
                vtree_id=source.vtree_id,
                volume_type=SNAPSHOT,
                ancestor_id=source.id,
                creation_time=int(time.time()),
                compression_method=source.compression_method,
                snapshot_group_id=group_id,
            )
            self._data.snapshot(source.id, snapshot.id)
            self._volumes[snapshot.id] = snapshot
            created.append(snapshot.id)
        self._snapshot_groups[group_id] = list(created)
        return group_id, created

    @_locked
    def remove_snapshot_group(self, group_id: str) -> int:
        members = self._snapshot_groups.get(group_id)
        if not members:
            raise errors.VOL_NOT_FOUND_FOR_SNAP_GROUP.error(v4=self.v4)
        count = len(members)
        self._remove_volumes(list(members))
        return count

    @_locked
    def overwrite_volume_content(self, volume_id: str, source_volume_id: str) -> None:
        """Replace a volume's data with another's from the same V-Tree (revert)."""
        target = self.volume(volume_id)
        source = self.volume(source_volume_id)
        if target.id == source.id:
            raise errors.VOLUME_AND_SNAPSHOT_MATCH.error(v4=self.v4)
        if target.vtree_id != source.vtree_id:
            raise errors.VTREE_ID_MISMATCH.error(v4=self.v4)
        self._data.overwrite(target.id, source.id)

    # ------------------------------------------------------------- migration
    @_locked
    def migrate_vtree(
        self, volume_id: str, destination_pool_id: str, *, conversion: str = "NoConversion"
    ) -> None:
        """Start moving a volume's whole V-Tree; it completes after ``migration_delay``."""
        volume = self.volume(volume_id)
        destination = self.storage_pool(destination_pool_id)
        vtree = self._vtrees[volume.vtree_id]
        if conversion not in CONVERSIONS:
            raise errors.invalid_request(
                f"volTypeConversion must be one of {', '.join(CONVERSIONS)}"
            )
        if vtree.migration is not None:
            raise errors.MIGRATION_IN_PROGRESS.error(v4=self.v4)
        if vtree.pool_id == destination.id:
            raise errors.ALREADY_IN_DESTINATION.error(v4=self.v4)
        members = self.volumes(vtree_id=vtree.id)
        if destination.data_layout == FINE_GRANULARITY and any(
            converted_type(v.volume_type, conversion) == THICK for v in members
        ):
            raise errors.NOT_SUPPORTED.error(
                v4=self.v4,
                message="Thick provisioned volumes are not supported in a Fine Granularity "
                "Storage Pool; migrate with volTypeConversion ThickToThin",
            )
        vtree.migration = Migration(
            vtree.pool_id, destination.id, conversion, self._clock() + self.migration_delay
        )

    def _finish_due_migrations(self) -> None:
        now = self._clock()
        for vtree in self._vtrees.values():
            migration = vtree.migration
            if migration is None or now < migration.completes_at:
                continue
            vtree.pool_id = migration.destination_pool_id
            for volume in self._volumes.values():
                if volume.vtree_id == vtree.id:
                    volume.pool_id = migration.destination_pool_id
                    volume.volume_type = converted_type(volume.volume_type, migration.conversion)
            vtree.migration = None

    # ------------------------------------------------------------ statistics
    @_locked
    def pool_statistics(self, pool_id: str) -> dict[str, int]:
        pool = self.storage_pool(pool_id)
        return statistics.pool_statistics(pool, self.volumes(pool_id=pool.id), self._allocated_kb)

    @_locked
    def protection_domain_statistics(self, pd_id: str) -> dict[str, int]:
        pools = self.storage_pools(self.protection_domain(pd_id).id)
        totals = statistics.sum_statistics(self.pool_statistics(p.id) for p in pools)
        totals["numOfStoragePools"] = len(pools)
        return totals

    @_locked
    def system_statistics(self) -> dict[str, int]:
        totals = statistics.sum_statistics(self.pool_statistics(p.id) for p in self._pools.values())
        totals["numOfProtectionDomains"] = len(self._domains)
        totals["numOfStoragePools"] = len(self._pools)
        totals["numOfSdc"] = len(self._sdcs)
        return totals

    @_locked
    def volume_statistics(self, volume_id: str) -> dict[str, Any]:
        volume = self.volume(volume_id)
        children = sum(1 for v in self._volumes.values() if v.ancestor_id == volume.id)
        return statistics.volume_statistics(volume, children, len(self._descendants(volume.id)))

    @_locked
    def vtree_statistics(self, vtree_id: str) -> dict[str, int]:
        vtree = self.vtree(vtree_id)
        return statistics.vtree_statistics(
            self.volumes(vtree_id=vtree.id),
            self._volumes.get(vtree.base_volume_id),
            self._allocated_kb,
        )

    def _allocated_kb(self, volume: Volume) -> int:
        return min(volume.size_kb, self._data.allocated_kb(volume.id))

    # ------------------------------------------------------------- checking
    def _check_name(self, name: str) -> None:
        if len(name) > MAX_NAME_LENGTH:
            raise errors.LONG_NAME.error(v4=self.v4)
        if not _PRINTABLE_NO_SPACE.match(name):
            raise errors.INVALID_NAME.error(v4=self.v4)

    def _check_volume_name(self, name: str) -> None:
        self._check_name(name)
        if any(v.name == name for v in self._volumes.values()):
            raise errors.VOL_NAME_IN_USE.error(v4=self.v4)

    def _check_capacity(self, pool: StoragePool, extra_thick_kb: int) -> None:
        if (
            extra_thick_kb
            > self.pool_statistics(pool.id)["capacityAvailableForVolumeAllocationInKb"]
        ):
            raise errors.TOO_MUCH_THIN_CAPACITY.error(v4=self.v4)
