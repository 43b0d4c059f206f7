"""The operations, done the way nova drives sio_backend.

Spawn goes through :class:`~sio_backend.imagebackend.ScaleIOImage` exactly
as nova's libvirt driver calls it (``cache`` then ``libvirt_info`` per disk,
with nova's own mkfs and mkswap callbacks).  Delete, live migration and the
resize confirm go through :class:`~sio_backend.instance_volumes.InstanceVolumes`,
which the driver's hooks call; snapshot takes the driver's steps (storage
snapshot, map, export, remove) at the Storage level, without a guest or Glance.
"""

from __future__ import annotations

import functools
import shutil
import uuid
from pathlib import Path

from nova import objects
from nova.virt import images
from nova.virt.libvirt import driver as libvirt_driver
from nova.virt.libvirt import utils as libvirt_utils
from oslo_utils import units

from benchmarks.environment import CONF, Bench
from sio_backend import flavor, naming
from sio_backend.imagebackend import ScaleIOImage
from sio_backend.instance_volumes import ROOT, InstanceVolumes

GiB = units.Gi
DISKS = ("disk", "disk.local", "disk.swap")
DISK_INFO = {"bus": "virtio", "dev": "vda", "type": "disk"}


def new_instance(root_gb: int = 8, extra_specs: dict | None = None) -> objects.Instance:
    """A root + 8 GiB ephemeral + 8 GiB swap instance, as nova hands it to the driver."""
    flavor_ = objects.Flavor(
        name="m1.sio",
        flavorid="sio1",
        root_gb=root_gb,
        ephemeral_gb=8,
        swap=8192,
        extra_specs=extra_specs or {},
    )
    return objects.Instance(
        uuid=str(uuid.uuid4()),
        flavor=flavor_,
        os_type="linux",
        config_drive="",
        system_metadata={},
        image_ref="",
        vm_state="active",
        task_state=None,
        host=CONF.host,
        deleted=False,
    )


def _cache_arguments(disk: str, image: Path, root_gb: int) -> dict:
    if disk == "disk":

        def fetch(target, *args, **kwargs):
            shutil.copyfile(image, target)

        return {"fetch_func": fetch, "filename": image.name, "size": root_gb * GiB}
    if disk == "disk.local":
        make_fs = functools.partial(
            libvirt_driver.LibvirtDriver._create_ephemeral,
            fs_label="ephemeral0",
            os_type="linux",
            is_block_dev=True,
        )
        return {
            "fetch_func": make_fs,
            "filename": "ephemeral_8_ext4",
            "size": 8 * GiB,
            "ephemeral_size": 8,
            "safe": True,
        }
    return {
        "fetch_func": libvirt_driver.LibvirtDriver._create_swap,
        "filename": "swap_8192",
        "size": 8 * GiB,
        "swap_mb": 8192,
        "safe": True,
    }


class OurWay:
    """sio_backend, as nova's libvirt driver uses it."""

    name = "sio_backend"

    def __init__(self, bench: Bench, image: Path) -> None:
        self.bench = bench
        self.image = image

    def disk_image(self, instance, disk: str, host: str) -> ScaleIOImage:
        image = ScaleIOImage(instance=instance, disk_name=disk)
        # nova builds images on the host it runs on; concurrent spawns of two
        # simulated hosts in one process hand each image its host's storage.
        image.storage = self.bench.hosts[host]
        image.disk_info_mapping = DISK_INFO
        return image

    def spawn_disk(self, instance, disk: str, host: str = "host1") -> None:
        image = self.disk_image(instance, disk, host)
        image.cache(**_cache_arguments(disk, self.image, instance.flavor.root_gb))
        image.libvirt_info(cache_mode="none", extra_specs={})

    def spawn(self, instance, host: str = "host1") -> None:
        for disk in DISKS:
            self.spawn_disk(instance, disk, host)

    def delete(self, instance, host: str = "host1") -> None:
        # The driver's cleanup has nova's block device info: which disks exist is known.
        InstanceVolumes(self.bench.hosts[host], instance, {}).remove_all()

    def live_migrate(self, instance, source: str = "host1", dest: str = "host2") -> None:
        placement = flavor.placement_for(instance.flavor, CONF.scaleio)
        InstanceVolumes(self.bench.hosts[dest], instance, {}).attach_all(placement)
        # post_live_migration_at_source has no block device info.
        InstanceVolumes(self.bench.hosts[source], instance).detach_all()

    def resize(self, instance, host: str = "host1") -> None:
        """Grow the root disk by 8 GiB: revert snapshot, grow, confirm."""
        self.disk_image(instance, ROOT, host).create_snap(libvirt_utils.RESIZE_SNAPSHOT_NAME)
        instance.flavor.root_gb += 8
        self.spawn_disk(instance, ROOT, host)  # finish_migration: the existing volume grows
        volumes = InstanceVolumes(self.bench.hosts[host], instance)
        snapshot = volumes.resize_snapshot()
        if snapshot is not None:
            volumes.storage.remove(snapshot)

    def snapshot(self, instance, host: str = "host1") -> None:
        """The driver's Glance snapshot at the Storage level: snapshot, export, remove."""
        store = self.bench.hosts[host]
        root = store.find(store.disk_volume_name(instance.uuid, ROOT))
        name = naming.derived_volume_name(
            store.installation_id, instance.uuid, ROOT, naming.VolumeKind.IMAGE_SNAPSHOT
        )
        snap = store.snapshot(root, name)
        try:
            target = self.bench.workdir / f"snapshot-{instance.uuid}.raw"
            images.convert_image(store.attach(snap), str(target), "raw", "raw", run_as_root=True)
            target.unlink()
        finally:
            store.remove(snap)  # unmaps it everywhere first
