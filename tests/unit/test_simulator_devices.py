"""SDC emulation: by-id links that appear on mapping, shared sparse data files."""

from __future__ import annotations

import errno
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from sio_backend.demo.device_io import read, write
from sio_backend.simulator import Simulator, devices
from sio_backend.simulator.devices import DeviceManager

MIB = 1024 * 1024


def wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        threading.Event().wait(0.02)
    return predicate()


def test_mapping_makes_the_device_appear_as_a_link_to_the_volume_data(gw: Any) -> None:
    host1 = gw.sim.sdcs["host1"]
    volume_id = gw.create_volume("v1")
    device = host1.device_path(volume_id)
    assert device.name == f"emc-vol-{gw.sim.system_id}-{volume_id}"
    assert not device.exists()
    gw.map(volume_id, host1.id)
    assert device.is_symlink()
    assert device.stat().st_size == 8 * 1024 * MIB
    assert os.listdir(host1.by_id_dir) == [device.name]
    assert not gw.sim.sdcs["host2"].device_path(volume_id).exists()


def test_data_written_on_one_host_reads_back_on_another(gw: Any) -> None:
    host1, host2 = gw.sim.sdcs["host1"], gw.sim.sdcs["host2"]
    volume_id = gw.create_volume("shared")
    gw.map(volume_id, host1.id)
    gw.map(volume_id, host2.id)
    payload = os.urandom(4096)
    write(host1.device_path(volume_id), 5 * MIB, payload)
    assert read(host2.device_path(volume_id), 5 * MIB, 4096) == payload


def test_unmap_removes_the_device_from_that_host_only(gw: Any) -> None:
    host1, host2 = gw.sim.sdcs["host1"], gw.sim.sdcs["host2"]
    volume_id = gw.create_volume("v1")
    gw.map(volume_id, host1.id)
    gw.map(volume_id, host2.id)
    assert gw.action(volume_id, "removeMappedSdc", {"sdcId": host1.id}).status_code == 200
    assert not host1.device_path(volume_id).exists()
    assert host2.device_path(volume_id).exists()
    assert gw.action(volume_id, "removeMappedSdc", {"allSdcs": ""}).status_code == 200
    assert not host2.device_path(volume_id).exists()


def test_extend_grows_the_device_and_keeps_the_data(gw: Any) -> None:
    host1 = gw.sim.sdcs["host1"]
    volume_id = gw.create_volume("v1")
    gw.map(volume_id, host1.id)
    write(host1.device_path(volume_id), 0, b"keep me")
    assert gw.action(volume_id, "setVolumeSize", {"sizeInGB": "24"}).status_code == 200
    assert host1.device_path(volume_id).stat().st_size == 24 * 1024 * MIB
    assert read(host1.device_path(volume_id), 0, 7) == b"keep me"


def test_snapshot_is_an_independent_copy_of_that_instant(gw: Any) -> None:
    host1 = gw.sim.sdcs["host1"]
    base = gw.create_volume("base")
    gw.map(base, host1.id)
    write(host1.device_path(base), 3 * MIB, b"before")
    result = gw.ok(
        "POST",
        f"/api/instances/System::{gw.sim.system_id}/action/snapshotVolumes",
        {"snapshotDefs": [{"volumeId": base, "snapshotName": "snap"}]},
    )
    (snapshot,) = result["volumeIdList"]
    write(host1.device_path(base), 3 * MIB, b"after!")
    gw.map(snapshot, host1.id)
    assert read(host1.device_path(snapshot), 3 * MIB, 6) == b"before"
    write(host1.device_path(snapshot), 0, b"snapshot only")
    assert read(host1.device_path(base), 0, 13) == bytes(13)
    assert read(host1.device_path(base), 3 * MIB, 6) == b"after!"


