"""Volume operations, including replay safety of every change."""

from __future__ import annotations

import pytest
import requests

from sio_backend import exceptions
from sio_backend.gateway import MappedSdc, Volume

CREATE = "/api/types/Volume/instances"
VOLUME_QUERY = "/api/types/Volume/instances/action/queryIdByKey"
NEW_ID = "e5a8390300000024"
GIB = 1024 * 1024


@pytest.fixture
def volume_url(gateway):
    return gateway.volume_url()


def answer_lookup(gateway, volume_id=NEW_ID):
    gateway.post(gateway.url(VOLUME_QUERY), text=f'"{volume_id}"')


# -- create -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "sent"),
    [
        ((10, True), (16 * GIB, "ThinProvisioned")),
        ((8, False), (8 * GIB, "ThickProvisioned")),
        ((1, True), (8 * GIB, "ThinProvisioned")),
    ],
)
def test_create_volume_rounds_up_and_sends_strings(gateway, client, asked, sent):
    (size_gb, thin), (sent_kb, volume_type) = asked, sent
    gateway.post(gateway.url(CREATE), json={"id": NEW_ID})
    created = gateway.volume(NEW_ID, name="vol1", size_gb=sent_kb // GIB, volume_type=volume_type)
    gateway.get(gateway.volume_url(NEW_ID), json=created)

    volume = client.create_volume("vol1", gateway.POOL_ID, size_gb, thin=thin)

    assert gateway.bodies(gateway.url(CREATE)) == [
        {
            "storagePoolId": gateway.POOL_ID,
            "name": "vol1",
            "volumeType": volume_type,
            "volumeSizeInKb": str(sent_kb),
        }
    ]
    (post,) = [r for r in gateway.request_history if r.method == "POST"]
    assert post.headers["Content-Type"] == "application/json"
    assert volume.id == NEW_ID
    assert volume.size_kb == sent_kb


def test_created_volume_is_not_read_back(gateway, client):
    gateway.post(gateway.url(CREATE), json={"id": NEW_ID})

    volume = client.create_volume("vol1", gateway.POOL_ID, 9, thin=True)

    assert volume == Volume(
        id=NEW_ID,
        name="vol1",
        size_kb=16 * GIB,
        pool_id=gateway.POOL_ID,
        vtree_id=None,
        volume_type="ThinProvisioned",
        ancestor_id=None,
        mapped_sdcs=(),
    )
    assert [call for call in gateway.calls() if call.startswith("GET /api/instances")] == []


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "empty"),
        ("x" * 32, "32 characters"),
        ("has space", "whitespace"),
        ("tab\there", "whitespace"),
        ("caf\u00e9", "printable ASCII"),
    ],
)
def test_create_refuses_names_the_gateway_would_reject(gateway, client, name, problem):
    with pytest.raises(exceptions.InvalidVolumeName, match=problem):
        client.create_volume(name, gateway.POOL_ID, 8, thin=True)

    assert gateway.request_history == []


def test_create_accepts_31_character_base64_names(gateway, client):
    name = "abcd" + "oLHC0+T1SmuMfZ6PemtcTQ==" + "_x/"
    assert len(name) == 31
    gateway.post(gateway.url(CREATE), json={"id": NEW_ID})
    gateway.get(gateway.volume_url(NEW_ID), json=gateway.volume(NEW_ID, name=name))

    assert client.create_volume(name, gateway.POOL_ID, 8, thin=True).name == name


@pytest.mark.parametrize("size_gb", [0, -8])
def test_create_refuses_non_positive_sizes(gateway, client, size_gb):
    with pytest.raises(exceptions.InvalidArgument, match="size must be positive"):
        client.create_volume("vol1", gateway.POOL_ID, size_gb, thin=True)

    assert gateway.request_history == []


def failed_create(gateway, kind):
    """Make the create POST fail in a way that may hide a success."""
    if kind == "name in use":
        gateway.post(gateway.url(CREATE), **gateway.error("Volume name already in use", 99))
    elif kind == "timeout":
        gateway.post(gateway.url(CREATE), exc=requests.exceptions.ReadTimeout("lost"))
    elif kind == "dropped":
        gateway.post(gateway.url(CREATE), exc=requests.exceptions.ConnectionError("reset"))
    elif kind == "no id":
        gateway.post(gateway.url(CREATE), json={})
    elif kind == "replayed after 401":
        gateway.post(
            gateway.url(CREATE),
            [
                {"status_code": 401, "text": ""},
                gateway.error("Volume name already in use", 99),
            ],
        )


