"""Fifty clients at once, each with its own session and connection."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

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
