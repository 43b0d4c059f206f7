"""The fault matrix on flows driven through nova's REST API.

A flow is a few phases, each one server action posted to nova's API (resize,
confirm, live migration, ...) and waited for until the server settles.  The
flow runs once fault-free: the gateway calls of each phase are recorded
from the simulator's request log (as in :mod:`fault_matrix`, the session's
own calls left out).  Then, for each call chosen as a target and each kind
of fault, a fresh server runs the flow again with the fault injected at
that call, and the case passes when:

- the server settles (no task state left hanging);
- it is ACTIVE (or where the fault-free flow leaves it), or in ERROR and
  nova's own way out converges: a hard reboot to ACTIVE, else a delete;
- while it lives, its volumes are exactly the flavor's disks, each mapped to
  the host the API reports and to no other, and the root holds what the
  guest wrote before the flow;
- once deleted, nothing of it is on the gateway, and ``sio-backend audit``'s
  classification finds nothing.

Which calls are targets, to keep the matrix to minutes: each distinct
(method, route) once per phase, at its first occurrence (later repetitions
take the same code path with a warmer session); changes get all four kinds;
reads (GET, and the read-only ``query`` actions) only ``error``: a read is
sent again after a dropped connection, a restart or a refused token, the
same code for every read (``tests/unit/gateway/test_api.py`` proves it).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from nova.tests.functional.api import client as api_client

from sio_backend import naming
from sio_fixtures.fault_matrix import KINDS, SKIPPED_ROUTES, Injector
from sio_fixtures.fault_matrix_report import RESULTS
from sio_fixtures.servers import SioServersTestBase

READ_KINDS = ("error",)
#: Server statuses in which nothing more happens without a new request.
SETTLED = {"ACTIVE", "SHUTOFF", "VERIFY_RESIZE", "ERROR", "SHELVED", "SHELVED_OFFLOADED"}
#: Migration statuses of a move still under way.
MOVING = {
    "queued",
    "preparing",
    "running",
    "post-migrating",
    "accepted",
    "pre-migrating",
    "migrating",
    "confirming",
    "reverting",
}
SETTLE_S = 45.0


@dataclass(frozen=True)
class Phase:
    """One server action: ``act`` posts it, the server then settles in ``status``."""

    name: str
    act: Callable[[dict], None]
    status: str
    #: The action leaves the status it started from (confirm: nova's API returns before
    #: anything shows that the compute has not finished yet).
    changes_status: bool = False


@dataclass(frozen=True)
class Target:
    """The ``occurrence``-th request of one route in one phase, faulted with ``kind``."""

    phase: str
    method: str
    route: str
    occurrence: int
    kind: str

    def __str__(self) -> str:
        return f"{self.phase}: {self.method} {self.route} #{self.occurrence} {self.kind}"


@dataclass
class ApiFlow:
    """A flow: its phases, and those whose calls are faulted (all by default)."""

    name: str
    phases: list[Phase]
    faulted: tuple[str, ...] = ()
    #: Before the phases (fault-free), e.g. the server's host fails; given the server.
    before: Callable[[dict], None] = lambda _server: None
    #: After the faulted phase has settled, whatever happened (e.g. the failed host returns).
    after: Callable[[dict], None] = lambda _server: None


def is_read(method: str, route: str) -> bool:
    return method == "GET" or "/action/query" in route


def targets(phase: str, calls: list[tuple[str, str]]) -> list[Target]:
    """Each distinct route of the phase once, at its first occurrence, with its kinds."""
    chosen = []
    for method, route in dict.fromkeys(calls):
        kinds = READ_KINDS if is_read(method, route) else KINDS
        chosen.extend(Target(phase, method, route, 1, kind) for kind in kinds)
    return chosen


class ApiFaultsTestBase(SioServersTestBase):
    """Runs :class:`ApiFlow` s under faults; subclasses define one test per flow."""

    # Casts stay casts: a failure ends the service that raised it, as in a real cloud.
    CAST_AS_CALL = False
    #: The disks of every server (GiB by disk name) and the root's size after a resize.
    DISKS: ClassVar[dict[str, int]] = {"disk": 8, "disk.swap": 8}
    RESIZED_ROOT = 16

    def setUp(self) -> None:
        super().setUp()
        # Pool statistics are read once per interval (sio_backend/capacity.py), so whether a
        # phase reads them would depend on how long the phases before it took, and a case
        # could aim its fault at a read that does not come.  The reading the services made
        # when they started serves the whole test.
        self.flags(update_resources_interval=24 * 3600)
        self.injector = Injector(self.simulator)
        self.small = self.flavor(disk=8, swap=8192)
        self.large = self.flavor(disk=self.RESIZED_ROOT, swap=8192)

    # -- waiting for nova -----------------------------------------------------------------

    def settled(self, server: dict, leaving: str = "") -> dict:
        """The server once nothing of its last action is still running (and its status is no
        longer ``leaving``)."""
        deadline = time.monotonic() + SETTLE_S
        while True:
            server = self.admin_api.get_server(server["id"])
            if (
                server["status"] in SETTLED - {leaving}
                and server["OS-EXT-STS:task_state"] is None
                and not self._moving(server)
            ):
                return server
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"stuck: {server['status']} task {server['OS-EXT-STS:task_state']}, "
                    f"migrations {self._migrations(server)}"
                )
            time.sleep(0.05)

    def _migrations(self, server: dict) -> list[str]:
        found = self.admin_api.api_get(f"/os-migrations?instance_uuid={server['id']}").body
        return [m["status"] for m in found["migrations"]]

    def _moving(self, server: dict) -> bool:
        return any(status in MOVING for status in self._migrations(server))

    def gone(self, server: dict) -> bool:
        """Deletes the server; whether it went (a failed delete leaves it, settled)."""
        self.api.delete_server(server["id"])
        deadline = time.monotonic() + SETTLE_S
        while time.monotonic() < deadline:
            try:
                server = self.admin_api.get_server(server["id"])
            except api_client.OpenStackApiNotFoundException:
                return True
            if server["status"] == "DELETED":
                return True
            if server["status"] == "ERROR" and server["OS-EXT-STS:task_state"] is None:
                return False
            time.sleep(0.05)
        raise AssertionError(f"server {server['id']} is still being deleted")

    # -- what a phase does ----------------------------------------------------------------

    def run_phase(self, phase: Phase, server: dict) -> dict:
        leaving = server["status"] if phase.changes_status else ""
        phase.act(server)
        return self.settled(server, leaving)

    def calls(self) -> list[tuple[str, str]]:
        return [
            (e.method, e.route) for e in self.simulator.request_log if e.route not in SKIPPED_ROUTES
        ]

    def baseline(self, flow: ApiFlow) -> dict[str, list[tuple[str, str]]]:
        """Each phase's gateway calls in a fault-free run (the second: caches warm)."""
        for _warm in range(2):
            server = self.start(flow)
            recorded = {}
            for phase in flow.phases:
                self.simulator.reset_log()
                server = self.run_phase(phase, server)
                recorded[phase.name] = self.calls()
                self.assertEqual(phase.status, server["status"], f"{flow.name}: {phase.name}")
            flow.after(server)
            self.at_rest(server)
            self.delete_and_check(server)
        return recorded

    def start(self, flow: ApiFlow) -> dict:
        server, _host = self.boot_marked(self.DISKS)
        server = self.settled(server)
        flow.before(server)
        return server

    # -- checks ---------------------------------------------------------------------------

    def at_rest(self, server: dict) -> None:
        """A live server's volumes are its flavor's disks, mapped to its host only, with the
        guest's data; a shelved-offloaded one has none."""
        server = self.admin_api.get_server(server["id"])
        if server["status"] == "SHELVED_OFFLOADED":
            self.assert_no_disks(server)
            return
        host = self.host_of(server)
        held = self.gateway.state_of(server["id"])
        root_gb = held.get("disk", (0, set()))[0]
        # A volume cannot shrink: a root grown for a resize that was then undone keeps its size.
        if server["flavor"]["disk"] <= root_gb <= self.RESIZED_ROOT:
            expected = {**self.DISKS, "disk": root_gb}
        else:
            expected = {**self.DISKS, "disk": server["flavor"]["disk"]}
        self.assertEqual({name: (gb, {host}) for name, gb in expected.items()}, held)
        self.assert_mark(server)

    def delete_and_check(self, server: dict) -> None:
        self.assertTrue(self.gone(server), f"the delete of {server['id']} failed")
        self.assert_no_disks(server)
        self.assert_audit_clean()

    # -- the matrix ---------------------------------------------------------------------------

    def run_matrix(self, flow: ApiFlow) -> None:
        recorded = self.baseline(flow)
        faulted = flow.faulted or tuple(phase.name for phase in flow.phases)
        cases = [t for name in faulted for t in targets(name, recorded[name])]
        failures, details, outcomes = [], [], Counter()
        passed = 0
        for target in cases:
            try:
                outcome = self._case(flow, target)
            except Exception as exc:  # every failure goes into the table
                self._scrub()
                failures.append(f"{target}: {type(exc).__name__}: {exc}")
                details.append(f"{target}: FAILED")
                continue
            passed += 1
            outcomes[outcome] += 1
            details.append(f"{target}: {outcome}")
        self._report(
            flow,
            cases,
            passed=passed,
            failures=failures,
            details=details,
            outcomes=outcomes,
        )
        if failures:
            self.fail(f"{flow.name}: {len(failures)} failed cases:\n" + "\n".join(failures))

    def _case(self, flow: ApiFlow, target: Target) -> str:
        """One fault in one phase of a fresh server's flow; how the case ended."""
        server = self.start(flow)
        outcome = "completed"
        for phase in flow.phases:
            if phase.name != target.phase:
                if outcome == "completed":
                    server = self.run_phase(phase, server)
                    self.assertEqual(phase.status, server["status"], phase.name)
                continue
            self.injector.arm(target.method, target.route, target.occurrence, target.kind)
            try:
                server = self.run_phase(phase, server)
            finally:
                fired = self.injector.fired
                self.injector.disarm()
            flow.after(server)
            self.assertTrue(fired, "the fault never fired")
            server = self.admin_api.get_server(server["id"])
            if server["status"] != phase.status:
                outcome = f"{phase.name} ended {server['status']}"
        if server["status"] == "ERROR":
            return outcome + self._recover(server)
        self.at_rest(server)
        self.delete_and_check(server)
        return outcome

    def _recover(self, server: dict) -> str:
        """nova's ways out of ERROR: a hard reboot, else a delete."""
        self.api.post_server_action(server["id"], {"reboot": {"type": "HARD"}})
        server = self.settled(server)
        if server["status"] == "ACTIVE":
            self.at_rest(server)
            self.delete_and_check(server)
            return ", hard reboot -> ACTIVE"
        self.delete_and_check(server)
        return ", hard reboot failed, delete -> gone"

    def _scrub(self) -> None:
        """After a failed case: every server and volume gone, every host up."""
        self.injector.disarm()
        for host in self.HOSTS:
            if self.admin_api.get_services(host=host, binary="nova-compute")[0]["forced_down"]:
                self.restore_host(host)
        for server in self.admin_api.get_servers(search_opts={"all_tenants": 1}):
            try:
                self.admin_api.post_server_action(server["id"], {"forceDelete": None})
            except api_client.OpenStackApiException:
                self.admin_api.delete_server(server["id"])
        for volume in self.gateway.client.list_volumes():
            if volume.mapped_sdcs:
                self.gateway.client.unmap_volume(volume.id)
            if isinstance(naming.parse_volume_name(volume.name), naming.InstanceVolumeName):
                self.gateway.client.remove_volume(volume.id)

    def _report(self, flow, cases, *, passed, failures, details, outcomes) -> None:
        RESULTS.append(
            {
                "flow": f"api: {flow.name}",
                "calls": len({(t.phase, t.method, t.route) for t in cases}),
                "kinds": "2-4",
                "cases": len(cases),
                "passed": passed,
                "failed": len(failures),
                "details": details,
                "raised": ", ".join(f"{k} {n}" for k, n in outcomes.items()) or "none",
            }
        )
