"""The system as a whole: API version, system id, domains, pools and capacity.

A pool's generation is its protection domain's ``genType`` (cinder's
``init_powerflex_gen_type``: absent means mirroring, as on every 4.x
system); only 5.x gateways report one, so older ones are never asked.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from typing import Any

from sio_backend.exceptions import BadRequest, InvalidResponse, NotFound
from sio_backend.gateway.api import Api
from sio_backend.gateway.models import (
    EC,
    EC_GRANULARITY_GB,
    GRANULARITY_GB,
    MIRRORING,
    PoolCapacity,
    StoragePool,
)
from sio_backend.gateway.wire import (
    as_list,
    as_object,
    check_id,
    object_id,
    optional_text,
    parse_version,
)

ID_CACHE_TTL_S = 5 * 60.0
METRICS_PATH = "/dtapi/rest/v1/metrics/query"


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
        # Neither a pool's domain nor a domain's generation ever changes.
        self._domain_gen_types: dict[str, str] = {}
        self._pool_gen_types: dict[str, str] = {}

    def api_version(self) -> str:
        """The REST API version as "major.minor", fetched once per client."""
        if self._version is None:
            major, minor = parse_version(self._api.scalar("GET", "/api/version"))
            self._version = f"{major}.{minor}"
        return self._version

    def version_at_least(self, major: int, minor: int) -> bool:
        return parse_version(self.api_version()) >= (major, minor)

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
        pool = self._api.request("GET", path, parse=StoragePool.from_api)
        pool = dataclasses.replace(pool, gen_type=self._domain_gen_type(pool.protection_domain_id))
        self._pool_gen_types[pool.id] = pool.gen_type
        return pool

    def erasure_coded(self, pool_id: str) -> bool:
        """Whether the pool is a 5.x Erasure Coding ("gen2") pool."""
        if not self.version_at_least(5, 0):
            return False
        gen_type = self._pool_gen_types.get(pool_id)
        if gen_type is None:
            gen_type = self.get_storage_pool(pool_id).gen_type
        return gen_type.lower() == EC.lower()

    def size_granularity_gb(self, pool_id: str) -> int:
        """Volume sizes in the pool are multiples of this many GiB."""
        return EC_GRANULARITY_GB if self.erasure_coded(pool_id) else GRANULARITY_GB

    def _domain_gen_type(self, domain_id: str) -> str:
        if not self.version_at_least(5, 0):
            return MIRRORING
        found = self._domain_gen_types.get(domain_id)
        if found is None:
            # cinder's query (rest_client.init_powerflex_gen_type); Dell's 5.0
            # API file answers a list of ProtectionDomain objects.
            def parse(data: Any) -> str:
                domains = as_list(data, "the protection domain list")
                if not domains:
                    raise InvalidResponse(f"protection domain {domain_id} was not returned")
                domain = as_object(domains[0], "a protection domain")
                return optional_text(domain, "genType", f"protection domain {domain_id}") or (
                    MIRRORING
                )

            found = self._api.request(
                "POST",
                "/api/types/ProtectionDomain/instances/action/queryBySelectedIds",
                {"ids": [domain_id]},
                parse=parse,
            )
            self._domain_gen_types[domain_id] = found
        return found

    def pool_capacity(self, pool_id: str) -> PoolCapacity:
        """Capacity from selected statistics; the formula depends on the API version."""
        check_id(pool_id, "storage pool id")
        if self.erasure_coded(pool_id):
            return self._metrics_capacity(pool_id)
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

    def _metrics_capacity(self, pool_id: str) -> PoolCapacity:
        """5.x has no querySelectedStatistics; its metrics service answers in bytes.

        Request and answer as cinder's ``_get_ec_queryable_statistics`` sends
        and reads them (``metrics`` as a JSON list: the live service refuses
        the comma string Dell's file describes, pflex_exporter ADR-0003).
        """
        return self._api.request(
            "POST",
            METRICS_PATH,
            {"resource_type": "storage_pool", "ids": [pool_id], "metrics": list(_METRICS)},
            parse=lambda data: _capacity_from_metrics(data, pool_id),
        )


_METRICS = ("physical_total", "physical_free", "logical_provisioned")


def _capacity_from_metrics(data: Any, pool_id: str) -> PoolCapacity:
    """``{"resources": [{"metrics": [{"name", "values": [bytes]}]}]}`` as KiB figures."""
    resources = as_list(as_object(data, "the metrics answer").get("resources"), "resources")
    mine = [
        item
        for item in resources
        if isinstance(item, Mapping) and item.get("id") in (None, pool_id)
    ]
    if not mine:
        raise InvalidResponse(f"the metrics answer has no entry for pool {pool_id}")
    in_bytes: dict[str, float] = {}
    for entry in as_list(mine[0].get("metrics"), f"metrics of pool {pool_id}"):
        metric = as_object(entry, "a metric")
        values = metric.get("values")
        first = values[0] if isinstance(values, list) and values else None
        if isinstance(first, int | float) and not isinstance(first, bool) and first >= 0:
            in_bytes[str(metric.get("name"))] = first
    missing = [name for name in _METRICS if name not in in_bytes]
    if missing:
        raise InvalidResponse(f"the metrics of pool {pool_id} lack {', '.join(missing)}")
    return PoolCapacity(
        total_kb=int(in_bytes["physical_total"]) // 1024,
        free_kb=int(in_bytes["physical_free"]) // 1024,
        provisioned_kb=int(in_bytes["logical_provisioned"]) // 1024,
    )
