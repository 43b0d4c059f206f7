"""Gateway calls per disk stay within budget, whatever else the system holds.

Budgets, with warm caches (an earlier instance on this host has already
looked up the system id, the pool and this host's SDC): spawning costs at
most three calls per disk (existence check, create, map), one more when
the flavor sets QoS; deleting costs at most three (id, unmap, remove),
plus one look for a snapshot a failed upload to Glance left.  A root disk
from an image already in an image-cache volume costs three calls in all
(snapshot, grow, map), whatever the image size.
No per-instance operation lists volumes, so 1,000 other volumes in the
system change no count.  ``tox -e bench`` reports the same counts with
wall times and the peers' figures.
"""

from __future__ import annotations

from collections import Counter

import fixtures
import pytest
import test_driver_flows_migrate as flows_migrate
import test_imagebackend_create as create_tests
from nova.compute import provider_tree
from oslo_utils.fixture import uuidsentinel as uuids
from sio_fixtures import nova_disks, nova_manager
from sio_fixtures.cloud import HOSTS, IID, make_flavor
from sio_fixtures.fake_clock import FakeClock
from sio_fixtures.flow_case import FlowTestCase
from sio_fixtures.generation import (
    ALL,
    GENERATION,
    REFRESH,
    login_route,
    map_verb,
    snapshot_verb,
)
from test_driver_flows_migrate import no_port_binding

from sio_backend import capacity, image_cache, naming, storage
from sio_backend.instance_volumes import InstanceVolumes
from sio_backend.simulator.host import simulated_storage

DISK_NAMES = ("disk", "disk.eph0", "disk.swap")

# The nova configuration, simulated hosts and image of the disk-creation tests.
nova_conf = create_tests.nova_conf
privileged_in_process = create_tests.privileged_in_process
hosts = create_tests.hosts
qcow2_image = create_tests.qcow2_image


def calls(simulator) -> Counter:
    """The calls since the last reset, but logins and OAuth token refreshes."""
    counts = simulator.call_counts()
    for renewal in (login_route(), REFRESH):
        counts.pop(renewal, None)
    return counts


def spawn(simulator, host_storage, instance, image_path) -> list[Counter]:
    """The calls of each disk nova creates on spawn (cache, then the domain definition)."""
    per_disk = []
    for disk in nova_disks.DISKS:
        simulator.reset_log()
        nova_disks.spawn_disk(host_storage, instance, disk, image_path)
        per_disk.append(calls(simulator))
    return per_disk


def delete(simulator, host_storage, instance) -> Counter:
    simulator.reset_log()
    InstanceVolumes(host_storage, instance, {}).remove_all()
    return calls(simulator)


@pytest.fixture
def warm(hosts, simulator, qcow2_image):
    """A host whose caches an earlier instance has filled."""
    first = nova_disks.new_instance()
    spawn(simulator, hosts["host1"], first, qcow2_image)
    delete(simulator, hosts["host1"], first)
    return hosts["host1"]


@pytest.mark.parametrize(("extra_specs", "budget"), [({}, 3), ({"disk:iops_limit": "1000"}, 4)])
def test_warm_spawn_costs_three_calls_per_disk_plus_one_for_qos(
    warm, simulator, qcow2_image, extra_specs, budget
):
    instance = nova_disks.new_instance(extra_specs=extra_specs)
    tokens = simulator.sessions.issued_tokens()
    per_disk = spawn(simulator, warm, instance, qcow2_image)

    assert [sum(counts.values()) for counts in per_disk] == [budget] * 3
    assert simulator.sessions.issued_tokens() == tokens  # no login, no token refresh


def test_delete_costs_three_calls_per_disk_and_removes_every_volume(warm, simulator, qcow2_image):
    instance = nova_disks.new_instance()
    spawn(simulator, warm, instance, qcow2_image)

    counts = delete(simulator, warm, instance)

    # One lookup each for a leftover resize snapshot and Glance snapshot.
    assert sum(counts.values()) <= 3 * 3 + 2
    assert not any(v.name.startswith(warm.installation_id) for v in simulator.state.volumes())


