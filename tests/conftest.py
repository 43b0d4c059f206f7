"""Decide nova's concurrency mode before any test module imports eventlet.

nova-compute 34 runs on native threads, and so do these tests (see
tests/sio_fixtures/nova_support.py for why eventlet would hang the simulator).
nova refuses threading mode once something has imported eventlet, and
oslo.privsep and futurist do, so the decision is made here, in the first
file pytest loads, whatever subset of the tests runs.
"""

import os

os.environ.setdefault("OS_NOVA_DISABLE_EVENTLET_PATCHING", "1")

import nova.tests.unit  # noqa: F401 - runs nova.monkey_patch.patch()

# Fixture plugins of the shared fixtures package (tests/sio_fixtures/), loaded
# here because pytest takes ``pytest_plugins`` only from the first conftest.
pytest_plugins = ["sio_fixtures.simulator_helpers", "sio_fixtures.fault_matrix_report"]

import pytest  # noqa: E402

from sio_backend import capacity  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_pool_statistics():
    """Each test's gateway is new: no pool reading of an earlier test's is reused."""
    capacity.SHARED.forget()
    yield
    capacity.SHARED.forget()
