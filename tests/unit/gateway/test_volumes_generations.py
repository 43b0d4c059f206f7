"""Volume calls that differ by generation: 5.x Erasure Coding pools, 4.x/5.x mapping verbs.

Shapes: Dell's 5.0 Block Storage API file (``createThinClone`` and
``createSnapshot`` on ``System::{id}``, answer documented as ``{}``;
``addMappedHost`` with ``hostId``) and cinder's recorded 5.0 volume
(``query_sdc_volumes_response.json``: ``mappedSdcInfo`` entries with
``nqn``/``hostType``, ``nsid``, ``volumeClass``, nullable ids).
"""

from __future__ import annotations

import pytest

from sio_backend import exceptions
from sio_backend.gateway import MappedSdc

PD_BY_IDS = "/api/types/ProtectionDomain/instances/action/queryBySelectedIds"
CREATE = "/api/types/Volume/instances"
VOLUME_QUERY = "/api/types/Volume/instances/action/queryIdByKey"
CLONE_ID = "694a2d140000000c"
GIB = 1024 * 1024


@pytest.fixture
def ec_system(gateway):
    """A 5.0 system, its pool on an Erasure Coding protection domain."""
    gateway.get(gateway.url("/api/version"), text='"5.0"')
    gateway.get(gateway.url("/api/types/System/instances"), json=[{"id": gateway.SYSTEM_ID}])
    gateway.get(
        gateway.url(f"/api/instances/StoragePool::{gateway.POOL_ID}"),
        json={"id": gateway.POOL_ID, "protectionDomainId": gateway.PD_ID, "name": "ec"},
    )
    gateway.post(gateway.url(PD_BY_IDS), json=[{"id": gateway.PD_ID, "genType": "EC"}])
    return gateway


def system_action(gateway, verb: str) -> str:
    return gateway.url(f"/api/instances/System::{gateway.SYSTEM_ID}/action/{verb}")


def clone_defs(gateway, name: str = "snap1") -> dict:
    return {"snapshotDefs": [{"volumeId": gateway.VOLUME_ID, "snapshotName": name}]}


# -- snapshots ----------------------------------------------------------------


def test_an_ec_snapshot_is_a_thin_clone(ec_system, client):
    clone = system_action(ec_system, "createThinClone")
    ec_system.post(clone, json={"volumeIdList": [CLONE_ID]})

    made = client.snapshot_volume(ec_system.VOLUME_ID, "snap1", pool_id=ec_system.POOL_ID)

    assert made == CLONE_ID
    assert ec_system.bodies(clone) == [clone_defs(ec_system)]
    assert "snapshotVolumes" not in " ".join(ec_system.calls())


def test_an_empty_thin_clone_answer_is_resolved_by_name(ec_system, client):
    ec_system.post(system_action(ec_system, "createThinClone"), json={})
    ec_system.post(ec_system.url(VOLUME_QUERY), text=f'"{CLONE_ID}"')
    clone = ec_system.volume(
        CLONE_ID, name="snap1", volume_type="ThinProvisioned", ancestor_id=ec_system.VOLUME_ID
    )
    ec_system.get(ec_system.volume_url(CLONE_ID), json=clone)

    assert client.snapshot_volume(ec_system.VOLUME_ID, "snap1", pool_id=ec_system.POOL_ID) == (
        CLONE_ID
    )
    assert ec_system.bodies(ec_system.url(VOLUME_QUERY)) == [{"name": "snap1"}]


def test_an_empty_answer_and_no_such_volume_is_invalid(ec_system, client):
    ec_system.post(system_action(ec_system, "createThinClone"), text="")
    ec_system.post(ec_system.url(VOLUME_QUERY), text="")

    with pytest.raises(exceptions.InvalidResponse, match="without the new volume's id"):
        client.snapshot_volume(ec_system.VOLUME_ID, "snap1", pool_id=ec_system.POOL_ID)


def test_a_clone_of_another_source_is_a_conflict(ec_system, client):
    ec_system.post(system_action(ec_system, "createThinClone"), json={})
    ec_system.post(ec_system.url(VOLUME_QUERY), text=f'"{CLONE_ID}"')
    other = ec_system.volume(CLONE_ID, name="snap1", ancestor_id="a0a0a0a000000000")
    ec_system.get(ec_system.volume_url(CLONE_ID), json=other)

    with pytest.raises(exceptions.VolumeConflict, match="its source is a0a0a0a000000000"):
        client.snapshot_volume(ec_system.VOLUME_ID, "snap1", pool_id=ec_system.POOL_ID)