def test_counts_do_not_depend_on_other_volumes(warm, simulator, qcow2_image):
    def spawn_and_delete() -> tuple[list[Counter], Counter]:
        instance = nova_disks.new_instance()
        return spawn(simulator, warm, instance, qcow2_image), delete(simulator, warm, instance)

    alone = spawn_and_delete()
    pool_id = simulator.add_storage_pool("pd1", "others", capacity_gb=10_000)
    for index in range(1000):
        simulator.state.create_volume(pool_id, 8 * 1024 * 1024, name=f"other-{index:04d}")

    assert spawn_and_delete() == alone


def test_handed_over_ids_are_read_at_once_and_kept_only_under_their_names(
    hosts, simulator, qcow2_image
):
    """A resize's destination reads the ids the source put in nova's disk_info;
    an id that names another volume is dropped and its name looked up."""
    instance, other = nova_disks.new_instance(), nova_disks.new_instance()
    for each in (instance, other):
        spawn(simulator, hosts["host1"], each, qcow2_image)
    names = {d: hosts["host1"].disk_volume_name(instance.uuid, d) for d in nova_disks.DISKS}
    other_root = hosts["host1"].disk_volume_name(other.uuid, "disk")
    other_id = hosts["host1"].known.ids_of(other.uuid)[other_root]
    handed = InstanceVolumes(hosts["host1"], instance, {}).handover()
    # The root's id swapped for another instance's root; an entry of that
    # instance; one of another installation's; nova's own entry.
    handed = [dict(e, volume_id=other_id) if e["path"] == names["disk"] else e for e in handed]
    handed.append({"path": other_root, "type": "sio", "volume_id": other_id})
    foreign = naming.disk_volume_name("othr", instance.uuid, "disk")
    handed.append({"path": foreign, "type": "sio", "volume_id": other_id})
    nova_entry = {"path": "/instances/x/disk", "type": "raw"}
    destination = InstanceVolumes(hosts["host2"], instance, {})

    assert destination.take_handover([*handed, nova_entry]) == [nova_entry]
    assert set(hosts["host2"].known.ids_of(instance.uuid)) == set(names.values())
    simulator.reset_log()
    with hosts["host2"].operation(instance.uuid):
        found = {v.name: v.id for v in destination.disks()}

    assert found == {n: hosts["host1"].known.ids_of(instance.uuid)[n] for n in names.values()}
    # The handed-over ids read at once; the root looked up by its name and read.
    volume_calls = Counter({r: n for r, n in calls(simulator).items() if "/Volume" in r[1]})
    assert volume_calls == Counter({READ_KNOWN: 2, LOOKUP: 1})


# -- a root disk from the image cache ---------------------------------------------

IMAGE_ID = "0b7d7a52-3f1e-4d36-9e0c-6a1f2b3c4d5e"


def cached_root_calls(simulator, host_storage, image_path, api_version: str) -> Counter:
    """The calls of a root disk made from an image already in an image-cache volume."""
    instance = nova_disks.new_instance(root_gb=16)
    simulator.reset_log()
    with host_storage.operation(instance.uuid, new_instance=True):
        nova_disks.spawn_disk(host_storage, instance, "disk", image_path, IMAGE_ID)
    counts = simulator.call_counts()
    for renewal in (login_route(api_version), REFRESH):
        counts.pop(renewal, None)
    return counts


@pytest.mark.parametrize("api_version", ALL)
def test_a_root_disk_from_a_cached_image_is_snapshot_grow_and_map(
    make_simulator, nova_conf, qcow2_image, monkeypatch, api_version
):
    """No lookup of the image-cache volume and no count of its snapshots while
    this process counted them less than RECOUNT_S ago; after that, one V-Tree
    listing counts them again (the image_cache_max_clones guard)."""
    simulator = make_simulator(api_version=api_version)
    nova_conf.config(image_cache="volume", default_provisioning_type="thin", group="scaleio")
    monkeypatch.setattr(image_cache, "_hints", {})
    host = simulated_storage(simulator, "host1", installation_id=IID, wait_timeout=5)
    storage.register("host1", host)
    try:
        cached_root_calls(simulator, host, qcow2_image, api_version)  # imports the image
        warm = cached_root_calls(simulator, host, qcow2_image, api_version)
        monkeypatch.setattr(image_cache, "RECOUNT_S", 0.0)
        recounted = cached_root_calls(simulator, host, qcow2_image, api_version)
    finally:
        storage.unregister("host1")
        host.client.close()

    limit = Counter(
        {
            ("POST", f"/api/instances/System::{{id}}/action/{snapshot_verb(api_version)}"): 1,
            ("POST", "/api/instances/Volume::{id}/action/setVolumeSize"): 1,
            ("POST", f"/api/instances/Volume::{{id}}/action/{map_verb(api_version)}"): 1,
        }
    )
    assert warm == limit
    assert recounted == limit + Counter({VTREE_VOLUMES: 1})


