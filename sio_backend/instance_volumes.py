"""Every volume of one instance, as the driver hooks act on them together.

Volumes are found by exact name (the names a nova disk can have), never by
listing the system, so the cost of a delete or a migration does not grow
with the cluster.  Which names to try follows from the instance: its flavor
and block devices say which disks exist, its state whether rescue volumes
may; the leftover resize and Glance snapshots of a root cost one listing of
its V-Tree on delete.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator

from nova import block_device
from nova.compute import task_states, vm_states
from nova.virt import configdrive
from nova.virt import driver as virt_driver
from oslo_log import log as logging

from sio_backend import exceptions, naming, ownership, pool_moves
from sio_backend.flavor import DiskPlacement
from sio_backend.gateway import Volume
from sio_backend.gateway.wire import ID_PATTERN
from sio_backend.known_volumes import instance_of
from sio_backend.storage import Storage

LOG = logging.getLogger(__name__)

ROOT = "disk"
# The disk_info entries (nova's, from a resize source to its destination) that name a volume id.
HANDOVER_TYPE = "sio"
_RESCUE_STATES = (vm_states.RESCUED, vm_states.ERROR)


def known_disk_names(instance, block_device_info: dict | None) -> list[str]:
    """The instance's disks other than its ephemerals: root, config drive, swap."""
    names = []
    if not _booted_from_volume(block_device_info):
        names.append(ROOT)
    if configdrive.required_by(instance):
        names.append("disk.config")
    swap = virt_driver.block_device_info_get_swap(block_device_info)
    if virt_driver.swap_is_usable(swap) or instance.flavor.swap > 0:
        names.append("disk.swap")
    return names


def ephemeral_disk_names(instance, block_device_info: dict | None) -> list[str] | None:
    """The instance's ephemeral disks, or None where only probing can tell.

    Without block device info the BDM ephemerals (``disk.ephN``) are unknown.
    """
    if block_device_info is None:
        return None if instance.flavor.ephemeral_gb else []
    ephemerals = virt_driver.block_device_info_get_ephemerals(block_device_info)
    if ephemerals:
        return [f"disk.eph{index}" for index in range(len(ephemerals))]
    return ["disk.local"] if instance.flavor.ephemeral_gb else []


def rescue_names(disk_names: list[str]) -> list[str]:
    """The rescue disks nova may make beside these disks: a server booted from a
    volume has no local root, yet a rescue boots it from a local ``disk.rescue``."""
    bases = disk_names if ROOT in disk_names else [ROOT, *disk_names]
    return [name + naming.RESCUE_SUFFIX for name in bases]


def _booted_from_volume(block_device_info: dict | None) -> bool:
    mapping = virt_driver.block_device_info_get_mapping(block_device_info)
    return bool(block_device.get_root_bdm(mapping))