@pytest.mark.parametrize(
    "kind", ["name in use", "timeout", "dropped", "no id", "replayed after 401"]
)
def test_create_adopts_the_volume_it_asked_for(gateway, client, kind):
    failed_create(gateway, kind)
    answer_lookup(gateway)
    existing = gateway.volume(NEW_ID, name="vol1", size_gb=16, volume_type="ThickProvisioned")
    gateway.get(gateway.volume_url(NEW_ID), json=existing)

    volume = client.create_volume("vol1", gateway.POOL_ID, 9, thin=False)

    assert volume.id == NEW_ID
    assert gateway.bodies(gateway.url(VOLUME_QUERY)) == [{"name": "vol1"}]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"pool_id": "f00000000000000f"}, "storage pool f00000000000000f"),
        ({"size_gb": 24}, "size is 25165824 KiB, not 16777216 KiB"),
        ({"volume_type": "ThinProvisioned"}, "it is ThinProvisioned, not ThickProvisioned"),
        ({"name": "VOL1"}, "its name is 'VOL1'"),
    ],
)
def test_create_refuses_a_same_named_volume_that_differs(gateway, client, change, named):
    failed_create(gateway, "name in use")
    answer_lookup(gateway)
    existing = {
        "name": "vol1",
        "size_gb": 16,
        "volume_type": "ThickProvisioned",
        **change,
    }
    gateway.get(gateway.volume_url(NEW_ID), json=gateway.volume(NEW_ID, **existing))

    with pytest.raises(exceptions.VolumeConflict) as info:
        client.create_volume("vol1", gateway.POOL_ID, 16, thin=False)

    assert "'vol1'" in str(info.value)
    assert NEW_ID in str(info.value)
    assert named in str(info.value)
    assert isinstance(info.value.__cause__, exceptions.NameInUse)


@pytest.mark.parametrize("kind", ["name in use", "timeout"])
def test_exclusive_create_never_adopts(gateway, client, kind):
    failed_create(gateway, kind)
    answer_lookup(gateway)
    existing = gateway.volume(NEW_ID, name="vol1", size_gb=16, volume_type="ThickProvisioned")
    gateway.get(gateway.volume_url(NEW_ID), json=existing)

    with pytest.raises((exceptions.NameInUse, exceptions.GatewayUnavailable)):
        client.create_volume("vol1", gateway.POOL_ID, 16, thin=False, exclusive=True)

    assert gateway.bodies(gateway.url(VOLUME_QUERY)) == []


def test_create_failure_without_a_volume_is_raised(gateway, client):
    failed_create(gateway, "timeout")
    gateway.post(gateway.url(VOLUME_QUERY), **gateway.error("Not found", 3))

    with pytest.raises(exceptions.GatewayUnavailable, match="rest_request_timeout"):
        client.create_volume("vol1", gateway.POOL_ID, 8, thin=True)


def test_create_failure_is_raised_when_the_lookup_fails_too(gateway, client):
    failed_create(gateway, "timeout")
    gateway.post(gateway.url(VOLUME_QUERY), exc=requests.exceptions.ConnectionError("down"))

    with pytest.raises(exceptions.GatewayUnavailable) as info:
        client.create_volume("vol1", gateway.POOL_ID, 8, thin=True)

    assert info.value.path == CREATE


def test_create_refusals_are_not_looked_up(gateway, client):
    gateway.post(gateway.url(CREATE), **gateway.error("Request message is not valid", 0, 400))

    with pytest.raises(exceptions.BadRequest):
        client.create_volume("vol1", gateway.POOL_ID, 8, thin=True)

    assert f"POST {VOLUME_QUERY}" not in gateway.calls()


# -- lookups ----------------------------------------------------------------


def test_volume_id_by_name(gateway, client):
    answer_lookup(gateway)

    assert client.volume_id_by_name("vol/+=1") == NEW_ID
    assert gateway.bodies(gateway.url(VOLUME_QUERY)) == [{"name": "vol/+=1"}]


@pytest.mark.parametrize(
    "answer",
    [
        {"text": "null"},
        {"text": ""},
        {"text": '""'},
        {"status_code": 500, "json": {"errorCode": 3}},
    ],
)
def test_volume_id_by_unknown_name_is_none(gateway, client, answer):
    gateway.post(gateway.url(VOLUME_QUERY), **answer)

    assert client.volume_id_by_name("nope") is None
    assert client.find_volume("nope") is None


def test_volume_lookup_errors_other_than_not_found_are_raised(gateway, client):
    gateway.post(gateway.url(VOLUME_QUERY), status_code=500, text="<html>boom</html>")

    with pytest.raises(exceptions.GatewayError):
        client.volume_id_by_name("vol1")


def test_find_volume(gateway, client):
    answer_lookup(gateway)
    gateway.get(gateway.volume_url(NEW_ID), json=gateway.volume(NEW_ID))

    assert client.find_volume("vol1").id == NEW_ID


