"""``[scaleio] image_cache = volume``: root disks as snapshots of one image volume.

The first boot of an image in a storage pool writes the image once into a
thin *image-cache volume*; every later root disk is a PowerFlex snapshot of
that volume (seconds, whatever the image size), grown to the flavor size by
the caller.  A volume tree holds at most 126 snapshots, so the image-cache
volumes of one image are numbered: generation N is named
``<iid><image>_iN`` (:func:`naming.image_cache_volume_name`), and when
generation N is full or lives in another pool, the next boot uses N+1.
Generation numbers are slots, not versions: they are shared by every pool
the image is used in, since the 31-character name has no room for a pool.

PowerFlex keeps no metadata a second host could read, so the name itself
says whether an import is complete: the image is written into a volume
named ``..._jN`` (:func:`naming.image_import_volume_name`), created
*exclusively* (a name in use is an error, never adopted), and renamed to
``..._iN`` when the data is all there.  A host that loses the create race
waits for the rename; workers of one host serialise on a file lock first,
so they cost the gateway nothing while one of them imports.

A boot that finds nothing to import costs the snapshot alone (the caller
grows and maps it): each process remembers the image-cache volume it last
used per image and pool, with the snapshots its V-Tree held when last
listed plus those made here since, and lists the V-Tree again (the count
``image_cache_max_clones`` guards, and the volume's name) once that count
is RECOUNT_S old or reaches the limit.  Other hosts' root disks made in
between are counted then; the gateway's own limit stays the hard stop.

Root disks are independent of the image volume once made: removing it
(``ONLY_ME``) leaves its snapshots in place, so :func:`unused_volumes` may
report, and the audit remove, image volumes no root disk was made from any
more.  A root disk that shares its volume tree with anything but its own
instance's volumes cannot be moved with ``migrateVTree`` (that would move
the whole tree); :func:`needs_copy_to_move` tells the driver so.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Protocol

from oslo_concurrency import lockutils
from oslo_log import log as logging

from sio_backend import exceptions, naming
from sio_backend.flavor import DiskPlacement
from sio_backend.gateway import SNAPSHOT, GatewayClient, Volume
from sio_backend.storage import Storage

LOG = logging.getLogger(__name__)

_LOCK_PREFIX = "sio-image-cache-"
_POLL_INTERVAL_S = 2.0


class ImageSource(Protocol):
    """The image of the boot that imports it; only used on a cache miss."""

    def virtual_size(self) -> int:
        """Bytes the image holds once written raw (fetching it if need be)."""

    def write(self, device_path: str, volume_name: str, *, target_is_zero: bool) -> None:
        """Write the image raw onto the device of the new volume ``volume_name``."""


class _ImportVanished(Exception):
    """The import another host was running failed and was rolled back."""


# How long a count of an image-cache volume's snapshots is trusted.
RECOUNT_S = 30.0


@dataclasses.dataclass
class _Hint:
    """The image-cache volume this process last made a root disk from, in one pool.

    ``clones`` is the snapshots its V-Tree held when last listed plus those
    made here since; other hosts' are counted at the next listing.
    """

    generation: int
    volume: Volume
    clones: int
    counted_at: float


# (system, installation, image, pool) -> the volume later boots snapshot
# without looking it up or counting its snapshots again.
_hints: dict[tuple[str, str, str, str], _Hint] = {}
_hints_lock = threading.Lock()


class ImageCache:
    """The image-cache volumes of one installation, as one host uses them."""

    def __init__(
        self,
        storage: Storage,
        *,
        max_clones: int,
        import_timeout: float,
        lock_path: str | None,
        poll_interval: float = _POLL_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.storage = storage
        self.max_clones = max_clones
        self.import_timeout = import_timeout
        self.lock_path = lock_path
        self.poll_interval = poll_interval
        self._clock = clock
        self._sleep = sleep

    @classmethod
    def from_config(cls, storage: Storage, conf, lock_path: str | None) -> ImageCache:
        return cls(
            storage,
            max_clones=conf.scaleio.image_cache_max_clones,
            import_timeout=conf.scaleio.image_cache_import_timeout,
            lock_path=lock_path,
        )

    # -- root disks -------------------------------------------------------

    def clone(
        self, image_id: str, placement: DiskPlacement, name: str, source: ImageSource
    ) -> Volume:
        """A new unmapped volume ``name`` holding the image, in the placement's pool.

        It is a snapshot of the image's cache volume there (imported first
        if there is none), as large as that volume: the caller grows it.
        A boot within RECOUNT_S of the last count of that volume, and below
        ``image_cache_max_clones`` by that count, costs the snapshot alone.
        """
        placement = placement.as_thin()
        pool_id = self.storage.pool_id(placement)
        key = (self.storage.system_id(), self.storage.installation_id, image_id, pool_id)
        with _hints_lock:
            hint = _hints.get(key)
        generation = hint.generation if hint else 0
        while generation <= naming.MAX_IMAGE_GENERATION:
            if hint is not None and hint.generation != generation:
                hint = None
            remembered = hint is not None and self._trusted(hint)
            if not remembered:
                hint = self._usable_volume(
                    image_id, placement, pool_id, generation, source, hint=hint
                )
            if hint is not None:
                try:
                    clone = self.storage.snapshot(hint.volume, name)
                except exceptions.SnapshotLimit:
                    LOG.info("Image-cache volume %s is full; using the next one", hint.volume.name)
                except exceptions.NotFound:
                    LOG.info("Image-cache volume %s was removed meanwhile", hint.volume.name)
                    if remembered:
                        hint = None  # known from an earlier boot: look its name up again
                        continue
                else:
                    with _hints_lock:
                        hint.clones += 1
                        _hints[key] = hint
                    return clone
            generation += 1
        raise exceptions.ScaleIOError(
            f"Image {image_id} has no image-cache volume left with room for a root disk "
            f"in storage pool {pool_id}: all {naming.MAX_IMAGE_GENERATION + 1} generations "
            "are full or in other pools. Remove unused ones (sio-backend audit) or set "
            "[scaleio] image_cache = none."
        )

    def _trusted(self, hint: _Hint) -> bool:
        """True while the hint's count is recent and below the limit by that count."""
        return hint.clones < self.max_clones and self._clock() - hint.counted_at < RECOUNT_S

    def _usable_volume(
        self,
        image_id: str,
        placement: DiskPlacement,
        pool_id: str,
        generation: int,
        source: ImageSource,
        *,
        hint: _Hint | None,
    ) -> _Hint | None:
        """Generation ``generation`` if it is in the pool and has room, imported if need be.

        A volume already known is only counted again: its V-Tree listing also
        says whether it still exists under its name.
        """
        name = naming.image_cache_volume_name(self.storage.installation_id, image_id, generation)
        counted = self._counted(hint.volume, name, generation) if hint is not None else None
        if counted is None:
            volume = self.storage.find(name)
            if volume is None:
                volume = self._import(image_id, placement, pool_id, generation, source)
            if volume is None or volume.pool_id != pool_id:
                return None
            counted = self._counted(volume, name, generation)
            if counted is None:
                return None
        if counted.clones >= self.max_clones:
            LOG.debug("Image-cache volume %s holds %d snapshots; skipping it", name, counted.clones)
            return None
        return counted

    def _counted(self, volume: Volume, name: str, generation: int) -> _Hint | None:
        """Generation ``generation`` as its V-Tree listing shows it, with its snapshots
        counted; None when it is gone or no longer called ``name``."""
        try:
            members = self.storage.client.vtree_volumes(volume.vtree_id)
        except exceptions.NotFound:
            return None
        current = next((m for m in members if m.id == volume.id and m.name == name), None)
        if current is None:
            return None
        clones = sum(1 for member in members if member.volume_type == SNAPSHOT)
        return _Hint(generation, current, clones, self._clock())

    # -- import -----------------------------------------------------------

    def _import(
        self,
        image_id: str,
        placement: DiskPlacement,
        pool_id: str,
        generation: int,
        source: ImageSource,
    ) -> Volume | None:
        """Write generation ``generation``, or wait for whoever writes it.

        None when the generation turned out to be in another pool, or when
        another host's import did not finish within the import timeout.
        """
        iid = self.storage.installation_id
        final_name = naming.image_cache_volume_name(iid, image_id, generation)
        import_name = naming.image_import_volume_name(iid, image_id, generation)
        deadline = self._clock() + self.import_timeout
        while True:
            with lockutils.lock(
                f"{_LOCK_PREFIX}{image_id}-{pool_id}", external=True, lock_path=self.lock_path
            ):
                # Another worker of this host may have imported while this one waited.
                done = self.storage.find(final_name)
                if done is not None:
                    return done
                importing = self.storage.find(import_name)
                if importing is not None and importing.pool_id != pool_id:
                    return None  # another pool's import holds this generation
                if importing is not None and self._abandoned_here(importing):
                    self.storage.remove(importing)
                    importing = None
                if importing is None:
                    staging = self._create_exclusive(import_name, placement, source)
                    if staging is not None:
                        return self._write(staging, final_name, source)
            try:
                return self._wait_for(final_name, import_name, deadline)
            except _ImportVanished:
                LOG.info("The other import of %s failed; importing it here", final_name)

    def _abandoned_here(self, importing: Volume) -> bool:
        """An import volume mapped to this host alone, seen under this host's import lock.

        Only an import holding that lock maps it here, so this host's
        import of it died (nova-compute crashed or was stopped): nobody
        will finish it, and waiting for it would cost every boot the timeout.
        """
        if importing.mapped_sdc_ids != {self.storage.local_sdc().id}:
            return False
        LOG.warning(
            "Removing %s: this host's import into it was interrupted; importing again",
            importing.name,
        )
        return True

    def _create_exclusive(
        self, import_name: str, placement: DiskPlacement, source: ImageSource
    ) -> Volume | None:
        """The new import volume, or None when another host created it first."""
        try:
            return self.storage.create(
                import_name, placement, source.virtual_size(), exclusive=True
            )
        except exceptions.NameInUse:
            return None

    def _write(self, staging: Volume, final_name: str, source: ImageSource) -> Volume:
        """Fill the exclusively created ``staging`` volume, then give it its final name."""
        with self.storage.removed_on_error(staging):
            # A host that finished just before the create freed the import name.
            done = self.storage.find(final_name)
            if done is not None:
                self.storage.remove(staging)
                return done
            LOG.info("Importing the image into image-cache volume %s", staging.name)
            device = self.storage.attach(staging)
            source.write(device, staging.name, target_is_zero=self.storage.reads_zeros(staging))
            # Renamed while still mapped: an import volume mapped nowhere has
            # no writer (bar the instant between its creation and mapping),
            # which is how the audit tells an abandoned one.
            try:
                self.storage.client.rename_volume(staging.id, final_name)
            except exceptions.NameInUse:
                # Only a volume made outside this protocol can hold the name.
                raise exceptions.VolumeConflict(
                    f"Image-cache volume {final_name} appeared while {staging.name} was "
                    "being imported; remove whichever is not the image and boot again."
                ) from None
        ready = self.storage.get(staging.id)
        self.storage.detach(ready)
        LOG.info("Image-cache volume %s is ready", final_name)
        return self.storage.get(staging.id)

    def _wait_for(self, final_name: str, import_name: str, deadline: float) -> Volume | None:
        """The volume once another host finishes importing it; None if it never does."""
        LOG.info("Waiting for another host's import of %s", final_name)
        while True:
            done = self.storage.find(final_name)
            if done is not None:
                return done
            if self.storage.client.volume_id_by_name(import_name) is None:
                if self.storage.find(final_name) is None:
                    raise _ImportVanished(import_name)
                continue  # renamed between the two lookups
            if self._clock() >= deadline:
                LOG.warning(
                    "The import of %s did not finish within %g s; using the next "
                    "generation. If no host is importing it, remove volume %s "
                    "(sio-backend audit lists it).",
                    final_name,
                    self.import_timeout,
                    import_name,
                )
                return None
            self._sleep(self.poll_interval)


