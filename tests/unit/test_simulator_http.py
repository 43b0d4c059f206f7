"""The simulated gateway over real HTTP(S), spoken to with raw ``requests``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from sio_backend.simulator import Simulator

GIB_KB = 1024 * 1024


@pytest.fixture(params=["http", "https"])
def any_sim(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Simulator]:
    with Simulator(tmp_path / "s", tls=request.param == "https") as simulator:
        simulator.add_sdc("host1")
        yield simulator


@pytest.fixture
def sim4(make_sim: Any) -> Simulator:
    return make_sim(api_version="4.5")


def double_quote(name: str) -> str:
    return quote(quote(name, safe=""), safe="")


# ------------------------------------------------------------- transport
def test_http_and_https_round_trip(any_sim: Simulator, open_gateway: Any) -> None:
    assert any_sim.url.startswith("https://" if any_sim.tls else "http://")
    assert any_sim.url.startswith(f"{'https' if any_sim.tls else 'http'}://127.0.0.1:")
    gw = open_gateway(any_sim)
    volume_id = gw.create_volume("roundtrip")
    assert gw.volume(volume_id)["name"] == "roundtrip"


def test_https_certificate_only_verifies_with_the_simulator_ca(tmp_path: Path) -> None:
    with Simulator(tmp_path / "s", tls=True) as simulator:
        assert simulator.ca_path is not None
        assert simulator.ca_path.read_text().startswith("-----BEGIN CERTIFICATE-----")
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(simulator.url + "/api/version", verify=True, timeout=10)
        response = requests.get(
            simulator.url + "/api/login",
            auth=(simulator.username, simulator.password),
            verify=str(simulator.ca_path),
            timeout=10,
        )
        assert response.status_code == 200
        localhost = simulator.url.replace("127.0.0.1", "localhost")
        assert (
            requests.get(
                localhost + "/api/version", verify=str(simulator.ca_path), timeout=10
            ).status_code
            == 401
        )


def test_listens_on_loopback_only(sim: Simulator) -> None:
    assert sim.host == "127.0.0.1"
    assert sim._server is not None
    assert sim._server.server_address[0] == "127.0.0.1"


@pytest.mark.parametrize(("version", "expected"), [("3.5", "3.5"), ("4.5", "4.5")])
def test_version_is_configurable(
    tmp_path: Path, open_gateway: Any, version: str, expected: str
) -> None:
    with Simulator(tmp_path / "s", api_version=version) as simulator:
        response = open_gateway(simulator).get("/api/version")
        assert response.text == f'"{expected}"'


def test_unknown_route_wrong_method_and_bad_json(gw: Any) -> None:
    status, error = gw.error("GET", "/api/types/Nothing/instances")
    assert (status, error["errorCode"]) == (404, 0)
    status, _ = gw.error("DELETE", "/api/types/Volume/instances")
    assert status == 405
    response = gw.post(
        "/api/types/Volume/instances",
        data="{not json",
        auth=("", gw.token),
        headers={"Content-Type": "application/json"},
    )
    assert (response.status_code, response.json()["errorCode"]) == (400, 0)
    status, error = gw.error("POST", "/api/types/Volume/instances", ["a", "list"])
    assert (status, error["errorCode"]) == (400, 0)


def test_actions_answer_200_with_an_empty_json_object(gw: Any) -> None:
    """Dell's API files document ``{}``; PyPowerFlex calls .json() on every answer."""
    host1 = gw.sim.sdcs["host1"].id
    volume_id = gw.create_volume("v")
    for verb, body in [
        ("setVolumeName", {"newName": "w"}),
        ("setVolumeSize", {"sizeInGB": "16"}),
        ("addMappedSdc", {"sdcId": host1}),
        ("setMappedSdcLimits", {"sdcId": host1, "iopsLimit": "100"}),
        ("removeMappedSdc", {"sdcId": host1}),
        ("removeVolume", {"removeMode": "ONLY_ME"}),
    ]:
        response = gw.action(volume_id, verb, body)
        assert response.status_code == 200, (verb, response.text)
        assert response.headers["Content-Type"].startswith("application/json"), verb
        assert response.content == b"{}", verb