def test_find_volume_removed_between_lookup_and_get_is_none(gateway, client):
    answer_lookup(gateway)
    gateway.get(gateway.volume_url(NEW_ID), **gateway.error("Could not find the volume", 79))

    assert client.find_volume("vol1") is None


def test_get_volume_reads_every_field(gateway, client, volume_url):
    mapped = [gateway.mapping(iops=500, mbps=2048), gateway.mapping("s2")]
    gateway.get(
        volume_url,
        json=gateway.volume(size_gb=16, volume_type="ThickProvisioned", mapped=mapped),
    )

    volume = client.get_volume(gateway.VOLUME_ID)

    assert volume == Volume(
        id=gateway.VOLUME_ID,
        name="vol1",
        size_kb=16 * GIB,
        pool_id=gateway.POOL_ID,
        vtree_id=gateway.VTREE_ID,
        volume_type="ThickProvisioned",
        ancestor_id=None,
        mapped_sdcs=(
            MappedSdc(gateway.SDC_ID, "192.0.2.10", 500, 2048 * 1024),
            MappedSdc("s2", "192.0.2.10", 0, 0),
        ),
    )
    assert volume.size_gb == 16
    assert volume.thin is False
    assert volume.mapped_sdc_ids == frozenset({gateway.SDC_ID, "s2"})


@pytest.mark.parametrize("mapped", [None, []])
def test_unmapped_volume_has_no_mappings(gateway, client, volume_url, mapped):
    gateway.get(volume_url, json=gateway.volume(mapped=mapped))

    assert client.get_volume(gateway.VOLUME_ID).mapped_sdcs == ()


def test_snapshot_volume_reads_as_thin_with_its_ancestor(gateway, client, volume_url):
    body = gateway.volume(volume_type="Snapshot", ancestor_id="a1", name=None)
    del body["vtreeId"]
    gateway.get(volume_url, json=body)

    volume = client.get_volume(gateway.VOLUME_ID)

    assert volume.thin is True
    assert volume.ancestor_id == "a1"
    assert volume.name is None
    assert volume.vtree_id is None


def test_list_volumes_reads_every_volume(gateway, client):
    gateway.get(
        gateway.url(CREATE),
        json=[
            gateway.volume(mapped=[gateway.mapping()]),
            gateway.volume(NEW_ID, name=None, volume_type="Snapshot", ancestor_id="a1"),
        ],
    )

    first, second = client.list_volumes()

    assert (first.id, first.name, first.mapped_sdc_ids) == (
        gateway.VOLUME_ID,
        "vol1",
        frozenset({gateway.SDC_ID}),
    )
    assert (second.id, second.name, second.ancestor_id) == (NEW_ID, None, "a1")


def test_vtree_volumes_reads_the_base_and_its_snapshots(gateway, client):
    url = gateway.url(f"/api/instances/VTree::{gateway.VTREE_ID}/relationships/Volume")
    gateway.get(
        url,
        json=[
            gateway.volume(),
            gateway.volume(NEW_ID, name="s1", volume_type="Snapshot", ancestor_id="a1"),
        ],
    )

    base, snapshot = client.vtree_volumes(gateway.VTREE_ID)

    assert (base.id, snapshot.id, snapshot.ancestor_id) == (gateway.VOLUME_ID, NEW_ID, "a1")


@pytest.mark.parametrize("answer", [{"json": {"id": "x"}}, {"json": [{"name": "no id"}]}])
def test_malformed_volume_list_is_an_invalid_response(gateway, client, answer):
    gateway.get(gateway.url(CREATE), **answer)

    with pytest.raises(exceptions.InvalidResponse, match="GET"):
        client.list_volumes()


def test_missing_volume_is_not_found(gateway, client, volume_url):
    gateway.get(volume_url, **gateway.error("Could not find the volume", 79))

    with pytest.raises(exceptions.NotFound, match="Could not find the volume"):
        client.get_volume(gateway.VOLUME_ID)


# -- rename -----------------------------------------------------------------


def test_rename_volume(gateway, client):
    rename = gateway.action(gateway.VOLUME_ID, "setVolumeName")
    gateway.post(rename, text="")

    client.rename_volume(gateway.VOLUME_ID, "new-name")

    assert gateway.bodies(rename) == [{"newName": "new-name"}]


def test_rename_refuses_invalid_names(gateway, client):
    with pytest.raises(exceptions.InvalidVolumeName):
        client.rename_volume(gateway.VOLUME_ID, "bad name")
    assert gateway.request_history == []


def test_replayed_rename_that_took_effect_succeeds(gateway, client, volume_url):
    rename = gateway.action(gateway.VOLUME_ID, "setVolumeName")
    gateway.post(rename, **gateway.error("Volume name already in use", 99))
    gateway.get(volume_url, json=gateway.volume(name="new-name"))

    client.rename_volume(gateway.VOLUME_ID, "new-name")