# -- pool moves -------------------------------------------------------------


def needs_copy_to_move(storage: Storage, volume: Volume) -> bool:
    """True when ``migrateVTree`` would move more than this instance's volumes.

    A root disk made from an image-cache volume shares its volume tree with
    that volume and with the root disks of other instances; moving it to
    another pool must copy it into a new volume instead.  A tree holding only
    the instance's own volumes (its disk and the snapshots made of it) moves
    as a whole.
    """
    owner = naming.parse_volume_name(volume.name)
    if not isinstance(owner, naming.InstanceVolumeName):
        raise exceptions.NotOurVolume(
            f"Volume {volume.name or volume.id} is not an instance disk of this cloud"
        )
    vtree_id = volume.vtree_id or storage.get(volume.id).vtree_id
    for member in storage.client.vtree_volumes(vtree_id):
        other = naming.parse_volume_name(member.name)
        if not (
            isinstance(other, naming.InstanceVolumeName)
            and other.installation_id == owner.installation_id
            and other.instance_uuid == owner.instance_uuid
        ):
            return True
    return False


# -- audit ------------------------------------------------------------------


def unused_volumes(volumes: Iterable[Volume], installation_id: str) -> list[Volume]:
    """Our image-cache volumes with no snapshot left in their volume tree.

    ``volumes`` is a listing of the whole system (``list_volumes``).  Such a
    volume only costs capacity; the next boot of its image imports again.
    """
    volumes = list(volumes)
    per_tree: defaultdict[str | None, int] = defaultdict(int)
    for volume in volumes:
        per_tree[volume.vtree_id] += 1
    return [
        volume
        for volume in volumes
        if _image_kind(volume, installation_id) is naming.VolumeKind.IMAGE_CACHE
        and volume.vtree_id is not None
        and per_tree[volume.vtree_id] == 1
    ]