# --------------------------------------------------------------- systems
def test_system_list_and_instance(gw: Any) -> None:
    (system,) = gw.ok("GET", "/api/types/System/instances")
    assert system["id"] == gw.sim.system_id
    assert "R3_5" in system["systemVersionName"]
    assert gw.ok("GET", f"/api/instances/System::{gw.sim.system_id}") == system
    status, error = gw.error("GET", "/api/instances/System::0123456789abcdef")
    assert (status, error["errorCode"]) == (500, 3)
    stats = gw.ok("GET", f"/api/instances/System::{gw.sim.system_id}/relationships/Statistics")
    assert stats["numOfSdc"] == 2
    selected = gw.ok(
        "POST",
        "/api/types/System/instances/action/querySelectedStatistics",
        {"ids": [], "properties": ["numOfStoragePools", "numOfProtectionDomains"]},
    )
    assert selected == {"numOfStoragePools": 1, "numOfProtectionDomains": 1}


# ----------------------------------------------------- domains and pools
def test_protection_domain_lookups_in_all_three_styles(gw: Any) -> None:
    pd_id = gw.ok(
        "POST", "/api/types/ProtectionDomain/instances/action/queryIdByKey", {"name": "pd1"}
    )
    assert gw.ok("GET", f"/api/types/Domain/instances/getByName::{double_quote('pd1')}") == pd_id
    (listed,) = gw.ok("GET", "/api/types/ProtectionDomain/instances")
    assert listed["id"] == pd_id
    related = gw.ok(
        "GET", f"/api/instances/System::{gw.sim.system_id}/relationships/ProtectionDomain"
    )
    assert related == [listed]
    assert gw.ok("GET", f"/api/instances/ProtectionDomain::{pd_id}")["name"] == "pd1"
    by_ids = gw.ok(
        "POST", "/api/types/ProtectionDomain/instances/action/queryBySelectedIds", {"ids": [pd_id]}
    )
    assert by_ids == [listed]
    status, error = gw.error(
        "POST", "/api/types/ProtectionDomain/instances/action/queryIdByKey", {"name": "nope"}
    )
    assert (status, error) == (500, {"message": "Not found", "httpStatusCode": 500, "errorCode": 3})
    status, error = gw.error("GET", "/api/instances/ProtectionDomain::0123456789abcdef")
    assert (status, error["errorCode"], error["message"]) == (
        500,
        142,
        "Could not find Protection Domain",
    )


def test_storage_pool_lookups_and_fields(gw: Any) -> None:
    sim = gw.sim
    sim.add_storage_pool("pd1", "fg-pool", data_layout="FineGranularity", zero_padding=False)
    pd_id = gw.ok(
        "POST", "/api/types/ProtectionDomain/instances/action/queryIdByKey", {"name": "pd1"}
    )
    by_pd_id = gw.ok(
        "POST",
        "/api/types/StoragePool/instances/action/queryIdByKey",
        {"name": "fg-pool", "protectionDomainId": pd_id},
    )
    assert gw.pool_id("fg-pool") == by_pd_id
    assert (
        gw.ok("GET", f"/api/types/Pool/instances/getByName::{pd_id},{double_quote('fg-pool')}")
        == by_pd_id
    )
    pool = gw.ok("GET", f"/api/instances/StoragePool::{by_pd_id}")
    assert (pool["zeroPaddingEnabled"], pool["dataLayout"], pool["protectionDomainId"]) == (
        False,
        "FineGranularity",
        pd_id,
    )
    default = gw.ok("GET", f"/api/instances/StoragePool::{gw.pool_id()}")
    assert (default["zeroPaddingEnabled"], default["dataLayout"]) == (True, "MediumGranularity")
    in_pd = gw.ok("GET", f"/api/instances/ProtectionDomain::{pd_id}/relationships/StoragePool")
    assert {p["name"] for p in in_pd} == {"sp1", "fg-pool"}
    assert len(gw.ok("GET", "/api/types/StoragePool/instances")) == 2
    status, error = gw.error(
        "POST", "/api/types/StoragePool/instances/action/queryIdByKey", {"name": "sp1"}
    )
    assert (status, error["errorCode"]) == (400, 0)
    assert "protectionDomainId" in error["message"]
    status, error = gw.error("GET", "/api/instances/StoragePool::0123456789abcdef")
    assert (status, error["errorCode"]) == (500, 171)


