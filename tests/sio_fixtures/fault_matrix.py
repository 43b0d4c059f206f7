"""The fault-injection harness: every fault at every gateway call of a flow.

Each flow runs once fault-free with the caches warm, and the gateway calls
it makes are recorded from the simulator's request log as (method, route),
login and version left out.  Then, for every call of that sequence and every
kind of fault, the flow runs again with the fault injected at exactly that
call (the k-th request of its route), and:

- it completes, or raises a ScaleIOError or NovaException with a message
  (not a bare KeyError or TypeError from deep inside);
- what nova's compute manager does after such a failure leaves no volume
  or mapping behind that the instance does not own;
- no volume of the instance is lost or changed (a marker written before the
  flow reads back), unless deleting it was the point;
- running the flow (or the failed step) again without the fault converges to
  the fault-free end state.

The cases of one flow share one simulator and run in one test; the test fails
with a table of the failing cases.  ``fault_matrix_report`` prints the counts.
The flows themselves are in the ``test_fault_matrix*`` modules.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import fixtures
from nova import exception as nova_exception
from nova.compute import task_states
from nova.network import neutron
from oslo_utils import units

from sio_backend import exceptions
from sio_backend.demo.device_io import read, write
from sio_fixtures import fault_matrix_report
from sio_fixtures.cloud import PATTERN, make_flavor
from sio_fixtures.flow_case import FlowTestCase

MiB = units.Mi
MARK = b"fault matrix marker".ljust(4096, b".")
MARK_AT = 100 * MiB
# Not a step of any flow: the session's own calls (either login), and the re-read of this
# host's SDC, which comes whenever the last reading is SDC_RECHECK_S old and
# so in some runs and not others (tests/functional/test_storage_sdc.py
# injects faults there).
SKIPPED_ROUTES = {
    "/api/login",
    "/api/version",
    "/api/logout",
    "/rest/auth/login",  # OAuth, from 4.x on
    "/rest/auth/update-token",
    "/rest/auth/logout",
    "/api/instances/Sdc::{id}",
}
KINDS = ("error", "drop", "expired", "restart")


def route_pattern(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)))


class CallTarget:
    """The k-th request of one route, counted as requests go by."""

    def __init__(self, method: str, route: str, occurrence: int) -> None:
        self.method = method
        self.pattern = route_pattern(route)
        self.occurrence = occurrence
        self.seen = 0
        self.hit = False

    def reached(self, method: str, path: str) -> bool:
        """True for the request that is the target, once."""
        if self.hit or method != self.method or not self.pattern.fullmatch(path):
            return False
        self.seen += 1
        self.hit = self.seen == self.occurrence
        return self.hit


class Injector:
    """Arms one fault just before the k-th request of one route reaches the simulator."""

    def __init__(self, simulator) -> None:
        self.simulator = simulator
        self.faults = simulator.faults
        self.lock = threading.Lock()
        self.target: CallTarget | None = None
        self.kind = ""
        original = self.faults.plan

        def plan(method: str, path: str):
            self._maybe_arm(method, path.rstrip("/") or "/")
            return original(method, path)

        self.faults.plan = plan

    @property
    def fired(self) -> bool:
        return self.target is not None and self.target.hit

    def arm(self, method: str, route: str, occurrence: int, kind: str) -> None:
        with self.lock:
            self.target, self.kind = CallTarget(method, route, occurrence), kind

    def disarm(self) -> None:
        with self.lock:
            self.target = None
        self.faults.clear()

    def _maybe_arm(self, method: str, path: str) -> None:
        with self.lock:
            if self.target is None or not self.target.reached(method, path):
                return
            kind = self.kind
        exact = f"^{re.escape(path)}/?$"
        if kind == "error":
            self.faults.fail_next(
                method=method,
                path=exact,
                status=500,
                error_code=1,
                message="Injected: the MDM could not complete the operation",
            )
        elif kind == "drop":
            self.faults.drop_connection(method=method, path=exact)
        elif kind == "expired":
            self.faults.expire_tokens()
        elif kind == "restart":
            self.faults.restart()
        else:
            raise ValueError(kind)


@dataclass
class Flow:
    """One flow: how to prepare it, run it, recover after a failure and check its end."""

    name: str
    setup: Callable[[], object]  # fault-free; returns the instance
    run: Callable[[object], None]  # the part faults are injected into
    recover: Callable[[object, str], None]  # the manager's reaction to a failure in a phase
    converge: Callable[[object, str], None]  # running the flow (or the failed step) again
    check_end: Callable[[object], None]  # the fault-free end state
    teardown: Callable[[object], None]  # back to an empty system


class MatrixTestCase(FlowTestCase):
    """Runs :class:`Flow` s under every fault; subclasses define one test per flow."""

    IMAGE_SIZE_MB = 16

    def setUp(self) -> None:
        super().setUp()
        self.flags(skip_cpu_compare_on_dest=True, group="workarounds")
        if not hasattr(neutron.API.has_port_binding_extension, "return_value"):
            # No Neutron (the harness may already say so itself).
            self.useFixture(
                fixtures.MockPatchObject(
                    neutron.API, "has_port_binding_extension", return_value=False
                )
            )
        self.injector = Injector(self.cloud.simulator)
        self.phase = ""
        self.outcome = ""

    # -- helpers ---------------------------------------------------------------

    def new_instance(self):
        return self.cloud.new_instance(make_flavor(root_gb=8, swap=8192))

    def spawned(self):
        instance = self.cloud.spawn(self.new_instance())
        write(self.cloud.device(instance), MARK_AT, MARK)
        return instance

    def data(self, volume_name: str, offset: int, length: int) -> bytes:
        volume = self.cloud.volumes()[volume_name]
        return read(self.cloud.simulator.devices.data_path(volume.id), offset, length)

    def assert_marker(self, instance) -> None:
        root = self.cloud.volume_name(instance)
        if self.data(root, MARK_AT, len(MARK)) != MARK:
            raise AssertionError(f"the marker on {root} was lost")
        if self.data(root, 4 * MiB, len(PATTERN)) != PATTERN:
            raise AssertionError(f"the image content of {root} was lost")

    def expected(self, instance, hosts: set[str]) -> dict:
        names = ("disk", "disk.swap")
        sizes = {"disk": 8, "disk.swap": 8}
        return {self.cloud.volume_name(instance, n): (sizes[n], hosts) for n in names}

    def at_rest(self, instance, hosts: set[str]) -> None:
        self.cloud.assert_state(instance, self.expected(instance, hosts))
        self.cloud.assert_no_leaks(instance)
        self.assert_marker(instance)

    def calls(self) -> list[tuple[str, str]]:
        return [
            (e.method, e.route)
            for e in self.cloud.simulator.request_log
            if e.route not in SKIPPED_ROUTES
        ]

    def phased(self, name: str, step: Callable[[], None]) -> None:
        self.phase = name
        step()

    def baseline(self, flow, check_end: Callable[[object], None] = lambda _instance: None):
        """The gateway calls of the flow's fault-free run, the second one: caches warm."""
        for _warm in range(2):
            instance = flow.setup()
            self.cloud.simulator.reset_log()
            flow.run(instance)
            calls = self.calls()
            check_end(instance)
            flow.teardown(instance)
        self.assertTrue(calls, f"{flow.name} made no gateway call")
        return calls

    # -- the matrix ---------------------------------------------------------------

    def run_matrix(self, flow: Flow) -> None:
        baseline = self.baseline(flow, flow.check_end)
        failures, passed, raised, details = [], 0, Counter(), []
        for index, (method, route) in enumerate(baseline):
            occurrence = baseline[: index + 1].count((method, route))
            for kind in KINDS:
                case = f"{index:>2} {method} {route} #{occurrence} {kind}"
                instance = flow.setup()
                try:
                    self._case(flow, instance, (method, route, occurrence, kind))
                    if self.outcome != "completed":
                        raised[kind] += 1
                except Exception as exc:
                    failures.append(f"{case}: {self.outcome} -> {type(exc).__name__}: {exc}")
                    self._scrub(instance)
                else:
                    passed += 1
                details.append(f"{case}: {self.outcome}")
        fault_matrix_report.RESULTS.append(
            {
                "flow": flow.name,
                "calls": len(baseline),
                "kinds": len(KINDS),
                "cases": len(baseline) * len(KINDS),
                "passed": passed,
                "failed": len(failures),
                "details": details,
                "raised": ", ".join(f"{k} {raised[k]}" for k in KINDS if raised[k]) or "none",
            }
        )
        if failures:
            self.fail(f"{flow.name}: {len(failures)} failed cases:\n" + "\n".join(failures))

    def _case(self, flow: Flow, instance, target: tuple[str, str, int, str]) -> None:
        """One fault, one run of the flow, then recovery and convergence; raises if wrong."""
        self.phase, self.outcome = "", "completed"
        self.injector.arm(*target)
        try:
            flow.run(instance)
        except Exception as exc:
            self.outcome = f"raised in {self.phase}: {type(exc).__name__}: {exc}"
            named = isinstance(exc, (exceptions.ScaleIOError, nova_exception.NovaException))
            if not named or not str(exc).strip():
                raise AssertionError(f"unexpected exception {type(exc).__name__}: {exc!r}") from exc
        finally:
            fired = self.injector.fired
            self.injector.disarm()
        if not fired:
            raise AssertionError("the fault never fired")
        if self.outcome != "completed":
            flow.recover(instance, self.phase)
            flow.converge(instance, self.phase)
        flow.check_end(instance)
        flow.teardown(instance)
        self.cloud.assert_no_leaks()

    def _scrub(self, instance) -> None:
        """After a failed case: whatever it left, gone, so the next case starts clean."""
        self.injector.disarm()
        for host in ("host1", "host2"):
            instance.host = host
            instance.task_state = task_states.DELETING
            try:
                self.cloud.delete(instance, host=host)
            except Exception:  # noqa: S110 - best effort
                pass
