"""Whatever a 200 answer holds, every client method ends in a value or a GatewayError.

A proxy's HTML page, a truncated body, a list where an object belongs, a size
sent as text or an id that is null must never surface as a KeyError,
TypeError or ValueError from deep inside the client.  Each public method
that reads an answer is driven with one of its answers replaced, by fixed
bodies and by Hypothesis-made ones (arbitrary JSON, and good objects with
one field changed or dropped); an :class:`InvalidResponse` must name the
request it came from.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests_mock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sio_backend import exceptions
from sio_backend.gateway import GatewayClient

VOLUME_ID = "d4f7289200000023"
POOL_ID = "b7f4d8a600000001"
DEST_POOL_ID = "b7f4d8a600000002"
PD_ID = "9300c1f900000000"
SDC_ID = "a2b7cc6300000000"
SYSTEM_ID = "00df72815d3b900f"
VTREE_ID = "vt00000001"
GUID = "0C5A9F4E-9B5C-4D4E-8E4F-1E2D3C4B5A69"
GIB_KB = 1024 * 1024

VOLUME = {
    "id": VOLUME_ID,
    "name": "vol1",
    "sizeInKb": 8 * GIB_KB,
    "storagePoolId": POOL_ID,
    "vtreeId": VTREE_ID,
    "volumeType": "ThinProvisioned",
    "ancestorVolumeId": None,
    "mappedSdcInfo": [{"sdcId": SDC_ID, "sdcIp": "192.0.2.10", "limitIops": 0, "limitBwInMbps": 0}],
}
SDC = {
    "id": SDC_ID,
    "sdcGuid": GUID,
    "sdcIp": "192.0.2.10",
    "name": "host1",
    "mdmConnectionState": "Connected",
}
POOL = {
    "id": POOL_ID,
    "name": "sp1",
    "protectionDomainId": PD_ID,
    "zeroPaddingEnabled": True,
    "dataLayout": "MediumGranularity",
}
STATISTICS = {
    POOL_ID: {
        "netCapacityInUseInKb": 100,
        "netUnusedCapacityInKb": 900,
        "thickCapacityInUseInKb": 10,
        "snapshotCapacityInKb": 0,
        "thinCapacityAllocatedInKb": 20,
    }
}
VTREE = {"id": VTREE_ID, "vtreeMigrationInfo": {"migrationStatus": "NotInMigration"}}


def volume_action(action: str) -> tuple[str, str]:
    return "POST", f"/api/instances/Volume::{VOLUME_ID}/action/{action}"


def query(type_name: str) -> tuple[str, str]:
    return "POST", f"/api/types/{type_name}/instances/action/queryIdByKey"


GET_VOLUME = ("GET", f"/api/instances/Volume::{VOLUME_ID}")
SYSTEMS = ("GET", "/api/types/System/instances")
SDCS = ("GET", "/api/types/Sdc/instances")
GET_VTREE = ("GET", f"/api/instances/VTree::{VTREE_ID}")
SNAPSHOT_ID = "d4f7289200000024"
SNAPSHOT = {
    **VOLUME,
    "id": SNAPSHOT_ID,
    "name": "snap1",
    "volumeType": "Snapshot",
    "ancestorVolumeId": VOLUME_ID,
    "mappedSdcInfo": None,
}
GET_SNAPSHOT = ("GET", f"/api/instances/Volume::{SNAPSHOT_ID}")


@dataclass(frozen=True)
class Scenario:
    """One client call; ``target``'s answer is replaced, ``answers`` are the good ones."""

    call: Callable[[GatewayClient], Any]
    target: tuple[str, str]
    good: Any
    answers: dict[tuple[str, str], Any] = field(default_factory=dict)
    # Adopting a volume after a failed create: one that differs is a conflict.
    conflict_possible: bool = False