class InstanceVolumes:
    """The PowerFlex volumes of one instance, seen from this host."""

    def __init__(self, storage: Storage, instance, block_device_info: dict | None = None):
        self.storage = storage
        self.instance = instance
        self._block_device_info = block_device_info

    def _name(self, disk_name: str) -> str:
        return self.storage.disk_volume_name(self.instance.uuid, disk_name)

    # -- finding ----------------------------------------------------------

    def _disk_names(self) -> Iterator[str]:
        yield from known_disk_names(self.instance, self._block_device_info)
        ephemerals = ephemeral_disk_names(self.instance, self._block_device_info)
        yield from self._probe_ephemerals() if ephemerals is None else ephemerals

    def _probe_ephemerals(self) -> Iterator[str]:
        """``disk.local``, or as many ``disk.ephN`` as exist (bounded by the naming).

        nova names a flavor's ephemeral ``disk.local`` only when the instance
        has no ephemeral block devices, so an instance known to have
        ``disk.eph0`` has no ``disk.local`` to look for.
        """
        eph0_known = isinstance(self.storage.view_of(self._name("disk.eph0")), Volume)
        if not eph0_known and self._exists("disk.local"):
            yield "disk.local"
            return
        for index in range(naming.MAX_EPHEMERAL_INDEX + 1):
            name = f"disk.eph{index}"
            if not self._exists(name):
                return
            yield name

    def _exists(self, disk_name: str) -> bool:
        return self.storage.exists(self._name(disk_name))

    def _rescue_names(self) -> list[str]:
        return rescue_names(list(self._disk_names()))

    def _find(self, disk_names: Iterable[str]) -> list[Volume]:
        names = [self._name(name) for name in disk_names]
        found = self.storage.find_all(names)
        return [found[name] for name in names if name in found]

    def disks(self) -> list[Volume]:
        return self._find(self._disk_names())

    def rescue_disks(self) -> list[Volume]:
        return self._find(self._rescue_names())

    def _root_derived_name(self, kind: naming.VolumeKind) -> str:
        return naming.derived_volume_name(
            self.storage.installation_id, self.instance.uuid, ROOT, kind
        )

    def _resize_snapshot_name(self) -> str:
        return self._root_derived_name(naming.VolumeKind.RESIZE_SNAPSHOT)

    def resize_snapshot(self) -> Volume | None:
        return self.storage.find(self._resize_snapshot_name())

    def handover(self) -> list[dict]:
        """The ids this host knows of the instance's volumes, for a resize's destination.

        They travel in nova's ``disk_info``: the destination reads them in
        one call instead of looking up each disk's name (:meth:`take_handover`).
        """
        known = self.storage.known.ids_of(self.instance.uuid)
        return [
            {"path": name, "type": HANDOVER_TYPE, "volume_id": volume_id}
            for name, volume_id in sorted(known.items())
        ]

    def take_handover(self, disk_info: list[dict]) -> list[dict]:
        """Learn the ids the source handed over; the rest of ``disk_info`` is nova's.

        An id is only read, with the instance's others, and kept only where
        the volume still carries the name it came with (:mod:`known_volumes`):
        an id the source knew wrong costs the lookup it would have anyway.
        """
        nova_entries = []
        for entry in disk_info:
            if entry.get("type") != HANDOVER_TYPE:
                nova_entries.append(entry)
                continue
            name, volume_id = entry.get("path"), entry.get("volume_id")
            if (
                isinstance(name, str)
                and isinstance(volume_id, str)
                and ID_PATTERN.fullmatch(volume_id)
                and naming.is_ours(name, self.storage.installation_id)
                and instance_of(name) == str(uuid.UUID(self.instance.uuid))
            ):
                self.storage.known.learn_id(name, volume_id)
        return nova_entries

    # -- acting -------------------------------------------------------------

    def resume_resize_rollback(self) -> None:
        """Finish a revert stopped between removing the grown root and renaming its snapshot.

        nova reverts only a root that exists; without this, the data left in
        the snapshot could never be reached again.  One call when the root exists.
        """
        root = self._name(ROOT)
        if self.storage.exists(root):
            return
        snapshot = self.resize_snapshot()
        if snapshot is not None:
            LOG.warning("Resuming the interrupted revert of %s to %s", root, snapshot.name)
            self.storage.rollback(None, snapshot, root)

    def move_into(self, placement: DiskPlacement, *, but: str) -> None:
        """Move the disks (all but one) into the placement's pool, when elsewhere.

        For the revert of a resize that changed ``disk:pool``.  Only a root
        shares its V-Tree (with an image-cache volume), so the others move
        whole, online, in one call each.
        """
        for volume in self._find(n for n in self._disk_names() if n != but):
            pool_moves.move(self.storage, volume, placement)

    def _names_to_delete(self) -> list[str]:
        """The disks the record names, those of both flavors of a resize, and a swap."""
        names = list(self._disk_names())
        state, task = self.instance.vm_state, self.instance.task_state or ""
        if state in _RESCUE_STATES or task in (task_states.RESCUING, task_states.UNRESCUING):
            names += rescue_names(names)
        flavor = ownership.field(self.instance, "flavor")
        moved = {
            name
            for other in ownership.resize_flavors(self.instance)
            for name in ownership.only_in(other, flavor)
        }
        # A resize to a flavor without swap leaves the swap to its confirm;
        # a confirm that failed to remove it still forgets the old flavor,
        # so no state records it: one lookup.
        moved.add(ownership.SWAP)
        return names + sorted(moved - set(names))

    def remove_all(self) -> None:
        """Delete the instance's volumes, and the leftovers its state says may exist.

        Only the owner deletes (:mod:`sio_backend.ownership`): no other host
        can need the volumes, so they are unmapped from every host first,
        which lets an instance left mapped elsewhere by a failed resize or
        migration be deleted.  Every volume that can be removed is; the
        first failure is raised after.
        """
        # Two leftovers no state records, looked up before anything is
        # removed, so that a failed lookup fails the delete with every volume
        # in place: a revert snapshot (a resize waiting for confirm or revert,
        # an instance a hard reboot recovered from a failed resize) and a
        # Glance snapshot (an upload whose cleanup failed).  Both are
        # snapshots of the root: one listing of its V-Tree finds them.
        snapshot_names = [self._resize_snapshot_name(), self.glance_snapshot_name()]
        self.storage.find_snapshots_of(self._name(ROOT), snapshot_names)
        leftovers = {name: self.storage.snapshot_to_remove(name) for name in snapshot_names}
        failures = []
        for name in self._names_to_delete():
            try:
                self.storage.remove_named(self._name(name), everywhere=True)
            except exceptions.ScaleIOError as err:
                LOG.error("Could not remove %s: %s", self._name(name), err)
                failures.append(err)
        for name, found in leftovers.items():
            if found is not None:
                self.storage.remove_snapshot(name, found)
        if failures:
            raise failures[0]

    def glance_snapshot_name(self) -> str:
        return self._root_derived_name(naming.VolumeKind.IMAGE_SNAPSHOT)

    def remove_glance_snapshot(self) -> None:
        """Remove the snapshot an interrupted upload to Glance left, mapped or not.

        Only an upload of this instance uses it, and nova runs one at a time.
        """
        self.storage.remove_snapshot_named(self.glance_snapshot_name())

    def discard_glance_snapshot(self, snap: Volume) -> None:
        """Remove the snapshot an upload to Glance read from, without failing the upload.

        The image is in Glance by then (or the upload's own error is on its
        way), and a snapshot or shelve must not fail for a temporary volume.
        A failed removal is tried once more from a fresh lookup; a snapshot
        that still cannot be removed is left for the next snapshot of this
        instance, or its delete, to remove.
        """
        try:
            self.storage.remove(snap)
            return
        except exceptions.ScaleIOError as err:
            LOG.warning("Removing %s failed (%s); trying again", snap.name, err)
        try:
            self.remove_glance_snapshot()
        except exceptions.ScaleIOError as err:
            LOG.warning(
                "Could not remove %s, the snapshot the upload to Glance read from (%s); "
                "the next snapshot or the delete of the instance removes it",
                snap.name,
                err,
                instance=self.instance,
            )

    def release(self, plan: ownership.Release) -> None:
        """Do what :mod:`sio_backend.ownership` decided for this record on this host."""
        if plan.remove_all:
            self.remove_all()
            return
        if plan.fence:
            self.keep_only_this_host()
        for disk_name in sorted(plan.remove):
            if plan.keep_if_mapped_elsewhere and self._mapped_elsewhere(disk_name):
                LOG.info("Keeping %s: another host maps it", self._name(disk_name))
                continue
            self.storage.remove_named(self._name(disk_name))
        if plan.remove_resize_snapshot:
            self.storage.remove_snapshot_named(self._resize_snapshot_name())
        if plan.unmap_here:
            self.detach_all()

    def _mapped_elsewhere(self, disk_name: str) -> bool:
        volume = self.storage.find(self._name(disk_name))
        return volume is not None and bool(volume.mapped_sdc_ids - {self.storage.local_sdc().id})

    def remove_rescue(self) -> None:
        for name in self._rescue_names():
            self.storage.remove_named(self._name(name))

    def remove(self, volume_names: Iterable[str]) -> None:
        for name in volume_names:
            self.storage.remove_named(name)

    def detach_all(self) -> None:
        """Unmap every volume from this host; the volumes stay."""
        volumes = self.disks()
        if self.instance.vm_state in _RESCUE_STATES:
            volumes += self.rescue_disks()
        for volume in volumes:
            self.storage.detach(volume)

    def attach_all(self, placement: DiskPlacement | None) -> None:
        """Map every volume here and wait for its device; all or none stay mapped."""
        here = self.storage.local_sdc().id
        newly_mapped: list[Volume] = []
        try:
            for volume in self.disks():
                new = here not in volume.mapped_sdc_ids
                self.storage.attach(volume, placement)
                if new:
                    newly_mapped.append(volume)
        except BaseException:
            for volume in newly_mapped:
                self.storage.detach_quietly(volume)
            raise

    def keep_only_this_host(self) -> None:
        """Remove every other host's mapping: the fence before taking an instance over."""
        for volume in self.disks():
            self.storage.unmap_others(volume)
