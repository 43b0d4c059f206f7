"""``[libvirt] images_type = sio``: nova's image backend for PowerFlex volumes.

A thin adapter in the manner of nova's Lvm and Rbd backends: nova calls
these methods, :mod:`sio_backend.storage` does the work.  Creation follows
Lvm (ephemeral filesystems are made on the device, images are fetched into
``_base`` and converted onto it); existence and size follow Rbd (asked of
the storage, never of the local filesystem).
"""

from __future__ import annotations

import dataclasses
import functools
import os

import nova.conf
from nova import exception
from nova.compute import task_states
from nova.virt import images
from nova.virt.libvirt import imagebackend
from nova.virt.libvirt import utils as libvirt_utils
from oslo_concurrency import processutils
from oslo_log import log as logging
from oslo_utils import units, uuidutils

from sio_backend import (
    exceptions,
    flavor,
    image_cache,
    naming,
    nova_errors,
    pool_moves,
    privileged,
    sdc,
    sizing,
    storage,
)
from sio_backend.gateway import Volume
from sio_backend.image_model import ScaleIOVolumeImage

CONF = nova.conf.CONF
LOG = logging.getLogger(__name__)

# ISO 9660 keeps its first descriptor at 32 KiB, vfat its boot sector at 0:
# a config drive that was written is never zero over this span.
_CONFIG_DRIVE_PROBE = 40 * units.Ki


@functools.lru_cache(maxsize=64)
def _image_info(path: str, identity: tuple[int, int, int, int]):
    """``qemu-img info`` of a ``_base`` file, once per version of the file.

    nova runs each in a new Python process under prlimit: every spawn paid
    one per root and swap disk, seconds of each concurrent spawn's wall
    time on a busy host (``tox -e bench``).  ``identity`` (device, inode,
    size, mtime) changes when nova's image cache replaces the file.
    """
    return images.qemu_img_info(path)


class BaseImage:
    """The image nova fetches into ``_base``: fetched and inspected on first use.

    A boot that clones an image-cache volume never needs it, so nothing is
    fetched until :meth:`virtual_size` or :meth:`write` asks.
    """

    def __init__(self, prepare_template, base: str, kwargs: dict) -> None:
        self.base = base
        self._prepare_template = prepare_template
        self._kwargs = kwargs
        self._info = None

    def _fetched(self):
        if self._info is None:
            if not os.path.exists(self.base):
                self._prepare_template(target=self.base, **self._kwargs)
            stat = os.stat(self.base)
            identity = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
            self._info = _image_info(self.base, identity)
        return self._info

    def virtual_size(self) -> int:
        return self._fetched().virtual_size

    def write(self, device_path: str, volume_name: str, *, target_is_zero: bool) -> None:
        info = self._fetched()
        try:
            privileged.convert_image(
                self.base,
                info.file_format,
                device_path,
                "raw",
                target_exists=True,
                target_is_zero=target_is_zero,
            )
        except processutils.ProcessExecutionError as err:
            raise exception.ImageUnacceptable(
                image_id=self._kwargs.get("image_id", self.base),
                reason=f"writing it onto volume {volume_name} failed: {err}",
            ) from err