SCENARIOS = {
    "api_version": Scenario(lambda c: c.api_version(), ("GET", "/api/version"), "3.5"),
    "system_id": Scenario(lambda c: c.system_id(), SYSTEMS, [{"id": SYSTEM_ID}]),
    "protection_domain_id": Scenario(
        lambda c: c.protection_domain_id("pd1"), query("ProtectionDomain"), PD_ID
    ),
    "storage_pool_id": Scenario(
        lambda c: c.storage_pool_id("pd1", "sp1"),
        query("StoragePool"),
        POOL_ID,
        {query("ProtectionDomain"): PD_ID},
    ),
    "get_storage_pool": Scenario(
        lambda c: c.get_storage_pool(POOL_ID),
        ("GET", f"/api/instances/StoragePool::{POOL_ID}"),
        POOL,
    ),
    "pool_capacity": Scenario(
        lambda c: c.pool_capacity(POOL_ID),
        ("POST", "/api/types/StoragePool/instances/action/querySelectedStatistics"),
        STATISTICS,
    ),
    "create_volume": Scenario(
        lambda c: c.create_volume("vol1", POOL_ID, 8, thin=True),
        ("POST", "/api/types/Volume/instances"),
        {"id": VOLUME_ID},
        {query("Volume"): VOLUME_ID, GET_VOLUME: VOLUME},
    ),
    "create_volume, then adopt": Scenario(
        lambda c: c.create_volume("vol1", POOL_ID, 8, thin=True),
        GET_VOLUME,
        VOLUME,
        {("POST", "/api/types/Volume/instances"): "<html>", query("Volume"): VOLUME_ID},
        conflict_possible=True,
    ),
    "volume_id_by_name": Scenario(
        lambda c: c.volume_id_by_name("vol1"), query("Volume"), VOLUME_ID
    ),
    "find_volume": Scenario(
        lambda c: c.find_volume("vol1"), GET_VOLUME, VOLUME, {query("Volume"): VOLUME_ID}
    ),
    "get_volume": Scenario(lambda c: c.get_volume(VOLUME_ID), GET_VOLUME, VOLUME),
    "list_volumes": Scenario(
        lambda c: c.list_volumes(), ("GET", "/api/types/Volume/instances"), [VOLUME]
    ),
    "rename_volume": Scenario(
        lambda c: c.rename_volume(VOLUME_ID, "vol1"),
        volume_action("setVolumeName"),
        {},
        {GET_VOLUME: VOLUME},
    ),
    "extend_volume": Scenario(
        lambda c: c.extend_volume(VOLUME_ID, 16),
        GET_VOLUME,
        VOLUME,
        {volume_action("setVolumeSize"): {}},
    ),
    "extend_volume, its answer": Scenario(
        lambda c: c.extend_volume(VOLUME_ID, 16),
        volume_action("setVolumeSize"),
        {},
        {GET_VOLUME: VOLUME},
    ),
    "remove_volume": Scenario(
        lambda c: c.remove_volume(VOLUME_ID),
        GET_VOLUME,
        VOLUME,
        {volume_action("removeMappedSdc"): {}, volume_action("removeVolume"): {}},
    ),
    "map_volume": Scenario(
        lambda c: c.map_volume(VOLUME_ID, SDC_ID),
        volume_action("addMappedSdc"),
        {},
        {GET_VOLUME: VOLUME},
    ),
    "unmap_volume": Scenario(
        lambda c: c.unmap_volume(VOLUME_ID, SDC_ID),
        volume_action("removeMappedSdc"),
        {},
        {GET_VOLUME: VOLUME},
    ),
    "set_sdc_limits": Scenario(
        lambda c: c.set_sdc_limits(VOLUME_ID, SDC_ID, iops_limit=100),
        volume_action("setMappedSdcLimits"),
        {},
    ),
    "snapshot_volume": Scenario(
        lambda c: c.snapshot_volume(VOLUME_ID, "snap1"),
        ("POST", f"/api/instances/System::{SYSTEM_ID}/action/snapshotVolumes"),
        {"volumeIdList": [VOLUME_ID]},
        {SYSTEMS: [{"id": SYSTEM_ID}], query("Volume"): SNAPSHOT_ID, GET_SNAPSHOT: SNAPSHOT},
    ),
    "overwrite_volume_content": Scenario(
        lambda c: c.overwrite_volume_content(VOLUME_ID, "d4f7289200000024"),
        volume_action("overwriteVolumeContent"),
        {},
    ),
    "vtree_volumes": Scenario(
        lambda c: c.vtree_volumes(VTREE_ID),
        ("GET", f"/api/instances/VTree::{VTREE_ID}/relationships/Volume"),
        [VOLUME],
    ),
    "get_vtree": Scenario(lambda c: c.get_vtree(VTREE_ID), GET_VTREE, VTREE),
    "migrate_vtree": Scenario(
        lambda c: c.migrate_vtree(VOLUME_ID, DEST_POOL_ID, poll_interval=1, timeout=1),
        GET_VTREE,
        VTREE,
        {GET_VOLUME: VOLUME, volume_action("migrateVTree"): {}},
    ),
    "list_sdcs": Scenario(lambda c: c.list_sdcs(), SDCS, [SDC]),
    "get_sdc": Scenario(lambda c: c.get_sdc(SDC_ID), ("GET", f"/api/instances/Sdc::{SDC_ID}"), SDC),
    "sdc_by_guid": Scenario(lambda c: c.sdc_by_guid(GUID), SDCS, [SDC]),
    "sdc_by_ip": Scenario(
        lambda c: c.sdc_by_ip("192.0.2.10"),
        query("Sdc"),
        SDC_ID,
        {("GET", f"/api/instances/Sdc::{SDC_ID}"): SDC},
    ),
}

FIXED_BODIES = {
    "html error page": "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
    "truncated json": '{"id": "d4f72892000',
    "empty": "",
    "null": "null",
    "plain text": "Service Temporarily Unavailable",
    "list instead of object": "[]",
    "object instead of list or id": '{"unexpected": true}',
    "number": "42",
    "deeply nested": "[" * 5000 + "]" * 5000,
}


