"""A representative subset of the functional suite at every PowerFlex generation, in every run.

The whole suite runs at one generation, the one ``SIO_SIMULATOR_API_VERSION``
names (see ``tests/sio_fixtures/generation.py``); this module runs at 3.5, 4.5 and 5.0 each
time: the client's volume lifecycle and session handling, one instance's
life through nova's driver (spawned from the image cache, resized and
reverted, resized and confirmed, live-migrated, snapshotted to Glance,
deleted), and ``sio-backend audit``.  ``sio-backend check`` runs at each
generation in ``test_operator_check.py``, os-brick and PyPowerFlex in their
own modules.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest
from sio_fixtures.cloud import IID, IMAGE_ID, PATTERN, make_flavor
from sio_fixtures.fake_clock import FakeClock
from sio_fixtures.flow_case import FlowTestCase
from sio_fixtures.generation import (
    ALL,
    REFRESH,
    default_hosts,
    login_route,
    map_verb,
    rounded_gb,
    size_step_gb,
    snapshot_verb,
)
from test_driver_flows_migrate import no_port_binding

from sio_backend import naming
from sio_backend.cmd.main import main
from sio_backend.demo.device_io import read, write
from sio_backend.demo.nova_conf import write_nova_conf
from sio_backend.gateway import GatewayClient
from sio_backend.simulator import Simulator
from sio_backend.simulator.generations import generation

MiB = 1024**2
MARK = b"every generation".ljust(4096, b".")
MARK_AT = 64 * MiB
# What each generation answers "already mapped" and "not mapped" with.
ERROR_CODES = {"3.5": {81, 84}, "4.5": {4037, 4039}, "5.0": {4037, 4039}}
VOLUME_ACTION = "/api/instances/Volume::{id}/action/"
SYSTEM_ACTION = "/api/instances/System::{id}/action/"


def statistics_route(api_version: str) -> tuple[str, str]:
    """Where pool capacity comes from: the /dtapi metrics service on 5.x."""
    if generation(api_version).erasure_coding:
        return ("POST", "/dtapi/rest/v1/metrics/query")
    return ("POST", "/api/types/StoragePool/instances/action/querySelectedStatistics")


# ------------------------------------------------------------------- client
@pytest.mark.parametrize("api_version", ALL)
def test_the_client_at_each_generation(
    api_version: str,
    make_simulator: Callable[..., Simulator],
    make_client: Callable[..., GatewayClient],
) -> None:
    clock = FakeClock()  # the gateway's and the client's, to expire sessions at will
    sim = make_simulator(api_version=api_version, clock=clock)
    client = make_client(sim, clock=clock)
    host1 = sim.sdcs["host1"]
    manager = sim.generation.manager

    found = client.generation()
    assert (found.api_version, found.auth_method) == (
        api_version,
        "oauth" if manager else "legacy",
    )
    listed = [(s.name, s.host_type, s.guid is None) for s in client.list_sdcs()]
    assert listed == [
        *((name, "NVMeHost", True) for name in default_hosts(api_version)),
        ("host1", "SdcHost", False),
        ("host2", "SdcHost", False),
    ]
    assert client.sdc_by_guid(host1.guid).id == host1.id  # never the NVMe host

    pool_id = client.storage_pool_id("pd1", "sp1")
    assert client.get_storage_pool(pool_id).size_granularity_gb == size_step_gb(api_version)
    volume = client.create_volume("generation-disk", pool_id, 10, thin=True)
    assert volume.size_gb == rounded_gb(10, api_version)
    assert client.map_volume(volume.id, host1.id) is True
    assert client.map_volume(volume.id, host1.id) is False  # already mapped
    device = host1.device_path(volume.id)
    write(device, 0, MARK)
    assert client.extend_volume(volume.id, 12).size_gb == rounded_gb(12, api_version)
    assert device.stat().st_size == rounded_gb(12, api_version) * 1024**3

    snapshot_id = client.snapshot_volume(volume.id, "generation-snap")
    assert client.get_volume(snapshot_id).ancestor_id == volume.id
    write(device, 0, b"later")
    client.overwrite_volume_content(volume.id, snapshot_id)
    assert read(device, 0, len(MARK)) == MARK
    provisioned = client.pool_capacity(pool_id).provisioned_kb
    assert provisioned >= rounded_gb(12, api_version) * 1024**2

    client.unmap_volume(volume.id, host1.id)
    client.unmap_volume(volume.id, host1.id)  # not mapped
    assert not device.exists()

    # The session: ended by the gateway, then close to its end on the clock.
    sim.faults.expire_tokens()
    assert client.get_volume(volume.id).mapped_sdcs == ()
    clock.advance(580)  # past the OAuth access token's 300 s, short of 3.x's idle 600 s
    client.remove_volume(snapshot_id)
    client.remove_volume(volume.id)
    assert sim.state.volumes() == []
    client.close()

    counts = sim.call_counts()
    assert counts[("POST", VOLUME_ACTION + map_verb(api_version))] == 2
    assert counts[("POST", SYSTEM_ACTION + snapshot_verb(api_version))] == 1
    assert counts[statistics_route(api_version)] == 1
    assert {e.error_code for e in sim.request_log if e.error_code} == ERROR_CODES[api_version]
    # 3.x: a login first, one after the gateway ended the session, one before
    # its idle limit.  OAuth: two logins, with a refresh the gateway refused
    # (it had ended the grant) between them, and a refresh before expires_in.
    assert (counts[login_route(api_version)], counts[REFRESH]) == ((2, 2) if manager else (3, 0))
    refused = [e.path for e in sim.request_log if e.status == 401]
    assert refused == [
        f"/api/instances/Volume::{volume.id}",
        *(["/rest/auth/update-token"] * manager),
    ]
    assert counts[("POST", "/rest/auth/logout")] == manager  # OAuth ends its session


# -------------------------------------------------------------------- audit
@pytest.mark.parametrize("api_version", ALL)
def test_audit_and_fix_at_each_generation(
    api_version: str,
    make_simulator: Callable[..., Simulator],
    make_client: Callable[..., GatewayClient],
    tmp_path,
    capsys,
) -> None:
    sim = make_simulator(api_version=api_version)
    client = make_client(sim)
    pool_id = client.storage_pool_id("pd1", "sp1")
    live, deleted = str(uuid.uuid4()), str(uuid.uuid4())
    for instance in (live, deleted):
        name = naming.disk_volume_name("func", instance, "disk")
        client.map_volume(
            client.create_volume(name, pool_id, 8, thin=True).id, sim.sdcs["host1"].id
        )
    gone = naming.disk_volume_name("func", deleted, "disk")
    conf = write_nova_conf(tmp_path / "nova.conf", sim, guid=sim.sdcs["host1"].guid)
    argv = ["audit", "--config-file", str(conf), "--instance", live, "-f", "json"]

    assert main([*argv, "--fix", "--yes"]) == 0
    document = json.loads(capsys.readouterr().out)

    assert [(f["name"], f["action"]) for f in document["findings"]] == [(gone, "remove volume")]
    assert document["fix"] == [f"removed volume {gone}"]
    assert [v.name for v in client.list_volumes()] == [
        naming.disk_volume_name("func", live, "disk")
    ]
    assert main(argv) == 0  # nothing left to report


# -------------------------------------------------------------------- flows
class InstanceLifeAtEachGeneration(FlowTestCase):
    """One instance's life through nova's driver, at the generation of the subclass."""

    __test__ = False

    def setUp(self) -> None:
        super().setUp()
        no_port_binding(self)
        self.flags(image_cache="volume", group="scaleio")
        self.flags(snapshot_image_format="raw", group="libvirt")

    def test_spawn_resize_migrate_snapshot_delete(self) -> None:
        cloud, version = self.cloud, self.API_VERSION
        self.assertEqual(version, cloud.simulator.api_version)
        swap_mb = rounded_gb(1, version) * 1024  # 8 GiB, or 1 GiB on 5.x
        instance = cloud.spawn(cloud.new_instance(make_flavor(swap=swap_mb)))
        root = cloud.volume_name(instance)
        cache = cloud.volumes()[naming.image_cache_volume_name(IID, IMAGE_ID, 0)]
        # The root disk is a clone of the image cache volume (createThinClone on 5.x).
        self.assertEqual(cache.id, cloud.volumes()[root].ancestor_id)
        counts = cloud.simulator.call_counts()
        self.assertEqual(1, counts[("POST", SYSTEM_ACTION + snapshot_verb(version))])
        # Mapped: the image's import volume while it is written, the root, the swap.
        self.assertEqual(3, counts[("POST", VOLUME_ACTION + map_verb(version))])
        write(cloud.device(instance), MARK_AT, MARK)

        # A resize to host2, reverted: the revert snapshot takes the disk back.
        bigger = rounded_gb(12, version)  # a flavor size each pool accepts
        migration = cloud.resize(
            instance, make_flavor("big", bigger, swap=swap_mb), "host1", "host2"
        )
        self.assertEqual(bigger, cloud.state_of(instance)[root][0])
        write(cloud.device(instance, host="host2"), MARK_AT, b"after the resize")
        cloud.revert_resize(instance, migration)
        self.assert_at(instance, "host1", 8)

        migration = cloud.resize(
            instance, make_flavor("big", bigger, swap=swap_mb), "host1", "host2"
        )
        cloud.confirm_resize(instance, migration, "host1")
        self.assert_at(instance, "host2", bigger)

        cloud.live_migrate(instance, "host2", "host1")
        self.assert_at(instance, "host1", bigger)
        self.assertTrue(cloud.domain_running(instance, "host1"))

        image = cloud.snapshot(instance, host="host1")
        self.assertEqual(MARK, read(str(image), MARK_AT, len(MARK)))
        self.assertEqual(PATTERN, read(str(image), 4 * MiB, len(PATTERN)))

        cloud.delete(instance, host="host1")
        cloud.assert_state(instance, {})
        cloud.assert_no_leaks()
        self.assertEqual({cache.name}, set(cloud.volumes()))  # the image cache stays

    def assert_at(self, instance, host: str, root_gb: int) -> None:
        cloud = self.cloud
        swap = rounded_gb(1, self.API_VERSION)
        cloud.assert_state(
            instance,
            {
                cloud.volume_name(instance): (root_gb, {host}),
                cloud.volume_name(instance, "disk.swap"): (swap, {host}),
            },
        )
        cloud.assert_no_leaks(instance)
        self.assertEqual(MARK, read(cloud.device(instance, host=host), MARK_AT, len(MARK)))


class InstanceLifeAt35TestCase(InstanceLifeAtEachGeneration):
    __test__ = True
    API_VERSION = "3.5"


class InstanceLifeAt45TestCase(InstanceLifeAtEachGeneration):
    __test__ = True
    API_VERSION = "4.5"


class InstanceLifeAt50TestCase(InstanceLifeAtEachGeneration):
    __test__ = True
    API_VERSION = "5.0"


def test_each_generation_has_its_instance_life() -> None:
    classes = (InstanceLifeAt35TestCase, InstanceLifeAt45TestCase, InstanceLifeAt50TestCase)
    assert tuple(c.API_VERSION for c in classes) == ALL
