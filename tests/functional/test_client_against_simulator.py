"""The project's gateway client against the simulated gateway, over verified HTTPS."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from oslo_config import cfg
from sio_fixtures.fake_clock import FakeClock
from sio_fixtures.generation import (
    GENERATION,
    default_hosts,
    login_route,
    map_verb,
    renewals,
    rounded_gb,
    snapshot_verb,
)

from sio_backend import conf as sio_conf
from sio_backend import exceptions
from sio_backend.demo.device_io import read, write
from sio_backend.gateway import GatewayClient
from sio_backend.simulator import Simulator

GIB_KB = 1024 * 1024
LOGIN = login_route()
EC = GENERATION.erasure_coding  # 5.x: Erasure Coding pools, thin volumes only
HOSTS = ("host1", "host2")


def pool(client: GatewayClient) -> str:
    return client.storage_pool_id("pd1", "sp1")


# ------------------------------------------------------------------- system
def test_version_system_and_lookups(simulator: Simulator, gateway_client: GatewayClient) -> None:
    assert gateway_client.api_version() == simulator.api_version
    assert gateway_client.system_id() == simulator.system_id
    pd_id = gateway_client.protection_domain_id("pd1")
    pool_id = pool(gateway_client)
    assert pool_id == simulator.state.storage_pool_id_by_name(pd_id, "sp1")
    simulator.reset_log()
    assert pool(gateway_client) == pool_id
    assert gateway_client.api_version() == simulator.api_version
    assert simulator.call_counts() == {}  # cached
    with pytest.raises(exceptions.NotFound):
        gateway_client.protection_domain_id("nope")
    with pytest.raises(exceptions.NotFound):
        gateway_client.storage_pool_id("pd1", "nope")


def test_storage_pool_properties(simulator: Simulator, gateway_client: GatewayClient) -> None:
    # 5.x has Erasure Coding pools only; 3.x and 4.x Medium and Fine Granularity ones.
    default_layout, other_layout = (
        ("ErasureCoding",) * 2 if EC else ("MediumGranularity", "FineGranularity")
    )
    simulator.add_storage_pool(
        "pd1", "fg", data_layout=other_layout, zero_padding=False, capacity_gb=512
    )
    default = gateway_client.get_storage_pool(pool(gateway_client))
    assert (default.name, default.zero_padding, default.data_layout) == (
        "sp1",
        True,
        default_layout,
    )
    assert (default.erasure_coded, default.size_granularity_gb) == (EC, 1 if EC else 8)
    fine = gateway_client.get_storage_pool(gateway_client.storage_pool_id("pd1", "fg"))
    assert (fine.zero_padding, fine.data_layout) == (False, other_layout)
    assert fine.protection_domain_id == gateway_client.protection_domain_id("pd1")
    with pytest.raises(exceptions.NotFound):
        gateway_client.get_storage_pool("0123456789abcdef")


def test_pool_capacity_moves_with_volumes(gateway_client: GatewayClient) -> None:
    """A thick volume takes its whole size from the free space; 5.x's Erasure
    Coding pools have thin volumes only, which take none until written."""
    pool_id = pool(gateway_client)
    empty = gateway_client.pool_capacity(pool_id)
    assert (empty.total_kb, empty.free_kb, empty.provisioned_kb) == (10240 * GIB_KB,) * 2 + (0,)
    big = gateway_client.create_volume("big", pool_id, 16, thin=EC)
    gateway_client.create_volume("thin", pool_id, 8, thin=True)
    used = gateway_client.pool_capacity(pool_id)
    assert used.total_kb == empty.total_kb
    assert used.free_kb == empty.free_kb - (0 if EC else 16 * GIB_KB)
    assert used.provisioned_kb == 24 * GIB_KB
    gateway_client.extend_volume(big.id, 24)
    grown = gateway_client.pool_capacity(pool_id)
    assert grown.free_kb == empty.free_kb - (0 if EC else 24 * GIB_KB)
    assert grown.provisioned_kb == 32 * GIB_KB
    gateway_client.remove_volume(big.id)
    assert gateway_client.pool_capacity(pool_id).free_kb == empty.free_kb


def test_pool_capacity_counts_written_thin_data(
    simulator: Simulator, gateway_client: GatewayClient
) -> None:
    host1 = simulator.sdcs["host1"]
    pool_id = pool(gateway_client)
    volume = gateway_client.create_volume("thin", pool_id, 8, thin=True)
    gateway_client.map_volume(volume.id, host1.id)
    free = gateway_client.pool_capacity(pool_id).free_kb
    write(host1.device_path(volume.id), 0, os.urandom(8 * 1024 * 1024))
    assert free - gateway_client.pool_capacity(pool_id).free_kb >= 8 * 1024


# ------------------------------------------------------------------ volumes
def test_create_get_find_rename(gateway_client: GatewayClient) -> None:
    pool_id = pool(gateway_client)
    volume = gateway_client.create_volume("oLHC0+T1SmuMfZ6PemtcTQ==", pool_id, 10, thin=True)
    assert (volume.name, volume.size_kb, volume.size_gb, volume.thin) == (
        "oLHC0+T1SmuMfZ6PemtcTQ==",
        rounded_gb(10) * GIB_KB,
        rounded_gb(10),
        True,
    )
    assert (volume.pool_id, volume.volume_type, volume.ancestor_id) == (
        pool_id,
        "ThinProvisioned",
        None,
    )
    read = gateway_client.get_volume(volume.id)
    assert read.vtree_id
    # create does not read the volume back, so only the V-Tree id is unknown
    assert read == dataclasses.replace(volume, vtree_id=read.vtree_id)
    assert gateway_client.volume_id_by_name(volume.name or "") == volume.id
    assert gateway_client.find_volume("absent") is None
    assert gateway_client.volume_id_by_name("absent") is None
    gateway_client.rename_volume(volume.id, "renamed/disk")
    assert gateway_client.find_volume("renamed/disk") == gateway_client.get_volume(volume.id)
    with pytest.raises(exceptions.NotFound):
        gateway_client.get_volume("0123456789abcdef")


def test_create_is_idempotent_and_detects_conflicts(
    simulator: Simulator, gateway_client: GatewayClient
) -> None:
    pool_id = pool(gateway_client)
    first = gateway_client.create_volume("same-name", pool_id, 8, thin=True)
    assert gateway_client.create_volume("same-name", pool_id, 8, thin=True).id == first.id
    with pytest.raises(exceptions.VolumeConflict):
        gateway_client.create_volume("same-name", pool_id, 16, thin=True)
    assert len(simulator.state.volumes()) == 1


def test_rename_to_a_taken_name(gateway_client: GatewayClient) -> None:
    pool_id = pool(gateway_client)
    volume = gateway_client.create_volume("one", pool_id, 8, thin=True)
    gateway_client.create_volume("two", pool_id, 8, thin=True)
    with pytest.raises(exceptions.NameInUse):
        gateway_client.rename_volume(volume.id, "two")


def test_extend_rounds_up_and_never_shrinks(
    simulator: Simulator, gateway_client: GatewayClient
) -> None:
    grown = rounded_gb(9)  # 16 GiB in 8 GiB steps, 9 in 1 GiB steps (5.x)
    volume = gateway_client.create_volume("grow", pool(gateway_client), 8, thin=True)
    assert gateway_client.extend_volume(volume.id, 9).size_gb == grown
    simulator.reset_log()
    assert gateway_client.extend_volume(volume.id, grown).size_gb == grown
    assert ("POST", "/api/instances/Volume::{id}/action/setVolumeSize") not in (
        simulator.call_counts()
    )
    with pytest.raises(exceptions.ShrinkNotAllowed):
        gateway_client.extend_volume(volume.id, 8)
    assert simulator.devices.data_path(volume.id).stat().st_size == grown * GIB_KB * 1024


def test_remove_unmaps_first_and_is_idempotent(
    simulator: Simulator, gateway_client: GatewayClient
) -> None:
    host1, host2 = simulator.sdcs["host1"], simulator.sdcs["host2"]
    volume = gateway_client.create_volume("doomed", pool(gateway_client), 8, thin=True)
    gateway_client.map_volume(volume.id, host1.id)
    gateway_client.map_volume(volume.id, host2.id)
    gateway_client.remove_volume(volume.id)
    assert simulator.state.volumes() == []
    assert not host1.device_path(volume.id).exists()
    gateway_client.remove_volume(volume.id)


# ----------------------------------------------------------------- mapping
def test_map_unmap_with_devices_on_both_hosts(
    simulator: Simulator, gateway_client: GatewayClient
) -> None:
    host1, host2 = simulator.sdcs["host1"], simulator.sdcs["host2"]
    volume = gateway_client.create_volume("shared", pool(gateway_client), 8, thin=True)
    assert gateway_client.map_volume(volume.id, host1.id) is True
    assert gateway_client.map_volume(volume.id, host1.id) is False  # already mapped: fine
    assert gateway_client.map_volume(volume.id, host2.id) is True
    assert gateway_client.get_volume(volume.id).mapped_sdc_ids == {host1.id, host2.id}
    write(host1.device_path(volume.id), 4096, b"live migration")
    assert read(host2.device_path(volume.id), 4096, 14) == b"live migration"
    gateway_client.unmap_volume(volume.id, host1.id)
    gateway_client.unmap_volume(volume.id, host1.id)  # not mapped: fine
    assert not host1.device_path(volume.id).exists()
    assert host2.device_path(volume.id).exists()
    gateway_client.unmap_volume(volume.id)
    gateway_client.unmap_volume(volume.id)
    assert gateway_client.get_volume(volume.id).mapped_sdcs == ()


def test_single_mapping_is_refused_without_multiple_mappings(
    simulator: Simulator, gateway_client: GatewayClient
) -> None:
    host1, host2 = simulator.sdcs["host1"], simulator.sdcs["host2"]
    volume = gateway_client.create_volume("single", pool(gateway_client), 8, thin=True)
    gateway_client.map_volume(volume.id, host1.id, allow_multiple=False)
    with pytest.raises(exceptions.SingleMappingOnly):
        gateway_client.map_volume(volume.id, host2.id, allow_multiple=False)


def test_mapping_to_an_unknown_sdc(gateway_client: GatewayClient) -> None:
    volume = gateway_client.create_volume("v", pool(gateway_client), 8, thin=True)
    with pytest.raises(exceptions.NotFound):
        gateway_client.map_volume(volume.id, "0123456789abcdef")


def test_sdc_limits_read_back(simulator: Simulator, gateway_client: GatewayClient) -> None:
    host1 = simulator.sdcs["host1"]
    volume = gateway_client.create_volume("qos", pool(gateway_client), 8, thin=True)
    gateway_client.map_volume(volume.id, host1.id)
    gateway_client.set_sdc_limits(volume.id, host1.id, iops_limit=500, bandwidth_limit_kbps=10240)
    (mapping,) = gateway_client.get_volume(volume.id).mapped_sdcs
    assert (mapping.sdc_id, mapping.sdc_ip) == (host1.id, host1.ip)
    assert (mapping.iops_limit, mapping.bandwidth_limit_kbps) == (500, 10240)
    gateway_client.set_sdc_limits(volume.id, host1.id, iops_limit=0)
    (mapping,) = gateway_client.get_volume(volume.id).mapped_sdcs
    assert (mapping.iops_limit, mapping.bandwidth_limit_kbps) == (0, 10240)
    with pytest.raises(exceptions.InvalidArgument):
        gateway_client.set_sdc_limits(volume.id, host1.id, iops_limit=5)
    gateway_client.unmap_volume(volume.id, host1.id)
    with pytest.raises(exceptions.NotMapped):
        gateway_client.set_sdc_limits(volume.id, host1.id, iops_limit=100)


# --------------------------------------------------------------------- SDCs
def test_sdc_lookups(simulator: Simulator, gateway_client: GatewayClient) -> None:
    host1, host2 = simulator.sdcs["host1"], simulator.sdcs["host2"]
    listed = gateway_client.list_sdcs()
    # From 4.x on the listing also holds the NVMe host every simulator has, nvme1.
    nvme_hosts = [(s.name, s.guid, s.ip, s.host_type) for s in listed if s.name not in HOSTS]
    assert nvme_hosts == [(name, None, None, "NVMeHost") for name in default_hosts()]
    sdcs = [s for s in listed if s.name in HOSTS]
    assert [(s.id, s.guid, s.ip, s.name, s.connected) for s in sdcs] == [
        (host1.id, host1.guid, host1.ip, "host1", True),
        (host2.id, host2.guid, host2.ip, "host2", True),
    ]
    assert gateway_client.get_sdc(host2.id) == sdcs[1]
    assert gateway_client.sdc_by_guid(host1.guid.lower()) == sdcs[0]
    assert gateway_client.sdc_by_ip(host2.ip) == sdcs[1]
    simulator.faults.disconnect_sdc("host2")
    assert gateway_client.get_sdc(host2.id).connected is False
    with pytest.raises(exceptions.NotFound):
        gateway_client.sdc_by_guid("00000000-0000-0000-0000-000000000000")
    with pytest.raises(exceptions.NotFound):
        gateway_client.sdc_by_ip("203.0.113.1")
    with pytest.raises(exceptions.NotFound):
        gateway_client.get_sdc("0123456789abcdef")


# --------------------------------------------------- snapshots and V-Trees
def test_snapshot_revert_and_limit(
    make_simulator: Callable[..., Simulator], make_client: Callable[..., GatewayClient]
) -> None:
    # 126 snapshots per V-Tree as on 3.x and 4.x (5.x allows 1022: the same rule, slower to fill).
    simulator = make_simulator(max_snapshots_per_vtree=126)
    gateway_client = make_client(simulator)
    host1 = simulator.sdcs["host1"]
    volume = gateway_client.create_volume("base", pool(gateway_client), 8, thin=True)
    gateway_client.map_volume(volume.id, host1.id)
    device = host1.device_path(volume.id)
    write(device, 0, b"good data")
    snapshot_id = gateway_client.snapshot_volume(volume.id, "base-snap")
    snapshot = gateway_client.get_volume(snapshot_id)
    assert (snapshot.volume_type, snapshot.ancestor_id, snapshot.vtree_id) == (
        "Snapshot",
        volume.id,
        gateway_client.get_volume(volume.id).vtree_id,  # create does not read it back
    )
    assert snapshot.mapped_sdcs == ()
    write(device, 0, b"bad stuff")
    gateway_client.overwrite_volume_content(volume.id, snapshot_id)
    assert read(device, 0, 9) == b"good data"

    simulator.state.snapshot_volumes([(volume.id, None)] * 125)
    with pytest.raises(exceptions.SnapshotLimit) as caught:
        gateway_client.snapshot_volume(volume.id, "one-too-many")
    assert caught.value.rc == 182
    other = gateway_client.create_volume("other", pool(gateway_client), 8, thin=True)
    with pytest.raises(exceptions.GatewayError):
        gateway_client.overwrite_volume_content(other.id, snapshot_id)


def test_migrate_vtree_waits_until_done(
    simulator: Simulator, gateway_client: GatewayClient
) -> None:
    simulator.add_storage_pool("pd1", "sp2")
    destination = gateway_client.storage_pool_id("pd1", "sp2")
    # Thick to thin, where thick volumes exist (not in 5.x's Erasure Coding pools).
    volume = gateway_client.create_volume("mover", pool(gateway_client), 8, thin=EC)
    snapshot_id = gateway_client.snapshot_volume(volume.id, "mover-snap")
    conversion = "NoConversion" if EC else "ThickToThin"
    gateway_client.migrate_vtree(
        volume.id, destination, conversion=conversion, poll_interval=0.05, timeout=10
    )
    moved = gateway_client.get_volume(volume.id)
    assert (moved.pool_id, moved.volume_type) == (destination, "ThinProvisioned")
    assert gateway_client.get_volume(snapshot_id).pool_id == destination
    vtree = gateway_client.get_vtree(gateway_client.get_volume(volume.id).vtree_id or "")
    assert vtree["vtreeMigrationInfo"]["migrationStatus"] == "NotInMigration"
    simulator.reset_log()
    gateway_client.migrate_vtree(volume.id, destination, poll_interval=0.05, timeout=10)
    assert ("POST", "/api/instances/Volume::{id}/action/migrateVTree") not in (
        simulator.call_counts()
    )


def test_migration_already_running_is_waited_for(
    simulator: Simulator, gateway_client: GatewayClient
) -> None:
    simulator.add_storage_pool("pd1", "sp2")
    destination = gateway_client.storage_pool_id("pd1", "sp2")
    volume = gateway_client.create_volume("mover", pool(gateway_client), 8, thin=True)
    simulator.state.migrate_vtree(volume.id, destination)
    gateway_client.migrate_vtree(volume.id, destination, poll_interval=0.05, timeout=10)
    assert gateway_client.get_volume(volume.id).pool_id == destination


# ----------------------------------------------------------- error classes
def test_wrong_password_is_an_authentication_failure(
    simulator: Simulator, make_client: Callable[..., GatewayClient]
) -> None:
    client = GatewayClient(
        simulator.host, simulator.port, simulator.username, "wrong", verify=str(simulator.ca_path)
    )
    try:
        with pytest.raises(exceptions.AuthenticationFailed) as caught:
            client.api_version()
        assert caught.value.status == 401
    finally:
        client.close()


def test_unverifiable_certificate_is_gateway_unavailable(
    simulator: Simulator, make_client: Callable[..., GatewayClient]
) -> None:
    client = make_client(simulator, verify=True)
    with pytest.raises(exceptions.GatewayUnavailable, match="server_certificate_path"):
        client.api_version()


def test_stopped_gateway_is_unavailable(
    make_simulator: Callable[..., Simulator], make_client: Callable[..., GatewayClient]
) -> None:
    sim = make_simulator()
    client = make_client(sim)
    client.api_version()
    sim.stop()
    with pytest.raises(exceptions.GatewayUnavailable):
        client.list_sdcs()


def test_injected_errors_reach_callers_as_typed_errors(
    simulator: Simulator, gateway_client: GatewayClient
) -> None:
    simulator.faults.fail_next(
        path="/api/types/Volume/instances$", error_code=65, message="SDS busy"
    )
    with pytest.raises(exceptions.GatewayError) as caught:
        gateway_client.create_volume("unlucky", pool(gateway_client), 8, thin=True)
    assert (caught.value.status, caught.value.error_code) == (500, 65)
    assert simulator.state.volumes() == []
    simulator.faults.fail_next(path="Volume::", status=400, message="Request message is not valid")
    with pytest.raises(exceptions.BadRequest):
        gateway_client.get_volume("0123456789abcdef")


# ------------------------------------------------------ sessions and faults
def test_expired_tokens_are_renewed_transparently(
    simulator: Simulator, gateway_client: GatewayClient
) -> None:
    gateway_client.list_sdcs()
    for fault in (simulator.faults.expire_tokens, simulator.faults.restart):
        simulator.reset_log()
        fault()
        assert len(gateway_client.list_sdcs()) == 2 + len(default_hosts())
        counts = simulator.call_counts()
        assert counts[LOGIN] == 1  # after an OAuth refresh the gateway refused too
        assert counts[("GET", "/api/types/Sdc/instances")] == 2


def test_idle_expiry_on_the_gateway_clock(
    make_simulator: Callable[..., Simulator], make_client: Callable[..., GatewayClient]
) -> None:
    gateway_clock = FakeClock()
    sim = make_simulator(clock=gateway_clock, idle_timeout=600)
    client = make_client(sim)
    client.list_sdcs()
    gateway_clock.advance(601)
    assert len(client.list_sdcs()) == 2 + len(default_hosts())
    assert renewals(sim.call_counts()) == 2  # two logins, or (OAuth) a login and a refresh


def test_client_renews_before_the_gateway_expires(
    make_simulator: Callable[..., Simulator], make_client: Callable[..., GatewayClient]
) -> None:
    shared_clock = FakeClock()
    sim = make_simulator(clock=shared_clock)
    client = make_client(sim, clock=shared_clock)
    client.list_sdcs()
    shared_clock.advance(580)
    client.list_sdcs()
    # Renewed before the gateway's limit (10 minutes; OAuth: the access token's
    # expires_in): no request was refused, but a 3.x gateway's 404 to OAuth.
    refused = [entry.status for entry in sim.request_log if entry.status != 200]
    assert refused == ([] if GENERATION.manager else [404])
    assert sim.request_log[0].path == "/rest/auth/login"
    assert renewals(sim.call_counts()) == 2


def test_dropped_answer_after_create_adopts_the_volume(
    simulator: Simulator, gateway_client: GatewayClient
) -> None:
    pool_id = pool(gateway_client)
    simulator.faults.drop_connection(method="POST", path="^/api/types/Volume/instances$")
    volume = gateway_client.create_volume("adopted", pool_id, 8, thin=True)
    (only,) = simulator.state.volumes()
    assert (volume.id, volume.name) == (only.id, "adopted")
    assert [e.fault for e in simulator.request_log if e.fault] == ["drop"]


def test_dropped_answers_after_map_unmap_and_remove(
    simulator: Simulator, gateway_client: GatewayClient
) -> None:
    host1 = simulator.sdcs["host1"]
    volume = gateway_client.create_volume("v", pool(gateway_client), 8, thin=True)
    for verb, call in [
        (map_verb(), lambda: gateway_client.map_volume(volume.id, host1.id)),
        ("removeMappedSdc", lambda: gateway_client.unmap_volume(volume.id, host1.id)),
        ("setVolumeSize", lambda: gateway_client.extend_volume(volume.id, 16)),
        ("setVolumeName", lambda: gateway_client.rename_volume(volume.id, "w")),
        ("removeVolume", lambda: gateway_client.remove_volume(volume.id)),
    ]:
        simulator.faults.drop_connection(path=f"/action/{verb}$")
        call()
    assert simulator.state.volumes() == []
    assert len([e for e in simulator.request_log if e.fault == "drop"]) == 5


def test_dropped_answer_after_snapshot_adopts_it(
    simulator: Simulator, gateway_client: GatewayClient
) -> None:
    volume = gateway_client.create_volume("v", pool(gateway_client), 8, thin=True)
    simulator.faults.drop_connection(path=snapshot_verb())
    snapshot_id = gateway_client.snapshot_volume(volume.id, "v-snap")
    assert simulator.state.volume(snapshot_id).ancestor_id == volume.id
    assert [e.fault for e in simulator.request_log if e.fault] == ["drop"]


def test_a_read_survives_a_dropped_connection(
    simulator: Simulator, gateway_client: GatewayClient
) -> None:
    volume = gateway_client.create_volume("v", pool(gateway_client), 8, thin=True)
    path = f"/api/instances/Volume::{volume.id}"
    simulator.reset_log()
    simulator.faults.drop_connection(method="GET", path=f"^{path}$")

    assert gateway_client.get_volume(volume.id).name == "v"

    assert [(e.method, e.path, e.status, e.fault) for e in simulator.request_log] == [
        ("GET", path, None, "drop"),
        ("GET", path, 200, None),
    ]


def test_slow_gateway_times_out(
    simulator: Simulator, make_client: Callable[..., GatewayClient]
) -> None:
    client = make_client(simulator, timeout=0.3)
    client.api_version()
    simulator.faults.add_latency(1.0, path="Sdc", count=1)
    with pytest.raises(exceptions.GatewayUnavailable, match="rest_request_timeout"):
        client.list_sdcs()


def test_shared_client_under_concurrency_logs_in_once(
    simulator: Simulator, gateway_client: GatewayClient
) -> None:
    host1 = simulator.sdcs["host1"]
    pool_id = pool(gateway_client)
    expire_once = threading.Event()

    def lifecycle(index: int) -> None:
        volume = gateway_client.create_volume(f"par-{index}", pool_id, 8, thin=True)
        gateway_client.map_volume(volume.id, host1.id)
        if index == 10 and not expire_once.is_set():
            expire_once.set()
            simulator.faults.expire_tokens()
        gateway_client.unmap_volume(volume.id, host1.id)
        gateway_client.remove_volume(volume.id)

    with ThreadPoolExecutor(max_workers=20) as workers:
        list(workers.map(lifecycle, range(40), timeout=60))
    assert simulator.state.volumes() == []
    # Logged in once, then renewed once for all the threads (OAuth: a refresh
    # the gateway refused as well, then a login).
    assert 2 <= renewals(simulator.call_counts()) <= 3


# -------------------------------------------------------------------- 4.x
def test_4x_error_codes_are_handled(
    make_simulator: Callable[..., Simulator], make_client: Callable[..., GatewayClient]
) -> None:
    sim = make_simulator(api_version="4.5")
    client = make_client(sim)
    host1 = sim.sdcs["host1"]
    assert client.api_version() == "4.5"
    volume = client.create_volume("four", client.storage_pool_id("pd1", "sp1"), 8, thin=True)
    client.map_volume(volume.id, host1.id)
    client.map_volume(volume.id, host1.id)
    client.unmap_volume(volume.id, host1.id)
    client.unmap_volume(volume.id, host1.id)
    codes = {e.error_code for e in sim.request_log if e.error_code}
    assert codes == {4037, 4039}
    client.remove_volume(volume.id)


# ----------------------------------------------------------- configuration
def test_client_from_config_with_certificate_verification(simulator: Simulator) -> None:
    conf = cfg.ConfigOpts()
    sio_conf.register_opts(conf)
    conf([], project="sio-backend-functional", default_config_files=[])
    for option, value in {
        "rest_server_ip": simulator.host,
        "rest_server_port": simulator.port,
        "rest_server_username": simulator.username,
        "rest_server_password": simulator.password,
        "verify_server_certificate": True,
        "server_certificate_path": str(simulator.ca_path),
    }.items():
        conf.set_override(option, value, group="scaleio")
    client = GatewayClient.from_config(conf)
    try:
        assert client.system_id() == simulator.system_id
    finally:
        client.close()
