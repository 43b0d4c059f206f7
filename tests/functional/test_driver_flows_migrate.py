"""Live migration, evacuation, snapshot and capacity through SioLibvirtDriver's entry points.

Each flow calls the driver methods nova's compute manager calls, in its
order, on the host it calls them on, and makes the manager's changes to the
instance (host, task_state, vm_state) between them.  fakelibvirt cannot
migrate a domain, so the migration itself is mimicked by moving the domain
definition from the source's libvirt to the destination's.
"""

from __future__ import annotations

import shutil
import subprocess
from unittest import mock

import fixtures
from nova.compute import manager as compute_manager
from nova.compute import provider_tree, task_states
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.virt import configdrive
from nova.virt.libvirt import guest as libvirt_guest
from oslo_serialization import jsonutils
from oslo_utils import units
from sio_fixtures.cloud import PATTERN, make_flavor
from sio_fixtures.flow_case import FlowTestCase
from sio_fixtures.generation import map_verb, rounded_gb

from sio_backend import exceptions, naming
from sio_backend.demo.device_io import read, write
from sio_backend.driver import TRAIT
from sio_backend.storage import Storage

MiB = units.Mi
MARK = b"written on host1 before the move".ljust(4096, b".")
MARK_AT = 100 * MiB
CONFIG_DRIVE_MARK = b"CD001 fake config drive"


def manager_cleanup_flags(migrate_data) -> tuple[bool, bool]:
    """(do_cleanup, destroy_disks) exactly as nova's compute manager computes them."""
    return compute_manager.ComputeManager._live_migration_cleanup_flags(None, migrate_data)


def block_device_info() -> dict:
    """What the manager passes for an image-backed instance without volumes."""
    return {
        "root_device_name": "/dev/vda",
        "ephemerals": [],
        "block_device_mapping": [],
        "swap": None,
    }


class LiveMigration:
    """One live migration of an instance from host1 to host2, step by step as nova runs it."""

    def __init__(self, cloud, instance) -> None:
        self.cloud, self.instance = cloud, instance
        self.migrate_data = self.disk_info = None

    def check(self, *, shared_path: bool):
        """check_can_live_migrate_destination on host2, then _source on host1."""
        cloud, ctx = self.cloud, self.cloud.context
        compute_info = {"disk_available_least": 100, "free_disk_gb": 100, "cpu_info": "{}"}
        self.instance.task_state = task_states.MIGRATING
        with cloud.on("host2") as dest:
            dest_check = dest.check_can_live_migrate_destination(
                ctx, self.instance, compute_info, compute_info, None, None
            )
        if shared_path:  # the test file nova wrote on host2 is seen on host1
            src_dir = cloud.tmp / "host1" / "instances"
            shutil.copy(cloud.tmp / "host2" / "instances" / dest_check.filename, src_dir)
        with cloud.on("host1") as source:
            self.migrate_data = source.check_can_live_migrate_source(
                ctx, self.instance, dest_check, block_device_info()
            )
            self.disk_info = source.get_instance_disk_info(self.instance, block_device_info())
        with cloud.on("host2") as dest:
            dest.cleanup_live_migration_destination_check(ctx, dest_check)
        return self.migrate_data

    def pre_live_migration(self) -> None:
        with self.cloud.on("host2") as dest:
            self.migrate_data = dest.pre_live_migration(
                self.cloud.context,
                self.instance,
                block_device_info(),
                [],
                self.disk_info,
                self.migrate_data,
            )

    def migrate_domain(self) -> None:
        """What libvirt's migration does: the guest leaves host1 and runs on host2."""
        cloud = self.cloud
        with cloud.on("host1") as source:
            domain = source._host.get_guest(self.instance)._domain
            xml = domain.XMLDesc(0)
            domain.destroy()
            domain.undefine()
        with cloud.on("host2") as dest:
            dest._host.get_connection().defineXML(xml).create()

    def post_live_migration(self) -> None:
        """_post_live_migration on host1, then post_live_migration_at_destination on host2."""
        cloud, ctx, instance = self.cloud, self.cloud.context, self.instance
        migrate_data = self.migrate_data
        do_cleanup, destroy_disks = manager_cleanup_flags(migrate_data)
        with cloud.on("host1") as source:
            source.post_live_migration(ctx, instance, block_device_info(), migrate_data)
            source.post_live_migration_at_source(ctx, instance, [])
            if do_cleanup:
                source.cleanup(
                    ctx,
                    instance,
                    [],
                    destroy_disks=destroy_disks,
                    migrate_data=migrate_data,
                    destroy_vifs=False,
                )
        with cloud.on("host2") as dest:
            dest.post_live_migration_at_destination(ctx, instance, [], False, block_device_info())
        instance.host = instance.node = "host2"
        instance.task_state = None

    def rollback(self, *, pre_live_migration_failed: bool = False) -> None:
        """_rollback_live_migration on host1 (and the destination call it makes)."""
        cloud, ctx, instance = self.cloud, self.cloud.context, self.instance
        migrate_data = self.migrate_data
        if not pre_live_migration_failed:
            with cloud.on("host1") as source:
                source.rollback_live_migration_at_source(ctx, instance, migrate_data)
        do_cleanup, destroy_disks = manager_cleanup_flags(migrate_data)
        if do_cleanup:
            with cloud.on("host2") as dest:
                dest.rollback_live_migration_at_destination(
                    ctx,
                    instance,
                    [],
                    block_device_info(),  # the manager's, without volumes
                    destroy_disks=destroy_disks,
                    migrate_data=migrate_data,
                )
        instance.task_state = None


