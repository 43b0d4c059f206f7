"""Paths of nova 34's compute manager that used to lose or leak a disk.

Each test replays, with :mod:`nova_manager`, the driver calls nova's
compute manager (and, for a cross-cell resize, its conductor) makes on that
path, with the instance record, host and arguments nova passes, and checks
the gateway's state whole after it: exactly these volumes, of these sizes,
mapped to these hosts.  Which record may remove or unmap what is decided in
``sio_backend.ownership``; these are the paths that decision was written
for (issue 15).
"""

from __future__ import annotations

from pathlib import Path

import fixtures
import nova.conf
from nova import exception
from nova.compute import vm_states
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.virt.libvirt import guest as libvirt_guest
from sio_fixtures.cloud import IID, make_flavor
from sio_fixtures.flow_case import FlowTestCase
from sio_fixtures.nova_manager import CrossCellResize, Manager, bdi
from test_driver_flows_migrate import LiveMigration, manager_cleanup_flags, no_port_binding

from sio_backend import exceptions, naming
from sio_backend.demo.device_io import read, write

CONF = nova.conf.CONF
MARK = b"written before the resize".ljust(4096, b".")
LATER = b"written after the resize".ljust(4096, b".")
SWAP_MARK = b"swap written before the resize".ljust(4096, b".")
SMALL = make_flavor("m1.small", root_gb=8)
SMALL_SWAP = make_flavor("m1.small.swap", root_gb=8, swap=8192)
SMALL_EPH = make_flavor("m1.small.eph", root_gb=8, ephemeral_gb=8)
BIG = make_flavor("m1.big", root_gb=16)
BIG_SWAP = make_flavor("m1.big.swap", root_gb=16, swap=8192)


