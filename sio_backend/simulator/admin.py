"""The simulator's own HTTP endpoints, under a prefix no real gateway uses.

They let a process that only has the URL (a demo script, a test in another
language) do what the Python API does: inject faults, add SDCs, and read the
request log.  They need no authentication and are never faulted or logged.

- ``POST /__simulator__/faults/<name>`` with the keyword arguments of
  ``FaultInjector.<name>`` as a JSON object (for example
  ``/faults/fail_next {"count": 2, "path": "addMappedSdc", "error_code": 65}``);
- ``GET /__simulator__/sdcs``, ``POST /__simulator__/sdcs {"name", "guid"?, "ip"?}``;
- ``GET /__simulator__/log``, ``GET /__simulator__/counts``, ``POST /__simulator__/log/reset``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from sio_backend.simulator.errors import SimulatorError
from sio_backend.simulator.faults import FaultInjector
from sio_backend.simulator.requestlog import RequestLog

FAULTS = frozenset(
    {
        "fail_next",
        "add_latency",
        "drop_connection",
        "expire_tokens",
        "restart",
        "delay_devices",
        "suppress_devices",
        "restore_devices",
        "disconnect_sdc",
        "connect_sdc",
        "clear",
    }
)


class AdminApi:
    def __init__(
        self,
        *,
        faults: FaultInjector,
        log: RequestLog,
        list_sdcs: Callable[[], list[dict[str, Any]]],
        add_sdc: Callable[..., dict[str, Any]],
    ) -> None:
        self._faults = faults
        self._log = log
        self._list_sdcs = list_sdcs
        self._add_sdc = add_sdc

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        """Serve ``path`` (relative to the prefix); returns (status, JSON payload)."""
        try:
            arguments = json.loads(body) if body.strip() else {}
            if not isinstance(arguments, dict):
                raise TypeError("the body must be a JSON object of keyword arguments")
            return 200, self._call(method, path.strip("/"), arguments)
        except SimulatorError as exc:
            return exc.status, exc.body()
        except (TypeError, ValueError, KeyError) as exc:
            return 400, {"message": f"{method} /__simulator__/{path}: {exc}"}

    def _call(self, method: str, path: str, arguments: dict[str, Any]) -> Any:
        kind, _, name = path.partition("/")
        if method == "POST" and kind == "faults" and name in FAULTS:
            getattr(self._faults, name)(**arguments)
            return {"done": name}
        if (method, path) == ("GET", "sdcs"):
            return self._list_sdcs()
        if (method, path) == ("POST", "sdcs"):
            return self._add_sdc(**arguments)
        if (method, path) == ("GET", "log"):
            return [asdict(entry) for entry in self._log.entries()]
        if (method, path) == ("GET", "counts"):
            return [
                {"method": m, "route": r, "count": n} for (m, r), n in self._log.counts().items()
            ]
        if (method, path) == ("POST", "log/reset"):
            self._log.reset()
            return {"done": "reset"}
        raise SimulatorError(404, 0, f"no simulator admin endpoint {method} /__simulator__/{path}")