def test_rename_to_a_name_held_by_another_volume_fails(gateway, client, volume_url):
    rename = gateway.action(gateway.VOLUME_ID, "setVolumeName")
    gateway.post(rename, **gateway.error("Volume name already in use", 99))
    gateway.get(volume_url, json=gateway.volume(name="old-name"))

    with pytest.raises(exceptions.NameInUse):
        client.rename_volume(gateway.VOLUME_ID, "new-name")


# -- extend -----------------------------------------------------------------


@pytest.mark.parametrize(("asked", "sent"), [(10, "16"), (16, "16"), (17, "24")])
def test_extend_volume_rounds_up_to_8(gateway, client, volume_url, asked, sent):
    resize = gateway.action(gateway.VOLUME_ID, "setVolumeSize")
    gateway.post(resize, text="")
    gateway.get(
        volume_url, [{"json": gateway.volume(size_gb=8)}, {"json": gateway.volume(size_gb=24)}]
    )

    volume = client.extend_volume(gateway.VOLUME_ID, asked)

    assert gateway.bodies(resize) == [{"sizeInGB": sent}]
    assert volume.size_gb == 24  # the re-read volume


@pytest.mark.parametrize("asked", [9, 16])
def test_extend_to_the_current_rounded_size_does_nothing(gateway, client, volume_url, asked):
    gateway.get(volume_url, json=gateway.volume(size_gb=16))

    assert client.extend_volume(gateway.VOLUME_ID, asked).size_gb == 16
    # The version, read once per client, says whether the pool could be Erasure Coding.
    assert gateway.calls() == [
        "GET /api/login",
        f"GET {gateway.volume_url()[len(gateway.BASE) :]}",
        "GET /api/version",
    ]


def test_extend_never_shrinks(gateway, client, volume_url):
    gateway.get(volume_url, json=gateway.volume(size_gb=32))

    with pytest.raises(exceptions.ShrinkNotAllowed) as info:
        client.extend_volume(gateway.VOLUME_ID, 20)

    assert "is 32 GiB" in str(info.value)
    assert "20 GiB (rounded up to 24 GiB)" in str(info.value)
    assert gateway.VOLUME_ID in str(info.value)


def test_extend_refuses_non_positive_sizes(gateway, client):
    with pytest.raises(exceptions.InvalidArgument):
        client.extend_volume(gateway.VOLUME_ID, 0)


def test_extend_that_failed_after_taking_effect_succeeds(gateway, client, volume_url):
    resize = gateway.action(gateway.VOLUME_ID, "setVolumeSize")
    gateway.post(resize, exc=requests.exceptions.ReadTimeout("lost"))
    gateway.get(
        volume_url, [{"json": gateway.volume(size_gb=8)}, {"json": gateway.volume(size_gb=16)}]
    )

    assert client.extend_volume(gateway.VOLUME_ID, 16).size_gb == 16


def test_extend_that_failed_is_raised(gateway, client, volume_url):
    resize = gateway.action(gateway.VOLUME_ID, "setVolumeSize")
    gateway.post(resize, **gateway.error("Volume capacity can only be increased", 133, 400))
    gateway.get(volume_url, json=gateway.volume(size_gb=8))

    with pytest.raises(exceptions.ShrinkNotAllowed):
        client.extend_volume(gateway.VOLUME_ID, 16)


# -- remove -----------------------------------------------------------------


def test_remove_unmapped_volume(gateway, client, volume_url):
    remove = gateway.action(gateway.VOLUME_ID, "removeVolume")
    gateway.get(volume_url, json=gateway.volume(mapped=None))
    gateway.post(remove, text="")

    client.remove_volume(gateway.VOLUME_ID)

    assert gateway.bodies(remove) == [{"removeMode": "ONLY_ME"}]
    assert "removeMappedSdc" not in " ".join(gateway.calls())


def test_remove_mapped_volume_unmaps_every_sdc_first(gateway, client, volume_url):
    unmap = gateway.action(gateway.VOLUME_ID, "removeMappedSdc")
    remove = gateway.action(gateway.VOLUME_ID, "removeVolume")
    gateway.get(volume_url, json=gateway.volume(mapped=[gateway.mapping()]))
    gateway.post(unmap, text="")
    gateway.post(remove, text="")

    client.remove_volume(gateway.VOLUME_ID)

    assert gateway.bodies(unmap) == [{"allSdcs": ""}]
    assert [c.rsplit("/", 1)[-1] for c in gateway.calls()[-2:]] == [
        "removeMappedSdc",
        "removeVolume",
    ]