# -- every nova operation, through SioLibvirtDriver --------------------------------

MAP = ("POST", f"/api/instances/Volume::{{id}}/action/{map_verb()}")
UNMAP = ("POST", "/api/instances/Volume::{id}/action/removeMappedSdc")
REMOVE = ("POST", "/api/instances/Volume::{id}/action/removeVolume")
CREATE = ("POST", "/api/types/Volume/instances")
LOOKUP = ("POST", "/api/types/Volume/instances/action/queryIdByKey")
READ_KNOWN = ("POST", "/api/types/Volume/instances/action/queryBySelectedIds")
VTREE_VOLUMES = ("GET", "/api/instances/VTree::{id}/relationships/Volume")
SNAPSHOT = ("POST", f"/api/instances/System::{{id}}/action/{snapshot_verb()}")
GROW = ("POST", "/api/instances/Volume::{id}/action/setVolumeSize")
RENAME = ("POST", "/api/instances/Volume::{id}/action/setVolumeName")
# Looked up once per process: the pool (id, then its settings), the API
# version, this host's SDC and the system id.
ONE_TIME = Counter(
    {
        ("POST", "/api/types/StoragePool/instances/action/queryIdByKey"): 1,
        ("GET", "/api/instances/StoragePool::{id}"): 1,
        ("GET", "/api/version"): 1,
        ("GET", "/api/types/Sdc/instances"): 1,
        ("GET", "/api/types/System/instances"): 1,
    }
)
if GENERATION.erasure_coding:  # 5.x: the pool's protection domain, Erasure Coding or not
    ONE_TIME[("POST", "/api/types/ProtectionDomain/instances/action/queryBySelectedIds")] = 1


def full_bdi(swap_mb: int = 8192, **_ignored) -> dict:
    """nova's block device info for root + the flavor's ephemeral + swap.

    nova's API turns a flavor's ephemeral disk and swap into block device
    mappings (``_get_flavor_defined_bdms``), so the ephemeral disk is
    ``disk.eph0`` and every call that gets block device info names all three.
    """
    ephemeral = {
        "device_name": "/dev/vdb",
        "size": 8,
        "disk_bus": "virtio",
        "device_type": "disk",
        "guest_format": None,
        "encrypted": False,
        "encryption_secret_uuid": None,
        "encryption_format": None,
        "encryption_options": None,
    }
    swap = {"device_name": "/dev/vdc", "swap_size": swap_mb, "disk_bus": "virtio"}
    return {
        "root_device_name": "/dev/vda",
        "ephemerals": [ephemeral],
        "block_device_mapping": [],
        "swap": swap if swap_mb else None,
    }


