"""What the benchmark measures; each function returns plain data for the report."""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import statistics
import subprocess
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from sio_fixtures import nova_disks

from benchmarks import breakdown, ours, peers
from benchmarks.environment import CONF, HOSTS, IID, Bench, make_qcow2
from benchmarks.remote_simulator import RemoteSimulator, remote_simulator
from sio_backend import privileged, storage
from sio_backend.gateway import GatewayClient
from sio_backend.simulator.host import simulated_storage

MiB = 1024 * 1024
OPERATIONS = ("spawn", "snapshot", "resize", "live_migrate", "delete")
DISKS_PER_OPERATION = {"spawn": 3, "spawn_qos": 3, "live_migrate": 3, "delete": 3}
QOS = {"disk:iops_limit": "1000"}
LOGINS = (("GET", "/api/login"), ("POST", "/rest/auth/login"))


def make_ways(bench: Bench, image: Path) -> tuple[list, dict[str, str]]:
    """sio_backend and each peer that imports; the others with the reason they do not."""
    ways: list = [ours.OurWay(bench, image)]
    unavailable = {}
    for peer in (peers.SiolibWay, peers.PyPowerFlexWay):
        try:
            ways.append(peer(bench, str(image)))
        except Exception as err:  # a peer that cannot run is reported, not fatal
            unavailable[peer.name] = f"{type(err).__name__}: {err}"
    return ways, unavailable


def _cycle(way, record: Callable[[str, Callable[[], object]], None]) -> None:
    """Spawn one instance, then snapshot, resize, live-migrate and delete it."""
    instance = nova_disks.new_instance()
    record("spawn", lambda: way.spawn(instance, "host1"))
    record("snapshot", lambda: way.snapshot(instance, "host1"))
    record("resize", lambda: way.resize(instance, "host1"))
    record("live_migrate", lambda: way.live_migrate(instance, "host1", "host2"))
    record("delete", lambda: way.delete(instance, "host2"))


def _recorder(bench: Bench, rows: dict) -> Callable[[str, Callable[[], object]], None]:
    def record(name: str, operation: Callable[[], object]) -> None:
        rows[name] = bench.measure(operation).as_dict()

    return record


def _unmeasured(_name: str, operation: Callable[[], object]) -> None:
    operation()


def call_counts(bench: Bench, image: Path, levels: list[int]) -> dict:
    """Gateway calls per operation at each number of other volumes in the system."""
    results: dict = {"levels": {}, "unavailable": {}}
    for level in levels:
        bench.populate(level)
        bench.fresh_hosts()
        ways, unavailable = make_ways(bench, image)
        results["unavailable"].update(unavailable)
        per_way: dict = {}
        for way in ways:
            rows: dict = {}
            # Cold: the first instance of a fresh process pays the one-time lookups.
            cold = nova_disks.new_instance()
            record = _recorder(bench, rows)
            record("spawn_cold", functools.partial(way.spawn, cold, "host1"))
            _cycle(way, _unmeasured)  # fills both hosts' caches
            _cycle(way, record)
            if isinstance(way, ours.OurWay):
                qos = nova_disks.new_instance(extra_specs=QOS)
                record("spawn_qos", functools.partial(way.spawn, qos, "host1"))
                way.delete(qos, "host1")
            way.delete(cold, "host1")
            per_way[way.name] = rows
        results["levels"][str(level)] = per_way
    return results


def latency(bench: Bench, image: Path, delays: list[float]) -> dict:
    """Wall time per operation when every gateway round trip takes ``delay`` longer."""
    bench.fresh_hosts()
    ways, unavailable = make_ways(bench, image)
    for way in ways:
        _cycle(way, _unmeasured)  # warm caches first
    results: dict = {"unavailable": unavailable, "delays": {}}
    for delay in delays:
        per_way: dict = {}
        with bench.latency(delay):
            for way in ways:
                per_way[way.name] = {}
                _cycle(way, _recorder(bench, per_way[way.name]))
        results["delays"][f"{delay * 1000:g}ms"] = per_way
    return results