def test_fine_granularity_pool_refuses_thick_volumes_over_http(gw: Any) -> None:
    gw.sim.add_storage_pool("pd1", "fg", data_layout="FineGranularity")
    status, error = gw.error(
        "POST",
        "/api/types/Volume/instances",
        {
            "storagePoolId": gw.pool_id("fg"),
            "volumeSizeInGb": "8",
            "volumeType": "ThickProvisioned",
        },
    )
    assert status == 500
    assert "Fine Granularity" in error["message"]
    thin = gw.create_volume("fine-thin", pool="fg")
    assert gw.volume(thin)["dataLayout"] == "FineGranularity"


def test_pool_statistics_both_ways_move_with_volumes(gw: Any) -> None:
    pool_id = gw.pool_id()
    properties = [
        "netCapacityInUseInKb",
        "netUnusedCapacityInKb",
        "thickCapacityInUseInKb",
        "thinCapacityAllocatedInKb",
        "snapshotCapacityInKb",
        "capacityLimitInKb",
        "spareCapacityInKb",
        "capacityAvailableForVolumeAllocationInKb",
    ]
    query = "/api/types/StoragePool/instances/action/querySelectedStatistics"
    before = gw.ok("POST", query, {"ids": [pool_id], "properties": properties})
    assert list(before) == [pool_id]
    assert set(before[pool_id]) == set(properties)
    volume_id = gw.create_volume("thick", 16, thin=False)
    after = gw.ok("POST", query, {"allIds": "", "properties": properties})[pool_id]
    assert (
        after["thickCapacityInUseInKb"] - before[pool_id]["thickCapacityInUseInKb"] == 32 * GIB_KB
    )
    assert before[pool_id]["netUnusedCapacityInKb"] - after["netUnusedCapacityInKb"] == 16 * GIB_KB
    full = gw.ok("GET", f"/api/instances/StoragePool::{pool_id}/relationships/Statistics")
    assert {k: full[k] for k in properties} == after
    gw.action(volume_id, "removeVolume", {"removeMode": "ONLY_ME"})
    assert gw.ok("POST", query, {"ids": [pool_id], "properties": properties}) == before


# ---------------------------------------------------------------- volumes
@pytest.mark.parametrize(
    ("size_field", "value", "expected_kb"),
    [
        ("volumeSizeInKb", "1048576", 8 * GIB_KB),
        ("volumeSizeInKb", 9 * GIB_KB, 16 * GIB_KB),
        ("volumeSizeInGb", "10", 16 * GIB_KB),
        ("volumeSizeInGb", 8, 8 * GIB_KB),
    ],
)
def test_create_accepts_both_size_fields_and_rounds_up(
    gw: Any, size_field: str, value: Any, expected_kb: int
) -> None:
    volume_id = gw.ok(
        "POST",
        "/api/types/Volume/instances",
        {"storagePoolId": gw.pool_id(), size_field: value, "name": "v"},
    )["id"]
    assert len(volume_id) == 16
    volume = gw.volume(volume_id)
    assert (volume["sizeInKb"], volume["volumeType"]) == (expected_kb, "ThickProvisioned")


def test_create_without_size_is_a_400_naming_the_parameter(gw: Any) -> None:
    status, error = gw.error("POST", "/api/types/Volume/instances", {"storagePoolId": gw.pool_id()})
    assert (status, error["errorCode"]) == (400, 0)
    assert error["message"] == (
        "Request message is not valid: The following parameter(s) must be part of the request "
        "body: volumeSizeInKb."
    )


@pytest.mark.parametrize(
    ("name", "error_code"), [("x" * 32, 226), ("two words", 227), ("taken", 99)]
)
def test_create_name_rules(gw: Any, name: str, error_code: int) -> None:
    gw.create_volume("taken")
    status, error = gw.error(
        "POST",
        "/api/types/Volume/instances",
        {"storagePoolId": gw.pool_id(), "volumeSizeInKb": str(8 * GIB_KB), "name": name},
    )
    assert (status, error["errorCode"]) == (500, error_code)


def test_get_missing_volume_and_missing_name(gw: Any) -> None:
    status, error = gw.error("GET", "/api/instances/Volume::0123456789abcdef")
    assert (status, error) == (
        500,
        {"message": "Could not find the volume", "httpStatusCode": 500, "errorCode": 79},
    )
    status, error = gw.error(
        "POST", "/api/types/Volume/instances/action/queryIdByKey", {"name": "nope"}
    )
    assert (status, error) == (500, {"message": "Not found", "httpStatusCode": 500, "errorCode": 3})
    status, error = gw.error("GET", "/api/types/Volume/instances/getByName::nope")
    assert (status, error["errorCode"]) == (500, 3)


