"""System, protection domain, storage pool, capacity and SDC operations."""

from __future__ import annotations

import json

import pytest

from sio_backend import exceptions
from sio_backend.gateway import PoolCapacity, Sdc, StoragePool, system

PD_QUERY = "/api/types/ProtectionDomain/instances/action/queryIdByKey"
POOL_QUERY = "/api/types/StoragePool/instances/action/queryIdByKey"
STATISTICS = "/api/types/StoragePool/instances/action/querySelectedStatistics"
SDC_QUERY = "/api/types/Sdc/instances/action/queryIdByKey"
GIB = 1024 * 1024

# cinder test_misc.py::test_get_volume_stats_v3
CINDER_V3_STATISTICS = {
    "netCapacityInUseInKb": 34578432,
    "netUnusedCapacityInKb": 102417408,
    "thickCapacityInUseInKb": 67108864,
    "snapshotCapacityInKb": 2097152,
    "thinCapacityAllocatedInKb": 218103808,
}


@pytest.mark.parametrize(
    ("body", "version"),
    [('"3.5"', "3.5"), ("3.5", "3.5"), ('"2.0.1.4"', "2.0"), ('"4.5"\n', "4.5"), ('"1.1"', "1.1")],
)
def test_api_version_is_major_minor_and_cached(gateway, client, body, version):
    gateway.get(gateway.url("/api/version"), text=body)

    assert client.api_version() == version
    assert client.api_version() == version
    assert gateway.calls().count("GET /api/version") == 1


def test_system_id_is_the_first_system_and_cached(gateway, client):
    systems = [{"id": gateway.SYSTEM_ID, "name": "sys"}, {"id": "other"}]
    gateway.get(gateway.url("/api/types/System/instances"), json=systems)

    assert client.system_id() == gateway.SYSTEM_ID
    assert client.system_id() == gateway.SYSTEM_ID
    assert gateway.calls().count("GET /api/types/System/instances") == 1


def test_protection_domain_id_is_looked_up_by_name_and_cached(gateway, client, clock):
    gateway.post(gateway.url(PD_QUERY), text=f'"{gateway.PD_ID}"')

    assert client.protection_domain_id("pd1") == gateway.PD_ID
    clock.advance(system.ID_CACHE_TTL_S - 1)
    assert client.protection_domain_id("pd1") == gateway.PD_ID
    assert gateway.bodies(gateway.url(PD_QUERY)) == [{"name": "pd1"}]

    clock.advance(2)
    assert client.protection_domain_id("pd1") == gateway.PD_ID
    assert len(gateway.bodies(gateway.url(PD_QUERY))) == 2


@pytest.mark.parametrize(
    "answer",
    [
        {"json": None},
        {"text": ""},
        {"status_code": 500, "json": {"message": "x", "errorCode": 142}},
    ],
)
def test_missing_protection_domain_is_not_found(gateway, client, answer):
    gateway.post(gateway.url(PD_QUERY), **answer)

    with pytest.raises(exceptions.NotFound, match="protection domain 'pdX' does not exist"):
        client.protection_domain_id("pdX")


def test_storage_pool_id_uses_the_domain_name_form_and_caches(gateway, client, clock):
    gateway.post(gateway.url(POOL_QUERY), text=f'"{gateway.POOL_ID}"')

    assert client.storage_pool_id("pd1", "sp1") == gateway.POOL_ID
    assert client.storage_pool_id("pd1", "sp1") == gateway.POOL_ID
    assert client.storage_pool_id("pd2", "sp1") == gateway.POOL_ID

    assert gateway.bodies(gateway.url(POOL_QUERY)) == [
        {"name": "sp1", "protectionDomainName": "pd1"},
        {"name": "sp1", "protectionDomainName": "pd2"},
    ]
    clock.advance(system.ID_CACHE_TTL_S)
    client.storage_pool_id("pd1", "sp1")
    assert len(gateway.bodies(gateway.url(POOL_QUERY))) == 3