@contextlib.contextmanager
def _hosts_of(bench: Bench, sim: RemoteSimulator, max_connections: int) -> Iterator[GatewayClient]:
    """Both hosts on ``sim``, sharing one gateway client as nova-compute's workers do."""
    bench.set_scaleio(
        rest_server_ip=sim.host,
        rest_server_port=sim.port,
        server_certificate_path=str(sim.ca_path),
        rest_max_connections=max_connections,
    )
    shared = GatewayClient.from_config(CONF)
    bench.hosts = {}
    for host in HOSTS:
        bench.hosts[host] = simulated_storage(sim, host, installation_id=IID)
        bench.hosts[host].client.close()
        bench.hosts[host].client = shared
        storage.register(host, bench.hosts[host])
    try:
        yield shared
    finally:
        shared.close()
        bench.set_scaleio(
            rest_server_ip=bench.sim.host,
            rest_server_port=bench.sim.port,
            server_certificate_path=str(bench.sim.ca_path),
        )
        bench.fresh_hosts()


def _spawn_all(way: ours.OurWay, instances: list, timing: breakdown.Breakdown) -> dict:
    """Every instance spawned by a thread of its own, started together."""
    walls: list[float] = []
    parts: list[dict[str, float]] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(len(instances))

    def spawn(index: int) -> None:
        start.wait()
        timing.take()
        began = time.perf_counter()
        try:
            way.spawn(instances[index], HOSTS[index % len(HOSTS)])
        except Exception:  # every failure is counted and reported
            with lock:
                errors.append(traceback.format_exc(limit=3))
        wall = time.perf_counter() - began
        with lock:
            walls.append(wall)
            parts.append(timing.take())

    threads = [threading.Thread(target=spawn, args=(i,)) for i in range(len(instances))]
    cpu = time.process_time()
    began = time.perf_counter()
    with timing:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
    return {
        "errors": len(errors),
        "error_samples": errors[:3],
        **breakdown.summarize(walls, parts),
        "total_s": round(time.perf_counter() - began, 3),
        "process_cpu_s": round(time.process_time() - cpu, 2),
    }


def _simulator_figures(report: dict, total_s: float) -> dict:
    served = report["durations"]
    return {
        "process": "separate",
        "requests": len(served),
        "handling_mean_ms": round(1000 * statistics.fmean(served), 2) if served else 0,
        "handling_max_ms": round(1000 * max(served), 2) if served else 0,
        "cpu_s": round(report["cpu_s"], 3),
        "cpu_share_of_one_core": round(report["cpu_s"] / max(total_s, 1e-6), 2),
        "snapshot_copy_s": round(report["snapshot_copy_s"], 3),
    }


def concurrency(
    bench: Bench,
    image: Path,
    spawns: int,
    max_connections: int,
    *,
    cached: bool = False,
    copy_snapshot_data: bool = True,
) -> dict:
    """``spawns`` instances at once over two hosts sharing one gateway client.

    The simulator serves from a process of its own (see
    :mod:`benchmarks.remote_simulator`).  ``cached``: ``[scaleio]
    image_cache = volume`` (thin disks), the image imported by an earlier
    boot.  ``copy_snapshot_data=False``: the simulator's snapshots are
    metadata, as PowerFlex's are.  Each spawn's wall time is split by
    :class:`~benchmarks.breakdown.Breakdown`.
    """
    image_id = str(uuid.uuid4()) if cached else None
    if cached:
        bench.set_scaleio(image_cache="volume", default_provisioning_type="thin")
    state_dir = bench.workdir / f"remote-simulator-{image_id or 'none'}"
    with (
        remote_simulator(state_dir, HOSTS, copy_snapshot_data=copy_snapshot_data) as sim,
        _hosts_of(bench, sim, max_connections),
    ):
        way = ours.OurWay(bench, image, image_id=image_id)
        first = nova_disks.new_instance()  # fills the caches; with the cache, imports
        way.spawn(first, HOSTS[0])
        way.delete(first, HOSTS[0])
        instances = [nova_disks.new_instance() for _ in range(spawns)]
        sim.reset()
        result = _spawn_all(way, instances, breakdown.Breakdown())
        report = sim.report()
        for index, instance in enumerate(instances):
            way.delete(instance, HOSTS[index % len(HOSTS)])
    if cached:
        bench.set_scaleio(image_cache="none", default_provisioning_type="thick")
    counts = report["counts"]
    return {
        "image_cache": "volume" if cached else "none",
        "snapshot_data": "copied" if copy_snapshot_data else "not copied",
        "spawns": spawns,
        "hosts": len(HOSTS),
        "gateway_clients": 1,
        "logins": sum(counts.get(route, 0) for route in LOGINS),
        "calls": sum(counts.values()),
        "peak_connections": report["peak_connections"],
        "max_connections": max_connections,
        **result,
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "simulator": _simulator_figures(report, result["total_s"]),
    }