@pytest.mark.parametrize("name", ["oLHC0+T1SmuMfZ6PemtcTQ==", "oLHC0+T1Smu/fZ6PemtcTQ==/~", "a%b"])
def test_name_lookups_in_body_and_double_encoded_path(gw: Any, name: str) -> None:
    volume_id = gw.create_volume(name)
    assert gw.ok("POST", "/api/types/Volume/instances/action/queryIdByKey", {"name": name}) == (
        volume_id
    )
    assert gw.ok("GET", f"/api/types/Volume/instances/getByName::{double_quote(name)}") == (
        volume_id
    )


def test_single_encoded_slash_never_reaches_the_gateway(gw: Any) -> None:
    gw.create_volume("a/b")
    status, error = gw.error("GET", f"/api/types/Volume/instances/getByName::{quote('a/b', '')}")
    assert (status, error["errorCode"]) == (400, 0)


def test_list_and_select_volumes(gw: Any) -> None:
    ids = [gw.create_volume(f"v{i}") for i in range(3)]
    assert [v["id"] for v in gw.ok("GET", "/api/types/Volume/instances")] == ids
    selected = gw.ok(
        "POST", "/api/types/Volume/instances/action/queryBySelectedIds", {"ids": ids[1:]}
    )
    assert [v["id"] for v in selected] == ids[1:]
    in_pool = gw.ok("GET", f"/api/instances/StoragePool::{gw.pool_id()}/relationships/Volume")
    assert [v["id"] for v in in_pool] == ids


def test_rename(gw: Any) -> None:
    volume_id = gw.create_volume("old")
    gw.create_volume("other")
    assert gw.action(volume_id, "setVolumeName", {"newName": "new"}).status_code == 200
    assert gw.volume(volume_id)["name"] == "new"
    status, error = gw.error(
        "POST", f"/api/instances/Volume::{volume_id}/action/setVolumeName", {"newName": "other"}
    )
    assert (status, error["errorCode"]) == (500, 99)


@pytest.mark.parametrize(("size", "status"), [("16", 200), ("10", 400), ("8", 400), ("0", 400)])
def test_extend_needs_a_larger_multiple_of_8(gw: Any, size: str, status: int) -> None:
    volume_id = gw.create_volume("v", 8)
    response = gw.action(volume_id, "setVolumeSize", {"sizeInGB": size})
    assert response.status_code == status
    assert gw.volume(volume_id)["sizeInKb"] == (16 if status == 200 else 8) * GIB_KB


def test_extend_with_the_wrong_key_is_refused(gw: Any) -> None:
    volume_id = gw.create_volume("v", 8)
    response = gw.action(volume_id, "setVolumeSize", {"sizeInGb": "16"})
    assert (response.status_code, response.json()["errorCode"]) == (400, 0)
    assert "sizeInGB" in response.json()["message"]


def test_remove_volume(gw: Any) -> None:
    volume_id = gw.create_volume("v")
    gw.map(volume_id, gw.sim.sdcs["host1"].id)
    status, error = gw.error(
        "POST", f"/api/instances/Volume::{volume_id}/action/removeVolume", {"removeMode": "ONLY_ME"}
    )
    assert (status, error["errorCode"]) == (500, 104)
    gw.action(volume_id, "removeMappedSdc", {"allSdcs": ""})
    status, error = gw.error(
        "POST", f"/api/instances/Volume::{volume_id}/action/removeVolume", {"removeMode": "ALL"}
    )
    assert (status, error["errorCode"]) == (400, 0)
    assert "ONLY_ME" in error["message"]
    assert gw.action(volume_id, "removeVolume", {"removeMode": "ONLY_ME"}).status_code == 200
    status, error = gw.error(
        "POST", f"/api/instances/Volume::{volume_id}/action/removeVolume", {"removeMode": "ONLY_ME"}
    )
    assert (status, error["errorCode"]) == (500, 79)