@pytest.mark.parametrize(
    "refusal",
    [
        {"status_code": 400, "json": {"message": "Request message is not valid", "errorCode": 0}},
        {"status_code": 500, "json": {"message": "Not found", "errorCode": 3}},
    ],
)
def test_storage_pool_falls_back_to_the_domain_id_form(gateway, client, refusal):
    def answer(request, context):
        if "protectionDomainId" in request.json():
            return f'"{gateway.POOL_ID}"'
        context.status_code = refusal["status_code"]
        return json.dumps(refusal["json"])

    gateway.post(gateway.url(POOL_QUERY), text=answer)
    gateway.post(gateway.url(PD_QUERY), text=f'"{gateway.PD_ID}"')

    assert client.storage_pool_id("pd1", "sp1") == gateway.POOL_ID
    assert gateway.bodies(gateway.url(POOL_QUERY))[-1] == {
        "name": "sp1",
        "protectionDomainId": gateway.PD_ID,
    }


def test_missing_storage_pool_is_not_found_naming_pool_and_domain(gateway, client):
    gateway.post(gateway.url(POOL_QUERY), **gateway.error("Not found", 3))
    gateway.post(gateway.url(PD_QUERY), text=f'"{gateway.PD_ID}"')

    with pytest.raises(exceptions.NotFound) as info:
        client.storage_pool_id("pd1", "spX")

    assert "storage pool 'spX' does not exist in protection domain 'pd1'" in str(info.value)


def test_missing_domain_of_a_pool_lookup_names_the_domain(gateway, client):
    gateway.post(gateway.url(POOL_QUERY), **gateway.error("Not found", 3))
    gateway.post(gateway.url(PD_QUERY), **gateway.error("Could not find Protection Domain", 142))

    with pytest.raises(exceptions.NotFound, match="protection domain 'pdX'"):
        client.storage_pool_id("pdX", "sp1")


def test_get_storage_pool(gateway, client):
    gateway.get(
        gateway.url(f"/api/instances/StoragePool::{gateway.POOL_ID}"),
        json={
            "id": gateway.POOL_ID,
            "name": "sp1",
            "protectionDomainId": gateway.PD_ID,
            "zeroPaddingEnabled": True,
            "dataLayout": "FineGranularity",
            "sparePercentage": 10,
        },
    )

    pool = client.get_storage_pool(gateway.POOL_ID)

    assert pool == StoragePool(
        id=gateway.POOL_ID,
        name="sp1",
        protection_domain_id=gateway.PD_ID,
        zero_padding=True,
        data_layout="FineGranularity",
    )


def test_pool_without_padding_or_layout_fields_reads_as_unpadded_medium(gateway, client):
    gateway.get(
        gateway.url("/api/instances/StoragePool::p1"),
        json={"id": "p1", "protectionDomainId": gateway.PD_ID},
    )

    pool = client.get_storage_pool("p1")

    assert pool.zero_padding is False
    assert pool.data_layout == "MediumGranularity"
    assert pool.name == ""


def test_pool_capacity_matches_cinder_v3_vector(gateway, client):
    gateway.post(gateway.url(STATISTICS), json={gateway.POOL_ID: CINDER_V3_STATISTICS})

    capacity = client.pool_capacity(gateway.POOL_ID)

    assert capacity.total_kb // GIB == 130
    assert capacity.free_kb // GIB == 97
    assert capacity.provisioned_kb // GIB == 137
    assert capacity.free_kb == 102417408
    (body,) = gateway.bodies(gateway.url(STATISTICS))
    assert body["ids"] == [gateway.POOL_ID]
    assert set(body["properties"]) == set(CINDER_V3_STATISTICS)


