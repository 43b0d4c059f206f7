"""Dell's PyPowerFlex SDK against the simulator, at each generation, over HTTPS.

PyPowerFlex is a client nobody here wrote: it picks its object set from
``/api/version`` (gen1 objects below 5.0, gen2 from 5.0), logs in per request
with ``GET /api/login`` on 3.x and with ``POST /rest/auth/login`` plus Bearer
tokens and a ``/rest/auth/logout`` it wants answered 204 from 4.0, and calls
``.json()`` on every answer.  Where it fails here, the simulator is wrong
until shown otherwise.  Not a project dependency yet: skipped without it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sio_backend.simulator import Simulator

PyPowerFlex = pytest.importorskip("PyPowerFlex")
from PyPowerFlex import exceptions as ppf_exceptions  # noqa: E402
from PyPowerFlex.objects import gen1, gen2  # noqa: E402

GIB_KB = 1024 * 1024
GEN1 = ["3.5", "4.5"]
ALL = [*GEN1, "5.0"]
LOGIN, OAUTH_LOGIN, OAUTH_LOGOUT = (
    ("GET", "/api/login"),
    ("POST", "/rest/auth/login"),
    ("POST", "/rest/auth/logout"),
)


def connect(sim: Simulator) -> Any:
    client = PyPowerFlex.PowerFlexClient(
        sim.host,
        sim.port,
        sim.username,
        sim.password,
        verify_certificate=True,
        certificate_path=str(sim.ca_path),
        timeout=10,
    )
    client.initialize()
    return client


@pytest.fixture
def at(make_simulator: Callable[..., Simulator]) -> Callable[[str], tuple[Simulator, Any]]:
    """A simulator of one generation and a PyPowerFlex client initialized on it."""

    def make(api_version: str) -> tuple[Simulator, Any]:
        sim = make_simulator(api_version=api_version)
        return sim, connect(sim)

    return make


def pool_id(sim: Simulator) -> str:
    return sim.state.storage_pool_id_by_name(sim.state.protection_domain_id_by_name("pd1"), "sp1")


# ------------------------------------------------------------------ login
@pytest.mark.parametrize(
    ("api_version", "volume_class", "oauth"),
    [("3.5", gen1.Volume, False), ("4.5", gen1.Volume, True), ("5.0", gen2.Volume, True)],
)
def test_login_and_object_set_follow_the_generation(
    at: Callable[[str], tuple[Simulator, Any]], api_version: str, volume_class: type, oauth: bool
) -> None:
    sim, client = at(api_version)
    assert client.system.api_version() == api_version
    assert type(client.volume) is volume_class
    (system,) = client.system.get()
    assert system["id"] == sim.system_id
    counts = sim.call_counts()
    assert counts[LOGIN] >= 1  # PyPowerFlex reads /api/version with a legacy token everywhere
    assert (counts[OAUTH_LOGIN] > 0, counts[OAUTH_LOGOUT] > 0) == (oauth, oauth)
    assert counts[OAUTH_LOGIN] == counts[OAUTH_LOGOUT]  # each request logged out, with 204
    assert not [e for e in sim.request_log if e.status != 200 and e.route != OAUTH_LOGOUT[1]]


# ---------------------------------------------------------------- volumes
@pytest.mark.parametrize("api_version", GEN1)
def test_gen1_volume_lifecycle(
    at: Callable[[str], tuple[Simulator, Any]], api_version: str
) -> None:
    sim, client = at(api_version)
    host1 = sim.sdcs["host1"]
    volume = client.volume.create(pool_id(sim), 10, name="ppf-a", volume_type="ThinProvisioned")
    assert volume["sizeInKb"] == 16 * GIB_KB  # 8 GiB steps on mirroring pools
    assert volume["mappedSdcInfo"] is None
    assert client.volume.extend(volume["id"], 24)["sizeInKb"] == 24 * GIB_KB
    assert client.volume.rename(volume["id"], "ppf-b") == {}
    assert sim.state.volume(volume["id"]).name == "ppf-b"
    mapped = client.volume.add_mapped_sdc(volume["id"], sdc_id=host1.id)["mappedSdcInfo"]
    assert [m["sdcId"] for m in mapped] == [host1.id]
    assert host1.device_path(volume["id"]).exists()
    limited = client.volume.set_mapped_sdc_limits(
        volume["id"], host1.id, bandwidth_limit="2048", iops_limit="500"
    )
    (limits,) = limited["mappedSdcInfo"]
    assert (limits["limitIops"], limits["limitBwInMbps"]) == (500, 2)
    assert client.volume.remove_mapped_sdc(volume["id"], sdc_id=host1.id)["mappedSdcInfo"] is None
    assert client.volume.delete(volume["id"], "ONLY_ME") == {}
    assert sim.state.volumes() == []


def test_gen2_volume_lifecycle(at: Callable[[str], tuple[Simulator, Any]]) -> None:
    sim, client = at("5.0")
    host1 = sim.sdcs["host1"]
    volume = client.volume.create(pool_id(sim), 10, name="ppf-a", volume_type="ThinProvisioned")
    assert volume["sizeInKb"] == 10 * GIB_KB  # 1 GiB steps on Erasure Coding pools
    assert volume["genType"] == "EC"
    client.volume.extend(volume["id"], 11)
    assert sim.state.volume(volume["id"]).size_kb == 11 * GIB_KB
    assert client.volume.rename(volume["id"], "ppf-b") == {}
    client.volume.add_mapped_host(volume["id"], host_id=host1.id)
    assert set(sim.state.volume(volume["id"]).mappings) == {host1.id}
    assert host1.device_path(volume["id"]).exists()
    client.volume.set_mapped_sdc_limits(volume["id"], host1.id, iops_limit="500")
    assert sim.state.volume(volume["id"]).mappings[host1.id].iops_limit == 500
    client.volume.remove_mapped_host(volume["id"], host_id=host1.id)
    assert sim.state.volume(volume["id"]).mappings == {}
    assert client.volume.delete(volume["id"], "ONLY_ME") == {}
    assert sim.state.volumes() == []


@pytest.mark.parametrize("api_version", ["4.5", "5.0"])
def test_nvme_hosts_are_listed_with_the_sdcs(
    at: Callable[[str], tuple[Simulator, Any]], api_version: str
) -> None:
    _, client = at(api_version)
    listed = {s["name"]: s for s in client.sdc.get()}
    assert set(listed) == {"nvme1", "host1", "host2"}
    nvme = listed["nvme1"]
    assert (nvme["hostType"], nvme["sdcGuid"], nvme["sdcIp"]) == ("NVMeHost", None, None)
    assert listed["host1"]["hostType"] == "SdcHost"
    nqn = "nqn.2014-08.org.nvmexpress:uuid:7d1e8c5a-77e4-4e3a-9f0c-3b1d6f0a2c11"
    created = client.host.create(nqn, name="nvme2", max_num_paths="4", max_num_sys_ports="10")
    assert (created["nqn"], created["hostType"]) == (nqn, "NVMeHost")


# -------------------------------------------------------------- snapshots
@pytest.mark.parametrize("api_version", GEN1)
def test_gen1_snapshots(at: Callable[[str], tuple[Simulator, Any]], api_version: str) -> None:
    sim, client = at(api_version)
    volume = client.volume.create(pool_id(sim), 8, name="base")
    taken = client.system.snapshot_volumes(
        sim.system_id, [PyPowerFlex.objects.common.system.SnapshotDef(volume["id"], "snap")]
    )
    (snapshot_id,) = taken["volumeIdList"]
    snapshot = client.volume.get(entity_id=snapshot_id)
    assert (snapshot["volumeType"], snapshot["ancestorVolumeId"]) == ("Snapshot", volume["id"])
    assert client.system.remove_cg_snapshots(sim.system_id, taken["snapshotGroupId"]) == {
        "numberOfVolumes": 1
    }
    assert [v.id for v in sim.state.volumes()] == [volume["id"]]


def test_gen2_snapshots_and_thin_clones(at: Callable[[str], tuple[Simulator, Any]]) -> None:
    sim, client = at("5.0")
    volume = client.volume.create(pool_id(sim), 3, name="base")
    taken = client.system.create_snapshot(
        sim.system_id, [{"volumeId": volume["id"], "snapshotName": "snap"}]
    )
    (snapshot_id,) = taken["volumeIdList"]
    snapshot = client.volume.get(entity_id=snapshot_id)
    assert (snapshot["ancestorVolumeId"], snapshot["accessModeLimit"]) == (
        volume["id"],
        "ReadOnly",
    )
    cloned = client.system.create_thin_clone(
        sim.system_id, [{"volumeId": snapshot_id, "snapshotName": "clone"}]
    )
    (clone_id,) = cloned["volumeIdList"]
    clone = client.volume.get(entity_id=clone_id)
    assert (clone["ancestorVolumeId"], clone["accessModeLimit"]) == (snapshot_id, "ReadWrite")
    assert clone["sizeInKb"] == 3 * GIB_KB
    client.volume.delete(volume["id"], "INCLUDING_DESCENDANTS")
    assert sim.state.volumes() == []


# ------------------------------------------------------------- statistics
@pytest.mark.parametrize("api_version", GEN1)
def test_gen1_statistics(at: Callable[[str], tuple[Simulator, Any]], api_version: str) -> None:
    sim, client = at(api_version)
    host1 = sim.sdcs["host1"]
    volume = client.volume.create(pool_id(sim), 8, name="counted", volume_type="ThickProvisioned")
    client.volume.add_mapped_sdc(volume["id"], sdc_id=host1.id)
    assert client.volume.get_statistics(volume["id"])["mappedSdcIds"] == [host1.id]
    selected = client.volume.query_selected_statistics(["numOfMappedSdcs"], ids=[volume["id"]])
    assert selected == {volume["id"]: {"numOfMappedSdcs": 1}}
    by_sdc = client.sdc.query_selected_statistics(["numOfMappedVolumes", "volumeIds"])
    assert by_sdc[host1.id] == {"numOfMappedVolumes": 1, "volumeIds": [volume["id"]]}
    pools = client.storage_pool.query_selected_statistics(["thickCapacityInUseInKb"])
    assert pools == {pool_id(sim): {"thickCapacityInUseInKb": 2 * 8 * GIB_KB}}
    system = client.system.query_selected_statistics(["numOfStoragePools"])
    assert system == {"numOfStoragePools": 1}


def test_gen2_statistics_are_metrics_in_bytes(
    at: Callable[[str], tuple[Simulator, Any]],
) -> None:
    sim, client = at("5.0")
    volume = client.volume.create(pool_id(sim), 5, name="measured")
    (answer,) = client.volume.get_statistics(volume["id"])["resources"]
    metrics = {m["name"]: m["values"][0] for m in answer["metrics"]}
    assert answer["id"] == volume["id"]
    assert metrics["logical_provisioned"] == 5 * 1024**3
    assert {"host_read_iops", "avg_host_write_latency", "logical_used"} <= set(metrics)
    pools = client.volume.query_metrics(
        "storage_pool", [pool_id(sim)], ["physical_total", "physical_free", "logical_provisioned"]
    )
    (pool,) = pools["resources"]
    values = {m["name"]: m["values"][0] for m in pool["metrics"]}
    assert values["logical_provisioned"] == 5 * 1024**3
    assert values["physical_total"] == 10240 * 1024**3


# ------------------------------------------------------- the wrong dialect
def other_generations_snapshot(client: Any, api_version: str) -> Callable[..., Any]:
    """The snapshot call of the generation this system is not."""
    if api_version == "5.0":
        return gen1.System(client.token, client.configuration).snapshot_volumes
    return gen2.System(client.token, client.configuration).create_snapshot


@pytest.mark.parametrize("api_version", ALL)
def test_the_other_generations_snapshot_call_fails(
    at: Callable[[str], tuple[Simulator, Any]], api_version: str
) -> None:
    sim, client = at(api_version)
    volume = client.volume.create(pool_id(sim), 8, name="base")
    snapshot = other_generations_snapshot(client, api_version)
    with pytest.raises(ppf_exceptions.PowerFlexClientException):
        snapshot(sim.system_id, [{"volumeId": volume["id"]}])
    assert [e.status for e in sim.request_log if "napshot" in e.path] == [404]
    assert len(sim.state.volumes()) == 1


def test_gen1_statistics_fail_on_a_5x_system(at: Callable[[str], tuple[Simulator, Any]]) -> None:
    sim, client = at("5.0")
    volume = client.volume.create(pool_id(sim), 8, name="base")
    gen1_volume = gen1.Volume(client.token, client.configuration)
    with pytest.raises(ppf_exceptions.PowerFlexFailQuerying):
        gen1_volume.query_selected_statistics(["numOfMappedSdcs"], ids=[volume["id"]])
