"""The tables of one simulated PowerFlex system, their lock and their lookups.

:class:`Model` is the base the rule families build on (hosts and mapping in
:mod:`~sio_backend.simulator.hosts`, snapshots and migration in
:mod:`~sio_backend.simulator.vtrees`); :class:`~sio_backend.simulator.state.GatewayState`
puts them together.  Every public method runs under the one re-entrant lock
through :func:`locked`, which also finishes the V-Tree migrations that are
due, so no caller ever sees a migration past its end.
"""

from __future__ import annotations

import functools
import itertools
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from typing import ParamSpec, TypeVar

from sio_backend.simulator import errors
from sio_backend.simulator.dataplane import DataPlane, NoDataPlane
from sio_backend.simulator.generations import generation
from sio_backend.simulator.objects import (
    LAYOUT_NAMES,
    MAX_NAME_LENGTH,
    Host,
    ProtectionDomain,
    StoragePool,
    Volume,
    VTree,
    converted_type,
)

_PRINTABLE_NO_SPACE = re.compile(r"^[\x21-\x7e]+$")

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


def locked(method: Callable[P, R]) -> Callable[P, R]:
    """Run a public method under the model lock, after finishing due migrations."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        self = args[0]
        assert isinstance(self, Model)
        with self.lock:
            self._finish_due_migrations()
            return method(*args, **kwargs)

    return wrapper


class Model:
    """The objects of one system, by id, and how to find them."""

    def __init__(
        self,
        *,
        system_id: str | None = None,
        api_version: str = "3.5",
        data: DataPlane | None = None,
        clock: Callable[[], float] = time.monotonic,
        migration_delay: float = 0.5,
        max_snapshots_per_vtree: int | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.generation = generation(api_version)
        self.max_snapshots_per_vtree = (
            max_snapshots_per_vtree or self.generation.max_snapshots_per_vtree
        )
        self.system_id = system_id or secrets.token_hex(8)
        self.api_version = api_version
        self.v4 = self.generation.manager  # 4.x renumbered some return codes
        self.migration_delay = migration_delay
        self._data: DataPlane = data or NoDataPlane()
        self._clock = clock
        self._prefixes: dict[str, str] = {}
        self._counters: dict[str, itertools.count[int]] = {}
        self._domains: dict[str, ProtectionDomain] = {}
        self._pools: dict[str, StoragePool] = {}
        self._hosts: dict[str, Host] = {}  # SDCs and NVMe hosts, in registration order
        self._volumes: dict[str, Volume] = {}
        self._vtrees: dict[str, VTree] = {}
        self._snapshot_groups: dict[str, list[str]] = {}
        self._ip_counter = itertools.count()
        self._nsids = itertools.count(1)

    # ----------------------------------------------------------- identifiers
    def _new_id(self, kind: str) -> str:
        """16 hex digits like the MDM's: a per-type prefix and a counter."""
        prefix = self._prefixes.setdefault(kind, secrets.token_hex(4))
        counter = self._counters.setdefault(kind, itertools.count())
        return f"{prefix}{next(counter):08x}"

    # --------------------------------------------------------------- lookups
    def _find(self, table: dict[str, T], object_id: str, missing: errors.Rc) -> T:
        """An object by id, or the MDM's error for that kind of object."""
        try:
            return table[object_id]
        except KeyError:
            raise missing.error(v4=self.v4) from None

    @locked
    def protection_domains(self) -> list[ProtectionDomain]:
        return list(self._domains.values())

    @locked
    def protection_domain(self, pd_id: str) -> ProtectionDomain:
        return self._find(self._domains, pd_id, errors.FD_NOT_FOUND)

    @locked
    def protection_domain_id_by_name(self, name: str) -> str:
        for pd in self._domains.values():
            if pd.name == name:
                return pd.id
        raise errors.NOT_FOUND.error(v4=self.v4)

    @locked
    def storage_pools(self, protection_domain_id: str | None = None) -> list[StoragePool]:
        return [
            p
            for p in self._pools.values()
            if protection_domain_id is None or p.protection_domain_id == protection_domain_id
        ]

    @locked
    def storage_pool(self, pool_id: str) -> StoragePool:
        return self._find(self._pools, pool_id, errors.STORAGE_POOL_NOT_FOUND)

    @locked
    def storage_pool_id_by_name(self, protection_domain_id: str, name: str) -> str:
        for pool in self._pools.values():
            if pool.name == name and pool.protection_domain_id == protection_domain_id:
                return pool.id
        raise errors.NOT_FOUND.error(v4=self.v4)

    @locked
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

    @locked
    def volume(self, volume_id: str) -> Volume:
        return self._find(self._volumes, volume_id, errors.VOL_NOT_FOUND)

    @locked
    def volume_id_by_name(self, name: str) -> str:
        for volume in self._volumes.values():
            if volume.name == name:
                return volume.id
        raise errors.NOT_FOUND.error(v4=self.v4)

    @locked
    def vtrees(self) -> list[VTree]:
        return list(self._vtrees.values())

    @locked
    def vtree(self, vtree_id: str) -> VTree:
        return self._find(self._vtrees, vtree_id, errors.INVALID_VTREE_ID)

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

    def _allocated_kb(self, volume: Volume) -> int:
        return min(volume.size_kb, self._data.allocated_kb(volume.id))

    # ------------------------------------------------------------- checking
    def _check_name(self, name: str) -> None:
        if len(name) > MAX_NAME_LENGTH:
            raise errors.LONG_NAME.error(v4=self.v4)
        if not _PRINTABLE_NO_SPACE.match(name):
            raise errors.INVALID_NAME.error(v4=self.v4)

    def _thick_refused(self, pool: StoragePool, advice: str = "") -> errors.SimulatorError:
        """Thick volumes exist only in Medium Granularity pools."""
        return errors.NOT_SUPPORTED.error(
            v4=self.v4,
            message=f"Thick provisioned volumes are not supported in a "
            f"{LAYOUT_NAMES[pool.data_layout]} Storage Pool{advice}",
        )

    def _check_volume_name(self, name: str) -> None:
        self._check_name(name)
        if any(v.name == name for v in self._volumes.values()):
            raise errors.VOL_NAME_IN_USE.error(v4=self.v4)