def test_pool_capacity_on_3_0_uses_the_old_snapshot_name(gateway, client):
    gateway.get(gateway.url("/api/version"), text='"3.0"')
    stats = dict(CINDER_V3_STATISTICS)
    stats["snapCapacityInUseInKb"] = stats.pop("snapshotCapacityInKb")
    gateway.post(gateway.url(STATISTICS), json={gateway.POOL_ID: stats})

    capacity = client.pool_capacity(gateway.POOL_ID)

    assert capacity.provisioned_kb // GIB == 137
    assert "snapCapacityInUseInKb" in gateway.bodies(gateway.url(STATISTICS))[0]["properties"]


def test_pool_capacity_before_3_0_uses_raw_mirrored_figures(gateway, client):
    gateway.get(gateway.url("/api/version"), text='"2.0"')
    stats = {
        "capacityLimitInKb": 311424000,
        "spareCapacityInKb": 31142400,
        "capacityAvailableForVolumeAllocationInKb": 100663296,
        "thickCapacityInUseInKb": 4,
        "snapCapacityInUseInKb": 2,
        "thinCapacityAllocatedInKm": 6,
    }
    gateway.post(gateway.url(STATISTICS), json={gateway.POOL_ID: stats})

    capacity = client.pool_capacity(gateway.POOL_ID)

    assert capacity == PoolCapacity(
        total_kb=(311424000 - 31142400) // 2, free_kb=100663296, provisioned_kb=6
    )


def test_pool_capacity_retries_with_the_misspelt_thin_statistic(gateway, client):
    def answer(request, context):
        if "thinCapacityAllocatedInKb" in request.json()["properties"]:
            context.status_code = 400
            return '{"message": "Invalid property thinCapacityAllocatedInKb", "errorCode": 0}'
        stats = dict(CINDER_V3_STATISTICS)
        stats["thinCapacityAllocatedInKm"] = stats.pop("thinCapacityAllocatedInKb")
        return json.dumps({gateway.POOL_ID: stats})

    gateway.post(gateway.url(STATISTICS), text=answer)

    assert client.pool_capacity(gateway.POOL_ID).provisioned_kb // GIB == 137
    assert client.pool_capacity(gateway.POOL_ID).provisioned_kb // GIB == 137
    asked = [b["properties"][-1] for b in gateway.bodies(gateway.url(STATISTICS))]
    assert asked == [
        "thinCapacityAllocatedInKb",
        "thinCapacityAllocatedInKm",
        "thinCapacityAllocatedInKm",
    ]


def test_pool_capacity_bad_request_with_both_names_is_raised(gateway, client):
    gateway.post(gateway.url(STATISTICS), **gateway.error("Invalid request", 0, 400))

    with pytest.raises(exceptions.BadRequest):
        client.pool_capacity(gateway.POOL_ID)
    assert len(gateway.bodies(gateway.url(STATISTICS))) == 2

    # Once the misspelt name is in use, a refusal is not retried again.
    with pytest.raises(exceptions.BadRequest):
        client.pool_capacity(gateway.POOL_ID)
    assert len(gateway.bodies(gateway.url(STATISTICS))) == 3


def test_pool_capacity_accepts_a_single_entry_under_another_key(gateway, client):
    gateway.post(gateway.url(STATISTICS), json={"unexpected-key": CINDER_V3_STATISTICS})

    assert client.pool_capacity(gateway.POOL_ID).total_kb // GIB == 130


@pytest.mark.parametrize(
    "answer",
    [
        {"a": CINDER_V3_STATISTICS, "b": CINDER_V3_STATISTICS},
        [CINDER_V3_STATISTICS],
        {"b7f4d8a600000001": {"netUnusedCapacityInKb": 1}},
        {"b7f4d8a600000001": {**CINDER_V3_STATISTICS, "netUnusedCapacityInKb": "lots"}},
        {"b7f4d8a600000001": ["not", "an", "object"]},
    ],
)
def test_malformed_statistics_raise_invalid_response(gateway, client, answer):
    gateway.post(gateway.url(STATISTICS), json=answer)

    with pytest.raises(exceptions.InvalidResponse) as info:
        client.pool_capacity(gateway.POOL_ID)

    assert info.value.path == STATISTICS


