"""The operations, done the way nova drives sio_backend.

Spawn goes through :class:`~sio_backend.imagebackend.ScaleIOImage` exactly
as nova's libvirt driver calls it (``cache`` then ``libvirt_info`` per disk,
with nova's own mkfs and mkswap callbacks).  Delete, live migration and the
resize confirm go through :class:`~sio_backend.instance_volumes.InstanceVolumes`,
which the driver's hooks call; snapshot takes the driver's steps (storage
snapshot, map, export, remove) at the Storage level, without a guest or Glance.
Each step runs as one operation on the instance, as the driver runs each nova
call (``Storage.operation``; a first boot with ``new_instance``).
"""

from __future__ import annotations

from pathlib import Path

from nova.virt import images
from nova.virt.libvirt import utils as libvirt_utils
from sio_fixtures import nova_disks

from benchmarks.environment import CONF, Bench
from sio_backend import flavor, naming, ownership
from sio_backend.instance_volumes import ROOT, InstanceVolumes


class OurWay:
    """sio_backend, as nova's libvirt driver uses it."""

    name = "sio_backend"

    def __init__(self, bench: Bench, image: Path, image_id: str | None = None) -> None:
        self.bench = bench
        self.image = image
        self.image_id = image_id  # a Glance id: the root may come from the image cache

    def spawn(self, instance, host: str = "host1") -> None:
        store = self.bench.hosts[host]
        with store.operation(instance.uuid, new_instance=True):
            nova_disks.spawn(store, instance, self.image, self.image_id)

    def delete(self, instance, host: str = "host1") -> None:
        # The driver's cleanup has nova's block device info: which disks exist is known.
        store = self.bench.hosts[host]
        with store.operation(instance.uuid):
            InstanceVolumes(store, instance, {}).remove_all()

    def live_migrate(self, instance, source: str = "host1", dest: str = "host2") -> None:
        placement = flavor.placement_for(instance.flavor, CONF.scaleio)
        with self.bench.hosts[dest].operation(instance.uuid):
            InstanceVolumes(self.bench.hosts[dest], instance, {}).attach_all(placement)
        # post_live_migration_at_source has no block device info.
        with self.bench.hosts[source].operation(instance.uuid):
            InstanceVolumes(self.bench.hosts[source], instance).detach_all()

    def resize(self, instance, host: str = "host1") -> None:
        """Grow the root disk by 8 GiB: revert snapshot, grow, confirm."""
        store = self.bench.hosts[host]
        with store.operation(instance.uuid):  # finish_migration: snapshot, the root grows
            root = nova_disks.disk_image(store, instance, ROOT)
            root.create_snap(libvirt_utils.RESIZE_SNAPSHOT_NAME)
            instance.flavor.root_gb += 8
            nova_disks.spawn_disk(store, instance, ROOT, self.image)
        with store.operation(instance.uuid):  # confirm
            InstanceVolumes(store, instance).release(ownership.Release(remove_resize_snapshot=True))

    def snapshot(self, instance, host: str = "host1") -> None:
        """The driver's Glance snapshot at the Storage level: snapshot, export, remove."""
        store = self.bench.hosts[host]
        with store.operation(instance.uuid):
            self._snapshot(store, instance)

    def _snapshot(self, store, instance) -> None:
        root = store.find(store.disk_volume_name(instance.uuid, ROOT))
        name = naming.derived_volume_name(
            store.installation_id, instance.uuid, ROOT, naming.VolumeKind.IMAGE_SNAPSHOT
        )
        snap = store.snapshot(root, name, replace=True)
        try:
            target = self.bench.workdir / f"snapshot-{instance.uuid}.raw"
            images.convert_image(store.attach(snap), str(target), "raw", "raw", run_as_root=True)
            target.unlink()
        finally:
            store.remove(snap)  # unmaps it everywhere first
