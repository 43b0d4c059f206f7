"""Fault injection, from Python (``sim.faults``) and over the admin endpoint."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests


def volume_exists(gw: Any, name: str) -> bool:
    response = gw.post("/api/types/Volume/instances/action/queryIdByKey", {"name": name})
    return response.status_code == 200


def test_fail_next_answers_unprocessed_errors_then_recovers(gw: Any) -> None:
    host1 = gw.sim.sdcs["host1"]
    volume_id = gw.create_volume("v")
    gw.sim.faults.fail_next(
        2,
        method="post",
        path=r"/action/addMappedSdc$",
        status=500,
        error_code=65,
        message="SDS busy",
    )
    assert gw.volume(volume_id)["mappedSdcInfo"] is None  # a GET does not match
    for _ in range(2):
        status, error = gw.error(
            "POST", f"/api/instances/Volume::{volume_id}/action/addMappedSdc", {"sdcId": host1.id}
        )
        assert (status, error) == (
            500,
            {"message": "SDS busy", "httpStatusCode": 500, "errorCode": 65},
        )
        assert gw.volume(volume_id)["mappedSdcInfo"] is None
    gw.map(volume_id, host1.id)
    faulted = [e for e in gw.sim.request_log if e.fault == "fail"]
    assert [(e.route, e.status, e.error_code) for e in faulted] == [
        ("/api/instances/Volume::{id}/action/addMappedSdc", 500, 65)
    ] * 2


def test_fail_next_can_carry_details(gw: Any) -> None:
    gw.sim.faults.fail_next(path="snapshotVolumes", details=[{"rc": 182, "error": "X"}])
    status, error = gw.error("POST", "/api/instances/System/action/snapshotVolumes", {})
    assert (status, error["details"]) == (500, [{"rc": 182, "error": "X"}])


def test_latency_for_matching_requests_only(gw: Any) -> None:
    gw.sim.faults.add_latency(0.3, path="/api/version", count=1)
    started = time.monotonic()
    gw.get("/api/types/System/instances")
    assert time.monotonic() - started < 0.25
    started = time.monotonic()
    assert gw.get("/api/version").status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    gw.get("/api/version")
    assert time.monotonic() - started < 0.25


def test_latency_for_everything_until_cleared(gw: Any) -> None:
    gw.sim.faults.add_latency(0.15)
    for path in ["/api/version", "/api/types/Sdc/instances"]:
        started = time.monotonic()
        gw.get(path)
        assert time.monotonic() - started >= 0.15
    gw.sim.faults.clear()
    started = time.monotonic()
    gw.get("/api/version")
    assert time.monotonic() - started < 0.15


def test_dropped_connection_after_the_change_happened(gw: Any) -> None:
    gw.sim.faults.drop_connection(method="POST", path=r"^/api/types/Volume/instances$")
    body = {"storagePoolId": gw.pool_id(), "volumeSizeInGb": "8", "name": "lost-answer"}
    with pytest.raises(requests.exceptions.ConnectionError):
        gw.post("/api/types/Volume/instances", body)
    assert volume_exists(gw, "lost-answer")
    dropped = [e for e in gw.sim.request_log if e.fault == "drop"]
    assert [(e.method, e.status) for e in dropped] == [("POST", None)]
    assert gw.error("POST", "/api/types/Volume/instances", body)[1]["errorCode"] == 99


def test_dropped_connection_over_https(tmp_path: Any, open_gateway: Any) -> None:
    from sio_backend.simulator import Simulator

    with Simulator(tmp_path / "s", tls=True) as simulator:
        gw = open_gateway(simulator)
        simulator.faults.drop_connection(path="/api/version")
        with pytest.raises(requests.exceptions.ConnectionError):
            gw.get("/api/version")
        assert gw.get("/api/version").json() == "3.5"


def test_expire_tokens(gw: Any, open_gateway: Any) -> None:
    other = open_gateway(gw.sim)
    gw.sim.faults.expire_tokens()
    assert gw.get("/api/version").status_code == 401
    assert other.get("/api/version").status_code == 401
    gw.login()
    assert gw.get("/api/version").status_code == 200


def test_restart_keeps_state_and_invalidates_tokens(gw: Any) -> None:
    volume_id = gw.create_volume("survivor")
    assert gw.get("/api/version").status_code == 200  # a pooled keep-alive connection
    gw.sim.faults.restart()
    assert gw.get("/api/version").status_code == 401
    gw.login()
    assert gw.volume(volume_id)["name"] == "survivor"


def test_sdc_connection_state(gw: Any) -> None:
    host2 = gw.sim.sdcs["host2"]
    gw.sim.faults.disconnect_sdc(host2)
    states = {s["name"]: s["mdmConnectionState"] for s in gw.ok("GET", "/api/types/Sdc/instances")}
    assert states == {"host1": "Connected", "host2": "Disconnected"}
    gw.sim.faults.connect_sdc("host2")
    assert gw.ok("GET", f"/api/instances/Sdc::{host2.id}")["mdmConnectionState"] == "Connected"


# ---------------------------------------------------------------- admin HTTP
def admin(sim: Any, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{sim.url}/__simulator__/{path}", json=body, timeout=10)


def test_admin_endpoint_injects_faults_without_authentication(gw: Any) -> None:
    response = admin(
        gw.sim,
        "POST",
        "faults/fail_next",
        {"count": 1, "path": "queryIdByKey", "status": 503, "error_code": 0, "message": "busy"},
    )
    assert (response.status_code, response.json()) == (200, {"done": "fail_next"})
    response = gw.post("/api/types/Volume/instances/action/queryIdByKey", {"name": "x"})
    assert (response.status_code, response.json()["message"]) == (503, "busy")
    assert admin(gw.sim, "POST", "faults/disconnect_sdc", {"sdc": "host1"}).status_code == 200
    assert gw.sim.state.sdc(gw.sim.sdcs["host1"].id).connected is False
    assert admin(gw.sim, "POST", "faults/expire_tokens").status_code == 200
    assert gw.get("/api/version").status_code == 401


def test_admin_endpoint_reads_the_log_and_adds_sdcs(gw: Any) -> None:
    gw.sim.reset_log()
    gw.get("/api/version")
    gw.get("/api/version")
    counts = admin(gw.sim, "GET", "counts").json()
    assert counts == [{"method": "GET", "route": "/api/version", "count": 2}]
    (entry, _) = admin(gw.sim, "GET", "log").json()
    assert (entry["path"], entry["status"]) == ("/api/version", 200)
    created = admin(gw.sim, "POST", "sdcs", {"name": "host3", "ip": "198.51.100.3"}).json()
    assert created["ip"] == "198.51.100.3"
    assert created["by_id_dir"].endswith("host3/by-id")
    assert [s["name"] for s in admin(gw.sim, "GET", "sdcs").json()] == ["host1", "host2", "host3"]
    assert admin(gw.sim, "POST", "log/reset").status_code == 200
    assert gw.sim.request_log == []


def test_admin_endpoint_errors(gw: Any) -> None:
    assert admin(gw.sim, "POST", "faults/format_disks").status_code == 404
    assert admin(gw.sim, "POST", "faults/fail_next", {"colour": "red"}).status_code == 400
    assert admin(gw.sim, "POST", "faults/fail_next", [1, 2]).status_code == 400
    response = admin(gw.sim, "POST", "faults/connect_sdc", {"sdc": "no-such-host"})
    assert response.status_code == 500
    assert response.json()["errorCode"] == 80