def sdc_json(sdc_id="s1", guid="028888FA-502A-4FAC-A888-1FA3B256358C", **extra):
    return {
        "id": sdc_id,
        "sdcGuid": guid,
        "sdcIp": "192.0.2.10",
        "name": f"host-{sdc_id}",
        "mdmConnectionState": "Connected",
        **extra,
    }


def test_list_and_get_sdcs(gateway, client):
    gateway.get(
        gateway.url("/api/types/Sdc/instances"),
        json=[sdc_json(), sdc_json("s2", "G2", mdmConnectionState="Disconnected")],
    )
    gateway.get(gateway.url("/api/instances/Sdc::s1"), json=sdc_json())

    first, second = client.list_sdcs()

    assert first == Sdc(
        id="s1",
        guid="028888FA-502A-4FAC-A888-1FA3B256358C",
        ip="192.0.2.10",
        name="host-s1",
        connected=True,
    )
    assert second.connected is False
    assert client.get_sdc("s1") == first


def test_sdc_ip_falls_back_to_the_ip_list(gateway, client):
    gateway.get(
        gateway.url("/api/instances/Sdc::s1"),
        json=sdc_json(sdcIp=None, sdcIps=["198.51.100.7", "198.51.100.8"], name=None),
    )

    sdc = client.get_sdc("s1")

    assert sdc.ip == "198.51.100.7"
    assert sdc.name is None


def test_sdc_by_guid_ignores_case(gateway, client):
    gateway.get(gateway.url("/api/types/Sdc/instances"), json=[sdc_json("s0", "OTHER"), sdc_json()])

    assert client.sdc_by_guid("028888fa-502a-4fac-a888-1fa3b256358c").id == "s1"


def test_sdc_by_unknown_guid_is_not_found(gateway, client):
    gateway.get(gateway.url("/api/types/Sdc/instances"), json=[sdc_json()])

    with pytest.raises(exceptions.NotFound, match="no SDC with GUID abc"):
        client.sdc_by_guid("abc")


def test_sdc_by_ip(gateway, client):
    gateway.post(gateway.url(SDC_QUERY), text='"s1"')
    gateway.get(gateway.url("/api/instances/Sdc::s1"), json=sdc_json())

    assert client.sdc_by_ip("192.0.2.10").id == "s1"
    assert gateway.bodies(gateway.url(SDC_QUERY)) == [{"ip": "192.0.2.10"}]


def test_sdc_by_unknown_ip_is_not_found(gateway, client):
    gateway.post(gateway.url(SDC_QUERY), **gateway.error("Not found", 3))

    with pytest.raises(exceptions.NotFound, match=r"no SDC with IP address 192\.0\.2\.99"):
        client.sdc_by_ip("192.0.2.99")


# -- generations: the protection domain's genType, and 5.x metrics -------------

PD_BY_IDS = "/api/types/ProtectionDomain/instances/action/queryBySelectedIds"
METRICS = "/dtapi/rest/v1/metrics/query"


def pool_json(gateway) -> dict:
    return {
        "id": gateway.POOL_ID,
        "name": "sp1",
        "protectionDomainId": gateway.PD_ID,
        "zeroPaddingEnabled": True,
        "dataLayout": "ErasureCoding",
    }


@pytest.fixture
def ec_system(gateway):
    """A 5.0 system whose protection domain is Erasure Coding."""
    gateway.get(gateway.url("/api/version"), text='"5.0"')
    gateway.get(
        gateway.url(f"/api/instances/StoragePool::{gateway.POOL_ID}"), json=pool_json(gateway)
    )
    gateway.post(gateway.url(PD_BY_IDS), json=[{"id": gateway.PD_ID, "genType": "EC"}])
    return gateway


