"""A fleet of compute hosts against one gateway: requests per second, sessions, busiest call.

Every simulated host has what a nova-compute process has: its own gateway
client (its own session), SDC, :class:`~sio_backend.storage.Storage` and
pool-statistics reading (:mod:`sio_backend.capacity`).  Each runs the
periodic work of nova-compute that reaches the gateway, which is capacity
reporting alone: ``update_available_resource`` every
``update_resources_interval`` calls the driver's ``_get_local_gb_info``
(:func:`sio_backend.capacity.local_gb_info`).  nova's other periodic tasks
(power-state sync, the image cache manager, which the driver leaves to
nova for local files, pending deletes, build timeouts) ask libvirt, the
database or the local disk, never the gateway.  On top, the fleet spawns
and deletes instances at a steady rate (root, ephemeral and swap; create
and map each disk, as a warm spawn does; ``InstanceVolumes.remove_all`` to
delete), each with the resource tracker's capacity update nova makes on a
claim and a delete.

Time is simulated: one clock, moved by the event loop, drives the
simulator's sessions, every client, every Storage and every capacity
reading, so an hour of 1,000 hosts runs in the time its requests take.  The
requests are real: HTTPS to one simulator on 127.0.0.1, stopped at the end.
"""

from __future__ import annotations

import heapq
import random
import shutil
import tempfile
import time
import types
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from oslo_concurrency import lockutils
from sio_fixtures import nova_disks

from sio_backend import capacity, naming, sdc
from sio_backend.flavor import DiskPlacement
from sio_backend.gateway import GatewayClient
from sio_backend.instance_volumes import InstanceVolumes
from sio_backend.simulator import Simulator
from sio_backend.simulator.host import SimulatedConnector
from sio_backend.storage import Storage

IID = "flet"
POOL = "fleet"
DISKS = nova_disks.DISKS  # root, ephemeral, swap
DISK_GB = 8
GiB = 1024**3
PERIODIC, SPAWN, DELETE = "periodic", "spawn", "delete"


@dataclass(frozen=True)
class Fleet:
    """One simulated fleet: its size, what runs on it, and for how long."""

    hosts: int
    instances_per_host: int
    minutes: float = 10.0
    interval_s: float = 60.0  # [DEFAULT] update_resources_interval
    spawns_per_host_hour: float = 2.0  # and as many deletes

    @property
    def name(self) -> str:
        return f"{self.hosts} hosts x {self.instances_per_host} instances"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Host:
    """One nova-compute process as the gateway sees it."""

    def __init__(self, sim: Simulator, name: str, clock: FakeClock, interval_s: float) -> None:
        sim_sdc = sim.add_sdc(name)
        client = GatewayClient(
            sim.host,
            sim.port,
            sim.username,
            sim.password,
            verify=str(sim.ca_path),
            max_connections=2,
            clock=clock,
        )
        connector = SimulatedConnector(sim_sdc.guid, str(sim_sdc.by_id_dir))
        self.storage = Storage(
            client,
            sdc.LocalSdc(sim_sdc.guid, connector=connector, wait_timeout=10),
            installation_id=IID,
            clock=clock,
            pool_statistics=capacity.PoolStatistics(clock),
        )
        self.conf = types.SimpleNamespace(
            update_resources_interval=interval_s,
            scaleio=types.SimpleNamespace(
                default_protection_domain_name="pd1",
                default_storage_pool_name=POOL,
                capacity_fraction=1.0,
            ),
        )
        self.capacity_asks = 0
        self.spawned: list = []

    def update_resources(self) -> None:
        """The resource tracker's capacity update: periodic, and on every claim and delete."""
        self.capacity_asks += 1
        capacity.local_gb_info(self.storage, self.conf)

    def spawn(self) -> None:
        self.update_resources()  # instance_claim
        instance = nova_disks.new_instance(root_gb=DISK_GB)
        placement = DiskPlacement("pd1", POOL, thin=True)
        with self.storage.operation(instance.uuid, new_instance=True):
            for disk in DISKS:
                name = self.storage.disk_volume_name(instance.uuid, disk)
                volume = self.storage.create(name, placement, DISK_GB * GiB)
                self.storage.attach(volume)
        self.spawned.append(instance)

    def delete(self, instance) -> None:
        with self.storage.operation(instance.uuid):
            InstanceVolumes(self.storage, instance, {}).remove_all()
        self.update_resources()  # the usage update after the instance is gone


@dataclass
class _Tally:
    """Gateway requests by event kind and route, split at the end of the first interval."""

    startup: Counter = field(default_factory=Counter)
    steady: Counter = field(default_factory=Counter)
    steady_by_kind: Counter = field(default_factory=Counter)
    events: Counter = field(default_factory=Counter)


def _route(verb: str, path: str) -> str:
    return f"{verb} {path}"


def _is_statistics(route: str) -> bool:
    return route.endswith(("/querySelectedStatistics", "/metrics/query"))


def _is_login(route: str) -> bool:
    return route.endswith("/api/login") or "/rest/auth/" in route


@contextmanager
def _simulator(hosts: int, clock: FakeClock) -> Iterator[Simulator]:
    """One TLS simulator whose sessions age with the fleet's clock; removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="sio-fleet-"))
    # Sessions are counted, not capped: a gateway's limit is the operator's to size.
    sim = Simulator(workdir / "simulator", tls=True, max_sessions=hosts * 4, clock=clock)
    lockutils.set_defaults(str(workdir / "locks"))  # os-brick's connector locks
    try:
        with sim:
            yield sim
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _populate(sim: Simulator, pool_id: str, hosts: int, per_host: int) -> None:
    """Each host's instances already there: their volumes, made in the simulator directly."""
    for _ in range(hosts * per_host):
        instance = str(uuid.uuid4())
        for disk in DISKS:
            name = naming.disk_volume_name(IID, instance, disk)
            sim.state.create_volume(pool_id, DISK_GB * 1024 * 1024, name=name)


