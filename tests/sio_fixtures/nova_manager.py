"""nova 34's compute manager and conductor, replayed call by call against the harness hosts.

Each function names the manager (or conductor task) method it replays and
makes the driver calls that method makes, with the arguments it passes (the
instance record of the right cell, ``destroy_disks``, ``block_device_info``,
``migrate_data``), on the host that method runs on, changing the records
between the calls as nova does.  Network, placement and Cinder calls have no
counterpart here: the driver under test sees none of them.

``bdi`` builds what ``ComputeManager._get_instance_block_device_info``
returns for an image-backed instance without Cinder volumes: nova's API
gives a flavor's swap a swap block device mapping, which
``_update_bdm_for_swap_to_finish_resize`` removes or recreates on a resize.
"""

from __future__ import annotations

import nova.conf
from nova import objects
from nova.compute import task_states, vm_states

CONF = nova.conf.CONF


def bdi(swap_mb: int = 0, *, swap_device: str | None = "/dev/vdb") -> dict:
    """``_get_instance_block_device_info`` for an image-backed instance."""
    swap = {"device_name": swap_device, "swap_size": swap_mb} if swap_mb else None
    return {
        "root_device_name": "/dev/vda",
        "ephemerals": [],
        "block_device_mapping": [],
        "swap": swap,
    }


def set_flavor(instance, flavor) -> None:
    """``ComputeManager._set_instance_info``."""
    instance.flavor = flavor
    instance.memory_mb, instance.vcpus = flavor.memory_mb, flavor.vcpus
    instance.root_gb, instance.ephemeral_gb = flavor.root_gb, flavor.ephemeral_gb


class Manager:
    """The compute managers of the harness hosts, for one instance's same-cell flows."""

    def __init__(self, cloud) -> None:
        self.cloud = cloud
        self.ctx = cloud.context

    def resize(self, instance, flavor, source: str, dest: str, *, dest_bdi: dict):
        """``resize_instance`` on the source, then ``finish_resize`` on the destination.

        ``_resize_instance``: ``driver.migrate_disk_and_power_off(context,
        instance, migration.dest_host, flavor, network_info,
        block_device_info, timeout, retry_interval)``; the record moves to
        the destination.  ``_finish_resize``: the swap mapping follows the
        new flavor (``dest_bdi``), then ``driver.finish_migration(context,
        migration, instance, disk_info, network_info, image_meta,
        resize_instance, allocations, block_device_info, power_on)``.
        """
        cloud = self.cloud
        migration = cloud.migration(source, dest)
        instance.new_flavor = flavor
        instance.system_metadata["old_vm_state"] = instance.vm_state
        instance.task_state = task_states.RESIZE_MIGRATING
        with cloud.on(source) as driver:
            disk_info = driver.migrate_disk_and_power_off(
                self.ctx, instance, dest, flavor, [], bdi(instance.flavor.swap), 0, 0
            )
        instance.host = instance.node = dest
        instance.old_flavor = instance.flavor
        instance.task_state = task_states.RESIZE_MIGRATED
        set_flavor(instance, flavor)
        instance.task_state = task_states.RESIZE_FINISH
        try:
            with cloud.on(dest) as driver:
                driver.finish_migration(
                    self.ctx,
                    migration,
                    instance,
                    disk_info,
                    [],
                    cloud.image_meta(),
                    True,
                    {},
                    dest_bdi,
                    True,
                )
        except Exception:
            # _finish_resize: the old flavor back; _error_out_instance_on_exception,
            # reverts_task_state, errors_out_migration.  The host stays the
            # destination, the stashed flavors stay.
            set_flavor(instance, instance.old_flavor)
            instance.vm_state, instance.task_state = vm_states.ERROR, None
            migration.status = "error"
            raise
        migration.status = "finished"
        instance.vm_state, instance.task_state = vm_states.RESIZED, None
        return migration

    def confirm_resize(self, instance, migration) -> None:
        """``confirm_resize`` on the source: ``_confirm_resize`` →
        ``driver.confirm_migration(context, migration, instance, network_info)``;
        ``_delete_stashed_flavor_info`` whether it failed or not."""
        try:
            with self.cloud.on(migration.source_compute) as driver:
                driver.confirm_migration(self.ctx, migration, instance, [])
            migration.status = "confirmed"
            instance.vm_state = vm_states.ACTIVE
        finally:
            instance.old_flavor = instance.new_flavor = None

    def revert_resize(self, instance, migration, *, source_bdi: dict) -> None:
        """``revert_resize`` on the destination, then ``finish_revert_resize`` on the source.

        The destination: ``destroy_disks = not _is_instance_storage_shared``
        (shared block storage: False), ``driver.destroy(context, instance,
        network_info, block_device_info, destroy_disks)``.  The source:
        flavor and host back, the swap mapping recreated (``source_bdi``),
        ``driver.finish_revert_migration(context, instance, network_info,
        migration, block_device_info, power_on)``.
        """
        cloud = self.cloud
        instance.task_state = task_states.RESIZE_REVERTING
        with cloud.on(migration.dest_compute) as driver:
            shared = driver.check_instance_shared_storage_local(self.ctx, instance) is None
            driver.destroy(
                self.ctx, instance, [], bdi(instance.flavor.swap), destroy_disks=not shared
            )
        cloud.finish_revert_resize(instance, migration, source_bdi)

    def delete(self, instance, block_device_info: dict | None = None) -> None:
        """``terminate_instance`` on the instance's host: ``_shutdown_instance`` →
        ``driver.destroy(context, instance, network_info, block_device_info)``."""
        instance.task_state = task_states.DELETING
        with self.cloud.on(instance.host) as driver:
            driver.destroy(self.ctx, instance, [], block_device_info or bdi(instance.flavor.swap))

    def reboot_hard(self, instance) -> None:
        """``reboot_instance(reboot_type='HARD')`` on the instance's host →
        ``driver.reboot(context, instance, network_info, 'HARD', block_device_info)``."""
        instance.task_state = task_states.REBOOT_STARTED_HARD
        with self.cloud.on(instance.host) as driver:
            driver.reboot(self.ctx, instance, [], "HARD", bdi(instance.flavor.swap))
        instance.vm_state, instance.task_state = vm_states.ACTIVE, None