def no_port_binding(test) -> None:
    """What a live migration needs of nova's environment that a lone driver lacks."""
    test.flags(skip_cpu_compare_on_dest=True, group="workarounds")
    test.useFixture(
        fixtures.MockPatch(
            "nova.network.neutron.API.has_port_binding_extension", return_value=False
        )
    )


class LiveMigrationTestCase(FlowTestCase):
    """check → pre_live_migration → (success | rollback), host1 → host2."""

    def setUp(self) -> None:
        super().setUp()
        no_port_binding(self)
        self.instance = self.cloud.spawn(self.cloud.new_instance(make_flavor(ephemeral_gb=8)))
        write(self.cloud.device(self.instance), MARK_AT, MARK)
        self.disks = {"disk": 8, "disk.local": 8}
        self.migration = LiveMigration(self.cloud, self.instance)

    def assert_mapped(self, hosts: set[str]) -> None:
        cloud = self.cloud
        cloud.assert_state(
            self.instance,
            {cloud.volume_name(self.instance, d): (gb, hosts) for d, gb in self.disks.items()},
        )
        cloud.assert_no_leaks(self.instance)

    def check(self, *, shared_path: bool):
        migrate_data = self.migration.check(shared_path=shared_path)
        self.assertTrue(migrate_data.is_shared_block_storage)
        self.assertEqual(shared_path, migrate_data.is_shared_instance_path)
        self.assertFalse(migrate_data.block_migration)
        self.assertFalse(manager_cleanup_flags(migrate_data)[1])  # destroy_disks
        # The volumes are not "local disks" nova would copy.
        self.assertEqual([], jsonutils.loads(self.migration.disk_info))
        self.assert_mapped({"host1"})
        return migrate_data

    def assert_data_on(self, host: str) -> None:
        device = self.cloud.device(self.instance, host=host)
        self.assertEqual(PATTERN, read(device, 4 * MiB, len(PATTERN)))
        self.assertEqual(MARK, read(device, MARK_AT, len(MARK)))

    # -- success ---------------------------------------------------------------

    def _migrate(self, *, shared_path: bool) -> None:
        migration = self.migration
        self.check(shared_path=shared_path)

        migration.pre_live_migration()
        self.assert_mapped({"host1", "host2"})
        self.assert_data_on("host2")

        migration.migrate_domain()
        migration.post_live_migration()
        self.assert_mapped({"host2"})
        self.assert_data_on("host2")
        self.assertTrue(self.cloud.domain_running(self.instance, "host2"))
        self.assertFalse(self.cloud.domain_running(self.instance, "host1"))

        self.cloud.delete(self.instance, host="host2")
        self.cloud.assert_state(self.instance, {})
        self.cloud.assert_no_leaks()

    def test_live_migration_without_shared_instances_path(self) -> None:
        self._migrate(shared_path=False)

    def test_live_migration_with_shared_instances_path(self) -> None:
        # nova does not call cleanup() on the source: post_live_migration unmaps.
        self._migrate(shared_path=True)

    # -- rollback ----------------------------------------------------------------

    def _roll_back(self, *, shared_path: bool) -> None:
        self.check(shared_path=shared_path)
        self.migration.pre_live_migration()
        self.assert_mapped({"host1", "host2"})

        self.migration.rollback()
        self.assert_mapped({"host1"})
        self.assert_data_on("host1")
        self.assertTrue(self.cloud.domain_running(self.instance, "host1"))

    def test_rollback_without_shared_instances_path(self) -> None:
        self._roll_back(shared_path=False)

    def test_rollback_with_shared_instances_path_fences_the_destination(self) -> None:
        # nova never calls host2 back here: host1's rollback must remove its mappings.
        with mock.patch.object(
            type(self.cloud.drivers["host2"]), "rollback_live_migration_at_destination"
        ) as at_destination:
            self._roll_back(shared_path=True)
        at_destination.assert_not_called()

    def test_pre_live_migration_device_never_appears_on_destination(self) -> None:
        cloud = self.cloud
        self.check(shared_path=False)
        cloud.storage("host2").sdc.wait_timeout = 0.5
        cloud.simulator.faults.suppress_devices("host2")
        self.assertRaises(exceptions.DeviceNotFound, self.migration.pre_live_migration)
        self.assert_mapped({"host1"})
        cloud.simulator.faults.restore_devices()

        self.migration.rollback(pre_live_migration_failed=True)
        self.assert_mapped({"host1"})
        self.assert_data_on("host1")

    def test_pre_live_migration_second_mapping_fails(self) -> None:
        # The root disk is mapped to host2 first; it must be unmapped again.
        cloud = self.cloud
        self.check(shared_path=False)
        local = cloud.volumes()[cloud.volume_name(self.instance, "disk.local")]
        cloud.simulator.faults.fail_next(method="POST", path=f"{local.id}.*{map_verb()}")
        self.assertRaises(exceptions.GatewayError, self.migration.pre_live_migration)
        self.assert_mapped({"host1"})
        self.migration.rollback(pre_live_migration_failed=True)
        self.assert_mapped({"host1"})


