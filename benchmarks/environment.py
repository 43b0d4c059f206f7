"""One benchmark run's world: a TLS simulator with two hosts, nova's config, and a meter.

Everything runs in this process, as in the functional tests: the simulator
serves on 127.0.0.1, privileged helpers run in-process (the benchmark runs
as root, as nova-compute's privsep daemon would), and each simulated host
has its own :class:`~sio_backend.storage.Storage`.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nova.conf
import nova.privsep
import os_brick
from nova import objects
from oslo_config import fixture as config_fixture

from sio_backend import privileged, storage
from sio_backend.simulator import Simulator
from sio_backend.simulator.host import simulated_storage

CONF = nova.conf.CONF
IID = "bnch"
HOSTS = ("host1", "host2")
BULK_POOL = "bulk"
GiB_KB = 1024 * 1024
LOGIN = ("GET", "/api/login")

objects.register_all()


@dataclass
class Measurement:
    """Gateway calls (logins apart) and wall time of one measured operation."""

    calls: int
    logins: int
    seconds: float
    routes: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {
            "calls": self.calls,
            "logins": self.logins,
            "seconds": round(self.seconds, 4),
            "routes": dict(sorted(self.routes.items())),
        }


class Bench:
    """The simulator, nova's configuration and the simulated hosts, for one run."""

    def __init__(self, workdir: Path | None = None) -> None:
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="sio-bench-"))
        # PyPowerFlex leaves two of its three sessions per call open; a real
        # gateway expires them after 10 idle minutes, the bench never waits that long.
        self.sim = Simulator(
            self.workdir / "simulator", tls=True, migration_delay=0.05, max_sessions=1_000_000
        )
        self._conf = config_fixture.Config(CONF)
        self._saved_client_modes: list[tuple[object, bool]] = []
        self._bulk_pool_id = ""
        self.other_volumes = 0

    # -- lifecycle ------------------------------------------------------------

    def __enter__(self) -> Bench:
        self.sim.start()
        for host in HOSTS:
            self.sim.add_sdc(host)
        # Other tenants' volumes live in their own pool, so ours keeps its capacity.
        self._bulk_pool_id = self.sim.add_storage_pool("pd1", BULK_POOL, capacity_gb=200_000)
        self._conf.setUp()
        self._conf.config(instances_path=str(self.workdir / "instances"), host=HOSTS[0])
        self._conf.config(images_type="sio", group="libvirt")
        self._conf.config(lock_path=str(self.workdir / "locks"), group="oslo_concurrency")
        os_brick.setup(CONF)  # as nova-compute does at start
        self._conf.config(
            installation_identifier=IID,
            default_protection_domain_name="pd1",
            default_storage_pool_name="sp1",
            default_provisioning_type="thick",
            group="scaleio",
        )
        self.set_scaleio(
            rest_server_ip=self.sim.host,
            rest_server_port=self.sim.port,
            rest_server_username=self.sim.username,
            rest_server_password=self.sim.password,
            verify_server_certificate=True,
            server_certificate_path=str(self.sim.ca_path),
        )
        self._conf.config(snapshots_directory=str(self.workdir / "snapshots"), group="libvirt")
        for context in (nova.privsep.sys_admin_pctxt, privileged.sys_admin_pctxt):
            self._saved_client_modes.append((context, context.client_mode))
            context.client_mode = False  # run privileged helpers in this (root) process
        self.fresh_hosts()
        return self

    def __exit__(self, *exc_info: object) -> None:
        for host in HOSTS:
            storage.unregister(host)
        for context, mode in self._saved_client_modes:
            context.client_mode = mode
        self._conf.cleanUp()
        self.sim.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def set_scaleio(self, **options: object) -> None:
        self._conf.config(group="scaleio", **options)

    def fresh_hosts(self) -> dict[str, storage.Storage]:
        """New Storage and gateway client per host: what a restarted nova-compute has."""
        self.hosts = {}
        for host in HOSTS:
            self.hosts[host] = simulated_storage(self.sim, host, installation_id=IID)
            storage.register(host, self.hosts[host])
        return self.hosts

    @contextlib.contextmanager
    def on_host(self, host: str) -> Iterator[storage.Storage]:
        """Run nova code as ``host`` (ScaleIOImage finds its Storage by CONF.host)."""
        self._conf.config(host=host)
        try:
            yield self.hosts[host]
        finally:
            self._conf.config(host=HOSTS[0])

    # -- the rest of the system ------------------------------------------------

    def populate(self, total: int) -> None:
        """Grow the other tenants' volumes to ``total``, straight into the model."""
        for index in range(self.other_volumes, total):
            self.sim.state.create_volume(
                self._bulk_pool_id,
                8 * GiB_KB,
                name=f"tenant-{index:06d}",
                volume_type="ThickProvisioned",
            )
        self.other_volumes = max(self.other_volumes, total)

    @contextlib.contextmanager
    def latency(self, seconds: float) -> Iterator[None]:
        """Every gateway round trip takes ``seconds`` longer."""
        if seconds:
            self.sim.faults.add_latency(seconds)
        try:
            yield
        finally:
            self.sim.faults.clear()

    # -- measuring ---------------------------------------------------------------

    def measure(self, operation: Callable[[], object]) -> Measurement:
        self.sim.reset_log()
        started = time.perf_counter()
        operation()
        seconds = time.perf_counter() - started
        counts = self.sim.call_counts()
        logins = counts.pop(LOGIN, 0)
        routes: Counter[str] = Counter()
        for (method, route), count in counts.items():
            routes[f"{method} {route}"] += count
        return Measurement(sum(routes.values()), logins, seconds, routes)


def make_qcow2(path: Path, virtual_size: str, chunks: list[tuple[int, int]]) -> Path:
    """A qcow2 image with 0x5a written at each (offset, length), in bytes."""
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), virtual_size], check=True)
    commands = []
    for offset, length in chunks:
        commands += ["-c", f"write -P 0x5a {offset} {length}"]
    if commands:
        subprocess.run(
            ["qemu-io", "-f", "qcow2", *commands, str(path)], check=True, capture_output=True
        )
    return path
