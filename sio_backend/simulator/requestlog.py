"""The request log: every gateway request the simulator answered (or dropped).

Benchmarks and tests read it to count gateway calls per operation; counts are
keyed by (method, route template) so ids in paths do not split them.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class LoggedRequest:
    """One gateway request as the simulator saw it."""

    time: float
    method: str
    path: str
    route: str  # the route template, or the path when no route matched
    status: int | None  # None when the connection was dropped instead of answered
    error_code: int | None
    duration: float
    fault: str | None  # "fail" or "drop" when an injected fault decided the outcome


class RequestLog:
    """Every gateway request, for tests and benchmarks that count calls."""

    def __init__(self) -> None:
        self._entries: list[LoggedRequest] = []
        self._lock = threading.Lock()

    def record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._entries)

    def counts(self) -> Counter[tuple[str, str]]:
        """Calls per (method, route template)."""
        with self._lock:
            return Counter((e.method, e.route) for e in self._entries)

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()