# ---------------------------------------------------------------- mapping
@pytest.mark.parametrize("flag", ["TRUE", "True", "true", True])
def test_map_by_guid_in_any_case_and_any_boolean_spelling(gw: Any, flag: Any) -> None:
    host1, host2 = gw.sim.sdcs["host1"], gw.sim.sdcs["host2"]
    volume_id = gw.create_volume("v")
    assert gw.volume(volume_id)["mappedSdcInfo"] is None
    gw.ok(
        "POST",
        f"/api/instances/Volume::{volume_id}/action/addMappedSdc",
        {"guid": host1.guid.lower(), "allowMultipleMappings": flag},
    )
    gw.ok(
        "POST",
        f"/api/instances/Volume::{volume_id}/action/addMappedSdc",
        {"guid": host2.guid, "allowMultipleMappings": flag},
    )
    mapped = gw.volume(volume_id)["mappedSdcInfo"]
    assert [(m["sdcId"], m["sdcIp"], m["sdcName"]) for m in mapped] == [
        (host1.id, host1.ip, "host1"),
        (host2.id, host2.ip, "host2"),
    ]


def test_bad_boolean_is_a_validation_error(gw: Any) -> None:
    volume_id = gw.create_volume("v")
    response = gw.action(
        volume_id,
        "addMappedSdc",
        {"sdcId": gw.sim.sdcs["host1"].id, "allowMultipleMappings": "yes"},
    )
    assert (response.status_code, response.json()["errorCode"]) == (400, 0)


def test_map_errors_on_3x(gw: Any) -> None:
    host1, host2 = gw.sim.sdcs["host1"], gw.sim.sdcs["host2"]
    volume_id = gw.create_volume("v")
    gw.map(volume_id, host1.id, multiple=False)
    path = f"/api/instances/Volume::{volume_id}/action/addMappedSdc"
    status, error = gw.error("POST", path, {"sdcId": host2.id, "allowMultipleMappings": "FALSE"})
    assert (status, error["errorCode"]) == (500, 297)
    assert (
        error["message"]
        == "This volume is already mapped and may not be mapped to additional SDCs."
    )
    status, error = gw.error("POST", path, {"sdcId": host2.id})
    assert error["errorCode"] == 297
    status, error = gw.error("POST", path, {"sdcId": host1.id, "allowMultipleMappings": "TRUE"})
    assert (status, error["errorCode"]) == (500, 81)
    status, error = gw.error("POST", path, {"guid": "00000000-0000-0000-0000-000000000000"})
    assert (status, error["errorCode"]) == (500, 80)
    status, error = gw.error("POST", path, {"allowMultipleMappings": "TRUE"})
    assert (status, error["errorCode"]) == (400, 0)
    unmap = f"/api/instances/Volume::{volume_id}/action/removeMappedSdc"
    status, error = gw.error("POST", unmap, {"guid": host2.guid.lower()})
    assert (status, error["errorCode"]) == (500, 84)
    gw.ok("POST", unmap, {"guid": host1.guid.lower()})
    status, error = gw.error("POST", unmap, {"allSdcs": ""})
    assert error["errorCode"] == 84


def test_map_errors_on_4x(sim4: Simulator, open_gateway: Any) -> None:
    gw = open_gateway(sim4)
    host1 = sim4.sdcs["host1"]
    volume_id = gw.create_volume("v")
    gw.map(volume_id, host1.id)
    status, error = gw.error(
        "POST", f"/api/instances/Volume::{volume_id}/action/addMappedSdc", {"sdcId": host1.id}
    )
    assert (status, error["errorCode"]) == (500, 4037)
    status, error = gw.error(
        "POST",
        f"/api/instances/Volume::{volume_id}/action/removeMappedSdc",
        {"sdcId": sim4.sdcs["host2"].id},
    )
    assert (status, error["errorCode"]) == (500, 4039)
    volume = gw.volume(volume_id)
    assert volume["volumeClass"] == "defaultclass"
    assert "mappingToAllSdcsEnabled" not in volume
    assert gw.ok("GET", f"/api/instances/Sdc::{host1.id}")["hostType"] == "SdcHost"


def test_sdc_limits_are_validated_and_read_back(gw: Any) -> None:
    host1 = gw.sim.sdcs["host1"]
    volume_id = gw.create_volume("v")
    limits = f"/api/instances/Volume::{volume_id}/action/setMappedSdcLimits"
    status, error = gw.error("POST", limits, {"sdcId": host1.id, "iopsLimit": "100"})
    assert (status, error["errorCode"]) == (500, 84)
    gw.map(volume_id, host1.id)
    for body in [
        {"sdcId": host1.id, "iopsLimit": "10"},
        {"sdcId": host1.id, "bandwidthLimitInKbps": "1000"},
        {"sdcId": host1.id, "iopsLimit": "many"},
        {"sdcId": host1.id},
    ]:
        status, error = gw.error("POST", limits, body)
        assert (status, error["errorCode"]) == (400, 0), body
    gw.ok(
        "POST",
        limits,
        {"guid": host1.guid.lower(), "iopsLimit": "11", "bandwidthLimitInKbps": "2097152"},
    )
    (mapped,) = gw.volume(volume_id)["mappedSdcInfo"]
    assert (mapped["limitIops"], mapped["limitBwInMbps"]) == (11, 2048)


