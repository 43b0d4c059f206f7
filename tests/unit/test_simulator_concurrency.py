"""Fifty clients at once, each with its own session and connection, and
clients that go on while a snapshot copies its data."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from sio_backend.demo.device_io import read, write
from sio_backend.simulator import Simulator

CLIENTS = 50


@pytest.mark.parametrize("tls", [False, True])
def test_fifty_concurrent_clients_without_errors(
    tmp_path: Path, open_gateway: Any, tls: bool
) -> None:
    with Simulator(tmp_path / "s", tls=tls) as simulator:
        host = simulator.add_sdc("host1")
        start = threading.Barrier(CLIENTS, timeout=30)

        def one_client(index: int) -> str:
            start.wait()
            gw = open_gateway(simulator)
            volume_id = gw.create_volume(f"concurrent-{index}")
            gw.map(volume_id, host.id)
            assert host.device_path(volume_id).exists()
            assert gw.action(volume_id, "removeMappedSdc", {"sdcId": host.id}).status_code == 200
            assert (
                gw.action(volume_id, "removeVolume", {"removeMode": "ONLY_ME"}).status_code == 200
            )
            gw.session.close()
            return volume_id

        began = time.monotonic()
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            volume_ids = list(pool.map(one_client, range(CLIENTS), timeout=90))
        elapsed = time.monotonic() - began

        assert len(set(volume_ids)) == CLIENTS
        assert elapsed < 60
        assert simulator.state.volumes() == []
        assert list(host.by_id_dir.iterdir()) == []
        assert all(entry.status == 200 for entry in simulator.request_log)
        counts = simulator.call_counts()
        assert counts[("GET", "/api/login")] == CLIENTS
        assert counts[("POST", "/api/instances/Volume::{id}/action/addMappedSdc")] == CLIENTS


@pytest.mark.parametrize(
    ("api_version", "verb"),
    [("3.5", "snapshotVolumes"), ("5.0", "createThinClone"), ("5.0", "createSnapshot")],
)
def test_other_requests_go_on_while_a_snapshot_copies_its_data(
    make_sim: Callable[..., Simulator],
    open_gateway: Any,
    hold_copies: Any,
    api_version: str,
    verb: str,
) -> None:
    """A real snapshot is metadata only: a long copy must not hold up the gateway
    (each request below times out long before the held copy would end)."""
    simulator = make_sim(api_version=api_version)
    host1 = simulator.sdcs["host1"]
    snapper, other = open_gateway(simulator), open_gateway(simulator)
    base = snapper.create_volume("base")
    write(simulator.devices.data_path(base), 3 << 20, b"the instant")
    held = hold_copies(simulator)
    with ThreadPoolExecutor(1) as pool:
        snapping = pool.submit(
            snapper.post,
            f"/api/instances/System/action/{verb}",
            {"snapshotDefs": [{"volumeId": base, "snapshotName": "snap"}]},
        )
        assert held.started.wait(30)
        assert other.volume(base)["id"] == base
        meanwhile = other.create_volume("meanwhile")
        other.map(meanwhile, host1.id)
        assert host1.device_path(meanwhile).exists()
        assert other.action(meanwhile, "setVolumeSize", {"sizeInGB": "16"}).status_code == 200
        assert not snapping.done()
        held.release.set()
        answer = snapping.result(30)
    assert answer.status_code == 200, answer.text
    (snapshot,) = answer.json()["volumeIdList"]
    assert read(simulator.devices.data_path(snapshot), 3 << 20, 11) == b"the instant"