class DriverCallCountsTestCase(FlowTestCase):
    """Gateway calls of each nova operation on a root + ephemeral + swap instance.

    Every operation goes through SioLibvirtDriver as nova's compute manager
    calls it, with warm caches on both hosts.  The physical limit is what
    the gateway must be told: spawn, create + map per disk (6); delete,
    unmap + remove per disk (6); live migration, map + unmap per disk (6);
    snapshot, snapshot + map + unmap + remove (4); a resize that grows the
    root, snapshot + grow (2) and, on confirm, the snapshot's removal (1).
    The counts are exact: a call that comes back fails its test.  The calls
    above the limit are guards, each named where it is counted.
    """

    IMAGE_SIZE_MB = 16

    def setUp(self) -> None:
        super().setUp()
        no_port_binding(self)
        self.useFixture(fixtures.MockPatchObject(nova_manager, "bdi", full_bdi))
        self.useFixture(fixtures.MockPatchObject(flows_migrate, "block_device_info", full_bdi))
        self.manager = nova_manager.Manager(self.cloud)
        for host in HOSTS:  # an earlier instance filled each host's caches
            self.manager.delete(self.spawn(host))

    def flavor(self, name: str = "m1.sio", root_gb: int = 8):
        return make_flavor(name=name, root_gb=root_gb, ephemeral_gb=8, swap=8192)

    def spawn(self, host: str = "host1"):
        instance = self.cloud.new_instance(self.flavor(), host=host)
        return self.cloud.spawn(instance, host=host, block_device_info=full_bdi())

    def calls(self, operation) -> Counter:
        """The operation's gateway calls, logins apart (a cold 3.x login also tries OAuth)."""
        simulator = self.cloud.simulator
        simulator.reset_log()
        operation()
        counts = simulator.call_counts()
        for route in [r for r in counts if r == login_route() or r[1].startswith("/rest/auth/")]:
            del counts[route]
        return counts

    def test_spawn_creates_and_maps_each_disk_without_asking_first(self) -> None:
        instance = self.cloud.new_instance(self.flavor())

        counts = self.calls(lambda: self.cloud.spawn(instance, block_device_info=full_bdi()))

        self.assertEqual(Counter({CREATE: 3, MAP: 3}), counts)
        self.cloud.assert_state(
            instance, {self.cloud.volume_name(instance, d): (8, {"host1"}) for d in DISK_NAMES}
        )

    def test_a_cold_process_adds_only_its_one_time_lookups(self) -> None:
        storage.register(
            "host1",
            simulated_storage(self.cloud.simulator, "host1", installation_id=IID, wait_timeout=5),
        )
        instance = self.cloud.new_instance(self.flavor())

        counts = self.calls(lambda: self.cloud.spawn(instance, block_device_info=full_bdi()))

        self.assertEqual(Counter({CREATE: 3, MAP: 3}) + ONE_TIME, counts)

    def test_snapshot(self) -> None:
        instance = self.spawn()

        counts = self.calls(lambda: self.cloud.snapshot(instance))

        # The root read with the instance's other known volumes (guard: its
        # name proves the id).  A Glance snapshot an interrupted upload left
        # is not looked up first: the gateway refuses its name, and only
        # then is it removed and the snapshot taken again, never adopted.
        expected = {READ_KNOWN: 1, SNAPSHOT: 1, MAP: 1, UNMAP: 1, REMOVE: 1}
        self.assertEqual(Counter(expected), counts)

    def resize(self, instance, dest: str):
        """Resize from host1 to ``dest`` growing the root to 16 GiB: (calls, migration)."""
        migration = []
        counts = self.calls(
            lambda: migration.append(
                self.manager.resize(
                    instance, self.flavor("m1.big", 16), "host1", dest, dest_bdi=full_bdi()
                )
            )
        )
        return counts, migration[0]

    def test_resize_growing_the_root_then_confirm(self) -> None:
        instance = self.spawn()

        counts, migration = self.resize(instance, "host1")

        # The known volumes read once.  A revert snapshot left by an earlier
        # failed resize is replaced when the gateway refuses its name
        # (guard: reverting to it would lose data), not looked up first.
        expected = {READ_KNOWN: 1, SNAPSHOT: 1, GROW: 1}
        self.assertEqual(Counter(expected), counts)
        confirm = self.calls(lambda: self.manager.confirm_resize(instance, migration))
        self.assertEqual(Counter({READ_KNOWN: 1, REMOVE: 1}), confirm)
        self.assertEqual(16, self.cloud.state_of(instance)[self.cloud.volume_name(instance)][0])

    def test_resize_then_revert(self) -> None:
        instance = self.spawn()
        _counts, migration = self.resize(instance, "host1")

        counts = self.calls(
            lambda: self.manager.revert_resize(instance, migration, source_bdi=full_bdi())
        )

        # The destination lets go (read, unmap each); the source reads again
        # (a new nova call), removes the grown root, renames the snapshot
        # into its place and maps the disks for the guest.
        expected = {READ_KNOWN: 2, UNMAP: 3, REMOVE: 1, RENAME: 1, MAP: 3}
        self.assertEqual(Counter(expected), counts)
        self.assertEqual(8, self.cloud.state_of(instance)[self.cloud.volume_name(instance)][0])

    def test_live_migration(self) -> None:
        instance = self.spawn()
        migration = flows_migrate.LiveMigration(self.cloud, instance)

        def migrate():
            migration.check(shared_path=False)
            migration.pre_live_migration()
            migration.migrate_domain()
            migration.post_live_migration()

        counts = self.calls(migrate)

        # Source, check: the fence read (guard: a failed earlier migration's
        # mappings are removed before this one starts).  Destination: each
        # name looked up (it has no id of them), all read at once, each
        # mapped.  Source, post_live_migration (nova passes the block device
        # info): the known volumes read (guard: the views say which mapping
        # is this host's), each unmapped; post_live_migration_at_source and
        # cleanup ask nothing.
        expected = {READ_KNOWN: 3, LOOKUP: 3, MAP: 3, UNMAP: 3}
        self.assertEqual(Counter(expected), counts)
        self.cloud.assert_state(
            instance, {self.cloud.volume_name(instance, d): (8, {"host2"}) for d in DISK_NAMES}
        )

    def test_delete(self) -> None:
        instance = self.spawn()

        counts = self.calls(lambda: self.manager.delete(instance))

        # The known volumes read at once (their names checked: guard); the
        # root's V-Tree listed for a revert and a Glance snapshot (guard: no
        # state records those a failed resize or upload left).
        expected = {READ_KNOWN: 1, UNMAP: 3, REMOVE: 3, VTREE_VOLUMES: 1}
        self.assertEqual(Counter(expected), counts)
        self.cloud.assert_state(instance, {})

    def test_resize_to_another_host_then_confirm(self) -> None:
        instance = self.spawn()

        counts, migration = self.resize(instance, "host2")

        # The destination reads the disks at once by the ids the source handed
        # over in nova's disk_info (guard: each kept only under its exact name).
        expected = {READ_KNOWN: 1, SNAPSHOT: 1, GROW: 1, MAP: 3}
        self.assertEqual(Counter(expected), counts)
        # The source: its known volumes, the revert snapshot the destination
        # made (looked up by its exact name and removed, no read), and each
        # disk unmapped; the ephemeral disks are named by nova's block devices.
        confirm = self.calls(lambda: self.manager.confirm_resize(instance, migration))
        expected = {READ_KNOWN: 1, LOOKUP: 1, REMOVE: 1, UNMAP: 3}
        self.assertEqual(Counter(expected), confirm)

    def test_capacity_is_read_once_per_interval_for_every_host_of_the_process(self) -> None:
        """nova asks for DISK_GB at every resource update (claims too): one read serves
        every driver of the process for update_resources_interval; this process's
        creates lower the free figure without a read."""
        clock = FakeClock()
        self.useFixture(fixtures.MockPatchObject(capacity.SHARED, "_clock", clock))
        self.flags(update_resources_interval=300)

        def report() -> float:
            free = []
            for host in HOSTS:
                with self.cloud.on(host) as driver:
                    driver.update_provider_tree(self.tree(host), host)
                    free.append(driver._get_local_gb_info()["free"])
            self.assertEqual(1, len(set(free)))  # every host reports the same pool
            return free[0]

        first = self.calls(report)
        free = report()
        self.assertEqual(1, sum(first.values()))  # the pool's statistics, once
        spawned = self.calls(self.spawn)
        self.assertEqual(Counter({CREATE: 3, MAP: 3}), spawned)
        self.assertEqual(free - 3 * 8, report())  # three 8 GiB volumes taken, no read
        clock.advance(299)
        self.assertEqual(Counter(), self.calls(report))
        clock.advance(1)
        self.assertEqual(first, self.calls(report))

    @staticmethod
    def tree(host: str):
        tree = provider_tree.ProviderTree()
        tree.new_root(host, uuids.compute_node)
        return tree
