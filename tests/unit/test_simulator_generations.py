"""Each generation's dialect over raw HTTP: what 3.5, 4.5 and 5.0 serve, and how.

The sources of each shape are in docs/simulator.rst; these tests pin them
down the way a client on the wire sees them, including what a generation
does not serve (a 404, as in the field).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sio_backend.simulator import Simulator

GIB_KB = 1024 * 1024
SYSTEM_STATS = "/api/types/System/instances/action/querySelectedStatistics"


@pytest.fixture
def at(make_sim: Callable[..., Simulator], open_gateway: Any) -> Callable[[str], Any]:
    """A logged-in (legacy) raw gateway session on a new simulator of one generation."""

    def make(api_version: str) -> Any:
        return open_gateway(make_sim(api_version=api_version))

    return make


def action(volume_id: str, verb: str) -> str:
    return f"/api/instances/Volume::{volume_id}/action/{verb}"


def assert_html_401(response: Any) -> None:
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text.startswith("<html>")


# ------------------------------------------------------------ what is served
@pytest.mark.parametrize(
    ("method", "path", "served_from"),
    [
        ("POST", "/rest/auth/login", "4.5"),
        ("POST", "/rest/auth/update-token", "4.5"),
        ("POST", "/rest/auth/logout", "4.5"),
        ("POST", "/api/types/Host/instances", "4.5"),
        ("POST", action("0123456789abcdef", "addMappedHost"), "4.5"),
        ("POST", action("0123456789abcdef", "removeMappedHost"), "4.5"),
        ("POST", "/api/instances/System/action/createSnapshot", "5.0"),
        ("POST", "/api/instances/System/action/createThinClone", "5.0"),
        ("POST", "/dtapi/rest/v1/metrics/query", "5.0"),
    ],
)
@pytest.mark.parametrize("api_version", ["3.5", "4.5", "5.0"])
def test_newer_endpoints_are_a_404_before_their_generation(
    at: Callable[[str], Any], method: str, path: str, served_from: str, api_version: str
) -> None:
    gw = at(api_version)
    response = gw.post(path, {}) if method == "POST" else gw.get(path)
    if api_version < served_from:
        assert response.status_code == 404, response.text
    else:
        assert response.status_code != 404, response.text


@pytest.mark.parametrize(
    "path",
    [
        SYSTEM_STATS,
        "/api/types/StoragePool/instances/action/querySelectedStatistics",
        "/api/types/Volume/instances/action/querySelectedStatistics",
        "/api/types/Sdc/instances/action/querySelectedStatistics",
        "/api/instances/System/action/snapshotVolumes",
        "/api/instances/System::{system}/action/snapshotVolumes",
    ],
)
@pytest.mark.parametrize("api_version", ["3.5", "4.5", "5.0"])
def test_mirroring_only_endpoints_are_gone_on_5x(
    at: Callable[[str], Any], path: str, api_version: str
) -> None:
    gw = at(api_version)
    response = gw.post(path.format(system=gw.sim.system_id), {"properties": ["x"], "ids": []})
    assert (response.status_code == 404) == (api_version == "5.0"), response.text


# --------------------------------------------------------------------- auth
def test_3x_refuses_bearer_tokens_and_answers_401_in_json(at: Callable[[str], Any]) -> None:
    gw = at("3.5")
    response = gw.get("/api/version", headers={"Authorization": f"Bearer {gw.token}"})
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized", "httpStatusCode": 401, "errorCode": 0}
    assert gw.get("/api/version").text == '"3.5"'


@pytest.mark.parametrize("api_version", ["4.5", "5.0"])
def test_oauth_login_answers_the_login_response(at: Callable[[str], Any], api_version: str) -> None:
    gw = at(api_version)
    grant = gw.oauth_login()
    assert set(grant) == {
        "access_token",
        "expires_in",
        "refresh_expires_in",
        "refresh_token",
        "token_type",
        "id_token",
        "session_state",
        "scope",
    }
    assert (grant["expires_in"], grant["refresh_expires_in"], grant["token_type"]) == (
        300,
        1800,
        "Bearer",
    )
    assert grant["access_token"].count(".") == 2  # a JWT's three parts
    assert gw.get("/api/version").text == f'"{api_version}"'  # Bearer access token
    assert set(gw.sim.sessions.issued_tokens()) >= {
        grant["access_token"],
        grant["refresh_token"],
        grant["id_token"],
    }


@pytest.mark.parametrize("api_version", ["4.5", "5.0"])
def test_4x_takes_either_token_in_either_header(at: Callable[[str], Any], api_version: str) -> None:
    gw = at(api_version)
    legacy = gw.token
    access = gw.oauth_login()["access_token"]
    for token in (legacy, access):
        bearer = gw.get("/api/version", headers={"Authorization": f"Bearer {token}"})
        basic = gw.get("/api/version", auth=("", token))
        assert (bearer.status_code, basic.status_code) == (200, 200)


@pytest.mark.parametrize("api_version", ["4.5", "5.0"])
def test_4x_refusals_are_html_401s(at: Callable[[str], Any], api_version: str) -> None:
    gw = at(api_version)
    assert_html_401(gw.get("/api/version", headers={"Authorization": "Bearer not-a-token"}))
    assert_html_401(gw.get("/api/version", auth=("", "not-a-token")))
    assert_html_401(gw.get("/api/version", headers={}))
    assert_html_401(gw.get("/api/login", auth=(gw.sim.username, "wrong")))
    refused = gw.post("/rest/auth/login", json={"username": gw.sim.username, "password": "wrong"})
    assert refused.status_code == 401
    assert refused.json()["http_status_code"] == 401  # PowerFlex Manager's error-response


def test_access_tokens_expire_after_expires_in(
    make_sim: Callable[..., Simulator], open_gateway: Any, fake_clock: Any
) -> None:
    sim = make_sim(api_version="4.5", clock=fake_clock, access_token_lifetime=60)
    gw = open_gateway(sim, login=False)
    grant = gw.oauth_login()
    assert grant["expires_in"] == 60
    fake_clock.advance(59)
    assert gw.get("/api/version").status_code == 200
    fake_clock.advance(1)
    assert_html_401(gw.get("/api/version"))


def test_update_token_trades_a_refresh_token_for_a_fresh_pair(
    make_sim: Callable[..., Simulator], open_gateway: Any, fake_clock: Any
) -> None:
    sim = make_sim(
        api_version="4.5", clock=fake_clock, access_token_lifetime=60, refresh_token_lifetime=120
    )
    gw = open_gateway(sim, login=False)
    first = gw.oauth_login()
    fake_clock.advance(100)  # the access token has expired, the refresh token has not
    renewed = gw.post("/rest/auth/update-token", json={"refresh_token": first["refresh_token"]})
    assert renewed.status_code == 200, renewed.text
    second = renewed.json()
    assert second["access_token"] != first["access_token"]
    gw.token = second["access_token"]
    assert gw.get("/api/version").status_code == 200
    fake_clock.advance(121)
    late = gw.post("/rest/auth/update-token", json={"refresh_token": first["refresh_token"]})
    assert late.status_code == 401
    missing = gw.post("/rest/auth/update-token", json={})
    assert (missing.status_code, missing.json()["http_status_code"]) == (400, 400)


@pytest.mark.parametrize("api_version", ["4.5", "5.0"])
def test_oauth_logout_answers_204_and_ends_the_grant(
    at: Callable[[str], Any], api_version: str
) -> None:
    gw = at(api_version)
    grant = gw.oauth_login()
    assert_html_401(
        gw.post("/rest/auth/logout", {"refresh_token": grant["refresh_token"]}, auth=("", gw.token))
    )
    response = gw.post("/rest/auth/logout", {"refresh_token": grant["refresh_token"]})
    assert (response.status_code, response.content) == (204, b"")
    assert_html_401(gw.get("/api/version"))
    renewed = gw.post("/rest/auth/update-token", json={"refresh_token": grant["refresh_token"]})
    assert renewed.status_code == 401


# -------------------------------------------------- hosts and null fields
@pytest.mark.parametrize("api_version", ["4.5", "5.0"])
def test_4x_listings_hold_an_nvme_host_with_null_fields(
    at: Callable[[str], Any], api_version: str
) -> None:
    gw = at(api_version)
    hosts = {h["name"]: h for h in gw.ok("GET", "/api/types/Sdc/instances")}
    assert set(hosts) == {"nvme1", "host1", "host2"}
    nvme = hosts["nvme1"]
    assert nvme["hostType"] == "NVMeHost"
    assert (nvme["sdcGuid"], nvme["sdcIp"], nvme["sdcIps"], nvme["mdmConnectionState"]) == (
        None,
        None,
        None,
        None,
    )
    assert nvme["nqn"].startswith("nqn.2014-08.org.nvmexpress:uuid:")
    sdc = hosts["host1"]
    assert (sdc["hostType"], sdc["nqn"], sdc["maxNumPaths"], sdc["sdcGuid"]) == (
        "SdcHost",
        None,
        None,
        gw.sim.sdcs["host1"].guid,
    )
    assert gw.ok("GET", f"/api/instances/Sdc::{nvme['id']}") == nvme
    system_hosts = gw.ok("GET", f"/api/instances/System::{gw.sim.system_id}/relationships/Sdc")
    assert [h["name"] for h in system_hosts] == ["nvme1", "host1", "host2"]


def test_3x_listings_hold_sdcs_only_without_4x_fields(at: Callable[[str], Any]) -> None:
    gw = at("3.5")
    hosts = gw.ok("GET", "/api/types/Sdc/instances")
    assert [h["name"] for h in hosts] == ["host1", "host2"]
    assert not {"hostType", "nqn", "maxNumPaths"} & set(hosts[0])


@pytest.mark.parametrize("api_version", ["4.5", "5.0"])
def test_volumes_map_to_nvme_hosts_in_every_way_clients_do(
    at: Callable[[str], Any], api_version: str
) -> None:
    gw = at(api_version)
    nvme = next(h for h in gw.ok("GET", "/api/types/Sdc/instances") if h["name"] == "nvme1")
    host1 = gw.sim.sdcs["host1"]
    volume_id = gw.create_volume("v")
    assert gw.volume(volume_id)["mappedSdcInfo"] is None
    # cinder maps an NVMe host id through addMappedSdc; LXD/PyPowerFlex use addMappedHost
    assert gw.ok("POST", action(volume_id, "addMappedSdc"), {"sdcId": nvme["id"]}) == {}
    multiple = {"hostId": host1.id, "allowMultipleMappings": "true"}
    assert gw.ok("POST", action(volume_id, "addMappedHost"), multiple) == {}
    mapped = {m["sdcId"]: m for m in gw.volume(volume_id)["mappedSdcInfo"]}
    assert (mapped[nvme["id"]]["hostType"], mapped[nvme["id"]]["nqn"]) == ("NVMeHost", nvme["nqn"])
    assert (mapped[nvme["id"]]["sdcIp"], mapped[nvme["id"]]["sdcName"]) == (None, "nvme1")
    assert (mapped[host1.id]["hostType"], mapped[host1.id]["nqn"]) == ("SdcHost", None)
    assert host1.device_path(volume_id).exists()
    related = gw.ok("GET", f"/api/instances/Sdc::{nvme['id']}/relationships/Volume")
    assert [v["id"] for v in related] == [volume_id]
    assert gw.ok("POST", action(volume_id, "removeMappedHost"), {"nqn": nvme["nqn"]}) == {}
    assert gw.ok("POST", action(volume_id, "removeMappedHost"), {"guid": host1.guid}) == {}
    assert gw.volume(volume_id)["mappedSdcInfo"] is None
    assert not host1.device_path(volume_id).exists()


@pytest.mark.parametrize("api_version", ["4.5", "5.0"])
def test_4x_mapping_errors_are_4037_and_4039_through_either_action(
    at: Callable[[str], Any], api_version: str
) -> None:
    gw = at(api_version)
    host1 = gw.sim.sdcs["host1"].id
    volume_id = gw.create_volume("v")
    gw.ok("POST", action(volume_id, "addMappedHost"), {"hostId": host1})
    for verb, key in (("addMappedHost", "hostId"), ("addMappedSdc", "sdcId")):
        status, error = gw.error("POST", action(volume_id, verb), {key: host1})
        assert (status, error["errorCode"]) == (500, 4037), verb
    gw.ok("POST", action(volume_id, "removeMappedHost"), {"hostId": host1})
    for verb, key in (("removeMappedHost", "hostId"), ("removeMappedSdc", "sdcId")):
        status, error = gw.error("POST", action(volume_id, verb), {key: host1})
        assert (status, error["errorCode"]) == (500, 4039), verb


@pytest.mark.parametrize("api_version", ["4.5", "5.0"])
def test_nvme_hosts_are_created_and_read_back(at: Callable[[str], Any], api_version: str) -> None:
    gw = at(api_version)
    nqn = "nqn.2014-08.org.nvmexpress:uuid:4b0c3f1e-52d8-4f33-8d2e-2f4b7f7a9a10"
    created = gw.ok(
        "POST", "/api/types/Host/instances", {"nqn": nqn, "name": "nvme2", "maxNumPaths": "8"}
    )
    host = gw.ok("GET", f"/api/instances/Host::{created['id']}")
    assert (host["nqn"], host["name"], host["maxNumPaths"]) == (nqn, "nvme2", 8)
    status, _ = gw.error("POST", "/api/types/Host/instances", {"nqn": nqn, "name": "nvme3"})
    assert status == 400


# ------------------------------------------------------------- statistics
@pytest.mark.parametrize("api_version", ["3.5", "4.5"])
def test_volume_and_sdc_selected_statistics(at: Callable[[str], Any], api_version: str) -> None:
    gw = at(api_version)
    host1 = gw.sim.sdcs["host1"].id
    volume_id = gw.create_volume("v")
    gw.map(volume_id, host1)
    volumes = gw.ok(
        "POST",
        "/api/types/Volume/instances/action/querySelectedStatistics",
        {"ids": [volume_id], "properties": ["numOfMappedSdcs", "mappedSdcIds", "nothing"]},
    )
    assert volumes == {volume_id: {"numOfMappedSdcs": 1, "mappedSdcIds": [host1]}}
    sdcs = gw.ok(
        "POST",
        "/api/types/Sdc/instances/action/querySelectedStatistics",
        {"allIds": "", "properties": ["numOfMappedVolumes", "volumeIds"]},
    )
    assert sdcs[host1] == {"numOfMappedVolumes": 1, "volumeIds": [volume_id]}
    assert len(sdcs) == (3 if api_version == "4.5" else 2)  # the NVMe host too on 4.x
    stats = gw.ok("GET", f"/api/instances/Sdc::{host1}/relationships/Statistics")
    assert stats["volumeIds"] == [volume_id]


# ------------------------------------------------------- 5.x Erasure Coding
def test_5x_protection_domains_pools_and_volumes_say_erasure_coding(
    at: Callable[[str], Any],
) -> None:
    gw = at("5.0")
    (pd,) = gw.ok("GET", "/api/types/ProtectionDomain/instances")
    assert pd["genType"] == "EC"
    pool = gw.ok("GET", f"/api/instances/StoragePool::{gw.pool_id()}")
    assert (pool["dataLayout"], pool["protectionScheme"]) == ("ErasureCoding", "TwoPlusTwo")
    volume = gw.volume(gw.create_volume("v", 3))
    assert (volume["genType"], volume["volumeType"], volume["sizeInKb"]) == (
        "EC",
        "ThinProvisioned",
        3 * GIB_KB,
    )


@pytest.mark.parametrize("api_version", ["3.5", "4.5"])
def test_mirroring_domains_have_no_gen_type(at: Callable[[str], Any], api_version: str) -> None:
    gw = at(api_version)
    (pd,) = gw.ok("GET", "/api/types/ProtectionDomain/instances")
    assert "genType" not in pd  # cinder reads it as "Mirroring"
    assert "genType" not in gw.volume(gw.create_volume("v"))


@pytest.mark.parametrize(
    ("api_version", "asked_kb", "expected_gb"),
    [
        ("5.0", 1, 1),
        ("5.0", 10 * GIB_KB, 10),
        ("5.0", 10 * GIB_KB + 1, 11),
        ("4.5", 10 * GIB_KB, 16),
        ("3.5", 1, 8),
    ],
)
def test_sizes_come_in_1_gib_steps_on_erasure_coding_and_8_gib_ones_before(
    at: Callable[[str], Any], api_version: str, asked_kb: int, expected_gb: int
) -> None:
    gw = at(api_version)
    volume_id = gw.ok(
        "POST",
        "/api/types/Volume/instances",
        {"storagePoolId": gw.pool_id(), "volumeSizeInKb": str(asked_kb), "name": "v"},
    )["id"]
    assert gw.volume(volume_id)["sizeInKb"] == expected_gb * GIB_KB
    grown = gw.action(volume_id, "setVolumeSize", {"sizeInGB": str(expected_gb + 1)})
    assert grown.status_code == (200 if api_version == "5.0" else 400), grown.text


def test_5x_refuses_thick_volumes_and_compression_method(at: Callable[[str], Any]) -> None:
    gw = at("5.0")
    create = "/api/types/Volume/instances"
    base = {"storagePoolId": gw.pool_id(), "volumeSizeInGb": "8"}
    status, error = gw.error("POST", create, {**base, "volumeType": "ThickProvisioned"})
    assert (status, error["errorCode"]) == (500, 288)
    assert "Erasure Coding" in error["message"]
    status, error = gw.error("POST", create, {**base, "compressionMethod": "None"})
    assert (status, error["errorCode"]) == (400, 0)
    assert "compressionMethod" in error["message"]
    assert gw.ok("GET", "/api/types/Volume/instances") == []


@pytest.mark.parametrize("with_system_id", [True, False])
def test_5x_snapshots_are_read_only_and_thin_clones_writable(
    at: Callable[[str], Any], with_system_id: bool
) -> None:
    gw = at("5.0")
    system = f"System::{gw.sim.system_id}" if with_system_id else "System"
    base = gw.create_volume("base", 2)
    snapshot = gw.ok(
        "POST",
        f"/api/instances/{system}/action/createSnapshot",
        {"snapshotDefs": [{"volumeId": base, "snapshotName": "snap"}], "retentionPeriodInMin": 1},
    )
    assert set(snapshot) == {"snapshotGroupId", "volumeIdList"}
    (snapshot_id,) = snapshot["volumeIdList"]
    clone = gw.ok(
        "POST",
        f"/api/instances/{system}/action/createThinClone",
        {"snapshotDefs": [{"volumeId": snapshot_id, "snapshotName": "clone"}]},
    )
    (clone_id,) = clone["volumeIdList"]
    snapshot_view, clone_view = gw.volume(snapshot_id), gw.volume(clone_id)
    assert (snapshot_view["accessModeLimit"], snapshot_view["ancestorVolumeId"]) == (
        "ReadOnly",
        base,
    )
    assert (clone_view["accessModeLimit"], clone_view["ancestorVolumeId"]) == (
        "ReadWrite",
        snapshot_id,
    )
    assert clone_view["vtreeId"] == gw.volume(base)["vtreeId"]
    status, error = gw.error(
        "POST", f"/api/instances/{system}/action/createSnapshot", {"snapshotDefs": []}
    )
    assert (status, error["errorCode"]) == (400, 0)


# ----------------------------------------------------------- 5.x metrics
def metrics_of(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: {m["name"]: m["values"][0] for m in r["metrics"]} for r in answer["resources"]}


def test_5x_pool_metrics_are_bytes_and_move_with_volumes(at: Callable[[str], Any]) -> None:
    gw = at("5.0")
    pool_id = gw.pool_id()
    query = {
        "resource_type": "storage_pool",
        "ids": [pool_id],
        "metrics": ["physical_total", "physical_free", "logical_provisioned"],
    }
    before = metrics_of(gw.ok("POST", "/dtapi/rest/v1/metrics/query", query))[pool_id]
    assert before == {
        "physical_total": 10240 * 1024**3,
        "physical_free": 10240 * 1024**3,
        "logical_provisioned": 0,
    }
    gw.create_volume("v", 3)
    after = metrics_of(gw.ok("POST", "/dtapi/rest/v1/metrics/query", query))[pool_id]
    assert after["logical_provisioned"] == 3 * 1024**3


def test_5x_metrics_take_ids_as_a_list_a_string_or_not_at_all(at: Callable[[str], Any]) -> None:
    gw = at("5.0")
    first, second = gw.create_volume("a", 1), gw.create_volume("b", 2)
    path = "/dtapi/rest/v1/metrics/query"
    named = {"resource_type": "volume", "metrics": ["logical_provisioned", "made_up"]}
    assert metrics_of(gw.ok("POST", path, {**named, "ids": second})) == {
        second: {"logical_provisioned": 2 * 1024**3}
    }
    every = metrics_of(gw.ok("POST", path, named))
    assert set(every) == {first, second}
    listed = metrics_of(gw.ok("POST", path, {**named, "ids": [first]}))
    assert listed == {first: {"logical_provisioned": 1024**3}}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"resource_type": "volume", "metrics": "logical_used,logical_provisioned"}, 500),
        ({"resource_type": "nothing", "metrics": ["logical_used"]}, 404),
        ({"resource_type": "volume", "ids": ["0123456789abcdef"], "metrics": []}, 404),
        ({"metrics": ["logical_used"]}, 400),
    ],
)
def test_5x_metrics_refusals(at: Callable[[str], Any], body: dict[str, Any], status: int) -> None:
    gw = at("5.0")
    response = gw.post("/dtapi/rest/v1/metrics/query", body)
    assert response.status_code == status, response.text


def test_5x_metrics_need_a_token(at: Callable[[str], Any]) -> None:
    gw = at("5.0")
    query = {"resource_type": "system", "metrics": ["physical_total"]}
    assert_html_401(gw.post("/dtapi/rest/v1/metrics/query", query, headers={}))
    gw.oauth_login()
    assert set(metrics_of(gw.ok("POST", "/dtapi/rest/v1/metrics/query", query))) == {
        gw.sim.system_id
    }