def test_without_a_pool_the_volume_is_read_to_find_it(ec_system, client):
    ec_system.get(ec_system.volume_url(), json=ec_system.volume())
    ec_system.post(system_action(ec_system, "createThinClone"), json={"volumeIdList": [CLONE_ID]})

    assert client.snapshot_volume(ec_system.VOLUME_ID, "snap1") == CLONE_ID
    assert f"GET /api/instances/Volume::{ec_system.VOLUME_ID}" in ec_system.calls()


def test_a_mirroring_pool_on_5x_keeps_snapshot_volumes(ec_system, client):
    ec_system.post(ec_system.url(PD_BY_IDS), json=[{"id": ec_system.PD_ID}])
    snapshot = system_action(ec_system, "snapshotVolumes")
    ec_system.post(snapshot, json={"snapshotGroupId": "g1", "volumeIdList": [CLONE_ID]})

    assert client.snapshot_volume(ec_system.VOLUME_ID, "s", pool_id=ec_system.POOL_ID) == CLONE_ID
    assert ec_system.bodies(snapshot) == [clone_defs(ec_system, "s")]


@pytest.mark.parametrize("version", ["3.5", "4.5"])
def test_older_systems_snapshot_without_asking_about_the_pool(ec_system, client, version):
    ec_system.get(ec_system.url("/api/version"), text=f'"{version}"')
    snapshot = system_action(ec_system, "snapshotVolumes")
    ec_system.post(snapshot, json={"snapshotGroupId": "g1", "volumeIdList": [CLONE_ID]})

    assert client.snapshot_volume(ec_system.VOLUME_ID, "s") == CLONE_ID
    assert [c for c in ec_system.calls() if "StoragePool" in c or "Domain" in c] == []


# -- create -------------------------------------------------------------------


def test_a_volume_on_an_ec_pool_is_created_without_compression_method(ec_system, client):
    ec_system.post(ec_system.url(CREATE), json={"id": CLONE_ID})

    client.create_volume("vol1", ec_system.POOL_ID, 8, thin=True)

    (body,) = ec_system.bodies(ec_system.url(CREATE))
    assert "compressionMethod" not in body
    assert body["storagePoolId"] == ec_system.POOL_ID


# -- mapping verbs ------------------------------------------------------------


def test_5x_maps_through_add_mapped_host(ec_system, client):
    add = ec_system.action(ec_system.VOLUME_ID, "addMappedHost")
    ec_system.post(add, json={})

    assert client.map_volume(ec_system.VOLUME_ID, ec_system.SDC_ID) is True
    assert ec_system.bodies(add) == [{"hostId": ec_system.SDC_ID, "allowMultipleMappings": "TRUE"}]


@pytest.mark.parametrize("code", ["4037", 81])
def test_5x_already_mapped_host_is_no_new_mapping(ec_system, client, code):
    add = ec_system.action(ec_system.VOLUME_ID, "addMappedHost")
    ec_system.post(add, **ec_system.error("The volume is already mapped", code))

    assert client.map_volume(ec_system.VOLUME_ID, ec_system.SDC_ID) is False


@pytest.mark.parametrize(
    ("version", "first", "then"),
    [("3.5", "addMappedSdc", "addMappedHost"), ("5.0", "addMappedHost", "addMappedSdc")],
)
def test_a_mapping_verb_the_gateway_does_not_serve_is_replaced_once(
    ec_system, client, version, first, then
):
    ec_system.get(ec_system.url("/api/version"), text=f'"{version}"')
    ec_system.post(ec_system.action(ec_system.VOLUME_ID, first), status_code=404, text="")
    ec_system.post(ec_system.action(ec_system.VOLUME_ID, then), json={})

    assert client.map_volume(ec_system.VOLUME_ID, ec_system.SDC_ID) is True
    assert client.map_volume(ec_system.VOLUME_ID, ec_system.SDC_ID) is True

    verbs = [c.rpartition("/")[2] for c in ec_system.calls() if "/action/addMapped" in c]
    assert verbs == [first, then, then]