def _written(command: Callable[[], object]) -> tuple[float, int]:
    """Seconds, and bytes that child processes wrote to storage (page cache or direct)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_oublock
    began = time.perf_counter()
    command()
    seconds = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_oublock
    return seconds, (after - before) * 512


def image_import(workdir: Path, virtual_gib: int = 2, data_mib: int = 64) -> dict:
    """A mostly empty qcow2 onto a fresh device: sio_backend's convert against dd."""
    chunk = 2 * MiB
    stride = virtual_gib * 1024 * MiB // (data_mib * MiB // chunk)
    source = make_qcow2(
        workdir / "import.qcow2",
        f"{virtual_gib}G",
        [(offset, chunk) for offset in range(0, virtual_gib * 1024 * MiB, stride)],
    )
    raw = workdir / "import.raw"
    subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", source, raw], check=True)
    device = workdir / "import-device"

    def fresh_device() -> str:
        # A new thin volume on a zero-padded pool: reads back zeros, nothing allocated.
        device.unlink(missing_ok=True)
        with open(device, "wb") as handle:
            handle.truncate(8 * 1024 * MiB)
        return str(device)

    runs = {
        "sio_backend": lambda: privileged.convert_image(
            str(source), "qcow2", fresh_device(), "raw", target_exists=True, target_is_zero=True
        ),
        "qemu-img -n (no zero skipping, page cache)": lambda: subprocess.run(
            ["qemu-img", "convert", "-n", "-f", "qcow2", "-O", "raw", source, fresh_device()],
            check=True,
        ),
        "dd bs=4M oflag=direct": lambda: subprocess.run(
            [
                "dd",
                f"if={raw}",
                f"of={fresh_device()}",
                "bs=4M",
                "oflag=direct",
                "conv=notrunc",
                "status=none",
            ],
            check=True,
        ),
    }
    results: dict = {
        "image": {"format": "qcow2", "virtual_gib": virtual_gib, "data_mib": data_mib},
        "command": privileged.convert_command(
            str(source), "qcow2", "<device>", "raw", target_exists=True, target_is_zero=True
        ),
        "runs": {},
    }
    for name, run in runs.items():
        seconds, written = _written(run)
        results["runs"][name] = {
            "seconds": round(seconds, 3),
            "bytes_written": written,
            "bytes_allocated": os.stat(device).st_blocks * 512,
        }
    baseline = results["runs"]["dd bs=4M oflag=direct"]
    ours_run = results["runs"]["sio_backend"]
    results["dd_over_ours"] = {
        "time": round(baseline["seconds"] / max(ours_run["seconds"], 1e-6), 1),
        "bytes_written": round(baseline["bytes_written"] / max(ours_run["bytes_written"], 1), 1),
    }
    for path in (source, raw, device):
        Path(path).unlink(missing_ok=True)
    return results