def import_volumes(volumes: Iterable[Volume], installation_id: str) -> list[Volume]:
    """Our image imports under way, or abandoned by a host that died during one."""
    return [
        volume
        for volume in volumes
        if _image_kind(volume, installation_id) is naming.VolumeKind.IMAGE_IMPORT
    ]


def remove_if_unused(client: GatewayClient, installation_id: str, volume: Volume) -> bool:
    """Remove an image-cache volume unless a root disk was made from it since it was listed.

    A boot racing the removal still gets a sound root disk: removing the
    volume (``ONLY_ME``) leaves snapshots made of it in place.
    """
    if _image_kind(volume, installation_id) is not naming.VolumeKind.IMAGE_CACHE:
        raise exceptions.NotOurVolume(
            f"Volume {volume.name or volume.id} is not one of this cloud's image-cache volumes"
        )
    try:
        members = client.vtree_volumes(volume.vtree_id or client.get_volume(volume.id).vtree_id)
    except exceptions.NotFound:
        return False
    if [member.id for member in members] != [volume.id]:
        return False
    LOG.info("Removing unused image-cache volume %s (id %s)", volume.name, volume.id)
    client.remove_volume(volume.id)
    return True


def _image_kind(volume: Volume, installation_id: str) -> naming.VolumeKind | None:
    owner = naming.parse_volume_name(volume.name)
    if isinstance(owner, naming.ImageCacheVolumeName) and owner.installation_id == installation_id:
        return owner.kind
    return None