class ScaleIOImage(imagebackend.Image):
    """One instance disk kept on a PowerFlex volume."""

    def __init__(
        self,
        instance=None,
        disk_name: str | None = None,
        path: str | None = None,
        disk_info_mapping: dict | None = None,
    ) -> None:
        self.instance = instance
        self.storage = storage.for_host(CONF)
        self._volume: Volume | None = None
        self._looked_up = False
        self._attached_id: str | None = None
        if path:
            ids = sdc.parse_device_path(path)
            if ids is None:
                raise exception.InvalidDevicePath(path=path)
            self._volume_id: str | None = ids[1]
            self.disk_name = None
            self.volume_name = None
        else:
            self._volume_id = None
            self.disk_name = disk_name
            self.volume_name = self.storage.disk_volume_name(instance.uuid, disk_name)
        self._path = path
        self._make_filesystem = None
        super().__init__(
            path, "block", "raw", is_block_dev=True, disk_info_mapping=disk_info_mapping
        )
        self.driver_io = "native"

    # nova's Image.__init__ assigns self.path; the device path is only known
    # once the volume exists, so it is resolved on first use.
    @property
    def path(self) -> str:
        if self._path is None:
            volume = self._require_volume()
            self._path = self.storage.device_path(volume.id)
        return self._path

    @path.setter
    def path(self, value: str | None) -> None:
        self._path = value

    @staticmethod
    def is_shared_block_storage() -> bool:
        return True

    def _can_fallocate(self) -> bool:
        return False

    # -- lookups --------------------------------------------------------

    def _find_volume(self) -> Volume | None:
        if not self._looked_up:
            if self._volume_id is not None:
                return self._remember(self.storage.get(self._volume_id))
            self._volume = self.storage.find(self.volume_name)
            self._looked_up = True
        return self._volume

    def _require_volume(self) -> Volume:
        volume = self._find_volume()
        if volume is None and self._volume_id is None:
            # A move to another pool cut off after the old volume's removal
            # left the disk's only copy under its move name: finish it.
            moved = pool_moves.finish_interrupted_move(self.storage, self.volume_name)
            volume = moved and self._remember(moved)
        if volume is None:
            raise exception.DiskNotFound(location=f"PowerFlex volume {self.volume_name}")
        return volume

    def _remember(self, volume: Volume) -> Volume:
        self._volume, self._volume_id, self._looked_up = volume, volume.id, True
        self.volume_name = volume.name
        owner = naming.parse_volume_name(volume.name)
        if self.disk_name is None and isinstance(owner, naming.InstanceVolumeName):
            self.disk_name = owner.disk_name
        return volume

    def _placement(self) -> flavor.DiskPlacement:
        try:
            return flavor.placement_for(self.instance.flavor, CONF.scaleio)
        except exceptions.FlavorNotSupported as err:
            raise nova_errors.to_nova_exception(err) from err

    def _attach(self, volume: Volume) -> str:
        # nova asks one object for the device several times (create_image,
        # then libvirt_info or get_model); once the device is here, mapping
        # again could only cost a gateway call answered "already mapped".
        if self._attached_id != volume.id or not os.path.exists(self._path or ""):
            self._path = self.storage.attach(volume, self._placement())
            self._attached_id = volume.id
        return self._path

    def exists(self) -> bool:
        volume = self._find_volume()
        if volume is None:
            return False
        if self._is_config_drive():
            # Made blank when the domain XML first names it, written just
            # after by import_file: nova asks in between whether to write it.
            return not privileged.is_blank(self._attach(volume), _CONFIG_DRIVE_PROBE)
        return True

    def _is_config_drive(self) -> bool:
        return bool(
            self.disk_name and naming.nova_disk(self.disk_name).role is naming.DiskRole.CONFIG
        )

    def import_file(self, instance, local_file: str, remote_name: str) -> None:
        """Write the config drive nova built onto its volume, then drop the local copy."""
        volume = self._find_volume() or self._create_config_drive()
        privileged.convert_image(
            local_file, "raw", self._attach(volume), "raw", target_exists=True, target_is_zero=False
        )
        os.unlink(local_file)

    def _create_config_drive(self) -> Volume:
        # Its content is not built yet when the domain XML needs its path;
        # any config drive fits the smallest (thin) volume of the pool.
        return self._create_volume(self._volume_size(None, sizing.GiB))

    def get_disk_size(self, name: str) -> int:
        # Like Rbd: the size is the volume's, whatever file nova names.
        return self._require_volume().size_kb * units.Ki

    # -- creation -------------------------------------------------------

    def cache(self, fetch_func, filename, size=None, safe=False, *args, **kwargs) -> None:
        """nova's ``cache``; an ephemeral filesystem is made outside nova's template lock.

        nova runs ``fetch_func`` under a lock named after the template so one
        worker fills a file in ``_base``.  An ephemeral disk's mkfs writes this
        disk's own device, never ``_base`` (nova's comment in ``cache`` says
        the lock is needless then): held, it made every spawn's mkfs of the
        host wait for the one before (``tox -e bench``, concurrent spawns).
        """
        if "ephemeral_size" in kwargs:
            self._make_filesystem = fetch_func
        super().cache(fetch_func, filename, size, safe, *args, **kwargs)

    def create_image(self, prepare_template, base, size, safe=False, *args, **kwargs) -> None:
        existing = self._find_volume()
        if existing is not None:
            # Evacuation, resize destination, revert, power-on after host reboot.
            if self.instance.get("task_state", None) == task_states.RESIZE_FINISH:
                existing = self._into_flavor_pool(existing)
            self._attach(existing)
            if size and size > existing.size_kb * units.Ki:
                self.resize_image(size)
            return
        if "ephemeral_size" in kwargs:
            volume = self._create_volume(self._volume_size(size))
            with self.storage.removed_on_error(volume):
                make = self._make_filesystem or prepare_template
                make(target=self._attach(volume), **kwargs)
            return
        # Root and rescue disks from an image, swap from a file nova builds.
        source = BaseImage(prepare_template, base, kwargs)
        if self._uses_image_cache(size, kwargs):
            self._create_from_image_cache(source, size, kwargs["image_id"])
            return
        virtual_size = source.virtual_size()
        volume_size = self._volume_size(size, virtual_size)
        if size and not self._is_rescue():
            self._verify_image_fits(base, volume_size, virtual_size)
        volume = self._create_volume(volume_size)
        with self.storage.removed_on_error(volume):
            source.write(
                self._attach(volume),
                volume.name,
                target_is_zero=self.storage.reads_zeros(volume),
            )

    def _uses_image_cache(self, size: int | None, kwargs: dict) -> bool:
        """Root disks from a Glance image only, and only thin ones: snapshots are thin."""
        if CONF.scaleio.image_cache != "volume" or self.disk_name != "disk":
            return False
        if not uuidutils.is_uuid_like(kwargs.get("image_id")):
            return False  # nova's copy from another host names no image
        return not size or self._placement().thin

    def _create_from_image_cache(self, source: BaseImage, size: int | None, image_id: str) -> None:
        cache = image_cache.ImageCache.from_config(self.storage, CONF, self.lock_path)
        root = self._remember(cache.clone(image_id, self._placement(), self.volume_name, source))
        with self.storage.removed_on_error(root):
            image_volume_size = root.size_kb * units.Ki
            volume_size = self._volume_size(size, image_volume_size)
            if size and volume_size.size_bytes < image_volume_size:
                # The image volume is the image rounded up to the pool's unit: only the
                # image itself tells whether this disk is too small for it.
                self._verify_image_fits(source.base, volume_size, source.virtual_size())
            self._attach(self._remember(self.storage.extend(root, volume_size.size_bytes)))

    def _verify_image_fits(
        self, base: str, volume_size: sizing.VolumeSize, image_size: int
    ) -> None:
        """nova's check that the image fits the disk, against the disk the guest gets.

        Under ``disk_size_policy = round_up`` that is the whole volume, larger
        than the flavor's disk: an image taken from such a disk (a shelved
        server's snapshot) holds the whole volume and must fit again.
        """
        self.verify_base_size(base, volume_size.size_bytes, base_size=image_size)

    def _is_rescue(self) -> bool:
        return bool(self.disk_name and self.disk_name.endswith(naming.RESCUE_SUFFIX))

    def _volume_size(self, size: int | None, image_size: int | None = None) -> sizing.VolumeSize:
        try:
            volume_size = sizing.disk_volume_size(
                flavor.flavor_label(self.instance.flavor),
                self.disk_name,
                size,
                policy=CONF.scaleio.disk_size_policy,
                image_size_bytes=image_size,
                granularity_gb=self.storage.size_granularity_gb(self._placement()),
            )
        except exceptions.FlavorNotSupported as err:
            raise nova_errors.to_nova_exception(err) from err
        if volume_size is None:
            raise exception.InvalidInput(
                message=f"Disk {self.disk_name} of instance {self.instance.uuid} has size 0"
            )
        return volume_size

    def _create_volume(self, volume_size: sizing.VolumeSize) -> Volume:
        placement = self._placement()
        if volume_size.always_thin:
            placement = placement.as_thin()
        volume = self.storage.create(self.volume_name, placement, volume_size.size_bytes)
        return self._remember(volume)

    def resize_image(self, size: int) -> None:
        volume = self._require_volume()
        self._remember(self.storage.extend(volume, size))

    # -- use --------------------------------------------------------------

    def libvirt_info(self, cache_mode, extra_specs, boot_order=None, disk_unit=None):
        # Every domain definition (spawn, hard reboot, rescue, resize, revert)
        # passes here, so this is where the device is made present.
        volume = self._find_volume()
        if volume is None and self._is_config_drive():
            volume = self._create_config_drive()
        self._attach(volume or self._require_volume())
        return super().libvirt_info(cache_mode, extra_specs, boot_order, disk_unit)

    def get_model(self, connection) -> ScaleIOVolumeImage:
        volume = self._require_volume()
        return ScaleIOVolumeImage(self._attach(volume), volume.id, volume.name)

    def snapshot_extract(self, target: str, out_format: str) -> None:
        self._attach(self._require_volume())
        images.convert_image(self.path, target, "raw", out_format, run_as_root=True)

    # -- resize-revert snapshot -------------------------------------------

    def _snapshot_name(self, name: str) -> str:
        if name != libvirt_utils.RESIZE_SNAPSHOT_NAME:
            raise exception.ImageUnacceptable(
                image_id=self.volume_name, reason=f"unknown snapshot name {name}"
            )
        owner = naming.parse_volume_name(self.volume_name)
        return dataclasses.replace(owner, kind=naming.VolumeKind.RESIZE_SNAPSHOT).volume_name

    def create_snap(self, name: str) -> None:
        volume = self._require_volume()
        # nova snapshots once per resize: one of this name is an earlier,
        # failed resize's, and reverting to it would lose what was written
        # since, so it is replaced.
        self.storage.snapshot(volume, self._snapshot_name(name), replace=True)

    def remove_snap(self, name: str, ignore_errors: bool = False) -> None:
        snap = self.storage.find(self._snapshot_name(name))
        if snap is None:
            if not ignore_errors:
                LOG.debug("Snapshot %s of %s does not exist", name, self.volume_name)
            return
        self.storage.remove(snap)

    def rollback_to_snap(self, name: str) -> None:
        snap = self.storage.find(self._snapshot_name(name))
        volume = self._find_volume()
        if snap is not None:
            volume = self._remember(self.storage.rollback(volume, snap, self.volume_name))
            self._path = None
        elif volume is not None:
            # A revert retried after it renamed the snapshot into the disk's
            # place: the disk is the snapshot already.  Failing here would
            # leave the instance no way back to running.
            LOG.warning(
                "No %s snapshot of %s: keeping the volume, which an earlier revert "
                "already rolled back to it",
                name,
                self.volume_name,
            )
        else:
            raise exception.SnapshotNotFound(snapshot_id=self._snapshot_name(name))
        # Revert runs with the old flavor again: back to its pool, if it moved.
        self._into_flavor_pool(volume)

    def _into_flavor_pool(self, volume: Volume) -> Volume:
        """Follow a resize to a flavor with another ``disk:pool`` or ``disk:domain``."""
        placement = self._placement()
        if volume.pool_id == self.storage.pool_id(placement):
            return volume
        copy = image_cache.needs_copy_to_move(self.storage, volume)
        return self._remember(pool_moves.move(self.storage, volume, placement, copy=copy))