@pytest.mark.parametrize("mapped", [True, False])
def test_remove_trusts_the_callers_knowledge_of_mappings(gateway, client, mapped):
    unmap = gateway.action(gateway.VOLUME_ID, "removeMappedSdc")
    remove = gateway.action(gateway.VOLUME_ID, "removeVolume")
    gateway.post(unmap, **gateway.error("Volume is not mapped to SDC", 84))
    gateway.post(remove, text="")

    client.remove_volume(gateway.VOLUME_ID, mapped=mapped)

    verbs = [call.rsplit("/", 1)[-1] for call in gateway.calls() if call != "GET /api/login"]
    assert verbs == (["removeMappedSdc", "removeVolume"] if mapped else ["removeVolume"])


def test_remove_of_a_missing_volume_succeeds(gateway, client, volume_url):
    gateway.get(volume_url, **gateway.error("Could not find the volume", 79))

    client.remove_volume(gateway.VOLUME_ID)

    assert all(not c.startswith("POST") for c in gateway.calls())


@pytest.mark.parametrize("verb", ["removeMappedSdc", "removeVolume"])
def test_volume_vanishing_during_remove_is_success(gateway, client, volume_url, verb):
    gateway.get(volume_url, json=gateway.volume(mapped=[gateway.mapping()]))
    gateway.post(gateway.action(gateway.VOLUME_ID, "removeMappedSdc"), text="")
    gateway.post(gateway.action(gateway.VOLUME_ID, verb), **gateway.error("Not found", 79))
    gateway.post(gateway.action(gateway.VOLUME_ID, "removeVolume"), **gateway.error("x", 79))

    client.remove_volume(gateway.VOLUME_ID)


def test_remove_that_took_effect_despite_a_timeout_succeeds(gateway, client, volume_url):
    gateway.get(
        volume_url,
        [{"json": gateway.volume()}, gateway.error("Could not find the volume", 79)],
    )
    remove = gateway.action(gateway.VOLUME_ID, "removeVolume")
    gateway.post(remove, exc=requests.exceptions.ReadTimeout("lost"))

    client.remove_volume(gateway.VOLUME_ID)


def test_remove_of_a_volume_mapped_meanwhile_fails(gateway, client, volume_url):
    gateway.get(volume_url, json=gateway.volume())
    remove = gateway.action(gateway.VOLUME_ID, "removeVolume")
    gateway.post(remove, **gateway.error("Volume is mapped", 104))

    with pytest.raises(exceptions.VolumeMapped):
        client.remove_volume(gateway.VOLUME_ID)


def test_remove_failure_is_raised_when_the_check_fails_too(gateway, client, volume_url):
    gateway.get(
        volume_url,
        [{"json": gateway.volume()}, {"exc": requests.exceptions.ConnectionError("down")}],
    )
    remove = gateway.action(gateway.VOLUME_ID, "removeVolume")
    gateway.post(remove, exc=requests.exceptions.ReadTimeout("lost"))

    with pytest.raises(exceptions.GatewayUnavailable) as info:
        client.remove_volume(gateway.VOLUME_ID)

    assert info.value.path.endswith("removeVolume")


# -- map and unmap ----------------------------------------------------------


@pytest.mark.parametrize(("allow", "sent"), [(True, "TRUE"), (False, "FALSE")])
def test_map_volume(gateway, client, allow, sent):
    add = gateway.action(gateway.VOLUME_ID, "addMappedSdc")
    gateway.post(add, text="")

    client.map_volume(gateway.VOLUME_ID, gateway.SDC_ID, allow_multiple=allow)

    assert gateway.bodies(add) == [{"sdcId": gateway.SDC_ID, "allowMultipleMappings": sent}]


def test_map_volume_defaults_to_multiple_mappings(gateway, client):
    add = gateway.action(gateway.VOLUME_ID, "addMappedSdc")
    gateway.post(add, text="")

    client.map_volume(gateway.VOLUME_ID, gateway.SDC_ID)

    assert gateway.bodies(add)[0]["allowMultipleMappings"] == "TRUE"


@pytest.mark.parametrize("code", [81, 4037])
def test_map_to_an_sdc_already_mapped_succeeds(gateway, client, code):
    gateway.post(gateway.action(gateway.VOLUME_ID, "addMappedSdc"), **gateway.error("x", code))

    client.map_volume(gateway.VOLUME_ID, gateway.SDC_ID)


def test_map_failure_with_our_sdc_already_mapped_succeeds(gateway, client, volume_url):
    gateway.post(
        gateway.action(gateway.VOLUME_ID, "addMappedSdc"),
        **gateway.error("Only a single SDC may be mapped to this volume at a time", 306),
    )
    gateway.get(volume_url, json=gateway.volume(mapped=[gateway.mapping()]))

    client.map_volume(gateway.VOLUME_ID, gateway.SDC_ID, allow_multiple=False)