def test_a_missing_volume_is_not_taken_for_an_unserved_verb(ec_system, client):
    add = ec_system.action(ec_system.VOLUME_ID, "addMappedHost")
    ec_system.post(add, **ec_system.error("Could not find the volume", 79))
    ec_system.get(ec_system.volume_url(), **ec_system.error("Could not find the volume", 79))

    with pytest.raises(exceptions.NotFound):
        client.map_volume(ec_system.VOLUME_ID, ec_system.SDC_ID)

    assert "addMappedSdc" not in " ".join(ec_system.calls())


# -- reading 5.x volumes ------------------------------------------------------

VOLUME_5_0 = {
    "managedBy": "ScaleIO",
    "snplIdOfSourceVolume": None,
    "mappedSdcInfo": [
        {
            "limitIops": 0,
            "limitBwInMbps": 0,
            "isDirectBufferMapping": False,
            "sdcId": "01f7117d0000000b",
            "sdcIp": "192.168.10.12",
            "sdcName": None,
            "accessMode": "ReadWrite",
            "nqn": None,
            "hostType": "SdcHost",
        },
        {
            "limitIops": 0,
            "limitBwInMbps": 0,
            "sdcId": "13bf22b500010004",
            "sdcIp": None,
            "sdcName": "host_6188",
            "nqn": "nqn.2014-08.org.nvmexpress:uuid:c470396a-2a3b-48ad-9c22-d3811fe1036d",
            "hostType": "NVMeHost",
        },
    ],
    "name": "yian_sdc_1",
    "storagePoolId": "fa85edfd00000000",
    "dataLayout": "MediumGranularity",
    "compressionMethod": "NotApplicable",
    "vtreeId": "2b713ee600000007",
    "sizeInKb": 8388608,
    "volumeClass": "defaultclass",
    "pairIds": None,
    "volumeType": "ThinProvisioned",
    "consistencyGroupId": None,
    "ancestorVolumeId": None,
    "autoSnapshotGroupId": None,
    "nsid": 12,
    "genType": "EC",
    "id": "694a2d140000000b",
    "links": [],
}


def test_a_5x_volume_with_an_nvme_mapping_is_read(gateway, client):
    gateway.get(gateway.volume_url("694a2d140000000b"), json=VOLUME_5_0)

    volume = client.get_volume("694a2d140000000b")

    assert volume.mapped_sdcs == (
        MappedSdc("01f7117d0000000b", "192.168.10.12", 0, 0),
        MappedSdc("13bf22b500010004", None, 0, 0),
    )
    assert (volume.size_gb, volume.ancestor_id, volume.pool_id) == (8, None, "fa85edfd00000000")


def test_an_unmapped_volume_has_null_mapped_sdc_info(gateway, client):
    gateway.get(gateway.volume_url("694a2d140000000b"), json={**VOLUME_5_0, "mappedSdcInfo": None})

    assert client.get_volume("694a2d140000000b").mapped_sdcs == ()


# -- sizes follow the pool ----------------------------------------------------


@pytest.mark.parametrize(("asked", "made"), [(10, 10), (1, 1), (17, 17)])
def test_volumes_on_an_ec_pool_come_in_1_gib_steps(ec_system, client, asked, made):
    ec_system.post(ec_system.url(CREATE), json={"id": CLONE_ID})

    volume = client.create_volume("vol1", ec_system.POOL_ID, asked, thin=True)

    assert volume.size_kb == made * GIB
    assert ec_system.bodies(ec_system.url(CREATE))[0]["volumeSizeInKb"] == str(made * GIB)


def test_a_volume_on_a_5x_mirroring_pool_keeps_8_gib_steps(ec_system, client):
    ec_system.post(ec_system.url(PD_BY_IDS), json=[{"id": ec_system.PD_ID}])
    ec_system.post(ec_system.url(CREATE), json={"id": CLONE_ID})

    assert client.create_volume("vol1", ec_system.POOL_ID, 10, thin=True).size_kb == 16 * GIB


def test_an_ec_volume_grows_in_1_gib_steps(ec_system, client):
    ec_system.get(
        ec_system.volume_url(),
        [{"json": ec_system.volume(size_gb=8)}, {"json": ec_system.volume(size_gb=11)}],
    )
    grow = ec_system.action(ec_system.VOLUME_ID, "setVolumeSize")
    ec_system.post(grow, json={})

    assert client.extend_volume(ec_system.VOLUME_ID, 11).size_gb == 11
    assert ec_system.bodies(grow) == [{"sizeInGB": "11"}]
