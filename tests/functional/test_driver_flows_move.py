"""Reboot, power cycle, resize, rescue and failed spawns through SioLibvirtDriver.

Each flow calls the driver's nova entry points in the order nova's compute
manager does, on the host the manager would call, changing the instance's
host, flavor and states between the calls as the manager does.  After each
step the gateway's state is checked whole: exactly these volumes of the
instance, of these sizes, mapped to these hosts and no others.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from unittest import mock

import nova.conf
from nova import objects
from nova.compute import task_states, vm_states
from nova.virt.libvirt import driver as libvirt_driver
from sio_fixtures.cloud import IID, PATTERN, make_flavor
from sio_fixtures.flow_case import FlowTestCase
from sio_fixtures.generation import PROVISIONING, THICK_VOLUMES, rounded_gb

from sio_backend import naming
from sio_backend.demo.device_io import read, write
from sio_backend.exceptions import GatewayError

CONF = nova.conf.CONF
MiB = 1024**2
MARK = b"before the move\n" * 64
LATER = b"after the move!\n" * 64
NOVA_FILES = {"console.log", "disk.info"}  # what nova itself may keep in the instance directory


class MoveFlowTestCase(FlowTestCase):
    def setUp(self) -> None:
        super().setUp()
        # Runs after each test, before the hosts stop: nothing but unmapped
        # image cache volumes may remain.
        self.addCleanup(self.cloud.assert_no_leaks)

    # -- helpers -------------------------------------------------------------

    def name(self, instance, disk: str = "disk") -> str:
        return self.cloud.volume_name(instance, disk)

    def snapshot_name(self, instance) -> str:
        return naming.derived_volume_name(
            IID, instance.uuid, "disk", naming.VolumeKind.RESIZE_SNAPSHOT
        )

    def instance_files(self, instance, host: str) -> set[str]:
        with self.cloud.on(host):
            path = Path(CONF.instances_path) / instance.uuid
        return set(os.listdir(path)) if path.exists() else set()

    def assert_ends_on(self, instance, host: str, volumes: dict) -> None:
        """It runs on ``host`` with ``volumes`` and its marker; a delete leaves nothing."""
        cloud = self.cloud
        cloud.assert_state(instance, volumes)
        self.assertTrue(cloud.domain_running(instance, host))
        self.assertEqual(MARK, read(cloud.device(instance, host=host), 0, len(MARK)))
        self.assert_no_junk(instance, host)
        cloud.delete(instance, host)
        cloud.assert_state(instance, {})

    def assert_no_junk(self, instance, host: str) -> None:
        files = self.instance_files(instance, host)
        self.assertLessEqual(files, NOVA_FILES, f"unexpected files in {host}'s instance directory")

    def unmap_everywhere(self, instance) -> None:
        """What a host reboot can leave: the volumes no longer mapped to it."""
        client = self.cloud.storage().client
        for name in self.cloud.instance_volume_names(instance):
            client.unmap_volume(self.cloud.volumes()[name].id)

    # -- reboot and power cycle ------------------------------------------------

    def test_hard_reboot_and_power_cycle_after_host_reboot(self) -> None:
        cloud = self.cloud
        instance = cloud.spawn(cloud.new_instance(make_flavor(swap=8192)))
        root, swap = self.name(instance), self.name(instance, "disk.swap")
        expected = {root: (8, {"host1"}), swap: (8, {"host1"})}
        write(cloud.device(instance), 0, MARK)

        cloud.reboot_hard(instance)
        self.assertTrue(cloud.domain_running(instance, "host1"))
        cloud.assert_state(instance, expected)
        self.assertEqual(MARK, read(cloud.device(instance), 0, len(MARK)))
        self.assert_no_junk(instance, "host1")

        instance.task_state = task_states.POWERING_OFF
        with cloud.on("host1") as driver:
            driver.power_off(instance)
        instance.vm_state, instance.task_state = vm_states.STOPPED, None
        self.assertFalse(cloud.domain_running(instance, "host1"))
        cloud.assert_state(instance, expected)  # powered off, still this host's
        self.unmap_everywhere(instance)
        cloud.assert_state(instance, {root: (8, set()), swap: (8, set())})

        instance.task_state = task_states.POWERING_ON
        with cloud.on("host1") as driver:
            driver.power_on(cloud.context, instance, [], block_device_info=None)
        instance.vm_state, instance.task_state = vm_states.ACTIVE, None
        self.assertTrue(cloud.domain_running(instance, "host1"))
        cloud.assert_state(instance, expected)
        self.assertEqual(MARK, read(cloud.device(instance), 0, len(MARK)))
        self.assertEqual(PATTERN, read(cloud.device(instance), 4 * MiB, len(PATTERN)))
        self.assert_no_junk(instance, "host1")

        # resume_guests_state_on_host_boot: a hard reboot after the host's.
        with cloud.on("host1") as driver:
            driver.power_off(instance)
        self.unmap_everywhere(instance)
        cloud.reboot_hard(instance)
        self.assertTrue(cloud.domain_running(instance, "host1"))
        cloud.assert_state(instance, expected)
        self.assertEqual(MARK, read(cloud.device(instance), 0, len(MARK)))
        self.assert_no_junk(instance, "host1")

        cloud.delete(instance)
        cloud.assert_state(instance, {})

    # -- resize ------------------------------------------------------------------

    def resize(self, instance, new_flavor, source: str, dest: str):
        """Cloud.resize, checking that no disk travels over SSH or is taken for a local file."""
        cloud = self.cloud
        with mock.patch.object(cloud, "finish_resize", wraps=cloud.finish_resize) as finish:
            migration = cloud.resize(instance, new_flavor, source, dest)
        self.assertLessEqual(
            set(cloud.remote.copied), {"disk.info"}, "a disk was copied to the destination"
        )
        disk_info = json.loads(finish.call_args.args[2])
        self.assertEqual([], [d for d in disk_info if "emc-vol" in d["path"]])
        return migration

    def confirm(self, instance, migration) -> None:
        self.cloud.confirm_resize(instance, migration, migration.source_compute)

    def revert(self, instance, migration) -> None:
        self.cloud.revert_resize(instance, migration)

    def resized_instance(self, source: str, dest: str, new_flavor):
        cloud = self.cloud
        instance = cloud.spawn(cloud.new_instance(make_flavor()))
        write(cloud.device(instance), 0, MARK)
        migration = self.resize(instance, new_flavor, source, dest)
        root, snap = self.name(instance), self.snapshot_name(instance)
        self.assertTrue(cloud.domain_running(instance, dest))
        if source != dest:
            self.assertFalse(cloud.domain_running(instance, source))
        self.assertEqual(MARK, read(cloud.device(instance, host=dest), 0, len(MARK)))
        self.assertEqual(8, cloud.state_of(instance)[snap][0])
        self.assertEqual(16, cloud.state_of(instance)[root][0])
        return instance, migration

    def test_resize_on_the_same_host_then_confirm(self) -> None:
        cloud = self.cloud
        instance, migration = self.resized_instance("host1", "host1", make_flavor("big", 16))
        root, snap = self.name(instance), self.snapshot_name(instance)
        cloud.assert_state(instance, {root: (16, {"host1"}), snap: (8, set())})

        self.confirm(instance, migration)
        self.assert_ends_on(instance, "host1", {root: (16, {"host1"})})

    def test_resize_on_the_same_host_then_revert(self) -> None:
        cloud = self.cloud
        instance, migration = self.resized_instance("host1", "host1", make_flavor("big", 16))
        write(cloud.device(instance), 0, LATER)

        self.revert(instance, migration)
        self.assert_ends_on(instance, "host1", {self.name(instance): (8, {"host1"})})

    def test_cold_migration_with_resize_then_confirm(self) -> None:
        cloud = self.cloud
        instance, migration = self.resized_instance("host1", "host2", make_flavor("big", 16))
        root, snap = self.name(instance), self.snapshot_name(instance)
        # The source keeps its (idle) mapping until the resize is confirmed or reverted.
        cloud.assert_state(instance, {root: (16, {"host1", "host2"}), snap: (8, set())})

        self.confirm(instance, migration)
        self.assertEqual(set(), self.instance_files(instance, "host1"))
        self.assert_ends_on(instance, "host2", {root: (16, {"host2"})})

    def test_cold_migration_with_resize_then_revert(self) -> None:
        cloud = self.cloud
        instance, migration = self.resized_instance("host1", "host2", make_flavor("big", 16))
        write(cloud.device(instance, host="host2"), 0, LATER)

        self.revert(instance, migration)
        self.assertFalse(cloud.domain_running(instance, "host2"))
        self.assert_ends_on(instance, "host1", {self.name(instance): (8, {"host1"})})

    def failed_finish_resize(self):
        """An instance whose finish_resize on host2 failed: in ERROR there, in the old flavor."""
        cloud = self.cloud
        instance = cloud.spawn(cloud.new_instance(make_flavor()))
        write(cloud.device(instance), 0, MARK)
        migration = cloud.migration("host1", "host2")
        disk_info = cloud.resize_instance(instance, make_flavor("big", 16), migration)
        cloud.simulator.faults.fail_next(method="POST", path="/action/setVolumeSize")
        self.assertRaises(GatewayError, cloud.finish_resize, instance, migration, disk_info)
        instance.flavor, instance.vm_state = instance.old_flavor, vm_states.ERROR
        return instance

    def test_a_failed_finish_resize_recovered_by_hard_reboot_can_be_deleted(self) -> None:
        # nova's advice after a failed finish_resize: hard reboot the
        # instance, now on the destination, in the old flavor.  The source's
        # mapping is stale then, and the revert snapshot of no use.
        cloud = self.cloud
        instance = self.failed_finish_resize()
        root, snap = self.name(instance), self.snapshot_name(instance)
        cloud.assert_state(instance, {root: (8, {"host1", "host2"}), snap: (8, set())})

        cloud.reboot_hard(instance, host="host2")
        instance.vm_state = vm_states.ACTIVE
        # No revert can come any more: the snapshot goes.
        cloud.assert_state(instance, {root: (8, {"host2"})})
        self.assertEqual(MARK, read(cloud.device(instance, host="host2"), 0, len(MARK)))
        self.assertTrue(cloud.domain_running(instance, "host2"))

        cloud.delete(instance, "host2")
        cloud.assert_state(instance, {})

    def test_deleting_after_a_failed_finish_resize_cuts_the_source_off(self) -> None:
        # The instance's record is the destination's: the owner's delete
        # unmaps the volumes from the source (where the guest was powered
        # off) and removes them.  (tests/functional/test_nova_manager_paths.py
        # replays nova's calls for this path.)
        cloud = self.cloud
        instance = self.failed_finish_resize()
        cloud.delete(instance, "host2")
        cloud.assert_state(instance, {})

    def test_a_failed_confirm_recovered_by_hard_reboot_can_be_deleted(self) -> None:
        cloud = self.cloud
        instance, migration = self.resized_instance("host1", "host2", make_flavor("big", 16))
        root, snap = self.name(instance), self.snapshot_name(instance)
        cloud.simulator.faults.fail_next(method="POST", path="/action/removeVolume")
        self.assertRaises(GatewayError, self.confirm, instance, migration)
        instance.vm_state = vm_states.ERROR
        self.assertIn(snap, cloud.volumes())

        cloud.reboot_hard(instance, host="host2")
        instance.vm_state = vm_states.ACTIVE
        # The source fenced; the snapshot no revert can use removed.
        self.assert_ends_on(instance, "host2", {root: (16, {"host2"})})

    def test_a_resize_after_a_failed_one_reverts_to_the_disk_as_it_began(self) -> None:
        # The next resize must revert to the disk as it was when it began,
        # not to the failed resize's snapshot (which the hard reboot
        # removes; a resize finding one replaces it), or a revert loses what
        # the guest wrote in between.
        cloud = self.cloud
        instance = self.failed_finish_resize()
        cloud.reboot_hard(instance, host="host2")
        instance.vm_state = vm_states.ACTIVE
        write(cloud.device(instance, host="host2"), 0, LATER)

        migration = cloud.resize(instance, make_flavor("big", 16), "host2", "host1")
        cloud.revert_resize(instance, migration)
        cloud.assert_state(instance, {self.name(instance): (8, {"host2"})})
        self.assertTrue(cloud.domain_running(instance, "host2"))
        self.assertEqual(LATER, read(cloud.device(instance, host="host2"), 0, len(LATER)))
        cloud.delete(instance, "host2")
        cloud.assert_state(instance, {})

    def test_a_revert_the_gateway_interrupts_completes_when_retried_or_hard_rebooted(
        self,
    ) -> None:
        # The rollback removes the grown root, then renames the snapshot into
        # its place: a failure in between leaves the data in the snapshot
        # alone, which the retried revert, or the hard reboot nova advises
        # for an instance in ERROR, must boot from.  (The fault matrix fails
        # every other call of the revert too.)
        cloud = self.cloud
        for recovery in ("retry", "hard reboot"):
            with self.subTest(recovery=recovery):
                instance, migration = self.resized_instance(
                    "host1", "host2", make_flavor("big", 16)
                )
                cloud.simulator.faults.fail_next(method="POST", path="/action/setVolumeName")
                self.assertRaises(GatewayError, cloud.revert_resize, instance, migration)
                self.assertNotIn(self.name(instance), cloud.volumes())
                instance.vm_state = vm_states.ERROR
                if recovery == "retry":
                    cloud.finish_revert_resize(instance, migration)
                else:
                    cloud.reboot_hard(instance, host="host1")
                self.assert_ends_on(instance, "host1", {self.name(instance): (8, {"host1"})})

    def test_resize_to_a_flavor_in_another_pool_moves_the_volume_and_revert_moves_it_back(
        self,
    ) -> None:
        cloud = self.cloud
        sp2 = cloud.simulator.add_storage_pool("pd1", "sp2")
        instance = cloud.spawn(cloud.new_instance(make_flavor()))
        root, snap = self.name(instance), self.snapshot_name(instance)
        sp1 = cloud.volumes()[root].pool_id
        self.assertNotEqual(sp1, sp2)
        write(cloud.device(instance), 0, MARK)

        migration = self.resize(
            instance, make_flavor("big.sp2", 16, **{"disk:pool": "sp2"}), "host1", "host2"
        )
        self.assertEqual(sp2, cloud.volumes()[root].pool_id)
        self.assertEqual(sp2, cloud.volumes()[snap].pool_id)  # the V-Tree moves whole
        cloud.assert_state(instance, {root: (16, {"host1", "host2"}), snap: (8, set())})
        self.assertEqual(MARK, read(cloud.device(instance, host="host2"), 0, len(MARK)))
        write(cloud.device(instance, host="host2"), 0, LATER)

        self.revert(instance, migration)
        self.assertEqual(sp1, cloud.volumes()[root].pool_id)
        cloud.assert_state(instance, {root: (8, {"host1"})})
        self.assertEqual(MARK, read(cloud.device(instance), 0, len(MARK)))
        self.assertTrue(cloud.domain_running(instance, "host1"))
        cloud.delete(instance)
        cloud.assert_state(instance, {})

    # -- rescue ------------------------------------------------------------------

    def rescue(self, instance, image_meta, block_device_info=None) -> None:
        cloud = self.cloud
        instance.task_state = task_states.RESCUING
        with (
            cloud.on("host1") as driver,
            mock.patch.object(objects.ImageMeta, "from_image_ref", return_value=cloud.image_meta()),
        ):
            driver.rescue(
                cloud.context, instance, [], image_meta, "secret", block_device_info, None
            )
        instance.vm_state, instance.task_state = vm_states.RESCUED, None

    def unrescue(self, instance) -> None:
        instance.task_state = task_states.UNRESCUING
        with self.cloud.on("host1") as driver:
            driver.unrescue(self.cloud.context, instance)
        instance.vm_state, instance.task_state = vm_states.ACTIVE, None

    def rescued_instance(self, rescue_disks=("disk.rescue",), **rescue_image_props):
        """A thick-provisioned instance (thin on 5.x, which has no thick
        volumes), rescued; its root carries MARK."""
        cloud = self.cloud
        flavor = make_flavor(swap=8192, **{"disk:provisioning_type": PROVISIONING})
        instance = cloud.spawn(cloud.new_instance(flavor))
        write(cloud.device(instance), 0, MARK)
        block_device_info = {
            "root_device_name": "/dev/vda",
            "ephemerals": [],
            "block_device_mapping": [],
            "swap": None,
        }
        self.rescue(instance, cloud.image_meta(**rescue_image_props), block_device_info)
        rescue = {self.name(instance, disk) for disk in rescue_disks}
        volumes = cloud.volumes()
        for name in rescue:
            self.assertEqual("ThinProvisioned", volumes[name].volume_type)
        root_type = "ThickProvisioned" if THICK_VOLUMES else "ThinProvisioned"
        self.assertEqual(root_type, volumes[self.name(instance)].volume_type)
        self.assertTrue(cloud.domain_running(instance, "host1"))
        self.assertEqual(
            PATTERN, read(cloud.device(instance, "disk.rescue"), 4 * MiB, len(PATTERN))
        )
        cloud.assert_state(
            instance,
            {
                self.name(instance): (8, {"host1"}),
                self.name(instance, "disk.swap"): (8, {"host1"}),
            }
            # Sized from the 1 GiB image (disk.rescue) or the 8 GiB swap (disk.swap.rescue).
            | {
                self.name(instance, disk): (8 if "swap" in disk else rounded_gb(1), {"host1"})
                for disk in rescue_disks
            },
        )
        return instance

    def assert_unrescued(self, instance) -> None:
        cloud = self.cloud
        cloud.assert_state(
            instance,
            {self.name(instance): (8, {"host1"}), self.name(instance, "disk.swap"): (8, {"host1"})},
        )
        self.assertTrue(cloud.domain_running(instance, "host1"))
        self.assertEqual(MARK, read(cloud.device(instance), 0, len(MARK)))
        self.assert_no_junk(instance, "host1")
        cloud.delete(instance)
        cloud.assert_state(instance, {})

    def test_rescue_and_unrescue(self) -> None:
        instance = self.rescued_instance()
        self.unrescue(instance)
        self.assert_unrescued(instance)

    def test_stable_device_rescue_and_unrescue(self) -> None:
        # nova makes every disk of the mapping anew with the suffix, so a
        # stable device rescue also gets a (never used) disk.swap.rescue.
        instance = self.rescued_instance(
            ("disk.rescue", "disk.swap.rescue"), hw_rescue_device="disk", hw_rescue_bus="virtio"
        )
        self.unrescue(instance)
        self.assert_unrescued(instance)

    def test_deleting_a_rescued_instance_removes_its_rescue_volumes(self) -> None:
        instance = self.rescued_instance()
        self.cloud.delete(instance)
        self.cloud.assert_state(instance, {})
        self.assertFalse(self.cloud.domain_running(instance, "host1"))

    # -- failed spawns -----------------------------------------------------------

    def failure(self, instance, message: str):
        """A side effect that notes the instance's volumes, then fails."""

        def fail(*_args, **_kwargs):
            self.state_at_failure = self.cloud.state_of(instance)
            self.at_failure = set(self.state_at_failure)
            raise RuntimeError(message)

        return fail

    def test_a_failed_spawn_removes_the_volumes_it_created(self) -> None:
        cloud = self.cloud
        instance = cloud.new_instance(make_flavor(ephemeral_gb=8, swap=8192))
        with mock.patch.object(
            libvirt_driver.LibvirtDriver,
            "_create_guest_with_network",
            side_effect=self.failure(instance, "guest failed to start"),
        ):
            self.assertRaises(RuntimeError, cloud.spawn, instance)
        self.assertEqual(3, len(self.at_failure))
        cloud.assert_state(instance, {})
        self.assertFalse(cloud.domain_running(instance, "host1"))

    def test_a_failed_swap_creation_removes_the_root_it_created(self) -> None:
        cloud = self.cloud
        instance = cloud.new_instance(make_flavor(swap=8192))
        with mock.patch.object(
            libvirt_driver.LibvirtDriver,
            "_create_swap",
            side_effect=self.failure(instance, "mkswap failed"),
        ):
            self.assertRaises(RuntimeError, cloud.spawn, instance)
        self.assertEqual({self.name(instance)}, self.at_failure)  # swap's file comes first
        cloud.assert_state(instance, {})

    def test_a_failed_evacuation_keeps_the_existing_volumes_and_removes_new_ones(self) -> None:
        cloud = self.cloud
        instance = cloud.spawn(cloud.new_instance(make_flavor(swap=8192)))
        root, swap = self.name(instance), self.name(instance, "disk.swap")
        write(cloud.device(instance), 0, MARK)
        # host1 fails before its swap volume was made (removed here), so the
        # evacuation to host2 creates that one and reuses the root.
        cloud.storage().client.remove_volume(cloud.volumes()[swap].id)
        instance.host = instance.node = "host2"
        instance.task_state = task_states.REBUILD_SPAWNING
        with mock.patch.object(
            libvirt_driver.LibvirtDriver,
            "_create_guest_with_network",
            side_effect=self.failure(instance, "guest failed to start"),
        ):
            self.assertRaises(RuntimeError, cloud.spawn, instance, "host2")
        self.assertEqual({root: (8, {"host2"}), swap: (8, {"host2"})}, self.state_at_failure)
        cloud.assert_state(instance, {root: (8, set())})  # host1 fenced, host2 let go
        self.assertEqual(
            MARK, read(cloud.simulator.devices.data_path(cloud.volumes()[root].id), 0, len(MARK))
        )
        cloud.delete(instance, "host2")
        cloud.assert_state(instance, {})
