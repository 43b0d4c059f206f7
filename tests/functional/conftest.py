"""Functional fixtures: a simulated gateway over HTTPS, and real clients of it.

``simulator`` is a running :class:`~sio_backend.simulator.Simulator` with TLS
on, a temporary state dir and two hosts, ``host1`` and ``host2``
(``simulator.sdcs["host1"]`` has ``.id``, ``.guid``, ``.ip``, ``.by_id_dir``
and ``.device_path(volume_id)``).  ``gateway_client`` is the project's
:class:`~sio_backend.gateway.GatewayClient` verifying the simulator's
certificate.  ``make_simulator`` builds other variants (another generation,
delays, a fake clock); every simulator made is stopped after the test.  The
simulators are of the generation ``SIO_SIMULATOR_API_VERSION`` names (3.5
unless set; see ``tests/sio_fixtures/generation.py``), so the whole suite runs at any of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from oslo_config import cfg
from oslo_config import fixture as config_fixture
from sio_fixtures.generation import API_VERSION
from sio_fixtures.secret_log_guard import guard_every_test  # noqa: F401 - autouse fixture
from sio_fixtures.simulator_helpers import started_simulators

from sio_backend.gateway import GatewayClient
from sio_backend.simulator import Simulator


@pytest.fixture
def make_simulator(tmp_path: Path) -> Iterator[Callable[..., Simulator]]:
    """Start a TLS simulator with host1 and host2; keyword arguments override."""
    yield from started_simulators(tmp_path, tls=True, api_version=API_VERSION)


@pytest.fixture
def simulator(make_simulator: Callable[..., Simulator]) -> Simulator:
    return make_simulator()


@pytest.fixture
def make_client() -> Iterator[Callable[..., GatewayClient]]:
    """Build clients of a simulator, verifying its certificate; closed after the test."""
    made: list[GatewayClient] = []

    def make(sim: Simulator, **options: Any) -> GatewayClient:
        options.setdefault("verify", str(sim.ca_path) if sim.ca_path else True)
        options.setdefault("timeout", 10)
        if not sim.tls:
            options.setdefault("scheme", "http")
        client = GatewayClient(sim.host, sim.port, sim.username, sim.password, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def gateway_client(
    simulator: Simulator, make_client: Callable[..., GatewayClient]
) -> GatewayClient:
    return make_client(simulator)


@pytest.fixture
def lock_path(tmp_path: Path) -> Iterator[None]:
    """os-brick's connector takes an external lock while it looks for a device."""
    fixture = config_fixture.Config(cfg.CONF)
    fixture.setUp()
    fixture.config(lock_path=str(tmp_path / "locks"), group="oslo_concurrency")
    yield
    fixture.cleanUp()
