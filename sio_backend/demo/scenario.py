"""The demo: one instance's life on two simulated hosts, step by step.

Each step runs real nova 34 driver code (SioLibvirtDriver over fakelibvirt,
see :mod:`sio_backend.demo.cloud`) against the simulator over HTTPS, and is
reported with the gateway calls it made, its wall time, the volumes and
mappings after it, and how many domain XMLs libvirt's test driver accepted.
The last step runs ``sio-backend audit`` itself against the simulator.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import fixtures
import os_brick
from nova import objects
from nova.tests import fixtures as nova_fixtures
from oslo_utils import units

from sio_backend import naming
from sio_backend.cmd import main as sio_backend_command
from sio_backend.demo import domain_xml
from sio_backend.demo.cloud import (
    CONF,
    IID,
    PATTERN,
    Cloud,
    CloudFixture,
    configure,
    make_flavor,
)
from sio_backend.simulator.generations import generation

MARKER = b"written by sio-backend demo\n".ljust(4096, b".")
MARKER_OFFSET = 64 * units.Mi


class StepFailed(Exception):
    """A step did something other than what the backend promises."""


@dataclass
class StepReport:
    name: str
    seconds: float
    calls: Counter[tuple[str, str]]
    domain_xmls: int
    volumes: list[dict[str, object]]
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "step": self.name,
            "seconds": round(self.seconds, 3),
            "gateway_calls": sum(self.calls.values()),
            "calls_by_route": {f"{m} {r}": n for (m, r), n in self.calls.most_common()},
            "domain_xmls_validated": self.domain_xmls,
            "volumes": self.volumes,
            "note": self.note,
        }


@dataclass
class DemoReport:
    steps: list[StepReport] = field(default_factory=list)
    failed_step: str | None = None
    error: str | None = None
    leaked: list[dict] | None = None
    state_dir: str | None = None

    @property
    def ok(self) -> bool:
        return self.failed_step is None


def _read(path: str, offset: int, length: int) -> bytes:
    with open(path, "rb") as device:
        device.seek(offset)
        return device.read(length)


def _write(path: str, offset: int, data: bytes) -> None:
    with open(path, "r+b") as device:
        device.seek(offset)
        device.write(data)


def _disk_label(name: str | None) -> str:
    """What the volume is, from its name: nova's disk name, and the kind if derived."""
    parsed = naming.parse_volume_name(name) if name else None
    disk = getattr(parsed, "disk", None)
    if disk is None:
        return type(parsed).__name__ if parsed else "-"
    label = f"{disk.base} (rescue)" if disk.rescue else disk.base
    kind = getattr(parsed, "kind", None)
    return f"{label} {kind.value}" if kind and kind is not naming.VolumeKind.DISK else label


