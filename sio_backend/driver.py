"""``compute_driver = sio_libvirt.SioLibvirtDriver``: nova's libvirt driver, taught PowerFlex.

nova 34's libvirt driver assumes local files or Ceph in a handful of places
(docs/flows/ has a page per lifecycle flow).  Each override here delegates to
nova unchanged unless ``[libvirt] images_type = sio``, and leaves the volume
work to :mod:`sio_backend.instance_volumes` and :mod:`sio_backend.storage`.

Which record of an instance may remove or unmap which of its volumes, on
which host, is decided in :mod:`sio_backend.ownership` alone: no action run
for one nova record removes or unmaps a volume that another live record of
the instance (another cell's copy, the other host of a move) still needs.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import os
import shutil
import threading
from collections.abc import Iterator

import nova.conf
from nova import exception, objects
from nova import utils as nova_utils
from nova.compute import task_states, vm_states
from nova.virt import driver as virt_driver
from nova.virt import images
from nova.virt.libvirt import config as vconfig
from nova.virt.libvirt import driver as libvirt_driver
from nova.virt.libvirt import utils as libvirt_utils
from oslo_log import log as logging
from oslo_serialization import jsonutils
from oslo_utils import excutils, fileutils, uuidutils

from sio_backend import capacity, exceptions, flavor, ownership, sdc, storage
from sio_backend.gateway import Volume
from sio_backend.instance_volumes import ROOT, InstanceVolumes

CONF = nova.conf.CONF
LOG = logging.getLogger(__name__)

IMAGES_TYPE = "sio"
TRAIT = "CUSTOM_SCALEIO_DISKS"


def _enabled() -> bool:
    return CONF.libvirt.images_type == IMAGES_TYPE


def _one_operation(method):
    """Run a nova entry point as one operation on its instance's volumes.

    nova asks for each disk several times within one call (``cache``, then
    the domain definition; ``exists``, the snapshot, the definition): the
    steps share what they learn, so the gateway is asked once
    (:mod:`sio_backend.known_volumes`).
    """
    signature = inspect.signature(method)

    @functools.wraps(method)
    def operation(self, *args, **kwargs):
        if not _enabled():
            return method(self, *args, **kwargs)
        instance = signature.bind(self, *args, **kwargs).arguments["instance"]
        with self._storage().operation(instance.uuid):
            return method(self, *args, **kwargs)

    return operation


_FINISH_MIGRATION = inspect.signature(libvirt_driver.LibvirtDriver.finish_migration)


def _is_scaleio_disk(device) -> bool:
    return (
        isinstance(device, vconfig.LibvirtConfigGuestDisk)
        and device.source_type == "block"
        and sdc.parse_device_path(device.source_path or "") is not None
    )


class SioLibvirtDriver(libvirt_driver.LibvirtDriver):
    """LibvirtDriver whose instance disks are PowerFlex volumes."""

    def __init__(self, virtapi, read_only: bool = False) -> None:
        super().__init__(virtapi, read_only)
        self._spawning: set[str] = set()
        self._migrated_away: set[str] = set()
        self._rebuilt: set[str] = set()  # every disk removed by a rebuild's destroy here
        self._spawning_lock = threading.Lock()

    # -- helpers --------------------------------------------------------------

    @staticmethod
    def _storage() -> storage.Storage:
        return storage.for_host(CONF)

    def _volumes(self, instance, block_device_info: dict | None = None) -> InstanceVolumes:
        return InstanceVolumes(self._storage(), instance, block_device_info)

    @staticmethod
    def _placement(instance) -> flavor.DiskPlacement:
        return flavor.placement_for(instance.flavor, CONF.scaleio)

    # -- disks nova must not treat as local files ----------------------------

    def _get_instance_disk_info_from_config(self, guest_config, block_device_info):
        """Leave PowerFlex volumes out of "local disks".

        This one list feeds resize (which would copy each disk over SSH),
        finish_migration (which would convert raw disks to qcow2 in place),
        hard reboot (which would create backing files for them) and the
        disk over-commit figures.  The volumes are shared storage: none of
        that applies to them.
        """
        if _enabled():
            guest_config = copy.copy(guest_config)
            guest_config.devices = [d for d in guest_config.devices if not _is_scaleio_disk(d)]
        return super()._get_instance_disk_info_from_config(guest_config, block_device_info)

    @staticmethod
    def _get_disk_config_image_type():
        # The config drive lives on a volume too, so it follows the instance
        # through live migration and evacuation like its other disks.
        if _enabled():
            return IMAGES_TYPE
        return libvirt_driver.LibvirtDriver._get_disk_config_image_type()

    # -- spawn and delete ------------------------------------------------------

    def spawn(
        self,
        context,
        instance,
        image_meta,
        injected_files,
        admin_password,
        allocations,
        network_info=None,
        block_device_info=None,
        power_on=True,
        accel_info=None,
    ):
        args = (context, instance, image_meta, injected_files, admin_password, allocations)
        kwargs = {
            "network_info": network_info,
            "block_device_info": block_device_info,
            "power_on": power_on,
            "accel_info": accel_info,
        }
        if not _enabled():
            return super().spawn(*args, **kwargs)
        # A first boot creates every disk without asking whether it exists
        # (see sio_backend.known_volumes); only here: a cleanup of a failed
        # build, in the same states, must look its volumes up.  An unshelve
        # is one too: the shelve offload removed every disk, and one a failed
        # offload left is taken only if exactly what is asked for, then
        # written from the shelved image as a new one would be.
        first_boot = instance.task_state == task_states.SPAWNING and instance.vm_state in (
            vm_states.BUILDING,
            vm_states.SHELVED_OFFLOADED,
        )
        first_boot = first_boot or self._spawns_after_own_destroy(instance)
        with self._storage().operation(instance.uuid, new_instance=first_boot):
            return self._spawn(instance, block_device_info, args, kwargs)

    def _spawn(self, instance, block_device_info, args: tuple, kwargs: dict):
        volumes = self._volumes(instance, block_device_info)
        # Evacuation: the failed host may only be partitioned, not dead.
        # Cut it off before this host writes to the disks.
        volumes.release(ownership.on_spawn(instance, CONF.host))
        storage_ = volumes.storage
        storage_.forget_created(instance.uuid)
        with self._spawning_lock:
            self._spawning.add(instance.uuid)
        try:
            return super().spawn(*args, **kwargs)
        except Exception:
            with excutils.save_and_reraise_exception():
                self._undo_spawn(volumes)
        finally:
            with self._spawning_lock:
                self._spawning.discard(instance.uuid)
            storage_.forget_created(instance.uuid)

    def _spawns_after_own_destroy(self, instance) -> bool:
        """A rebuild on this host, whose destroy this process saw remove every disk.

        Its spawn needs neither a lookup nor the fence: nothing of the
        instance exists.  An evacuation (a migration context) never counts,
        whatever an earlier rebuild here that failed before its spawn left.
        """
        with self._spawning_lock:
            destroyed = instance.uuid in self._rebuilt
            self._rebuilt.discard(instance.uuid)
        return (
            destroyed
            and instance.task_state == task_states.REBUILD_SPAWNING
            and ownership.field(instance, "migration_context") is None
        )

    def _undo_spawn(self, volumes: InstanceVolumes) -> None:
        """Remove what this spawn created; unmap what existed before (evacuation)."""
        created = volumes.storage.created_for(volumes.instance.uuid)
        try:
            volumes.remove(sorted(created))
            volumes.detach_all()
        except exceptions.ScaleIOError:
            LOG.exception(
                "Could not clean up after the failed spawn; `sio-backend audit` lists what is left",
                instance=volumes.instance,
            )

    @_one_operation
    def _cleanup(
        self,
        context,
        instance,
        network_info,
        block_device_info=None,
        destroy_vifs=True,
        cleanup_instance_dir=False,
        cleanup_instance_disks=False,
        destroy_secrets=True,
    ):
        super()._cleanup(
            context,
            instance,
            network_info,
            block_device_info=block_device_info,
            destroy_vifs=destroy_vifs,
            cleanup_instance_dir=cleanup_instance_dir,
            cleanup_instance_disks=cleanup_instance_disks,
            destroy_secrets=destroy_secrets,
        )
        if not _enabled():
            return
        with self._spawning_lock:
            if instance.uuid in self._spawning:
                return  # spawn's own rollback knows which volumes it created
            if instance.uuid in self._migrated_away:
                return  # post_live_migration let go of them (see cleanup)
        plan = ownership.on_cleanup(instance, CONF.host, destroy_disks=cleanup_instance_disks)
        if cleanup_instance_disks and not plan.remove_all:
            LOG.warning(
                "Keeping the volumes of instance %s that another record of it still needs "
                "(this one is a %s on this host, placed on %s); this host only lets go of them.",
                instance.uuid,
                ownership.role(instance, CONF.host).value,
                instance.host,
                instance=instance,
            )
        with self._spawning_lock:
            self._rebuilt.discard(instance.uuid)
        self._volumes(instance, block_device_info).release(plan)
        if plan.remove_all and instance.task_state == task_states.REBUILDING:
            with self._spawning_lock:
                self._rebuilt.add(instance.uuid)
        if plan.unmap_here and instance.task_state == task_states.RESIZE_REVERTING:
            self._remove_instance_dir(instance)

    @staticmethod
    def _remove_instance_dir(instance) -> None:
        """The instance directory of a resize reverted away from this host.

        nova keeps it (shared block storage: ``destroy_disks=False``), and a
        later live migration to this host without a shared instances path
        then fails ``DestinationDiskExists``.  Only the directory itself
        goes: the source's ``_resize`` copy, which a shared instances path
        shows here too, is what the source reverts to.
        """
        path = libvirt_utils.get_instance_path(instance)
        if os.path.isdir(path):
            LOG.info("Removing %s: the resize was reverted to the source", path)
            shutil.rmtree(path, ignore_errors=True)

    # nova's own steps that create, grow, snapshot or define the disks.
    @_one_operation
    def finish_migration(self, context, migration, instance, *args, **kwargs):
        if not _enabled():
            return super().finish_migration(context, migration, instance, *args, **kwargs)
        nova_args = _FINISH_MIGRATION.bind(self, context, migration, instance, *args, **kwargs)
        volumes = self._volumes(instance, nova_args.arguments.get("block_device_info"))
        disk_info = jsonutils.loads(nova_args.arguments["disk_info"])
        if isinstance(disk_info, list):  # nova's list of disks; anything else passes untouched
            nova_args.arguments["disk_info"] = jsonutils.dumps(volumes.take_handover(disk_info))
        # Each disk is asked for by its own image object: read them all at once.
        volumes.disks()
        return super().finish_migration(*nova_args.args[1:], **nova_args.kwargs)

    @_one_operation
    def migrate_disk_and_power_off(self, context, instance, *args, **kwargs):
        disk_info = super().migrate_disk_and_power_off(context, instance, *args, **kwargs)
        disks = jsonutils.loads(disk_info) if _enabled() else None
        if not isinstance(disks, list):  # nova's list of disks; anything else passes untouched
            return disk_info
        # The destination reads the volumes by these ids, with no lookup by name.
        return jsonutils.dumps(disks + self._volumes(instance).handover())

    rescue = _one_operation(libvirt_driver.LibvirtDriver.rescue)

    # -- hard reboot -------------------------------------------------------------

    @_one_operation
    def _hard_reboot(
        self, context, instance, network_info, share_info, block_device_info=None, accel_info=None
    ):
        if _enabled():
            volumes = self._volumes(instance, block_device_info)
            # nova's advice after a failed revert too: its root may be in the snapshot still.
            volumes.resume_resize_rollback()
            # Stale mappings fenced before the guest starts, as an evacuation
            # does; a revert snapshot no revert can use any more removed.
            volumes.release(ownership.on_hard_reboot(instance, CONF.host))
        return super()._hard_reboot(
            context,
            instance,
            network_info,
            share_info,
            block_device_info=block_device_info,
            accel_info=accel_info,
        )

    # -- resize and cold migration --------------------------------------------

    @_one_operation
    def _cleanup_resize(self, context, instance, network_info):
        """Confirm: drop the revert snapshot and the disks only the old flavor had,
        and let the source host go of the disks."""
        super()._cleanup_resize(context, instance, network_info)
        if _enabled():
            volumes = self._volumes(instance, self._stored_block_device_info(context, instance))
            volumes.release(ownership.on_confirm(instance, CONF.host))

    def _stored_block_device_info(self, context, instance) -> dict | None:
        """The block devices nova records for the instance, where it passes none.

        Without them the names of the ephemeral disks (``disk.ephN``) are
        probed on the gateway, one call past the last one; a read of nova's
        database serves instead, as nova's own driver reads it where it is
        not given.  None for a flavor without ephemeral disks: nothing is
        probed then.
        """
        if not instance.flavor.ephemeral_gb:
            return None
        bdms = objects.BlockDeviceMappingList.get_by_instance_uuid(context, instance.uuid)
        return virt_driver.get_block_device_info(instance, bdms)

    @_one_operation
    def finish_revert_migration(
        self,
        context,
        instance,
        network_info,
        migration,
        block_device_info=None,
        power_on=True,
        share_info=None,
    ):
        if _enabled():
            volumes = self._volumes(instance, block_device_info)
            volumes.resume_resize_rollback()
            placement = self._placement(instance)  # the old flavor's again
            resized_to = ownership.field(instance, "new_flavor")
            if resized_to and flavor.placement_for(resized_to, CONF.scaleio).pool != placement.pool:
                # nova rolls back only the root, which follows the flavor by itself.
                volumes.move_into(placement, but=ROOT)
        super().finish_revert_migration(
            context,
            instance,
            network_info,
            migration,
            block_device_info,
            power_on,
            share_info=share_info,
        )

    # -- live migration ----------------------------------------------------------

    @_one_operation
    def pre_live_migration(
        self, context, instance, block_device_info, network_info, disk_info, migrate_data
    ):
        migrate_data = super().pre_live_migration(
            context, instance, block_device_info, network_info, disk_info, migrate_data
        )
        if _enabled():
            # Both hosts see the volumes for the length of the migration.
            self._volumes(instance, block_device_info).attach_all(self._placement(instance))
        return migrate_data

    @_one_operation
    def post_live_migration(self, context, instance, block_device_info, migrate_data=None):
        super().post_live_migration(context, instance, block_device_info, migrate_data)
        if _enabled():
            # The source lets go of the disks here, the one step after the
            # migration where nova passes their block device info (its
            # post_live_migration_at_source and cleanup get none, and would
            # look for ephemeral disks by name).  nova always calls it, before both.
            self._volumes(instance, block_device_info).detach_all()

    def cleanup(
        self,
        context,
        instance,
        network_info,
        block_device_info=None,
        destroy_disks=True,
        migrate_data=None,
        destroy_vifs=True,
        destroy_secrets=True,
    ):
        # The source's cleanup after a live migration (nova's
        # _post_live_migration, without a shared instances_path) comes right
        # after post_live_migration unmapped every disk from this host, the
        # gateway confirming each: reading them again would find nothing.
        migrated_away = (
            _enabled()
            and migrate_data is not None
            and not destroy_disks
            and instance.task_state == task_states.MIGRATING
            and ownership.role(instance, CONF.host) is ownership.Role.OWNER
        )
        if migrated_away:
            with self._spawning_lock:
                self._migrated_away.add(instance.uuid)
        try:
            super().cleanup(
                context,
                instance,
                network_info,
                block_device_info=block_device_info,
                destroy_disks=destroy_disks,
                migrate_data=migrate_data,
                destroy_vifs=destroy_vifs,
                destroy_secrets=destroy_secrets,
            )
        finally:
            if migrated_away:
                with self._spawning_lock:
                    self._migrated_away.discard(instance.uuid)

    @_one_operation
    def check_can_live_migrate_source(
        self, context, instance, dest_check_data, block_device_info=None
    ):
        migrate_data = super().check_can_live_migrate_source(
            context, instance, dest_check_data, block_device_info
        )
        if _enabled():
            # A migration nova failed after the destination's
            # pre_live_migration (with a shared instances_path nova calls
            # neither host's driver back) left that host's mappings: removed
            # before this one starts, so none is carried along.
            self._volumes(instance, block_device_info).release(
                ownership.on_sole_host(instance, CONF.host)
            )
        return migrate_data

    @_one_operation
    def rollback_live_migration_at_source(self, context, instance, migrate_data):
        super().rollback_live_migration_at_source(context, instance, migrate_data)
        if _enabled():
            # The instance stays here; with a shared instances_path nova does
            # not call the destination back, so its mappings are removed here.
            self._volumes(instance).release(ownership.on_sole_host(instance, CONF.host))

    # -- rescue ---------------------------------------------------------------------

    @_one_operation
    def unrescue(self, context, instance):
        if not _enabled():
            return super().unrescue(context, instance)
        volumes = self._volumes(instance, self._stored_block_device_info(context, instance))
        if os.path.exists(os.path.join(libvirt_utils.get_instance_path(instance), "unrescue.xml")):
            super().unrescue(context, instance)
        # Otherwise an earlier unrescue restored the guest (nova removed
        # unrescue.xml) but could not remove the rescue disk: finish that, so
        # a retried unrescue converges instead of failing on the missing file.
        volumes.remove_rescue()

    # -- snapshot to Glance ----------------------------------------------------------

    @_one_operation
    def snapshot(self, context, instance, image_id, update_task_state):
        """Upload the root disk from a PowerFlex snapshot; the guest keeps running.

        The snapshot is crash-consistent, or filesystem-consistent when the
        guest agent can freeze the filesystems for the instant it takes.
        """
        if not _enabled():
            return super().snapshot(context, instance, image_id, update_task_state)
        try:
            guest = self._host.get_guest(instance)
        except exception.InstanceNotFound:
            raise exception.InstanceNotRunning(instance_id=instance.uuid) from None
        image = self._image_api.get(context, image_id)
        image_format = CONF.libvirt.snapshot_image_format or "raw"
        metadata = self._create_snapshot_metadata(
            instance.image_meta, instance, image_format, image["name"]
        )
        store = self._storage()
        root = store.find(store.disk_volume_name(instance.uuid, ROOT))
        if root is None:
            raise exception.DiskNotFound(location=f"root volume of instance {instance.uuid}")
        update_task_state(task_state=task_states.IMAGE_PENDING_UPLOAD)
        volumes = self._volumes(instance)
        with self._quiesced(context, instance, guest):
            # One an interrupted snapshot of this instance left is replaced,
            # never uploaded: it holds older data.
            snap = store.snapshot(root, volumes.glance_snapshot_name(), replace=True)
        try:
            update_task_state(
                task_state=task_states.IMAGE_UPLOADING,
                expected_state=task_states.IMAGE_PENDING_UPLOAD,
            )
            fileutils.ensure_tree(CONF.libvirt.snapshots_directory)
            with self._extracted(store, snap, image_format) as out_path:
                with libvirt_utils.file_open(out_path, "rb") as image_file:
                    self._image_api.update(context, image_id, metadata, image_file)
        finally:
            volumes.discard_glance_snapshot(snap)
        LOG.info("Snapshot image upload complete", instance=instance)

    @contextlib.contextmanager
    def _quiesced(self, context, instance, guest) -> Iterator[None]:
        image_meta = instance.image_meta
        frozen = False
        try:
            self._set_quiesced(context, instance, image_meta, True)
            frozen = True
        except exception.NovaException as err:
            # Not possible (no agent configured) or not answered (the agent
            # does not respond, InstanceQuiesceFailed): as nova's libvirt
            # driver does, snapshot anyway unless the image demands it.
            if self._requires_quiesce(image_meta):
                raise
            LOG.warning("Snapshot without quiescing the guest: %s", err, instance=instance)
        try:
            yield
        finally:
            if frozen:
                self._set_quiesced(context, instance, image_meta, False)

    @staticmethod
    @contextlib.contextmanager
    def _extracted(store: storage.Storage, snap: Volume, image_format: str) -> Iterator[str]:
        """The snapshot's content in a file of ``image_format``, removed afterwards."""
        with nova_utils.tempdir(dir=CONF.libvirt.snapshots_directory) as tmpdir:
            out_path = os.path.join(tmpdir, uuidutils.generate_uuid(dashed=False))
            # Unmapped with the snapshot's removal, which always follows.
            device = store.attach(snap)
            images.convert_image(device, out_path, "raw", image_format, run_as_root=True)
            yield out_path

    # -- capacity ----------------------------------------------------------------------

    def _get_local_gb_info(self):
        """DISK_GB from the default pool's net capacity (see docs/flows/capacity.rst).

        nova asks on every resource update, claims included: the pool is
        read once per ``update_resources_interval`` for the whole process
        (:mod:`sio_backend.capacity`).
        """
        if not _enabled():
            return super()._get_local_gb_info()
        return capacity.local_gb_info(self._storage(), CONF)

    def update_provider_tree(self, provider_tree, nodename, allocations=None):
        super().update_provider_tree(provider_tree, nodename, allocations)
        if _enabled():
            provider_tree.add_traits(nodename, TRAIT)