def test_overwrite_volume_content_restores_the_snapshot_data_in_place(gw: Any) -> None:
    host1 = gw.sim.sdcs["host1"]
    base = gw.create_volume("base")
    gw.map(base, host1.id)
    device = host1.device_path(base)
    write(device, 0, b"original")
    (snapshot,) = gw.ok(
        "POST",
        "/api/instances/System/action/snapshotVolumes",
        {"snapshotDefs": [{"volumeId": base, "snapshotName": "snap"}]},
    )["volumeIdList"]
    write(device, 0, b"damaged!")
    write(device, 7 * MIB, b"later data")
    with open(device, "rb") as held_open:
        response = gw.action(base, "overwriteVolumeContent", {"srcVolumeId": snapshot})
        assert response.status_code == 200
        assert held_open.read(8) == b"original"
    assert read(device, 7 * MIB, 10) == bytes(10)


def test_removing_a_volume_deletes_its_data(gw: Any) -> None:
    volume_id = gw.create_volume("gone")
    data = gw.sim.devices.data_path(volume_id)
    assert data.exists()
    assert gw.action(volume_id, "removeVolume", {"removeMode": "ONLY_ME"}).status_code == 200
    assert not data.exists()


def test_volume_files_are_sparse_and_thin_statistics_follow_writes(gw: Any) -> None:
    host1 = gw.sim.sdcs["host1"]
    volume_id = gw.create_volume("thin", 16)
    assert gw.sim.devices.allocated_kb(volume_id) < 1024
    before = gw.pool_stats()
    gw.map(volume_id, host1.id)
    write(host1.device_path(volume_id), 0, os.urandom(4 * MIB))
    after = gw.pool_stats()
    grown = after["netThinCapacityInUseInKb"] - before["netThinCapacityInUseInKb"]
    assert 4 * 1024 <= grown <= 4 * 1024 + 64
    assert after["netUnusedCapacityInKb"] == before["netUnusedCapacityInKb"] - grown
    assert after["thinCapacityInUseInKb"] == 2 * after["netThinCapacityInUseInKb"]

    gw.ok(
        "POST",
        "/api/instances/System/action/snapshotVolumes",
        {"snapshotDefs": [{"volumeId": volume_id, "snapshotName": "snap"}]},
    )
    assert gw.pool_stats()["snapshotCapacityInKb"] == 2 * after["netThinCapacityInUseInKb"]


def test_device_delay_then_appearance(tmp_path: Path, open_gateway: Any) -> None:
    with Simulator(tmp_path / "s", device_delay=0.3) as simulator:
        host = simulator.add_sdc("host1")
        gw = open_gateway(simulator)
        volume_id = gw.create_volume("late")
        gw.map(volume_id, host.id)
        assert not host.device_path(volume_id).exists()
        assert wait_for(host.device_path(volume_id).exists)


def test_unmapping_before_a_delayed_device_appears_cancels_it(gw: Any) -> None:
    host1 = gw.sim.sdcs["host1"]
    gw.sim.faults.delay_devices(0.2, "host1")
    volume_id = gw.create_volume("never")
    gw.map(volume_id, host1.id)
    gw.action(volume_id, "removeMappedSdc", {"sdcId": host1.id})
    threading.Event().wait(0.4)
    assert not host1.device_path(volume_id).exists()


def test_suppressed_devices_never_appear_until_restored(gw: Any) -> None:
    host1, host2 = gw.sim.sdcs["host1"], gw.sim.sdcs["host2"]
    gw.sim.faults.suppress_devices(host1)
    first = gw.create_volume("first")
    gw.map(first, host1.id)
    gw.map(first, host2.id)
    assert host2.device_path(first).exists()
    threading.Event().wait(0.2)
    assert not host1.device_path(first).exists()
    gw.sim.faults.restore_devices()
    second = gw.create_volume("second")
    gw.map(second, host1.id)
    assert host1.device_path(second).exists()