# ------------------------------------------------------------------- SDCs
def test_sdc_listing_and_lookups(gw: Any) -> None:
    host1 = gw.sim.sdcs["host1"]
    sdcs = gw.ok("GET", "/api/types/Sdc/instances")
    assert [s["name"] for s in sdcs] == ["host1", "host2"]
    first = sdcs[0]
    assert first["id"] == host1.id
    assert first["sdcGuid"] == host1.guid == host1.guid.upper()
    assert (first["sdcIp"], first["mdmConnectionState"]) == (host1.ip, "Connected")
    assert gw.ok("GET", f"/api/instances/Sdc::{host1.id}") == first
    related = gw.ok("GET", f"/api/instances/System::{gw.sim.system_id}/relationships/Sdc")
    assert related == sdcs
    by_ip = gw.ok("POST", "/api/types/Sdc/instances/action/queryIdByKey", {"ip": host1.ip})
    assert by_ip == host1.id
    assert gw.ok("GET", f"/api/types/Client/instances/getByIp::{host1.ip}/") == host1.id
    status, error = gw.error(
        "POST", "/api/types/Sdc/instances/action/queryIdByKey", {"ip": "203.0.113.9"}
    )
    assert (status, error["errorCode"]) == (500, 3)
    status, error = gw.error("GET", "/api/instances/Sdc::0123456789abcdef")
    assert (status, error["errorCode"]) == (500, 80)
    volume_id = gw.create_volume("v")
    gw.map(volume_id, host1.id)
    mapped = gw.ok("GET", f"/api/instances/Sdc::{host1.id}/relationships/Volume")
    assert [v["id"] for v in mapped] == [volume_id]
    selected = gw.ok(
        "POST", "/api/types/Sdc/instances/action/queryBySelectedIds", {"ids": [host1.id]}
    )
    assert selected == [first]


# -------------------------------------------------------------- snapshots
@pytest.mark.parametrize("with_system_id", [True, False])
def test_snapshot_volumes_in_both_url_styles(gw: Any, with_system_id: bool) -> None:
    base = gw.create_volume("base", 16)
    gw.map(base, gw.sim.sdcs["host1"].id)
    system = f"System::{gw.sim.system_id}" if with_system_id else "System"
    result = gw.ok(
        "POST",
        f"/api/instances/{system}/action/snapshotVolumes",
        {"snapshotDefs": [{"volumeId": base, "snapshotName": "snap"}]},
    )
    assert set(result) == {"snapshotGroupId", "volumeIdList"}
    (snapshot_id,) = result["volumeIdList"]
    snapshot = gw.volume(snapshot_id)
    assert snapshot["volumeType"] == "Snapshot"
    assert snapshot["ancestorVolumeId"] == base
    assert snapshot["vtreeId"] == gw.volume(base)["vtreeId"]
    assert snapshot["mappedSdcInfo"] is None
    assert snapshot["sizeInKb"] == 16 * GIB_KB
    removed = gw.ok(
        "POST",
        f"/api/instances/System::{gw.sim.system_id}/action/removeConsistencyGroupSnapshots",
        {"snapGroupId": result["snapshotGroupId"]},
    )
    assert removed == {"numberOfVolumes": 1}


def test_too_many_snapshots_reports_rc_182_in_details(gw: Any) -> None:
    base = gw.create_volume("base")
    path = "/api/instances/System/action/snapshotVolumes"
    gw.ok("POST", path, {"snapshotDefs": [{"volumeId": base}] * 126})
    status, error = gw.error("POST", path, {"snapshotDefs": [{"volumeId": base}]})
    assert status == 500
    (detail,) = error["details"]
    assert (detail["rc"], detail["error"]) == (182, "TOO_MANY_SNAPS_IN_VTREE")


