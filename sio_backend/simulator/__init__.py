"""A stateful PowerFlex gateway and SDC simulator on 127.0.0.1.

Use :class:`Simulator` as a context manager in tests, through the
``sio-backend simulator`` command, or drive its faults from Python
(``sim.faults``) or over HTTP (``/__simulator__/...``).
"""

from __future__ import annotations

from sio_backend.simulator.errors import SimulatorError
from sio_backend.simulator.requestlog import LoggedRequest
from sio_backend.simulator.simulator import SimSdc, Simulator

__all__ = ["LoggedRequest", "SimSdc", "Simulator", "SimulatorError"]