def simulate(fleet: Fleet, seed: int = 17) -> dict:
    """Run the fleet for ``fleet.minutes`` of simulated time; its figures."""
    started = time.perf_counter()
    rng = random.Random(seed)  # noqa: S311 - a reproducible simulation, not a secret
    clock = FakeClock()
    with _simulator(fleet.hosts, clock) as sim:
        pool_id = sim.add_storage_pool("pd1", POOL, capacity_gb=100_000_000)
        _populate(sim, pool_id, fleet.hosts, fleet.instances_per_host)
        hosts = [Host(sim, f"compute{i:04d}", clock, fleet.interval_s) for i in range(fleet.hosts)]
        end = fleet.minutes * 60
        rate = fleet.hosts * fleet.spawns_per_host_hour / 3600  # per simulated second
        events: list[tuple[float, int, str, int]] = []
        sequence = iter(range(1 << 62))
        for index in range(fleet.hosts):  # nova-compute starts at any point of an interval
            heapq.heappush(
                events, (rng.uniform(0, fleet.interval_s), next(sequence), PERIODIC, index)
            )
        for kind in (SPAWN, DELETE):
            heapq.heappush(events, (rng.expovariate(rate), next(sequence), kind, -1))
        tally = _Tally()
        sim.reset_log()
        while events:
            at, _seq, kind, index = heapq.heappop(events)
            if at >= end:
                break
            clock.now = at
            if kind == PERIODIC:
                hosts[index].update_resources()
                heapq.heappush(events, (at + fleet.interval_s, next(sequence), kind, index))
            else:
                heapq.heappush(events, (at + rng.expovariate(rate), next(sequence), kind, -1))
                if kind == SPAWN:
                    rng.choice(hosts).spawn()
                elif not _delete_one(hosts, rng):
                    continue
            tally.events[kind] += 1
            counts = Counter({_route(*key): n for key, n in sim.call_counts().items()})
            sim.reset_log()
            if at < fleet.interval_s:
                tally.startup.update(counts)
            else:
                tally.steady.update(counts)
                tally.steady_by_kind[kind] += sum(counts.values())
        sessions = {
            "opened": len(sim.sessions.issued_tokens()),
            "open_at_end": sim.sessions.active_count(),
        }
    return _figures(fleet, hosts, tally, sessions, time.perf_counter() - started)


def _delete_one(hosts: list[Host], rng: random.Random) -> bool:
    """The oldest instance the fleet spawned on a host that has one; False if none has."""
    candidates = [host for host in hosts if host.spawned]
    if not candidates:
        return False
    host = rng.choice(candidates)
    host.delete(host.spawned.pop(0))
    return True


def _figures(
    fleet: Fleet, hosts: list[Host], tally: _Tally, sessions: dict, seconds: float
) -> dict:
    steady_s = max(fleet.minutes * 60 - fleet.interval_s, 1.0)
    steady_total = sum(tally.steady.values())
    busiest, busiest_n = tally.steady.most_common(1)[0] if tally.steady else ("-", 0)
    logins = sum(n for route, n in (tally.startup + tally.steady).items() if _is_login(route))
    statistics = sum(n for route, n in tally.steady.items() if _is_statistics(route))
    intervals = steady_s / fleet.interval_s
    asks = sum(host.capacity_asks for host in hosts)
    reads = sum(host.storage.pool_statistics.reads for host in hosts)
    return {
        "hosts": fleet.hosts,
        "instances_per_host": fleet.instances_per_host,
        "simulated_minutes": fleet.minutes,
        "interval_s": fleet.interval_s,
        "spawns": tally.events[SPAWN],
        "deletes": tally.events[DELETE],
        "startup_requests_per_host": round(sum(tally.startup.values()) / fleet.hosts, 2),
        "requests_per_s": round(steady_total / steady_s, 2),
        "periodic_requests_per_host_interval": round(
            tally.steady_by_kind[PERIODIC] / (fleet.hosts * intervals), 3
        ),
        "requests_per_spawn": _per(tally.steady_by_kind[SPAWN], tally.events[SPAWN]),
        "requests_per_delete": _per(tally.steady_by_kind[DELETE], tally.events[DELETE]),
        "statistics_reads_per_host_interval": round(statistics / (fleet.hosts * intervals), 3),
        "login_requests": logins,
        "sessions_opened": sessions["opened"],
        "sessions_open_at_end": sessions["open_at_end"],
        "busiest_endpoint": busiest,
        "busiest_per_s": round(busiest_n / steady_s, 2),
        "busiest_share": round(busiest_n / steady_total, 3) if steady_total else 0.0,
        "capacity_asks": asks,
        "capacity_reads": reads,
        "routes_steady": dict(tally.steady.most_common()),
        "seconds": round(seconds, 1),
    }


def _per(requests: int, events: int) -> float | None:
    return round(requests / events, 2) if events else None


# The simulator's volume table grows quadratically in cost: instances per
# host stay small here (1 vs 10 still shows whether they count).
DEFAULT_FLEETS = (
    Fleet(hosts=100, instances_per_host=1),
    Fleet(hosts=100, instances_per_host=10),
    Fleet(hosts=1000, instances_per_host=1, minutes=3.0),
)


def run(fleets: tuple[Fleet, ...] = DEFAULT_FLEETS) -> dict:
    """Every fleet in turn, each against its own simulator."""
    return {fleet.name: simulate(fleet) for fleet in fleets}


if __name__ == "__main__":
    from benchmarks import report

    print(report.fleet_table(run()))