class ConfigDriveTestCase(FlowTestCase):
    """The config drive is a volume that moves and goes with the instance."""

    def setUp(self) -> None:
        super().setUp()
        no_port_binding(self)
        self.useFixture(
            fixtures.MockPatchObject(configdrive.ConfigDriveBuilder, "make_drive", make_drive)
        )
        # The metadata it would hold comes from nova's database.
        self.useFixture(fixtures.MockPatch("nova.api.metadata.base.InstanceMetadata"))

    def assert_config_drive_on(self, instance, host: str) -> None:
        device = self.cloud.device(instance, "disk.config", host=host)
        self.assertEqual(CONFIG_DRIVE_MARK, read(device, 32 * units.Ki, len(CONFIG_DRIVE_MARK)))

    def test_config_drive_spawn_migrate_delete(self) -> None:
        cloud = self.cloud
        instance = cloud.spawn(cloud.new_instance(config_drive=True))
        config = cloud.volume_name(instance, "disk.config")
        root = cloud.volume_name(instance, "disk")
        size = rounded_gb(1)  # the 1 MiB drive in the pool's steps: 8 GiB, or 1 on 5.x
        cloud.assert_state(instance, {root: (8, {"host1"}), config: (size, {"host1"})})
        cloud.assert_no_leaks(instance)
        self.assert_config_drive_on(instance, "host1")
        local_copy = cloud.tmp / "host1" / "instances" / instance.uuid / "disk.config"
        self.assertFalse(local_copy.exists())

        migration = LiveMigration(cloud, instance)
        migration.check(shared_path=False)
        migration.pre_live_migration()
        cloud.assert_state(
            instance, {root: (8, {"host1", "host2"}), config: (size, {"host1", "host2"})}
        )
        migration.migrate_domain()
        migration.post_live_migration()
        cloud.assert_state(instance, {root: (8, {"host2"}), config: (size, {"host2"})})
        cloud.assert_no_leaks(instance)
        self.assert_config_drive_on(instance, "host2")

        cloud.delete(instance, host="host2")
        cloud.assert_state(instance, {})
        cloud.assert_no_leaks()


def make_drive(builder, path: str) -> None:
    """A stand-in ISO (genisoimage is not installed): a volume descriptor at 32 KiB."""
    with open(path, "wb") as iso:
        iso.seek(32 * units.Ki)
        iso.write(CONFIG_DRIVE_MARK)
        iso.truncate(units.Mi)