def test_disconnected_sdc_gets_its_devices_on_reconnect(gw: Any) -> None:
    host1 = gw.sim.sdcs["host1"]
    gw.sim.faults.disconnect_sdc("host1")
    sdc = gw.ok("GET", f"/api/instances/Sdc::{host1.id}")
    assert sdc["mdmConnectionState"] == "Disconnected"
    volume_id = gw.create_volume("v1")
    gw.map(volume_id, host1.id)
    assert not host1.device_path(volume_id).exists()
    gw.sim.faults.connect_sdc(host1.id)
    assert host1.device_path(volume_id).exists()
    assert gw.ok("GET", f"/api/instances/Sdc::{host1.id}")["mdmConnectionState"] == "Connected"


def test_sparse_copy_keeps_holes_and_data(tmp_path: Path) -> None:
    devices = DeviceManager(tmp_path, "00df72815d3b900f")
    devices.create("a", 1024 * 1024)  # 1 GiB
    write(devices.data_path("a"), 100 * MIB, b"x" * 8192)
    write(devices.data_path("a"), 900 * MIB, b"y")
    devices.begin_snapshots([("a", "b")]).finish()
    assert devices.data_path("b").stat().st_size == 1024 * MIB
    assert devices.allocated_kb("b") <= devices.allocated_kb("a") + 64
    assert read(devices.data_path("b"), 100 * MIB, 8192) == b"x" * 8192
    assert read(devices.data_path("b"), 900 * MIB, 1) == b"y"


def test_stopping_removes_data_files_and_links(tmp_path: Path, open_gateway: Any) -> None:
    with Simulator(tmp_path / "kept") as simulator:
        host = simulator.add_sdc("host1")
        gw = open_gateway(simulator)
        volume_id = gw.create_volume("v")
        gw.map(volume_id, host.id)
    assert not host.device_path(volume_id).exists()
    assert list((tmp_path / "kept" / "volumes").iterdir()) == []
    assert host.by_id_dir.is_dir()


@pytest.mark.parametrize("tls", [False, True])
def test_own_temporary_state_dir_is_removed(tls: bool) -> None:
    with Simulator(tls=tls) as simulator:
        state_dir = simulator.state_dir
        assert state_dir.is_dir()
        assert (simulator.ca_path is not None) == tls
    assert not state_dir.exists()


# ------------------------------------------------- copies outside the model lock
def snapshot_in_background(gw: Any, pool: ThreadPoolExecutor, *defs: tuple[str, str]) -> Future:
    return pool.submit(
        gw.post,
        "/api/instances/System/action/snapshotVolumes",
        {"snapshotDefs": [{"volumeId": v, "snapshotName": name} for v, name in defs]},
    )


def snapshot_being_copied(
    gw: Any, pool: ThreadPoolExecutor, held: Any, base: str, name: str
) -> tuple[Future, str, Any]:
    """Snapshot ``base`` as ``name`` with its copy held: the request under way,
    the new snapshot's id, and a second session for what happens meanwhile."""
    snapping = snapshot_in_background(gw, pool, (base, name))
    assert held.started.wait(30)
    other = type(gw)(gw.sim)
    snapshot = other.ok("POST", "/api/types/Volume/instances/action/queryIdByKey", {"name": name})
    return snapping, snapshot, other


def volume_files(sim: Any) -> set[str]:
    return {p.name for p in (sim.state_dir / "volumes").iterdir()}


@pytest.mark.parametrize(
    "change",
    [
        ("removeVolume", {"removeMode": "ONLY_ME"}, lambda data: not data.exists()),
        ("setVolumeSize", {"sizeInGB": "16"}, lambda data: data.stat().st_size == 16 << 30),
    ],
    ids=["remove", "extend"],
)
def test_changing_a_source_waits_for_its_copy_then_succeeds(
    gw: Any, open_gateway: Any, hold_copies: Any, change: tuple[str, Any, Any]
) -> None:
    verb, body, after = change
    base = gw.create_volume("base")
    data = gw.sim.devices.data_path(base)
    write(data, 5 * MIB, b"copied whole")
    held = hold_copies(gw.sim)
    other = open_gateway(gw.sim)
    with ThreadPoolExecutor(2) as pool:
        snapping = snapshot_in_background(gw, pool, (base, "snap"))
        assert held.started.wait(30)
        changing = pool.submit(other.action, base, verb, body)
        assert held.waiting.wait(30), f"{verb} did not wait for the copy in the data plane"
        assert not changing.done()
        assert data.stat().st_size == 8 << 30
        held.release.set()
        (snapshot,) = snapping.result(30).json()["volumeIdList"]
        assert changing.result(30).status_code == 200
    assert after(data)
    assert read(gw.sim.devices.data_path(snapshot), 5 * MIB, 12) == b"copied whole"


