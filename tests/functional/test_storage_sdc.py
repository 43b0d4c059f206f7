"""This host's SDC losing its MDM connection after it was first looked up.

Its state is trusted for SDC_RECHECK_S after a reading (the per-disk call
budget), read again before the next create or attach after that, and read
again whenever a mapped volume's device fails to appear, so the error names
the SDC rather than a bare timeout.  Deletes need only its id.
"""

from __future__ import annotations

import uuid

import pytest
from sio_fixtures.fake_clock import FakeClock

from sio_backend import exceptions, naming
from sio_backend.flavor import DiskPlacement
from sio_backend.simulator import Simulator
from sio_backend.simulator.host import simulated_storage
from sio_backend.storage import SDC_RECHECK_S, GiB, Storage

IID = "func"
PLACEMENT = DiskPlacement("pd1", "sp1", thin=True)
SDC_READ = ("GET", "/api/instances/Sdc::{id}")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def host1(simulator: Simulator, lock_path: None, clock: FakeClock) -> Storage:
    """host1's Storage on a clock the test moves; its SDC already looked up."""
    parts = simulated_storage(simulator, "host1", installation_id=IID, wait_timeout=1)
    storage = Storage(parts.client, parts.sdc, installation_id=IID, clock=clock)
    storage.local_sdc()
    yield storage
    storage.client.close()


def our_name() -> str:
    return naming.disk_volume_name(IID, str(uuid.uuid4()), "disk")


def sdc_reads(simulator: Simulator) -> int:
    return sum(1 for entry in simulator.request_log if entry.route == "/api/instances/Sdc::{id}")


def mapped_to(simulator: Simulator, volume_id: str) -> set[str]:
    return set(simulator.state.volume(volume_id).mappings)


def test_create_is_refused_once_the_reading_is_stale_and_nothing_is_made(
    simulator: Simulator, host1: Storage, clock: FakeClock
) -> None:
    simulator.faults.disconnect_sdc("host1")
    clock.advance(SDC_RECHECK_S)
    simulator.reset_log()

    with pytest.raises(exceptions.SdcDisconnected) as info:
        host1.create(our_name(), PLACEMENT, 8 * GiB)

    message = str(info.value)
    guid = simulator.sdcs["host1"].guid
    assert f"SDC {guid}" in message
    assert "on this host is disconnected" in message
    assert "SDC service and the scini kernel module" in message
    assert simulator.state.volumes() == []
    assert [(e.method, e.route) for e in simulator.request_log] == [SDC_READ]


def test_a_fresh_reading_costs_no_call_and_a_stale_one_costs_one(
    simulator: Simulator, host1: Storage, clock: FakeClock
) -> None:
    simulator.reset_log()
    host1.create(our_name(), PLACEMENT, 8 * GiB)
    clock.advance(SDC_RECHECK_S - 1)
    host1.create(our_name(), PLACEMENT, 8 * GiB)
    assert sdc_reads(simulator) == 0

    clock.advance(1)
    host1.create(our_name(), PLACEMENT, 8 * GiB)
    host1.create(our_name(), PLACEMENT, 8 * GiB)
    assert sdc_reads(simulator) == 1


def test_a_device_missing_because_the_sdc_disconnected_says_so_and_unmaps(
    simulator: Simulator, host1: Storage
) -> None:
    volume = host1.create(our_name(), PLACEMENT, 8 * GiB)
    simulator.faults.disconnect_sdc("host1")  # inside the trusted window: not seen yet

    with pytest.raises(exceptions.SdcDisconnected) as info:
        host1.attach(volume)

    assert simulator.sdcs["host1"].guid in str(info.value)
    assert isinstance(info.value.__context__, exceptions.DeviceNotFound)
    assert mapped_to(simulator, volume.id) == set()


def test_a_device_missing_with_the_sdc_connected_stays_a_device_error(
    simulator: Simulator, host1: Storage
) -> None:
    volume = host1.create(our_name(), PLACEMENT, 8 * GiB)
    simulator.faults.suppress_devices("host1")

    with pytest.raises(exceptions.DeviceNotFound, match="disk_wait_timeout"):
        host1.attach(volume)

    assert mapped_to(simulator, volume.id) == set()


def test_attach_and_create_work_again_after_the_sdc_reconnects(
    simulator: Simulator, host1: Storage, clock: FakeClock
) -> None:
    simulator.faults.disconnect_sdc("host1")
    clock.advance(SDC_RECHECK_S)
    with pytest.raises(exceptions.SdcDisconnected):
        host1.create(our_name(), PLACEMENT, 8 * GiB)

    simulator.faults.connect_sdc("host1")
    volume = host1.create(our_name(), PLACEMENT, 8 * GiB)

    assert host1.attach(volume) == str(simulator.sdcs["host1"].device_path(volume.id))


def test_a_disconnected_sdc_does_not_stop_a_delete(
    simulator: Simulator, host1: Storage, clock: FakeClock
) -> None:
    volume = host1.create(our_name(), PLACEMENT, 8 * GiB)
    host1.attach(volume)
    simulator.faults.disconnect_sdc("host1")
    clock.advance(SDC_RECHECK_S)

    assert host1.remove_named(volume.name) is True

    assert simulator.state.volumes() == []


def test_an_sdc_disconnected_at_the_first_lookup_is_refused_before_create(
    simulator: Simulator, lock_path: None
) -> None:
    simulator.faults.disconnect_sdc("host1")
    storage = simulated_storage(simulator, "host1", installation_id=IID, wait_timeout=1)
    try:
        with pytest.raises(exceptions.SdcDisconnected):
            storage.create(our_name(), PLACEMENT, 8 * GiB)
    finally:
        storage.client.close()

    assert simulator.state.volumes() == []