class EvacuationTestCase(FlowTestCase):
    def test_evacuate_fences_the_failed_host_and_its_return_keeps_the_disks(self) -> None:
        cloud, ctx = self.cloud, self.cloud.context
        instance = cloud.spawn(cloud.new_instance())
        write(cloud.device(instance), MARK_AT, MARK)
        root = cloud.volume_name(instance)

        # host1 fails (nothing runs there); nova rebuilds the instance on host2.
        cloud.simulator.reset_log()
        cloud.evacuate(instance, "host1", "host2")
        cloud.assert_state(instance, {root: (8, {"host2"})})
        cloud.assert_no_leaks(instance)
        actions = [
            entry.path.rsplit("/", 1)[-1]
            for entry in cloud.simulator.request_log
            if entry.path.endswith((f"/action/{map_verb()}", "/action/removeMappedSdc"))
        ]
        # host1 is cut off before host2 maps the disk.
        self.assertEqual(["removeMappedSdc", map_verb()], actions)
        device = cloud.device(instance, host="host2")
        self.assertEqual(PATTERN, read(device, 4 * MiB, len(PATTERN)))
        self.assertEqual(MARK, read(device, MARK_AT, len(MARK)))

        # host1 comes back: _destroy_evacuated_instances.
        cloud.simulator.reset_log()
        with cloud.on("host1") as driver:
            # None: shared block storage, so the manager passes destroy_disks=False.
            self.assertIsNone(driver.check_instance_shared_storage_local(ctx, instance))
        cloud.evacuated_host_returns(instance, "host1", block_device_info())
        cloud.assert_state(instance, {root: (8, {"host2"})})
        cloud.assert_no_leaks(instance)
        self.assertFalse(any("removeVolume" in entry.path for entry in cloud.simulator.request_log))
        self.assertFalse(cloud.domain_running(instance, "host1"))
        self.assertTrue(cloud.domain_running(instance, "host2"))
        self.assertEqual(MARK, read(device, MARK_AT, len(MARK)))

    def test_an_evacuation_never_trusts_an_earlier_rebuild_here_that_stopped_before_its_spawn(
        self,
    ) -> None:
        """A rebuild's spawn after its own destroy here creates the disks without
        asking; an evacuation to that host later finds and fences the disks."""
        cloud = self.cloud
        instance = cloud.spawn(cloud.new_instance(host="host2"), host="host2")
        cloud.destroy_for_rebuild(instance, "host2")  # then the rebuild failed
        cloud.evacuate(instance, "host2", "host1")  # host2 failed: new disks on host1
        write(cloud.device(instance), MARK_AT, MARK)

        cloud.evacuate(instance, "host1", "host2")  # host1 failed in turn

        cloud.assert_state(instance, {cloud.volume_name(instance): (8, {"host2"})})
        self.assertEqual(MARK, read(cloud.device(instance, host="host2"), MARK_AT, len(MARK)))

    def test_a_rebuild_after_its_own_destroy_asks_nothing_before_creating(self) -> None:
        cloud = self.cloud
        instance = cloud.spawn(cloud.new_instance())
        cloud.destroy_for_rebuild(instance, "host1")
        instance.task_state = task_states.REBUILD_SPAWNING
        cloud.simulator.reset_log()

        cloud.spawn(instance)

        routes = {route for _verb, route in cloud.simulator.call_counts()}
        self.assertFalse([r for r in routes if "query" in r])  # no lookup, no read, no fence
        cloud.assert_state(instance, {cloud.volume_name(instance): (8, {"host1"})})


class FakeImageAPI:
    """Glance as the snapshot sees it: the image record and the upload."""

    def __init__(self, on_upload) -> None:
        self.on_upload = on_upload
        self.calls: list[tuple[str, str]] = []

    def get(self, context, image_id):
        self.calls.append(("get", image_id))
        return {"id": image_id, "name": "snap"}

    def update(self, context, image_id, metadata, data, **kwargs):
        self.calls.append(("update", image_id))
        self.metadata = metadata
        self.on_upload(data.name)