def test_map_to_a_volume_mapped_elsewhere_fails(gateway, client, volume_url):
    gateway.post(
        gateway.action(gateway.VOLUME_ID, "addMappedSdc"),
        **gateway.error("Only a single SDC may be mapped to this volume at a time", 306),
    )
    gateway.get(volume_url, json=gateway.volume(mapped=[gateway.mapping("other")]))

    with pytest.raises(exceptions.SingleMappingOnly):
        client.map_volume(gateway.VOLUME_ID, gateway.SDC_ID, allow_multiple=False)


def test_map_of_a_missing_volume_is_not_found(gateway, client, volume_url):
    gateway.post(
        gateway.action(gateway.VOLUME_ID, "addMappedSdc"),
        **gateway.error("Could not find the volume", 79),
    )
    gateway.get(volume_url, **gateway.error("Could not find the volume", 79))

    with pytest.raises(exceptions.NotFound):
        client.map_volume(gateway.VOLUME_ID, gateway.SDC_ID)


@pytest.mark.parametrize(("sdc_id", "sent"), [("s1", {"sdcId": "s1"}), (None, {"allSdcs": ""})])
def test_unmap_volume(gateway, client, sdc_id, sent):
    unmap = gateway.action(gateway.VOLUME_ID, "removeMappedSdc")
    gateway.post(unmap, text="")

    client.unmap_volume(gateway.VOLUME_ID, sdc_id)

    assert gateway.bodies(unmap) == [sent]


@pytest.mark.parametrize("code", [84, 4039])
def test_unmap_of_an_unmapped_volume_succeeds(gateway, client, code):
    gateway.post(gateway.action(gateway.VOLUME_ID, "removeMappedSdc"), **gateway.error("x", code))

    client.unmap_volume(gateway.VOLUME_ID, gateway.SDC_ID)


@pytest.mark.parametrize(
    ("request_and_state", "succeeds"),
    [
        (("s1", ["s2"]), True),
        (("s1", ["s1"]), False),
        ((None, []), True),
        ((None, ["s2"]), False),
    ],
)
def test_unmap_failure_is_judged_by_the_volume_state(
    gateway, client, volume_url, request_and_state, succeeds
):
    sdc_id, mapped = request_and_state
    gateway.post(
        gateway.action(gateway.VOLUME_ID, "removeMappedSdc"),
        exc=requests.exceptions.ReadTimeout("lost"),
    )
    gateway.get(volume_url, json=gateway.volume(mapped=[gateway.mapping(s) for s in mapped]))

    if succeeds:
        client.unmap_volume(gateway.VOLUME_ID, sdc_id)
    else:
        with pytest.raises(exceptions.GatewayUnavailable):
            client.unmap_volume(gateway.VOLUME_ID, sdc_id)


# -- QoS --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "sent"),
    [
        ({"iops_limit": 11}, {"iopsLimit": "11"}),
        ({"iops_limit": 0}, {"iopsLimit": "0"}),
        ({"bandwidth_limit_kbps": 2048}, {"bandwidthLimitInKbps": "2048"}),
        (
            {"iops_limit": 500, "bandwidth_limit_kbps": 0},
            {"iopsLimit": "500", "bandwidthLimitInKbps": "0"},
        ),
    ],
)
def test_set_sdc_limits_sends_only_the_given_limits(gateway, client, limits, sent):
    qos = gateway.action(gateway.VOLUME_ID, "setMappedSdcLimits")
    gateway.post(qos, text="")

    client.set_sdc_limits(gateway.VOLUME_ID, gateway.SDC_ID, **limits)

    assert gateway.bodies(qos) == [{"sdcId": gateway.SDC_ID, **sent}]


def test_set_sdc_limits_without_limits_sends_nothing(gateway, client):
    client.set_sdc_limits(gateway.VOLUME_ID, gateway.SDC_ID)

    assert gateway.request_history == []


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"iops_limit": 10}, "more than 10"),
        ({"iops_limit": 1}, "more than 10"),
        ({"iops_limit": -1}, "more than 10"),
        ({"bandwidth_limit_kbps": 1000}, "multiple of 1024"),
        ({"bandwidth_limit_kbps": -1024}, "multiple of 1024"),
    ],
)
def test_set_sdc_limits_refuses_values_powerflex_rejects(gateway, client, limits, message):
    with pytest.raises(exceptions.InvalidArgument, match=message):
        client.set_sdc_limits(gateway.VOLUME_ID, gateway.SDC_ID, **limits)

    assert gateway.request_history == []


# -- snapshots and revert -----------------------------------------------------