def answer_with(gateway, answers: dict[tuple[str, str], Any]) -> None:
    """Register ``answers`` (JSON-encoded unless text) over a gateway that knows nothing else."""
    gateway.register_uri(requests_mock.ANY, requests_mock.ANY, **gateway.error("Not found", 3, 404))
    gateway.get(gateway.url("/api/login"), text=f'"{gateway.TOKEN}"')
    gateway.get(gateway.url("/api/version"), text='"3.5"')
    for (method, path), answer in answers.items():
        text = answer if isinstance(answer, str) and answer.startswith("<") else json.dumps(answer)
        gateway.register_uri(method, gateway.url(path), text=text)


def run(gateway, make_client, scenario: Scenario, body: str) -> None:
    """Call with ``body`` as the target's 200 answer; only GatewayErrors may escape.

    Each call gets a gateway of its own, so Hypothesis examples do not pile
    up answers in the fixture's.
    """
    with type(gateway)(case_sensitive=True) as own:
        answer_with(own, scenario.answers)
        method, path = scenario.target
        own.register_uri(method, own.url(path), text=body)
        call_expecting_gateway_errors(scenario, make_client())


def call_expecting_gateway_errors(scenario: Scenario, client: GatewayClient) -> None:
    try:
        scenario.call(client)
    except exceptions.InvalidResponse as error:
        assert error.method and error.path, f"InvalidResponse without its request: {error}"
        assert f"{error.method} {error.path}: " in str(error)
    except exceptions.GatewayError:
        pass
    except exceptions.VolumeConflict:
        assert scenario.conflict_possible


@pytest.mark.parametrize("body", list(FIXED_BODIES.values()), ids=list(FIXED_BODIES))
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_fixed_bad_bodies(gateway, make_client, name: str, body: str) -> None:
    run(gateway, make_client, SCENARIOS[name], body)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_good_answers_work(gateway, make_client, name: str) -> None:
    """The scenarios are right: with good answers everywhere, nothing fails."""
    scenario = SCENARIOS[name]
    answer_with(gateway, {**scenario.answers, scenario.target: scenario.good})
    if name == "migrate_vtree":
        moved = {**VOLUME, "storagePoolId": DEST_POOL_ID}
        gateway.get(gateway.url(GET_VOLUME[1]), [{"json": VOLUME}, {"json": moved}])
    scenario.call(make_client())


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from([VOLUME_ID, "8388608", "-1", "", "²"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def mutated(draw: st.DrawFn, good: Any) -> Any:
    """``good`` with one field (of it or of its first item) replaced or dropped."""
    if isinstance(good, list) and good:
        return [draw(mutated(good[0])), *good[1:]]
    if not isinstance(good, dict) or not good:
        return draw(json_values)
    key = draw(st.sampled_from(sorted(good)))
    changed = dict(good)
    if draw(st.booleans()):
        del changed[key]
    elif isinstance(good[key], dict | list) and draw(st.booleans()):
        changed[key] = draw(mutated(good[key]))
    else:
        changed[key] = draw(json_values)
    return changed


def bodies(good: Any) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(list(FIXED_BODIES.values())),
        st.text(max_size=40),
        json_values.map(json.dumps),
        mutated(good).map(json.dumps),
    )


@pytest.mark.parametrize("name", list(SCENARIOS))
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_generated_bad_bodies(gateway, make_client, name: str, data: st.DataObject) -> None:
    scenario = SCENARIOS[name]
    run(gateway, make_client, scenario, data.draw(bodies(scenario.good), label="body"))


@pytest.mark.parametrize(
    ("change", "shown"),
    [
        ({"id": "../System"}, "a volume has an invalid 'id'"),
        ({"storagePoolId": "a/b"}, "has an invalid 'storagePoolId'"),
        ({"vtreeId": "x y"}, "has an invalid 'vtreeId'"),
        ({"ancestorVolumeId": "v?1"}, "has an invalid 'ancestorVolumeId'"),
        ({"sizeInKb": "²"}, "has no valid 'sizeInKb'"),
        ({"sizeInKb": -8}, "has no valid 'sizeInKb'"),
        ({"mappedSdcInfo": [{"sdcId": "s#1"}]}, "has an invalid 'sdcId'"),
    ],
)
def test_ids_and_sizes_are_checked_when_read(gateway, client, change, shown):
    """An id that could not go back into a URL is the gateway's fault, not the caller's."""
    gateway.get(gateway.url(GET_VOLUME[1]), json={**VOLUME, **change})

    with pytest.raises(exceptions.InvalidResponse) as info:
        client.get_volume(VOLUME_ID)

    assert f"GET {GET_VOLUME[1]}: " in str(info.value)
    assert shown in str(info.value)


def test_a_looked_up_id_that_is_not_an_id_is_an_invalid_response(gateway, client):
    gateway.post(gateway.url(query("Sdc")[1]), text='"a+b/c"')

    with pytest.raises(exceptions.InvalidResponse, match="expected an id") as info:
        client.sdc_by_ip("192.0.2.10")

    assert info.value.path == query("Sdc")[1]


def test_deeply_nested_json_is_not_json(gateway, client):
    gateway.get(gateway.url(GET_VOLUME[1]), text=FIXED_BODIES["deeply nested"])

    with pytest.raises(exceptions.InvalidResponse, match="the answer is not JSON"):
        client.get_volume(VOLUME_ID)