class ManagerPathTestCase(FlowTestCase):
    def setUp(self) -> None:
        super().setUp()
        no_port_binding(self)
        self.manager = Manager(self.cloud)
        self.addCleanup(self.cloud.assert_no_leaks)

    # -- helpers -----------------------------------------------------------

    def name(self, instance, disk: str = "disk") -> str:
        return self.cloud.volume_name(instance, disk)

    def revert_snapshot(self, instance) -> str:
        return naming.derived_volume_name(
            IID, instance.uuid, "disk", naming.VolumeKind.RESIZE_SNAPSHOT
        )

    def spawned(self, flavor, host: str = "host1"):
        cloud = self.cloud
        instance = cloud.new_instance(flavor, host=host)
        cloud.spawn(instance, host=host, block_device_info=bdi(flavor.swap))
        write(cloud.device(instance, host=host), 0, MARK)
        return instance

    def assert_reads(self, instance, host: str, data: bytes, disk: str = "disk") -> None:
        self.assertEqual(data, read(self.cloud.device(instance, disk, host=host), 0, len(data)))

    def assert_running_only_on(self, instance, host: str) -> None:
        other = {"host1": "host2", "host2": "host1"}[host]
        self.assertTrue(self.cloud.domain_running(instance, host))
        self.assertFalse(self.cloud.domain_running(instance, other))

    def instance_dir(self, instance, host: str) -> Path:
        with self.cloud.on(host):
            return Path(CONF.instances_path) / instance.uuid

    def resize_fails(self, instance, error: type[Exception]) -> None:
        """A resize to BIG from host1 to host2 that raises ``error``."""
        self.assertRaises(
            error, self.manager.resize, instance, BIG, "host1", "host2", dest_bdi=bdi()
        )

    def delete_leaves_nothing(self, instance) -> None:
        self.manager.delete(instance)
        self.cloud.assert_state(instance, {})

    # -- a, b: cross-cell resize --------------------------------------------

    def test_cross_cell_resize_revert_keeps_what_the_source_reverts_to(self) -> None:
        """``revert_snapshot_based_resize_at_dest`` destroys the target cell's copy
        (``driver.destroy``, ``destroy_disks`` True, host = the destination),
        then ``finish_revert_snapshot_based_resize_at_source`` reverts the
        source cell's.  The copies share the volumes: the target's destroy
        keeps the root and its revert snapshot, and removes only the swap its
        flavor added."""
        cloud = self.cloud
        source = self.spawned(SMALL)
        resize = CrossCellResize(cloud, source, BIG_SWAP)
        resize.run()
        root, swap = self.name(source), self.name(source, "disk.swap")
        snap = self.revert_snapshot(source)
        cloud.assert_state(source, {root: (16, {"host2"}), swap: (8, {"host2"}), snap: (8, set())})
        self.assert_running_only_on(source, "host2")
        write(cloud.device(source, host="host2"), 0, LATER)

        resize.revert()

        cloud.assert_state(source, {root: (8, {"host1"})})
        self.assert_reads(source, "host1", MARK)  # the root as it was, as nova's revert does
        self.assert_running_only_on(source, "host1")
        self.delete_leaves_nothing(source)

    def test_cross_cell_resize_confirm_leaves_nothing_behind(self) -> None:
        """``confirm_snapshot_based_resize_at_source`` calls ``driver.cleanup``
        (``destroy_disks`` True, ``block_device_info`` None) with the source
        cell's record, hidden since the finish; the target cell's copy runs
        on host2 on the same volumes.  The source gives up the revert
        snapshot, the swap only the old flavor had and its mappings, and
        never touches the running copy's root."""
        cloud = self.cloud
        source = self.spawned(SMALL_SWAP)
        resize = CrossCellResize(cloud, source, BIG)
        resize.run()
        root = self.name(source)
        cloud.assert_state(
            source,
            {
                root: (16, {"host2"}),
                self.name(source, "disk.swap"): (8, set()),
                self.revert_snapshot(source): (8, set()),
            },
        )
        write(cloud.device(source, host="host2"), 0, LATER)

        resize.confirm()

        cloud.assert_state(source, {root: (16, {"host2"})})
        self.assert_reads(source, "host2", LATER)
        self.assert_running_only_on(resize.target, "host2")
        self.assertFalse(self.instance_dir(source, "host1").exists())
        self.delete_leaves_nothing(resize.target)

    # -- c: a resize to a flavor with less swap or fewer ephemerals -----------

    def resized_without_swap(self):
        """host1 → host2 to a flavor without swap: nova drops the swap mapping."""
        cloud = self.cloud
        instance = self.spawned(SMALL_SWAP)
        write(cloud.device(instance, "disk.swap"), 0, SWAP_MARK)
        migration = self.manager.resize(instance, BIG, "host1", "host2", dest_bdi=bdi())
        root, swap = self.name(instance), self.name(instance, "disk.swap")
        cloud.assert_state(
            instance,
            {
                root: (16, {"host1", "host2"}),
                swap: (8, {"host1"}),
                self.revert_snapshot(instance): (8, set()),
            },
        )
        return instance, migration

    def test_resize_to_a_flavor_without_swap_confirm_removes_the_swap(self) -> None:
        """``confirm_resize`` → ``driver.confirm_migration`` on the source, with
        the record in the new flavor and ``old_flavor`` set."""
        instance, migration = self.resized_without_swap()
        self.manager.confirm_resize(instance, migration)
        self.cloud.assert_state(instance, {self.name(instance): (16, {"host2"})})
        self.delete_leaves_nothing(instance)

    def test_resize_to_a_flavor_without_swap_revert_brings_the_swap_back(self) -> None:
        """``revert_resize`` → ``driver.destroy(destroy_disks=False)`` on the
        destination, ``finish_revert_resize`` → ``driver.finish_revert_migration``
        on the source with the swap mapping recreated (no device name yet)."""
        instance, migration = self.resized_without_swap()
        self.manager.revert_resize(instance, migration, source_bdi=bdi(8192, swap_device=None))
        swap = self.name(instance, "disk.swap")
        self.cloud.assert_state(
            instance, {self.name(instance): (8, {"host1"}), swap: (8, {"host1"})}
        )
        self.assert_reads(instance, "host1", SWAP_MARK, "disk.swap")
        self.assert_running_only_on(instance, "host1")
        self.delete_leaves_nothing(instance)

    def test_a_swap_the_new_flavor_added_goes_with_the_revert(self) -> None:
        """The mirror of the above: ``revert_resize`` on the destination, then
        ``finish_revert_resize`` on the source in the old flavor (which nova
        gives no swap mapping): no record names the swap again."""
        instance = self.spawned(SMALL)
        migration = self.manager.resize(instance, BIG_SWAP, "host1", "host2", dest_bdi=bdi(8192))
        swap = self.name(instance, "disk.swap")
        self.assertEqual((8, {"host2"}), self.cloud.state_of(instance)[swap])
        self.manager.revert_resize(instance, migration, source_bdi=bdi())
        self.cloud.assert_state(instance, {self.name(instance): (8, {"host1"})})
        self.assert_running_only_on(instance, "host1")
        self.delete_leaves_nothing(instance)

    def test_a_swap_a_failed_confirm_kept_goes_with_the_delete(self) -> None:
        """A confirm that fails still forgets the old flavor
        (``_delete_stashed_flavor_info`` in its ``finally``), so the delete
        (``_shutdown_instance`` → ``driver.destroy`` on host2) is the last
        chance to remove the swap."""
        instance, migration = self.resized_without_swap()
        self.cloud.simulator.faults.fail_next(method="POST", path="/action/removeVolume")
        self.assertRaises(exceptions.GatewayError, self.manager.confirm_resize, instance, migration)
        instance.vm_state = vm_states.ERROR
        self.assertIsNone(instance.old_flavor)
        self.delete_leaves_nothing(instance)

    def test_a_resize_to_a_flavor_with_fewer_ephemerals_is_refused_before_any_change(self) -> None:
        """nova's ``migrate_disk_and_power_off`` refuses to shrink the ephemeral
        disks (``InstanceFaultRollback``) before powering off, so nothing can leak."""
        cloud = self.cloud
        instance = self.spawned(SMALL_EPH)
        before = cloud.state_of(instance)
        self.resize_fails(instance, exception.InstanceFaultRollback)
        cloud.assert_state(instance, before)
        self.assertTrue(cloud.domain_running(instance, "host1"))
        self.assertEqual(("host1", SMALL_EPH), (instance.host, instance.flavor))
        self.delete_leaves_nothing(instance)

    # -- d: a snapshot the guest agent does not answer -----------------------

    def test_snapshot_when_the_guest_agent_does_not_answer(self) -> None:
        """``_snapshot_instance`` → ``driver.snapshot(context, instance, image_id,
        update_task_state)``, the image asking for the guest agent, which does
        not answer: nova's ``_set_quiesced`` raises ``InstanceQuiesceFailed``.
        As nova's libvirt driver does, the snapshot is taken anyway, unless
        the image requires quiescing (``os_require_quiesce``)."""
        cloud = self.cloud
        self.flags(snapshots_directory=str(cloud.tmp / "snapshots"), group="libvirt")
        error = fakelibvirt.make_libvirtError(
            fakelibvirt.libvirtError,
            "Guest agent is not responding",
            error_code=fakelibvirt.VIR_ERR_AGENT_UNRESPONSIVE,
        )
        self.useFixture(
            fixtures.MockPatchObject(libvirt_guest.Guest, "freeze_filesystems", side_effect=error)
        )
        instance = self.spawned(SMALL)
        instance.system_metadata["image_hw_qemu_guest_agent"] = "yes"
        uploaded = cloud.snapshot(instance)
        self.assertEqual(MARK, read(uploaded, 0, len(MARK)))
        cloud.assert_state(instance, {self.name(instance): (8, {"host1"})})

        instance.system_metadata["image_os_require_quiesce"] = "yes"
        self.assertRaises(exception.InstanceQuiesceFailed, cloud.snapshot, instance)
        cloud.assert_state(instance, {self.name(instance): (8, {"host1"})})
        self.assert_running_only_on(instance, "host1")
        self.delete_leaves_nothing(instance)

    # -- e: a live migration nova fails after the driver's pre_live_migration --

    def live_migration_failed_after_pre_live_migration(self):
        """``_do_pre_live_migration_from_source`` got the destination's answer,
        then failed (a network-vif-plugged event that never came):
        ``_cleanup_pre_live_migration`` → ``_rollback_live_migration(...,
        pre_live_migration=True)``, which skips
        ``rollback_live_migration_at_source`` and, with a shared instances
        path (``_live_migration_cleanup_flags``: do_cleanup False), never
        calls the destination either."""
        cloud = self.cloud
        instance = self.spawned(SMALL)
        migration = LiveMigration(cloud, instance)
        migration.check(shared_path=True)
        migration.pre_live_migration()
        do_cleanup, _ = manager_cleanup_flags(migration.migrate_data)
        self.assertFalse(do_cleanup)  # nova calls no driver back
        instance.task_state = None
        cloud.assert_state(instance, {self.name(instance): (8, {"host1", "host2"})})
        return instance, migration

    def test_live_migration_failed_after_pre_live_migration_then_delete(self) -> None:
        instance, _ = self.live_migration_failed_after_pre_live_migration()
        self.assert_running_only_on(instance, "host1")
        self.delete_leaves_nothing(instance)

    def test_live_migration_failed_after_pre_live_migration_then_again(self) -> None:
        """The next live migration's ``check_can_live_migrate_source`` on the
        source (the first driver call nova makes for the instance again)
        removes the mapping the failed one left before anything else."""
        instance, _ = self.live_migration_failed_after_pre_live_migration()
        migration = LiveMigration(self.cloud, instance)
        migration.check(shared_path=True)
        self.cloud.assert_state(instance, {self.name(instance): (8, {"host1"})})
        migration.pre_live_migration()
        migration.migrate_domain()
        migration.post_live_migration()
        self.cloud.assert_state(instance, {self.name(instance): (8, {"host2"})})
        self.assert_reads(instance, "host2", MARK)
        self.delete_leaves_nothing(instance)

    # -- f: the instance directory a reverted resize left --------------------

    def test_a_reverted_resize_leaves_no_instance_directory_on_the_destination(self) -> None:
        """``revert_resize`` on host2 keeps the disks (``destroy_disks`` False:
        shared block storage) and so, in nova, the instance directory; a live
        migration to host2 without a shared instances path then fails in
        ``pre_live_migration`` with ``DestinationDiskExists``."""
        cloud = self.cloud
        instance = self.spawned(SMALL)
        migration = self.manager.resize(instance, BIG, "host1", "host2", dest_bdi=bdi())
        self.assertTrue(self.instance_dir(instance, "host2").exists())
        self.manager.revert_resize(instance, migration, source_bdi=bdi())
        self.assertFalse(self.instance_dir(instance, "host2").exists())
        self.assertTrue(self.instance_dir(instance, "host1").exists())

        live = LiveMigration(cloud, instance)
        live.check(shared_path=False)
        live.pre_live_migration()
        live.migrate_domain()
        live.post_live_migration()
        cloud.assert_state(instance, {self.name(instance): (8, {"host2"})})
        self.assert_reads(instance, "host2", MARK)
        self.delete_leaves_nothing(instance)

    # -- g, h: a resize that failed in finish_resize -------------------------

    def failed_finish_resize(self):
        """``finish_resize`` on host2 failed growing the root: the instance is in
        ERROR on host2 in the old flavor, the source still maps the volumes
        and the revert snapshot was taken."""
        cloud = self.cloud
        instance = self.spawned(SMALL)
        cloud.simulator.faults.fail_next(method="POST", path="/action/setVolumeSize")
        self.resize_fails(instance, exceptions.GatewayError)
        self.assertEqual(
            (vm_states.ERROR, "host2", 8),
            (instance.vm_state, instance.host, instance.flavor.root_gb),
        )
        cloud.assert_state(
            instance,
            {
                self.name(instance): (8, {"host1", "host2"}),
                self.revert_snapshot(instance): (8, set()),
            },
        )
        return instance

    def test_a_hard_reboot_that_recovers_a_failed_resize_removes_its_revert_snapshot(self) -> None:
        """``reboot_instance`` (HARD) on host2, nova's advice after a failed
        ``finish_resize``: nova refuses to revert or confirm an errored
        migration, so the snapshot can no longer be used."""
        instance = self.failed_finish_resize()
        self.manager.reboot_hard(instance)
        self.cloud.assert_state(instance, {self.name(instance): (8, {"host2"})})
        self.assert_reads(instance, "host2", MARK)
        self.assert_running_only_on(instance, "host2")
        self.delete_leaves_nothing(instance)

    def test_a_server_left_in_error_by_a_failed_resize_can_be_deleted(self) -> None:
        """``terminate_instance`` on host2 (the record's host since
        ``resize_instance``): the owner's delete cuts host1 off and finishes."""
        instance = self.failed_finish_resize()
        self.delete_leaves_nothing(instance)
        self.assertFalse(self.cloud.domain_running(instance, "host2"))