@pytest.fixture
def snapshot_url(gateway):
    gateway.get(gateway.url("/api/types/System/instances"), json=[{"id": gateway.SYSTEM_ID}])
    return gateway.url(f"/api/instances/System::{gateway.SYSTEM_ID}/action/snapshotVolumes")


def test_snapshot_volume(gateway, client, snapshot_url):
    gateway.post(snapshot_url, json={"snapshotGroupId": "g1", "volumeIdList": [NEW_ID]})

    assert client.snapshot_volume(gateway.VOLUME_ID, "snap1") == NEW_ID
    assert gateway.bodies(snapshot_url) == [
        {"snapshotDefs": [{"volumeId": gateway.VOLUME_ID, "snapshotName": "snap1"}]}
    ]


def test_snapshot_limit_is_its_own_error(gateway, client, snapshot_url):
    gateway.post(
        snapshot_url,
        **gateway.error("Error with details", 6, details=[{"rc": 182, "errorMessage": "Too many"}]),
    )

    with pytest.raises(exceptions.SnapshotLimit):
        client.snapshot_volume(gateway.VOLUME_ID, "snap1")


def test_replayed_snapshot_adopts_its_snapshot(gateway, client, snapshot_url):
    gateway.post(snapshot_url, **gateway.error("Volume name already in use", 99))
    answer_lookup(gateway)
    snapshot = gateway.volume(
        NEW_ID, name="snap1", volume_type="Snapshot", ancestor_id=gateway.VOLUME_ID
    )
    gateway.get(gateway.volume_url(NEW_ID), json=snapshot)

    assert client.snapshot_volume(gateway.VOLUME_ID, "snap1") == NEW_ID


@pytest.mark.parametrize(
    ("existing", "named"),
    [
        ({"volume_type": "ThinProvisioned"}, "not a snapshot"),
        ({"volume_type": "Snapshot", "ancestor_id": "other"}, "its source is other"),
    ],
)
def test_snapshot_name_held_by_something_else_conflicts(
    gateway, client, snapshot_url, existing, named
):
    gateway.post(snapshot_url, exc=requests.exceptions.ReadTimeout("lost"))
    answer_lookup(gateway)
    gateway.get(gateway.volume_url(NEW_ID), json=gateway.volume(NEW_ID, name="snap1", **existing))

    with pytest.raises(exceptions.VolumeConflict, match=named):
        client.snapshot_volume(gateway.VOLUME_ID, "snap1")


@pytest.mark.parametrize("answer", [{}, {"volumeIdList": []}, {"volumeIdList": [7]}, []])
def test_snapshot_answer_without_an_id_is_invalid(gateway, client, snapshot_url, answer):
    gateway.post(snapshot_url, json=answer)
    gateway.post(gateway.url(VOLUME_QUERY), json=None)

    with pytest.raises(exceptions.InvalidResponse) as info:
        client.snapshot_volume(gateway.VOLUME_ID, "snap1")

    assert info.value.path.endswith("snapshotVolumes")


def test_snapshot_refuses_invalid_names(gateway, client):
    with pytest.raises(exceptions.InvalidVolumeName):
        client.snapshot_volume(gateway.VOLUME_ID, "x" * 40)


def test_overwrite_volume_content(gateway, client):
    overwrite = gateway.action(gateway.VOLUME_ID, "overwriteVolumeContent")
    gateway.post(overwrite, text="")

    client.overwrite_volume_content(gateway.VOLUME_ID, NEW_ID)

    assert gateway.bodies(overwrite) == [{"srcVolumeId": NEW_ID}]


# -- V-Tree migration ---------------------------------------------------------

DEST_POOL = "c0ffee0000000002"


@pytest.fixture
def vtree_url(gateway):
    return gateway.url(f"/api/instances/VTree::{gateway.VTREE_ID}")


def vtree(status, pause=None):
    return {
        "json": {
            "id": "vt00000001",
            "vtreeMigrationInfo": {"migrationStatus": status, "migrationPauseReason": pause},
        }
    }


def test_migrate_vtree_waits_until_done(gateway, client, volume_url, vtree_url, sleeps):
    migrate = gateway.action(gateway.VOLUME_ID, "migrateVTree")
    gateway.post(migrate, text="")
    gateway.get(
        volume_url, [{"json": gateway.volume()}, {"json": gateway.volume(pool_id=DEST_POOL)}]
    )
    gateway.get(
        vtree_url,
        [vtree("MigrationQueued"), vtree("Migrating"), vtree("NotInMigration")],
    )

    client.migrate_vtree(gateway.VOLUME_ID, DEST_POOL, conversion="ThickToThin", poll_interval=5)

    assert gateway.bodies(migrate) == [{"destSPId": DEST_POOL, "volTypeConversion": "ThickToThin"}]
    assert sleeps == [5, 5]