class SnapshotTestCase(FlowTestCase):
    IMAGE_ID = "0f1b56a3-3c4c-4e0b-9f43-4b0d9d6e7a11"

    def setUp(self) -> None:
        super().setUp()
        cloud = self.cloud
        self.flags(snapshots_directory=str(cloud.tmp / "snapshots"), group="libvirt")
        self.instance = cloud.spawn(cloud.new_instance())
        write(cloud.device(self.instance), MARK_AT, MARK)
        self.root = cloud.volume_name(self.instance)
        self.snapshot_name = naming.derived_volume_name(
            "flow", self.instance.uuid, "disk", naming.VolumeKind.IMAGE_SNAPSHOT
        )
        self.events: list[str] = []
        real_snapshot = Storage.snapshot

        def snapshot(storage, volume, name, **kwargs):
            self.events.append("snapshot")
            return real_snapshot(storage, volume, name, **kwargs)

        self.useFixture(fixtures.MockPatchObject(Storage, "snapshot", snapshot))
        self.freeze = self.useFixture(
            fixtures.MockPatchObject(
                libvirt_guest.Guest,
                "freeze_filesystems",
                side_effect=lambda: self.events.append("freeze"),
            )
        ).mock
        self.thaw = self.useFixture(
            fixtures.MockPatchObject(
                libvirt_guest.Guest,
                "thaw_filesystems",
                side_effect=lambda: self.events.append("thaw"),
            )
        ).mock
        self.suspend = self.useFixture(
            fixtures.MockPatchObject(fakelibvirt.Domain, "suspend", autospec=True)
        ).mock
        self.managed_save = self.useFixture(
            fixtures.MockPatchObject(fakelibvirt.Domain, "managedSave", autospec=True)
        ).mock

    def uploaded(self, path: str) -> None:
        """Check the upload while it happens: the root disk's content, from the snapshot."""
        cloud = self.cloud
        self.assertEqual(
            {self.root: (8, {"host1"}), self.snapshot_name: (8, {"host1"})},
            cloud.state_of(self.instance),
        )
        self.assertEqual(MARK, read(path, MARK_AT, len(MARK)))
        self.assertEqual(PATTERN, read(path, 4 * MiB, len(PATTERN)))
        subprocess.run(
            [
                "qemu-img",
                "compare",
                "-q",
                "-f",
                "raw",
                "-F",
                "raw",
                path,
                cloud.device(self.instance),
            ],
            check=True,
        )
        self.events.append("upload")

    def snapshot(self, image_api: FakeImageAPI):
        update_task_state = mock.Mock()
        with self.cloud.on("host1") as driver:
            driver._image_api = image_api
            driver.snapshot(self.cloud.context, self.instance, self.IMAGE_ID, update_task_state)
        return update_task_state

    def assert_after(self) -> None:
        self.cloud.assert_state(self.instance, {self.root: (8, {"host1"})})
        self.cloud.assert_no_leaks(self.instance)
        self.assertTrue(self.cloud.domain_running(self.instance, "host1"))
        self.suspend.assert_not_called()
        self.managed_save.assert_not_called()

    def test_snapshot_uploads_the_root_disk_while_the_guest_runs(self) -> None:
        image_api = FakeImageAPI(self.uploaded)
        update_task_state = self.snapshot(image_api)
        self.assertEqual([("get", self.IMAGE_ID), ("update", self.IMAGE_ID)], image_api.calls)
        self.assertEqual("raw", image_api.metadata["disk_format"])
        self.assertEqual(
            [
                mock.call(task_state=task_states.IMAGE_PENDING_UPLOAD),
                mock.call(
                    task_state=task_states.IMAGE_UPLOADING,
                    expected_state=task_states.IMAGE_PENDING_UPLOAD,
                ),
            ],
            update_task_state.call_args_list,
        )
        self.assertEqual(["snapshot", "upload"], self.events)  # no agent: not frozen
        self.assert_after()

    def test_guest_agent_freezes_the_guest_for_the_instant_of_the_snapshot(self) -> None:
        self.instance.system_metadata["image_hw_qemu_guest_agent"] = "yes"
        self.snapshot(FakeImageAPI(self.uploaded))
        self.assertEqual(["freeze", "snapshot", "thaw", "upload"], self.events)
        self.assert_after()

    def test_failed_upload_removes_the_snapshot_volume(self) -> None:
        def fail(path: str) -> None:
            self.uploaded(path)
            raise OSError("glance went away")

        self.assertRaises(OSError, self.snapshot, FakeImageAPI(fail))
        self.assert_after()


class CapacityTestCase(FlowTestCase):
    def pool_gib(self) -> tuple[float, float]:
        storage = self.cloud.storage()
        pool_id = storage.client.storage_pool_id("pd1", "sp1")
        capacity = storage.client.pool_capacity(pool_id)
        return capacity.total_kb / units.Mi, capacity.free_kb / units.Mi

    def local_gb(self) -> tuple[int, int]:
        with self.cloud.on("host1") as driver:
            resources = driver.get_available_resource("host1")
        return resources["local_gb"], resources["local_gb_used"]

    def test_local_gb_is_the_pools_net_capacity(self) -> None:
        total, free = self.pool_gib()
        self.assertEqual((int(total), int(total - free)), self.local_gb())
        self.flags(capacity_fraction=0.5, group="scaleio")
        self.assertEqual((int(total * 0.5), int((total - free) * 0.5)), self.local_gb())

    def test_provider_tree_carries_the_trait(self) -> None:
        tree = provider_tree.ProviderTree()
        tree.new_root("host1", "5b1c4ad3-5cf3-4b2c-9a53-0b8d16f5fd2e")
        with self.cloud.on("host1") as driver:
            driver.update_provider_tree(tree, "host1")
        self.assertIn(TRAIT, tree.data("host1").traits)
        self.assertEqual(int(self.pool_gib()[0]), tree.data("host1").inventory["DISK_GB"]["total"])