def _qcow2_holds(image: Path, checks: dict[int, bytes]) -> bool:
    """Whether the qcow2 ``image`` holds each data at its offset (converted by qemu-img)."""
    with tempfile.TemporaryDirectory() as scratch:
        raw = Path(scratch) / "image.raw"  # sparse: only the written data takes space
        subprocess.run(
            ["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(image), str(raw)],
            check=True,
        )
        return all(_read(str(raw), offset, len(data)) == data for offset, data in checks.items())


class _Nova(fixtures.Fixture):
    """nova.conf for both hosts (images_type = sio on the simulator's pd1/sp1), no Neutron."""

    def __init__(self, tmp: Path, provisioning: str) -> None:
        super().__init__()
        self.tmp = tmp
        self.provisioning = provisioning

    def _setUp(self) -> None:
        objects.register_all()
        conf = self.useFixture(nova_fixtures.ConfFixture(CONF))  # nova's defaults, no files
        configure(conf.config, self.tmp, provisioning=self.provisioning)
        # qcow2 uploads only the data written, not the 16 GiB of the root disk.
        conf.config(snapshot_image_format="qcow2", group="libvirt")
        os_brick.setup(CONF)  # after lock_path, which it takes its own from
        # No Neutron: live migration without multiple port bindings.
        self.useFixture(
            fixtures.MockPatch(
                "nova.network.neutron.API.has_port_binding_extension", return_value=False
            )
        )


class Listener(Protocol):
    """Hears each step as it starts and when it is done, to show progress while it runs."""

    def started(self, name: str) -> None: ...
    def finished(self, step: StepReport) -> None: ...


class Demo:
    """Runs the steps in order, stopping at the first that fails."""

    def __init__(
        self, tmp: Path, image_size_mb: int, listener: Listener, api_version: str = "3.5"
    ) -> None:
        self.tmp = tmp
        self.image_size_mb = image_size_mb
        self.api_version = api_version
        self.listener = listener
        self.report = DemoReport(state_dir=str(tmp))
        self.cloud: Cloud | None = None
        self.instance = None
        self._validated = 0

    # -- the steps ------------------------------------------------------------

    def steps(self, stack: fixtures.Fixture) -> list[tuple[str, Callable[[], str]]]:
        def start() -> str:
            # Thick disks, except on 5.x, whose Erasure Coding pools have thin ones only.
            thin = generation(self.api_version).erasure_coding
            stack.useFixture(_Nova(self.tmp, "thin" if thin else "thick"))
            cloud = CloudFixture(self.tmp, self.image_size_mb, api_version=self.api_version)
            self.cloud = stack.useFixture(cloud).cloud
            sim = self.cloud.simulator
            return (
                f"{sim.url} (PowerFlex {sim.api_version}, TLS, CA {sim.ca_path}); SDCs host1, host2"
            )

        def spawn() -> str:
            flavor = make_flavor("m1.demo", root_gb=8, ephemeral_gb=8, swap=8192)
            self.instance = self.cloud.spawn(self.cloud.new_instance(flavor), host="host1")
            return (
                f"instance {self.instance.uuid}: root 8 GiB from a {self.image_size_mb} MiB "
                "qcow2 image (qemu-img), ephemeral 8 GiB, swap 8 GiB"
            )

        def write_read() -> str:
            device = self.cloud.device(self.instance, host="host1")
            self._expect(_read(device, 4 * units.Mi, len(PATTERN)) == PATTERN, "image data")
            _write(device, MARKER_OFFSET, MARKER)
            self._expect_marker("host1")
            return f"read the image's data at 4 MiB, wrote and read a marker at 64 MiB of {device}"

        def reboot() -> str:
            self.cloud.reboot_hard(self.instance, host="host1")
            self._expect_marker("host1")
            return "domain redefined on the same volumes; marker intact"

        def resize() -> str:
            flavor = make_flavor("m1.demo.big", root_gb=16, ephemeral_gb=8, swap=8192)
            migration = self.cloud.resize(self.instance, flavor, "host1", "host2")
            self.cloud.confirm_resize(self.instance, migration, "host1")
            root = self.cloud.volumes()[self.cloud.volume_name(self.instance)]
            self._expect(root.size_kb == 16 * units.Mi, "root volume grown to 16 GiB")
            self._expect_marker("host2")
            return "root grown to 16 GiB and moved to host2, resize confirmed; marker intact"

        def snapshot() -> str:
            image = self.cloud.snapshot(self.instance, host="host2")
            checks = {4 * units.Mi: PATTERN, MARKER_OFFSET: MARKER}
            self._expect(_qcow2_holds(image, checks), "image data and marker in the upload")
            size = image.stat().st_size / units.Mi
            return f"uploaded a {size:.1f} MiB qcow2 of the root disk, marker included"

        def live_migrate() -> str:
            self.cloud.live_migrate(self.instance, "host2", "host1")
            self._expect(self.cloud.domain_running(self.instance, "host1"), "running on host1")
            self._expect_marker("host1")
            return "running on host1, volumes mapped to host1 only; marker intact"

        def rescue() -> str:
            self.cloud.rescue(self.instance, host="host1")
            return "booted from a rescue disk made from the image; the root disk is attached too"

        def unrescue() -> str:
            self.cloud.unrescue(self.instance, host="host1")
            self._expect_marker("host1")
            return "rescue disk removed; marker intact"

        def delete() -> str:
            self.cloud.delete(self.instance, host="host1")
            self._expect(not self.cloud.instance_volume_names(self.instance), "volumes removed")
            return "every volume of the instance removed"

        def audit() -> str:
            self.report.leaked = self._audit()
            if self.report.leaked:
                names = ", ".join(str(f["name"]) for f in self.report.leaked)
                raise StepFailed(f"sio-backend audit found {names}")
            return "sio-backend audit: nothing leaked"

        return [
            ("start the simulator", start),
            ("spawn on host1", spawn),
            ("write and read the root disk", write_read),
            ("hard reboot", reboot),
            ("resize to a 16 GiB root on host2 and confirm", resize),
            ("snapshot to Glance", snapshot),
            ("live migrate to host1", live_migrate),
            ("rescue", rescue),
            ("unrescue", unrescue),
            ("delete", delete),
            ("sio-backend audit", audit),
        ]

    def _expect(self, condition: bool, what: str) -> None:
        if not condition:
            raise StepFailed(f"{what}: not as expected")

    def _expect_marker(self, host: str) -> None:
        device = self.cloud.device(self.instance, host=host)
        self._expect(_read(device, MARKER_OFFSET, len(MARKER)) == MARKER, f"marker on {host}")

    # -- running and reporting ---------------------------------------------

    def run(self) -> DemoReport:
        with _Stack() as stack:
            for name, step in self.steps(stack):
                if not self._run_step(name, step):
                    break
        return self.report

    def _run_step(self, name: str, step: Callable[[], str]) -> bool:
        self.listener.started(name)
        before = self.cloud.simulator.call_counts() if self.cloud else Counter()
        started = time.monotonic()
        try:
            note = step()
            validated = self._validate_new_xmls()
        except Exception as error:  # any failure ends the demo, and names the step
            self.report.failed_step = name
            self.report.error = f"{type(error).__name__}: {error}"
            return False
        calls = self.cloud.simulator.call_counts()
        calls.subtract(before)
        report = StepReport(
            name, time.monotonic() - started, +calls, validated, self._volumes(), note
        )
        self.report.steps.append(report)
        self.listener.finished(report)
        return True

    def _validate_new_xmls(self) -> int:
        new = self.cloud.domain_xmls[self._validated :]
        for host, xml in new:
            try:
                domain_xml.validate(xml)
            except domain_xml.InvalidDomainXml as error:
                raise StepFailed(f"domain XML defined on {host}: {error}") from error
        self._validated += len(new)
        return len(new)

    def _volumes(self) -> list[dict[str, object]]:
        rows = []
        for name, volume in sorted(self.cloud.volumes().items(), key=lambda item: item[0] or ""):
            rows.append(
                {
                    "name": name,
                    "disk": _disk_label(name),
                    "size_gb": volume.size_kb // units.Mi,
                    "type": volume.volume_type,
                    "mapped_to": sorted(self.cloud.mapped_hosts(name)),
                }
            )
        return rows

    def _audit(self) -> list[dict]:
        """Run ``sio-backend audit`` on the simulator, no instance existing; its findings."""
        sim = self.cloud.simulator
        conf = self.tmp / "nova-audit.conf"
        conf.write_text(
            "[scaleio]\n"
            f"rest_server_ip = {sim.host}\nrest_server_port = {sim.port}\n"
            f"rest_server_username = {sim.username}\nrest_server_password = {sim.password}\n"
            f"verify_server_certificate = true\nserver_certificate_path = {sim.ca_path}\n"
            f"installation_identifier = {IID}\n"
        )
        instances = self.tmp / "instances.txt"
        instances.write_text("")  # the instance list after the delete: empty
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            arguments = ["audit", "--format", "json", "--config-file", str(conf)]
            status = sio_backend_command.main([*arguments, "--instances-file", str(instances)])
        findings = json.loads(out.getvalue())["findings"]
        if status not in (0, 1):
            raise StepFailed(f"sio-backend audit exited {status}")
        return findings


class _Stack(fixtures.Fixture):
    """Holds the fixtures the steps start, so they stop in reverse order at the end."""

    def _setUp(self) -> None:
        pass


@contextlib.contextmanager
def state_directory(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sio-backend-demo-"))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


def run(
    image_size_mb: int, keep: bool, listener: Listener, *, api_version: str = "3.5"
) -> DemoReport:
    """The demo against a simulator of the generation ``api_version`` names."""
    with state_directory(keep) as tmp:
        return Demo(tmp, image_size_mb, listener, api_version).run()
