"""Moving an instance disk to another storage pool, for a resize that changes ``disk:pool``.

PowerFlex migrates a whole V-Tree online, so a volume alone in its V-Tree
moves in one call.  A root cloned from an image-cache volume shares its
V-Tree with the cache and every other clone: it is copied instead, through
an ``_m`` volume that takes the disk's name once the copy is whole.  The
old volume is removed only after the copy, so a move cut off at any point
leaves one whole copy of the tenant's data under a name we can find.
"""

from __future__ import annotations

import dataclasses

from oslo_log import log as logging

from sio_backend import naming, privileged
from sio_backend.flavor import DiskPlacement
from sio_backend.gateway import Volume
from sio_backend.known_volumes import forgets_on_error
from sio_backend.storage import Storage

LOG = logging.getLogger(__name__)

_KiB = 1024


@forgets_on_error
def move(
    storage: Storage, volume: Volume, placement: DiskPlacement, *, copy: bool = False
) -> Volume:
    """Put the volume in the placement's pool; ``copy`` when it shares its V-Tree.

    The instance must be stopped for a copy.  A copy interrupted before the
    old volume's removal left a partial ``_m`` volume beside the whole old
    one: it is removed and the copy starts over.  One interrupted after it
    is finished by :func:`finish_interrupted_move`.
    """
    pool_id = storage.pool_id(placement)
    if volume.pool_id == pool_id:
        return volume
    storage.ensure_ours(volume, "move")
    LOG.info("Moving volume %s to %s%s", volume.name, placement, " by copy" if copy else "")
    if not copy:
        storage.client.migrate_vtree(volume.id, pool_id)
        return storage.client.get_volume(volume.id)
    temp_name = move_name(volume.name)
    stale = storage.find(temp_name)
    if stale is not None:
        LOG.warning("Removing %s, the partial copy of an interrupted move", temp_name)
        storage.remove(stale)
    target = storage.create(temp_name, placement, volume.size_kb * _KiB)
    with storage.removed_on_error(target):
        privileged.convert_image(
            storage.attach(volume),
            "raw",
            storage.attach(target),
            "raw",
            target_exists=True,
            target_is_zero=storage.reads_zeros(target),
        )
    # From here until the rename, the copy is the disk's only one.
    storage.remove(volume)
    return storage.take_name(target, volume.name)


def finish_interrupted_move(storage: Storage, name: str) -> Volume | None:
    """The disk called ``name`` if a move by copy was cut off after removing it; else None.

    Only ask for a disk that does not exist: its ``_m`` copy is then
    complete (the old volume goes only after the copy) and is the only
    copy of the tenant's data, so it takes the disk's name rather than
    the disk being made anew.
    """
    storage.ensure_our_name(name, "finish moving")
    owner = naming.parse_volume_name(name)
    if not isinstance(owner, naming.InstanceVolumeName) or owner.disk.rescue:
        return None  # only instance disks move, never rescue disks
    if owner.kind is not naming.VolumeKind.DISK:
        return None
    target = storage.find(move_name(name))
    if target is None:
        return None
    LOG.warning(
        "Finishing the interrupted move of %s: its copy %s takes its name", name, target.name
    )
    return storage.take_name(target, name)


def move_name(name: str) -> str:
    """The name of the copy a disk is moved through (``..._m<code>``)."""
    owner = naming.parse_volume_name(name)
    return dataclasses.replace(owner, kind=naming.VolumeKind.MOVE).volume_name