def test_a_5x_pool_takes_its_domains_generation(ec_system, client):
    pool = client.get_storage_pool(ec_system.POOL_ID)
    again = client.get_storage_pool(ec_system.POOL_ID)

    assert (pool.gen_type, pool.erasure_coded, pool.size_granularity_gb) == ("EC", True, 1)
    assert again == pool
    # cinder's query, asked once per domain: a domain's generation never changes.
    assert ec_system.bodies(ec_system.url(PD_BY_IDS)) == [{"ids": [ec_system.PD_ID]}]


def test_a_5x_domain_without_gen_type_is_mirroring(ec_system, client):
    ec_system.post(ec_system.url(PD_BY_IDS), json=[{"id": ec_system.PD_ID, "name": "pd1"}])

    pool = client.get_storage_pool(ec_system.POOL_ID)

    assert (pool.gen_type, pool.erasure_coded, pool.size_granularity_gb) == ("Mirroring", False, 8)


@pytest.mark.parametrize("version", ["3.5", "4.5"])
def test_older_systems_are_never_asked_for_a_generation(ec_system, client, version):
    ec_system.get(ec_system.url("/api/version"), text=f'"{version}"')

    pool = client.get_storage_pool(ec_system.POOL_ID)

    assert pool.gen_type == "Mirroring"
    assert f"POST {PD_BY_IDS}" not in ec_system.calls()


def metrics_answer(total: int, free: int, provisioned: int, **resource) -> dict:
    """The answer as cinder's test_misc.py records it (values in bytes)."""
    return {
        "metadata": {},
        "links": [],
        "fields": [],
        "resources": [
            {
                **resource,
                "metrics": [
                    {"name": "physical_total", "values": [total]},
                    {"name": "physical_free", "values": [free]},
                    {"name": "logical_provisioned", "values": [provisioned]},
                ],
            }
        ],
    }


def test_ec_pool_capacity_comes_from_the_metrics_service_in_bytes(ec_system, client):
    gib = 1024**3
    ec_system.post(ec_system.url(METRICS), json=metrics_answer(100 * gib, 50 * gib, 200 * gib))

    capacity = client.pool_capacity(ec_system.POOL_ID)

    assert capacity == PoolCapacity(total_kb=100 * GIB, free_kb=50 * GIB, provisioned_kb=200 * GIB)
    assert ec_system.bodies(ec_system.url(METRICS)) == [
        {
            "resource_type": "storage_pool",
            "ids": [ec_system.POOL_ID],
            "metrics": ["physical_total", "physical_free", "logical_provisioned"],
        }
    ]
    assert f"POST {STATISTICS}" not in ec_system.calls()


def test_mirroring_pool_capacity_on_5x_keeps_selected_statistics(ec_system, client):
    ec_system.post(ec_system.url(PD_BY_IDS), json=[{"id": ec_system.PD_ID, "genType": "Mirroring"}])
    ec_system.post(ec_system.url(STATISTICS), json={ec_system.POOL_ID: CINDER_V3_STATISTICS})

    assert client.pool_capacity(ec_system.POOL_ID).free_kb == 102417408
    assert f"POST {METRICS}" not in ec_system.calls()


@pytest.mark.parametrize(
    "answer",
    [
        {"resources": []},
        {"resources": [{"metrics": [{"name": "physical_total", "values": [1]}]}]},
        {"resources": [{"id": "another-pool", "metrics": []}]},
        {"resources": "none"},
        metrics_answer(-1, 0, 0),
    ],
)
def test_malformed_metrics_raise_invalid_response(ec_system, client, answer):
    ec_system.post(ec_system.url(METRICS), json=answer)

    with pytest.raises(exceptions.InvalidResponse) as info:
        client.pool_capacity(ec_system.POOL_ID)

    assert info.value.path == METRICS


def test_a_metrics_query_is_a_read_and_is_retried(ec_system, client, sleeps):
    ec_system.post(
        ec_system.url(METRICS),
        [{"status_code": 503, "text": ""}, {"json": metrics_answer(1024, 1024, 0)}],
    )

    assert client.pool_capacity(ec_system.POOL_ID).total_kb == 1
    assert len(sleeps) == 1