def test_migrate_vtree_of_a_volume_in_the_pool_does_nothing(gateway, client, volume_url):
    gateway.get(volume_url, json=gateway.volume(pool_id=DEST_POOL))

    client.migrate_vtree(gateway.VOLUME_ID, DEST_POOL)

    assert gateway.calls() == ["GET /api/login", f"GET {volume_url[len(gateway.BASE) :]}"]


def test_migrate_vtree_answered_already_in_the_pool_is_done(gateway, client, volume_url, sleeps):
    gateway.get(volume_url, json=gateway.volume())
    migrate = gateway.action(gateway.VOLUME_ID, "migrateVTree")
    gateway.post(migrate, **gateway.error("x", 718))

    client.migrate_vtree(gateway.VOLUME_ID, DEST_POOL)

    assert len(gateway.bodies(migrate)) == 1
    assert sleeps == []
    assert "/api/instances/VTree::" not in " ".join(gateway.calls())


def test_migrate_vtree_in_progress_is_waited_for(gateway, client, volume_url, vtree_url):
    gateway.get(
        volume_url, [{"json": gateway.volume()}, {"json": gateway.volume(pool_id=DEST_POOL)}]
    )
    gateway.post(gateway.action(gateway.VOLUME_ID, "migrateVTree"), **gateway.error("x", 717))
    gateway.get(vtree_url, [vtree("Migrating"), vtree("NotInMigration")])

    client.migrate_vtree(gateway.VOLUME_ID, DEST_POOL)


def test_migrate_vtree_times_out_naming_the_volume(gateway, client, volume_url, vtree_url, sleeps):
    gateway.get(volume_url, json=gateway.volume())
    gateway.post(gateway.action(gateway.VOLUME_ID, "migrateVTree"), text="")
    gateway.get(vtree_url, **vtree("Migrating"))

    with pytest.raises(exceptions.MigrationInProgress) as info:
        client.migrate_vtree(gateway.VOLUME_ID, DEST_POOL, poll_interval=10, timeout=60)

    assert gateway.VOLUME_ID in str(info.value)
    assert "60 s" in str(info.value)
    assert sum(sleeps) == 60


def test_paused_migration_fails_at_once(gateway, client, volume_url, vtree_url, sleeps):
    gateway.get(volume_url, json=gateway.volume())
    gateway.post(gateway.action(gateway.VOLUME_ID, "migrateVTree"), text="")
    gateway.get(vtree_url, **vtree("Migrating", pause="RebuildInProgress"))

    with pytest.raises(exceptions.GatewayError, match="paused \\(RebuildInProgress\\)"):
        client.migrate_vtree(gateway.VOLUME_ID, DEST_POOL)
    assert sleeps == []


def test_migration_that_ends_elsewhere_fails(gateway, client, volume_url, vtree_url):
    gateway.get(volume_url, json=gateway.volume())
    gateway.post(gateway.action(gateway.VOLUME_ID, "migrateVTree"), text="")
    gateway.get(vtree_url, **vtree("NotInMigration"))

    with pytest.raises(exceptions.GatewayError, match=f"still in pool {gateway.POOL_ID}"):
        client.migrate_vtree(gateway.VOLUME_ID, DEST_POOL)


def test_migration_refuses_unknown_conversions(gateway, client):
    with pytest.raises(exceptions.InvalidArgument, match="ThinToThick"):
        client.migrate_vtree(gateway.VOLUME_ID, DEST_POOL, conversion="Sideways")
    assert gateway.request_history == []


def test_migration_of_a_volume_without_vtree_is_refused(gateway, client, volume_url):
    gateway.get(volume_url, json=gateway.volume(vtree_id=None))

    with pytest.raises(exceptions.InvalidResponse, match="no vtreeId"):
        client.migrate_vtree(gateway.VOLUME_ID, DEST_POOL)


def test_malformed_migration_info_is_invalid(gateway, client, volume_url, vtree_url):
    gateway.get(volume_url, json=gateway.volume())
    gateway.post(gateway.action(gateway.VOLUME_ID, "migrateVTree"), text="")
    gateway.get(vtree_url, json={"vtreeMigrationInfo": "Migrating"})

    with pytest.raises(exceptions.InvalidResponse, match="vtreeMigrationInfo"):
        client.migrate_vtree(gateway.VOLUME_ID, DEST_POOL)


def test_get_vtree(gateway, client, vtree_url):
    gateway.get(vtree_url, **vtree("NotInMigration"))

    assert client.get_vtree(gateway.VTREE_ID)["vtreeMigrationInfo"]["migrationStatus"] == (
        "NotInMigration"
    )
