"""The demo: one server's life through nova's own services, on two simulated hosts.

nova 34's REST API, conductor, scheduler, placement and two computes run in
this process (:mod:`sio_backend.demo.services`), with SioLibvirtDriver and
``images_type = sio`` against the simulator over HTTPS.  Each step is what
an operator asks of nova (the ``openstack`` command is shown), checked
against what nova then reports and what the gateway then holds: each
volume, its size, the hosts it is mapped to.  Every domain XML nova defines
is validated by libvirt's own test driver, and the last step runs the
audit (:mod:`sio_backend.audit`) with nova's list of servers.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import fixtures
from nova.virt.libvirt import driver as libvirt_driver

from sio_backend import audit, inventory
from sio_backend.demo import domain_xml, services
from sio_backend.demo.device_io import read, write
from sio_backend.demo.glance import PATTERN, PATTERN_OFFSET, QCOW2_IMAGE_ID
from sio_backend.demo.services import IID, MARK, MARK_OFFSET, SioServices

START = "start nova's services and the simulator"
NAME = "demo"
SMALL = {"disk": 8, "disk.eph0": 8, "disk.swap": 8}  # GiB by nova's disk name
LARGE = {**SMALL, "disk": 16}


class StepFailed(Exception):
    """A step did something other than what the backend promises."""


@dataclass
class StepReport:
    name: str
    commands: list[str]
    seconds: float
    calls: Counter[tuple[str, str]]
    domain_xmls: int
    server: dict[str, object]  # what nova reports: status and host
    volumes: list[dict[str, object]]  # what the gateway holds of the server
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "step": self.name,
            "commands": self.commands,
            "seconds": round(self.seconds, 3),
            "gateway_calls": sum(self.calls.values()),
            "calls_by_route": {f"{m} {r}": n for (m, r), n in self.calls.most_common()},
            "domain_xmls_validated": self.domain_xmls,
            "server": self.server,
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


class Listener(Protocol):
    """Hears each step as it starts and when it is done, to show progress while it runs."""

    def started(self, name: str, commands: list[str]) -> None: ...
    def finished(self, step: StepReport) -> None: ...


@dataclass
class Step:
    name: str
    commands: list[str]
    run: Callable[[], str]  # what it showed


class DemoServices(SioServices):
    """Two computes; every domain XML nova generates kept for libvirt to validate (what
    nova re-reads from fakelibvirt, e.g. to unrescue, is fakelibvirt's rendering)."""

    HOSTS = ("host1", "host2")

    def setUp(self) -> None:
        self.domain_xmls: list[str] = []
        super().setUp()
        generate = libvirt_driver.LibvirtDriver._get_guest_xml

        def record(driver: libvirt_driver.LibvirtDriver, *args, **kwargs) -> str:
            xml = generate(driver, *args, **kwargs)
            self.domain_xmls.append(xml)
            return xml

        self.useFixture(
            fixtures.MockPatchObject(libvirt_driver.LibvirtDriver, "_get_guest_xml", record)
        )


class Demo:
    """Runs the steps in order on running services, stopping at the first that fails."""

    def __init__(self, nova: DemoServices, listener: Listener, report: DemoReport) -> None:
        self.nova = nova
        self.listener = listener
        self.report = report
        self.server: dict = {}
        self._validated = 0

    # -- the steps ------------------------------------------------------------

    def steps(self) -> list[Step]:
        server = f"openstack server {{}} {NAME}"
        return [
            Step(
                "create a server with root, ephemeral and swap disks",
                [
                    "openstack flavor create --ram 512 --vcpus 1 --disk 8 --ephemeral 8 "
                    "--swap 8192 demo.small",
                    "openstack server create --flavor demo.small --image pattern-qcow2 "
                    f"--network none --wait {NAME}",
                ],
                self._create,
            ),
            Step(
                "write and read the root disk in the guest",
                ["# in the guest: read /dev/vda at 4 MiB (the image's data), write at 1 MiB"],
                self._write_read,
            ),
            Step("hard reboot", [server.format("reboot --hard --wait")], self._reboot),
            Step(
                "resize to a 16 GiB root (on the other host)",
                [
                    "openstack flavor create --ram 512 --vcpus 1 --disk 16 --ephemeral 8 "
                    "--swap 8192 demo.large",
                    server.format("resize --flavor demo.large --wait"),
                ],
                self._resize,
            ),
            Step("confirm the resize", [server.format("resize confirm")], self._confirm),
            Step(
                "snapshot to Glance",
                [f"openstack server image create --name {NAME}-snapshot --wait {NAME}"],
                self._snapshot,
            ),
            Step(
                "live migrate back",
                [server.format("migrate --live-migration --host {host} --wait")],
                self._live_migrate,
            ),
            Step("rescue", [server.format("rescue")], self._rescue),
            Step("unrescue", [server.format("unrescue")], self._unrescue),
            Step("shelve (offloaded)", [server.format("shelve")], self._shelve),
            Step("unshelve", [server.format("unshelve --wait")], self._unshelve),
            Step("delete", [server.format("delete --wait")], self._delete),
            Step(
                "audit",
                [
                    "openstack server list --all-projects -f value -c ID > servers.txt",
                    "sio-backend audit --instances-file servers.txt",
                ],
                self._audit_step,
            ),
        ]

    def _create(self) -> str:
        small = self.nova.flavor(disk=8, ephemeral=8, swap=8192)
        self.server = self.nova.boot(small, QCOW2_IMAGE_ID)
        self._expect_disks(SMALL)
        return "root 8 GiB from the qcow2 image (qemu-img), ephemeral 8 GiB, swap 8 GiB"

    def _write_read(self) -> str:
        device = self.nova.device(self.server)
        self._expect(read(device, PATTERN_OFFSET, len(PATTERN)) == PATTERN, "image data")
        write(device, MARK_OFFSET, MARK)
        self._expect_mark()
        return f"read the image's data at 4 MiB, wrote and read a mark at 1 MiB of {device}"

    def _reboot(self) -> str:
        self.server = self.nova._reboot_server(self.server, hard=True)
        self._expect_disks(SMALL)
        self._expect_mark()
        return "the guest restarted on the same volumes; mark intact"

    def _resize(self) -> str:
        source = self.nova.host_of(self.server)
        large = self.nova.flavor(disk=16, ephemeral=8, swap=8192)
        self.server = self.nova._resize_server(self.server, large)
        dest = self.nova.host_of(self.server)
        self._expect(dest != source, f"moved from {source}")
        root = self.nova.gateway.state_of(self.server["id"])["disk"]
        self._expect(root == (16, {source, dest}), "root grown to 16 GiB, on both hosts")
        return f"root grown to 16 GiB and mapped to {dest}; {source} keeps it for a revert"

    def _confirm(self) -> str:
        self.server = self.nova._confirm_resize(self.server)
        self._expect_disks(LARGE)
        self._expect_mark()
        return "the source let go: every disk mapped to the new host only; mark intact"

    def _snapshot(self) -> str:
        action = {"createImage": {"name": f"{NAME}-snapshot"}}
        image_id = self.nova.api.post_server_action(self.server["id"], action)["image_id"]
        self.nova.notifier.wait_for_versioned_notifications("instance.snapshot.end")
        uploaded = self.nova.glance.path(image_id)
        self._expect(read(uploaded, MARK_OFFSET, len(MARK)) == MARK, "mark in the image")
        self._expect(
            read(uploaded, PATTERN_OFFSET, len(PATTERN)) == PATTERN, "image data in the image"
        )
        self._expect_disks(LARGE)
        return f"image {image_id} in Glance holds the root disk, mark included"

    def _live_migrate(self) -> str:
        self.server = self.nova._live_migrate(self.server, host=self._other_host())
        self._expect_disks(LARGE)
        self._expect_mark()
        return "the guest runs on the other host, its volumes mapped there only; mark intact"

    def _rescue(self) -> str:
        self.server = self.nova._rescue_server(self.server)
        host = self.nova.host_of(self.server)
        disks = self.nova.gateway.state_of(self.server["id"])
        self._expect(host in disks.get("disk.rescue", (0, set()))[1], "rescue disk mapped")
        return "booted from a rescue disk made from the image; the root disk is attached too"

    def _unrescue(self) -> str:
        self.server = self.nova._unrescue_server(self.server)
        self._expect_disks(LARGE)
        self._expect_mark()
        return "rescue disk removed; mark intact"

    def _shelve(self) -> str:
        self.server = self.nova._shelve_server(self.server)
        self._expect(self.nova.gateway.state_of(self.server["id"]) == {}, "no volume left")
        return "snapshot to Glance, then every volume removed (offloaded)"

    def _unshelve(self) -> str:
        self.server = self.nova._unshelve_server(self.server)
        self._expect_disks(LARGE)
        self._expect_mark()
        return "disks made again from the shelve snapshot; mark intact"

    def _delete(self) -> str:
        self.nova._delete_server(self.server)
        self._expect(self.nova.gateway.state_of(self.server["id"]) == {}, "every volume removed")
        return "every volume of the server removed"

    def _audit_step(self) -> str:
        self.report.leaked = self._audit()
        if self.report.leaked:
            names = ", ".join(str(f["name"]) for f in self.report.leaked)
            raise StepFailed(f"the audit found {names}")
        return "the audit, with nova's list of servers: nothing leaked"

    def _other_host(self) -> str:
        return self.nova.other_host(self.nova.host_of(self.server))

    def _expect(self, condition: bool, what: str) -> None:
        if not condition:
            raise StepFailed(f"{what}: not as expected")

    def _expect_disks(self, sizes: dict[str, int]) -> None:
        """The server's volumes are exactly ``sizes``, mapped to its host only."""
        host = self.nova.host_of(self.server)
        expected = {name: (size, {host}) for name, size in sizes.items()}
        actual = self.nova.gateway.state_of(self.server["id"])
        if actual != expected:
            raise StepFailed(f"the gateway holds {actual}, not {expected}")

    def _expect_mark(self) -> None:
        device = self.nova.device(self.server)
        self._expect(read(device, MARK_OFFSET, len(MARK)) == MARK, "the mark in the root disk")

    def _audit(self) -> list[dict]:
        """The audit's findings, the instances that exist being the servers nova lists."""
        servers = self.nova.admin_api.get_servers(search_opts={"all_tenants": True})
        known = audit.KnownInstances(frozenset(s["id"] for s in servers), "nova's API")
        found = inventory.collect(self.nova.gateway.client, IID)
        return [finding.row(found) for finding in audit.classify(found, known)]

    # -- running and reporting ---------------------------------------------

    def run(self, started: float) -> None:
        sim = self.nova.simulator
        self._record(
            Step(START, [], lambda: ""),
            seconds=time.monotonic() - started,
            calls=sim.call_counts(),
            note=f"{sim.url} (PowerFlex {sim.api_version}, TLS, CA {sim.ca_path}); "
            f"nova-compute on {', '.join(self.nova.HOSTS)}, each with its SDC",
            commands=[],
        )
        for step in self.steps():
            if not self._run_step(step):
                break

    def _run_step(self, step: Step) -> bool:
        commands = [
            command.format(host=self._other_host()) if "{host}" in command else command
            for command in step.commands
        ]
        self.listener.started(step.name, commands)
        before = self.nova.simulator.call_counts()
        started = time.monotonic()
        try:
            note = step.run()
            validated = self._validate_new_xmls()
        except Exception as error:  # any failure ends the demo, and names the step
            self.report.failed_step = step.name
            self.report.error = f"{type(error).__name__}: {error}"
            return False
        calls = self.nova.simulator.call_counts()
        calls.subtract(before)
        self._record(
            step,
            seconds=time.monotonic() - started,
            calls=calls,
            note=note,
            commands=commands,
            validated=validated,
        )
        return True

    def _record(
        self,
        step: Step,
        *,
        seconds: float,
        calls: Counter,
        note: str,
        commands: list[str],
        validated: int = 0,
    ) -> None:
        report = StepReport(
            step.name,
            commands,
            seconds,
            +calls,
            validated,
            self._server(),
            self._volumes(),
            note,
        )
        self.report.steps.append(report)
        self.listener.finished(report)

    def _validate_new_xmls(self) -> int:
        new = self.nova.domain_xmls[self._validated :]
        for xml in new:
            try:
                domain_xml.validate(xml)
            except domain_xml.InvalidDomainXml as error:
                raise StepFailed(f"a domain XML nova defined: {error}") from error
        self._validated += len(new)
        return len(new)

    def _server(self) -> dict[str, object]:
        if not self.server:
            return {}
        servers = self.nova.admin_api.get_servers(search_opts={"all_tenants": True})
        for server in servers:
            if server["id"] == self.server["id"]:
                return {
                    "id": server["id"],
                    "status": server["status"],
                    "host": server.get("OS-EXT-SRV-ATTR:host"),
                }
        return {"id": self.server["id"], "status": "DELETED", "host": None}

    def _volumes(self) -> list[dict[str, object]]:
        if not self.server:
            return []
        disks = self.nova.gateway.instance_volumes(self.server["id"])
        return [
            {
                "disk": name,
                "name": disk.volume.name,
                "size_gb": disk.size_gb,
                "mapped_to": sorted(disk.hosts),
            }
            for name, disk in sorted(disks.items())
        ]


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
        report = DemoReport(state_dir=str(tmp))
        options = {"API_VERSION": api_version, "IMAGE_SIZE_MB": image_size_mb, "STATE_DIR": tmp}
        nova_services = type("DemoServices", (DemoServices,), options)
        listener.started(START, [])
        started = time.monotonic()
        try:
            services.run(lambda nova: Demo(nova, listener, report).run(started), nova_services)
        except services.ServicesFailed as error:
            if report.ok:  # the failure was nova's services, not a step
                report.failed_step = START
                report.error = str(error).strip().splitlines()[-1]
        return report
