"""Fault injection: the ways a real gateway and SDC misbehave, on demand.

Request faults are rules matched against each request's method and path
(a regular expression searched in the path): fail it before it is processed,
slow it down, or process it and then drop the connection without an answer.
The other faults act on sessions, devices and SDCs directly.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sio_backend.simulator.devices import DeviceManager
from sio_backend.simulator.errors import SimulatorError
from sio_backend.simulator.sessions import SessionStore
from sio_backend.simulator.state import GatewayState


@dataclass
class _Rule:
    method: str | None
    path: re.Pattern[str]
    remaining: int | None  # None: every matching request, forever

    def take(self, method: str, path: str) -> bool:
        """Match and consume one use of the rule."""
        if self.remaining == 0:
            return False
        if self.method is not None and self.method != method.upper():
            return False
        if not self.path.search(path):
            return False
        if self.remaining is not None:
            self.remaining -= 1
        return True


@dataclass
class _FailRule(_Rule):
    error: SimulatorError | None = None


@dataclass
class _LatencyRule(_Rule):
    seconds: float = 0.0


@dataclass(frozen=True)
class RequestPlan:
    """What the faults decided for one request."""

    latency: float = 0.0
    failure: SimulatorError | None = None
    drop: bool = False


class FaultInjector:
    """The fault API, reachable as ``Simulator.faults``."""

    def __init__(
        self,
        *,
        state: GatewayState,
        sessions: SessionStore,
        devices: DeviceManager,
        resolve_sdc: Callable[[Any], str],
        on_restart: Callable[[], None],
    ) -> None:
        self._state = state
        self._sessions = sessions
        self._devices = devices
        self._resolve_sdc = resolve_sdc
        self._on_restart = on_restart
        self._lock = threading.Lock()
        self._failures: list[_FailRule] = []
        self._latencies: list[_LatencyRule] = []
        self._drops: list[_Rule] = []

    # ------------------------------------------------------ request faults
    def fail_next(
        self,
        count: int = 1,
        *,
        method: str | None = None,
        path: str = "",
        status: int = 500,
        error_code: int = 0,
        message: str = "Injected failure",
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests with this error, unprocessed."""
        rule = _FailRule(
            _upper(method),
            re.compile(path),
            count,
            SimulatorError(status, error_code, message, details),
        )
        with self._lock:
            self._failures.append(rule)

    def add_latency(
        self,
        seconds: float,
        *,
        method: str | None = None,
        path: str = "",
        count: int | None = None,
    ) -> None:
        """Delay matching requests (all of them unless ``count`` is given)."""
        with self._lock:
            self._latencies.append(_LatencyRule(_upper(method), re.compile(path), count, seconds))

    def drop_connection(self, count: int = 1, *, method: str | None = None, path: str = "") -> None:
        """Process the next ``count`` matching requests, then close without answering."""
        with self._lock:
            self._drops.append(_Rule(_upper(method), re.compile(path), count))

    def plan(self, method: str, path: str) -> RequestPlan:
        """Decide (and consume) the faults for one incoming request."""
        with self._lock:
            latency = sum(r.seconds for r in self._latencies if r.take(method, path))
            failure = next((r.error for r in self._failures if r.take(method, path)), None)
            drop = failure is None and any(r.take(method, path) for r in self._drops)
            self._failures = [r for r in self._failures if r.remaining != 0]
            self._latencies = [r for r in self._latencies if r.remaining != 0]
            self._drops = [r for r in self._drops if r.remaining != 0]
        return RequestPlan(latency, failure, drop)

    # ---------------------------------------------------- gateway faults
    def expire_tokens(self) -> None:
        """Every token stops working, as after idle or absolute expiry."""
        self._sessions.expire_all()

    def restart(self) -> None:
        """A gateway restart: tokens gone, idle connections closed, state kept."""
        self._sessions.expire_all()
        self._on_restart()

    # ------------------------------------------------------ SDC faults
    def delay_devices(self, seconds: float, sdc: Any = None) -> None:
        """Devices of later mappings appear ``seconds`` late (one SDC or all)."""
        self._devices.set_delay(seconds, None if sdc is None else self._resolve_sdc(sdc))

    def suppress_devices(self, sdc: Any = None) -> None:
        """Devices of later mappings never appear (one SDC or all)."""
        self._devices.suppress(None if sdc is None else self._resolve_sdc(sdc))

    def restore_devices(self) -> None:
        self._devices.restore()

    def disconnect_sdc(self, sdc: Any) -> None:
        """The SDC loses its MDM connection (mdmConnectionState Disconnected)."""
        self._state.set_sdc_connected(self._resolve_sdc(sdc), False)

    def connect_sdc(self, sdc: Any) -> None:
        self._state.set_sdc_connected(self._resolve_sdc(sdc), True)

    def clear(self) -> None:
        """Remove every request rule and device fault (SDC connections stay)."""
        with self._lock:
            self._failures.clear()
            self._latencies.clear()
            self._drops.clear()
        self._devices.restore()


def _upper(method: str | None) -> str | None:
    return method.upper() if method else None
