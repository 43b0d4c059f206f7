"""The system as a whole: API version, system id, domains, pools and capacity."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from sio_backend.exceptions import BadRequest, InvalidResponse, NotFound
from sio_backend.gateway.api import Api
from sio_backend.gateway.models import PoolCapacity, StoragePool
from sio_backend.gateway.wire import as_list, as_object, check_id, object_id

ID_CACHE_TTL_S = 5 * 60.0
_VERSION = re.compile(r"(\d+)\.(\d+)")


class TtlCache:
    """Name-to-id answers: stable for minutes, but a name can be reassigned."""

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[tuple[str, ...], tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...]) -> str | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or self._clock() >= entry[0]:
                return None
            return entry[1]

    def put(self, key: tuple[str, ...], value: str) -> None:
        with self._lock:
            self._entries[key] = (self._clock() + self._ttl, value)


class System:
    """Lookups that many calls need, cached where the answer cannot change."""

    def __init__(self, api: Api) -> None:
        self._api = api
        self._ids = TtlCache(ID_CACHE_TTL_S, api.clock)
        self._version: str | None = None
        self._system_id: str | None = None
        self._thin_statistic = "thinCapacityAllocatedInKb"

    def api_version(self) -> str:
        """The REST API version as "major.minor", fetched once per client."""
        if self._version is None:
            raw = self._api.scalar("GET", "/api/version") or ""
            match = _VERSION.match(raw)
            if match is None:
                raise InvalidResponse(
                    f"the gateway reports API version {raw!r}, not major.minor",
                    method="GET",
                    path="/api/version",
                )
            self._version = f"{match[1]}.{match[2]}"
        return self._version

    def version_at_least(self, major: int, minor: int) -> bool:
        found_major, found_minor = (int(part) for part in self.api_version().split("."))
        return (found_major, found_minor) >= (major, minor)

    def system_id(self) -> str:
        """The id that names devices ``emc-vol-<system id>-<volume id>``."""
        if self._system_id is None:

            def parse(data: Any) -> str:
                systems = as_list(data, "the system list")
                if not systems:
                    raise InvalidResponse("the gateway lists no PowerFlex system")
                return object_id(as_object(systems[0], "a system"), "id", "the system")

            self._system_id = self._api.request("GET", "/api/types/System/instances", parse=parse)
        return self._system_id

    def protection_domain_id(self, name: str) -> str:
        """Id of a protection domain by name; cached for five minutes."""
        key = ("ProtectionDomain", name)
        found = self._ids.get(key)
        if found is None:
            found = self._api.query_id("ProtectionDomain", {"name": name})
            if found is None:
                raise NotFound(f"protection domain {name!r} does not exist on the PowerFlex system")
            self._ids.put(key, found)
        return found

    def storage_pool_id(self, protection_domain: str, pool: str) -> str:
        """Id of a storage pool by domain and pool name; cached for five minutes."""
        key = ("StoragePool", protection_domain, pool)
        found = self._ids.get(key)
        if found is None:
            found = self._lookup_storage_pool(protection_domain, pool)
            self._ids.put(key, found)
        return found

    def _lookup_storage_pool(self, protection_domain: str, pool: str) -> str:
        # siolib and pyscaleio (tested against real gateways) send the domain
        # name; a gateway that refuses that form is asked with the domain id.
        try:
            found = self._api.query_id(
                "StoragePool", {"name": pool, "protectionDomainName": protection_domain}
            )
        except BadRequest:
            found = None
        if found is None:
            domain_id = self.protection_domain_id(protection_domain)
            found = self._api.query_id(
                "StoragePool", {"name": pool, "protectionDomainId": domain_id}
            )
        if found is None:
            raise NotFound(
                f"storage pool {pool!r} does not exist in protection domain {protection_domain!r}"
            )
        return found

    def get_storage_pool(self, pool_id: str) -> StoragePool:
        path = f"/api/instances/StoragePool::{check_id(pool_id, 'storage pool id')}"
        return self._api.request("GET", path, parse=StoragePool.from_api)

    def pool_capacity(self, pool_id: str) -> PoolCapacity:
        """Capacity from selected statistics; the formula depends on the API version."""
        check_id(pool_id, "storage pool id")
        net = self.version_at_least(3, 0)
        snapshots = (
            "snapshotCapacityInKb" if self.version_at_least(3, 5) else "snapCapacityInUseInKb"
        )
        figures = (
            ["netCapacityInUseInKb", "netUnusedCapacityInKb"]
            if net
            else [
                "capacityLimitInKb",
                "spareCapacityInKb",
                "capacityAvailableForVolumeAllocationInKb",
            ]
        )
        base = [*figures, "thickCapacityInUseInKb", snapshots]
        try:
            return self._pool_capacity(pool_id, [*base, self._thin_statistic], net)
        except BadRequest:
            if self._thin_statistic == "thinCapacityAllocatedInKm":
                raise
            # Some releases only know the misspelt name of this statistic.
            self._thin_statistic = "thinCapacityAllocatedInKm"
            return self._pool_capacity(pool_id, [*base, self._thin_statistic], net)

    def _pool_capacity(self, pool_id: str, properties: list[str], net: bool) -> PoolCapacity:
        def parse(data: Any) -> PoolCapacity:
            by_pool = as_object(data, "pool statistics keyed by pool id")
            if pool_id in by_pool:
                stats = by_pool[pool_id]
            elif len(by_pool) == 1:
                stats = next(iter(by_pool.values()))
            else:
                raise InvalidResponse(f"the statistics answer has no entry for pool {pool_id}")
            stats = as_object(stats, f"statistics of pool {pool_id}")
            return PoolCapacity.from_statistics(stats, net=net)

        return self._api.request(
            "POST",
            "/api/types/StoragePool/instances/action/querySelectedStatistics",
            {"ids": [pool_id], "properties": properties},
            parse=parse,
        )