def test_mapping_a_snapshot_being_copied_waits_for_all_its_data(gw: Any, hold_copies: Any) -> None:
    host1 = gw.sim.sdcs["host1"]
    base = gw.create_volume("base")
    write(gw.sim.devices.data_path(base), 7 * MIB, b"all there")
    held = hold_copies(gw.sim)
    with ThreadPoolExecutor(2) as pool:
        snapping, snapshot, other = snapshot_being_copied(gw, pool, held, base, "snap")
        mapping = pool.submit(other.map, snapshot, host1.id)
        assert held.waiting.wait(30), "the map did not wait for the copy"
        assert not host1.device_path(snapshot).exists()
        held.release.set()
        mapping.result(30)  # while it waited, it held the model lock: the copy did not need it
        assert snapping.result(30).json()["volumeIdList"] == [snapshot]
    assert read(host1.device_path(snapshot), 7 * MIB, 9) == b"all there"


def test_a_failed_copy_leaves_no_snapshot_record_and_no_file(
    gw: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = gw.create_volume("first"), gw.create_volume("second")
    before = volume_files(gw.sim)
    copy, copies = devices._copy_data, []

    def second_copy_fails(source_fd: int, target_fd: int, limit: int) -> None:
        copies.append(limit)
        if len(copies) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        copy(source_fd, target_fd, limit)

    monkeypatch.setattr(devices, "_copy_data", second_copy_fails)
    response = gw.post(
        "/api/instances/System/action/snapshotVolumes",
        {"snapshotDefs": [{"volumeId": first, "snapshotName": "s1"}, {"volumeId": second}]},
    )
    assert response.status_code == 500
    assert "No space left on device" in response.json()["message"]
    assert len(copies) == 2
    assert sorted(v["id"] for v in gw.ok("GET", "/api/types/Volume/instances")) == sorted(
        [first, second]
    )
    assert volume_files(gw.sim) == before
    monkeypatch.setattr(devices, "_copy_data", copy)
    for volume_id in (first, second):  # nothing is left waiting on the sources
        assert gw.action(volume_id, "setVolumeSize", {"sizeInGB": "16"}).status_code == 200
        assert gw.action(volume_id, "removeVolume", {"removeMode": "ONLY_ME"}).status_code == 200


def test_a_map_waiting_on_a_copy_that_fails_is_refused_and_the_snapshot_goes(
    gw: Any, hold_copies: Any
) -> None:
    host1 = gw.sim.sdcs["host1"]
    base = gw.create_volume("base")
    held = hold_copies(gw.sim)
    held.fail_with = OSError(errno.EIO, "Input/output error")
    with ThreadPoolExecutor(2) as pool:
        snapping, snapshot, other = snapshot_being_copied(gw, pool, held, base, "doomed")
        mapping = pool.submit(other.action, snapshot, "addMappedSdc", {"sdcId": host1.id})
        assert held.waiting.wait(30)
        held.release.set()
        assert snapping.result(30).status_code == 500
        refused = mapping.result(30)
    assert refused.status_code == 500
    assert f"the data copy of snapshot {snapshot} failed" in refused.json()["message"]
    assert not host1.device_path(snapshot).exists()
    assert [v["id"] for v in gw.ok("GET", "/api/types/Volume/instances")] == [base]
    assert volume_files(gw.sim) == {f"{base}.img"}