def test_overwrite_volume_content_checks_the_vtree(gw: Any) -> None:
    base, other = gw.create_volume("base"), gw.create_volume("other")
    (snapshot,) = gw.ok(
        "POST",
        "/api/instances/System/action/snapshotVolumes",
        {"snapshotDefs": [{"volumeId": base, "snapshotName": "s"}]},
    )["volumeIdList"]
    assert gw.action(base, "overwriteVolumeContent", {"srcVolumeId": snapshot}).status_code == 200
    status, error = gw.error(
        "POST",
        f"/api/instances/Volume::{other}/action/overwriteVolumeContent",
        {"srcVolumeId": snapshot},
    )
    assert (status, error["errorCode"]) == (500, 198)


# -------------------------------------------------------------- migration
def test_migrate_vtree_reports_progress_through_the_vtree(gw: Any) -> None:
    gw.sim.add_storage_pool("pd1", "sp2")
    destination = gw.pool_id("sp2")
    volume_id = gw.create_volume("mover", thin=False)
    vtree_id = gw.volume(volume_id)["vtreeId"]
    body = {
        "destSPId": destination,
        "volTypeConversion": "ThickToThin",
        "compressionMethod": "None",
        "allowDuringRebuild": "False",
    }
    assert gw.action(volume_id, "migrateVTree", body).status_code == 200
    vtree = gw.ok("GET", f"/api/instances/VTree::{vtree_id}")
    assert vtree["vtreeMigrationInfo"]["migrationStatus"] == "MigrationInProgress"
    status, error = gw.error(
        "POST", f"/api/instances/Volume::{volume_id}/action/migrateVTree", body
    )
    assert (status, error["errorCode"]) == (500, 717)
    for _ in range(100):
        vtree = gw.ok("GET", f"/api/instances/VTree::{vtree_id}")
        if vtree["vtreeMigrationInfo"]["migrationStatus"] == "NotInMigration":
            break
        threading.Event().wait(0.05)
    assert vtree["vtreeMigrationInfo"]["migrationStatus"] == "NotInMigration"
    assert vtree["vtreeMigrationInfo"]["migrationPauseReason"] is None
    assert vtree["storagePoolId"] == destination
    moved = gw.volume(volume_id)
    assert (moved["storagePoolId"], moved["volumeType"]) == (destination, "ThinProvisioned")
    status, error = gw.error(
        "POST", f"/api/instances/Volume::{volume_id}/action/migrateVTree", {"destSPId": destination}
    )
    assert (status, error["errorCode"]) == (500, 718)
    stats = gw.ok("GET", f"/api/instances/VTree::{vtree_id}/relationships/Statistics")
    assert stats["numOfVolumes"] == 1
    members = gw.ok("GET", f"/api/instances/VTree::{vtree_id}/relationships/Volume")
    assert [v["id"] for v in members] == [volume_id]
    assert [t["id"] for t in gw.ok("GET", "/api/types/VTree/instances")] == [vtree_id]


def test_missing_vtree(gw: Any) -> None:
    status, error = gw.error("GET", "/api/instances/VTree::0123456789abcdef")
    assert (status, error["errorCode"]) == (500, 230)


def test_volume_statistics(gw: Any) -> None:
    volume_id = gw.create_volume("v")
    gw.map(volume_id, gw.sim.sdcs["host1"].id)
    stats = gw.ok("GET", f"/api/instances/Volume::{volume_id}/relationships/Statistics")
    assert (stats["numOfMappedSdcs"], stats["mappedSdcIds"]) == (1, [gw.sim.sdcs["host1"].id])


# ------------------------------------------------------------ request log
def test_request_log_and_counters(gw: Any) -> None:
    gw.sim.reset_log()
    volume_id = gw.create_volume("counted")
    gw.volume(volume_id)
    gw.volume(volume_id)
    counts = gw.sim.call_counts()
    assert counts[("GET", "/api/instances/Volume::{id}")] == 2
    assert counts[("POST", "/api/types/Volume/instances")] == 1
    assert counts[("POST", "/api/types/StoragePool/instances/action/queryIdByKey")] == 1
    assert sum(counts.values()) == 4
    last = gw.sim.request_log[-1]
    assert (last.method, last.path, last.status, last.fault) == (
        "GET",
        f"/api/instances/Volume::{volume_id}",
        200,
        None,
    )
    gw.error("GET", "/api/instances/Volume::0123456789abcdef")
    assert gw.sim.request_log[-1].error_code == 79
    gw.sim.reset_log()
    assert gw.sim.request_log == []