class CrossCellResize:
    """A cross-cell resize from host1 (cell1) to host2 (cell2).

    ``nova/conductor/tasks/cross_cell_migrate.py`` copies the instance into
    the target cell (``TargetDBSetupTask``: the copy ``hidden``), prepares
    the source and finishes on the destination, then swaps which copy is
    hidden.  Both records carry the instance's UUID, so both name the same
    volumes.  ``source`` is the source cell's record, ``target`` the target
    cell's.
    """

    def __init__(self, cloud, source, flavor) -> None:
        self.cloud, self.ctx = cloud, cloud.context
        self.source, self.flavor = source, flavor
        self.migration = cloud.migration("host1", "host2")
        self.migration.cross_cell_move = True
        self.target = None

    def run(self) -> None:
        cloud, source = self.cloud, self.source
        target = self.target = source.obj_clone()  # TargetDBSetupTask
        target.hidden = True
        target.new_flavor = self.flavor  # CrossCellMigrationTask._prep_resize_at_dest
        # PrepResizeAtSourceTask, then ComputeManager._prep_snapshot_based_resize_at_source.
        source.system_metadata["old_vm_state"] = source.vm_state
        source.task_state = task_states.RESIZE_MIGRATING
        source.old_flavor, source.new_flavor = source.flavor, self.flavor
        snapshot_id = cloud.glance.create(f"{source.display_name}-resize-temp")
        with cloud.on("host1") as driver:
            driver.power_off(source, CONF.shutdown_timeout, CONF.compute.shutdown_retry_interval)
            driver.snapshot(self.ctx, source, snapshot_id, lambda *a, **k: None)
            driver.destroy(self.ctx, source, [], bdi(source.flavor.swap), destroy_disks=False)
        source.task_state = task_states.RESIZE_MIGRATED
        # ComputeManager._finish_snapshot_based_resize_at_dest on host2.
        original_image = target.image_ref
        target.image_ref = snapshot_id
        image_meta = objects.ImageMeta.from_dict(cloud.glance.get(self.ctx, snapshot_id))
        target.old_flavor = target.flavor
        set_flavor(target, self.flavor)
        target.task_state = task_states.RESIZE_FINISH
        with cloud.on("host2") as driver:
            driver.spawn(
                self.ctx,
                target,
                image_meta,
                injected_files=[],
                admin_password=None,
                allocations={},
                network_info=[],
                block_device_info=bdi(self.flavor.swap),
                power_on=True,
            )
        target.image_ref = original_image
        cloud.glance.delete(self.ctx, snapshot_id)
        self.migration.status = "finished"
        target.vm_state, target.task_state = vm_states.RESIZED, None
        target.host = target.node = "host2"
        # FinishResizeAtDestTask._update_instance_mapping.
        target.hidden, source.hidden = False, True

    def confirm(self) -> None:
        """``ConfirmResizeTask``: ``confirm_snapshot_based_resize_at_source`` on host1 →
        ``driver.cleanup(ctxt, instance, network_info, block_device_info=None,
        destroy_disks=True, destroy_vifs=False)`` with the source cell's record;
        then that record is deleted and the target's is the instance."""
        with self.cloud.on("host1") as driver:
            driver.cleanup(
                self.ctx,
                self.source,
                [],
                block_device_info=None,
                destroy_disks=True,
                destroy_vifs=False,
            )
        target = self.target
        target.old_flavor = target.new_flavor = None
        target.vm_state, target.task_state = vm_states.ACTIVE, None

    def revert(self) -> None:
        """``RevertResizeTask``, with the two copies' hidden flags swapped first.

        ``revert_snapshot_based_resize_at_dest`` on host2: ``driver.destroy(
        ctxt, instance, network_info, block_device_info=block_device_info)``
        (``destroy_disks`` left at True) with the target cell's record; then
        ``finish_revert_snapshot_based_resize_at_source`` on host1:
        ``driver.finish_revert_migration(ctxt, instance, network_info,
        migration, block_device_info=block_device_info, power_on=power_on)``
        with the source cell's record in its old flavor.
        """
        source, target = self.source, self.target
        target.task_state = task_states.RESIZE_REVERTING  # nova's API
        source.task_state = task_states.RESIZE_REVERTING  # _update_instance_in_source_cell
        source.hidden, target.hidden = False, True  # _update_instance_mapping
        with self.cloud.on("host2") as driver:
            driver.destroy(self.ctx, target, [], block_device_info=bdi(target.flavor.swap))
        set_flavor(source, source.old_flavor)
        with self.cloud.on("host1") as driver:
            driver.finish_revert_migration(
                self.ctx,
                source,
                [],
                self.migration,
                block_device_info=bdi(source.flavor.swap),
                power_on=True,
            )
        source.vm_state, source.task_state = vm_states.ACTIVE, None
        source.old_flavor = source.new_flavor = None
