"""Snapshots, reverts and V-Tree migrations, as the MDM rules them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sio_backend.simulator import errors
from sio_backend.simulator.dataplane import PendingCopies
from sio_backend.simulator.model import Model, locked
from sio_backend.simulator.objects import (
    CONVERSIONS,
    MEDIUM_GRANULARITY,
    SNAPSHOT,
    THICK,
    Migration,
    Sdc,
    Volume,
    converted_type,
)


@dataclass(frozen=True)
class PendingSnapshots:
    """Snapshots whose records exist and whose data is still to be copied."""

    group_id: str
    volume_ids: list[str]
    copies: PendingCopies
    discard: Callable[[list[str]], None]

    def finish(self) -> tuple[str, list[str]]:
        """Copy the data: (snapshot group id, snapshot ids).  A failed copy
        removes the snapshots, so nothing half-copied stays visible."""
        try:
            self.copies.finish()
        except BaseException:
            self.discard(self.volume_ids)
            raise
        return self.group_id, self.volume_ids


class VTreeRules(Model):
    """What happens inside one volume's V-Tree, and moving it to another pool."""

    # ------------------------------------------------------------- snapshots
    def snapshot_volumes(
        self, definitions: list[tuple[str, str | None]], *, read_only: bool = False
    ) -> tuple[str, list[str]]:
        """Snapshot every (volume id, snapshot name) at one instant, all or none:
        (snapshot group id, snapshot ids)."""
        return self.begin_snapshot_volumes(definitions, read_only=read_only).finish()

    @locked
    def begin_snapshot_volumes(
        self, definitions: list[tuple[str, str | None]], *, read_only: bool = False
    ) -> PendingSnapshots:
        """The records of :meth:`snapshot_volumes`, made now; the data is copied
        by :meth:`PendingSnapshots.finish`, to be called without the model lock
        (a real snapshot is metadata only: other requests must not wait for our copy).

        ``read_only``: 5.x ``createSnapshot`` (a read-only copy) rather than
        ``snapshotVolumes`` or 5.x ``createThinClone`` (writable ones).
        """
        if not definitions:
            raise errors.missing_parameters("snapshotDefs")
        sources = [self.volume(volume_id) for volume_id, _ in definitions]
        names = [name for _, name in definitions if name is not None]
        for name in names:
            self._check_volume_name(name)
        if len(set(names)) != len(names):
            raise errors.VOL_NAME_IN_USE.error(v4=self.v4)
        for vtree_id in {s.vtree_id for s in sources}:
            existing = sum(1 for v in self.volumes(vtree_id=vtree_id) if v.volume_type == SNAPSHOT)
            asked = sum(1 for s in sources if s.vtree_id == vtree_id)
            if existing + asked > self.max_snapshots_per_vtree:
                raise errors.with_details(errors.TOO_MANY_SNAPS_IN_VTREE)
        group_id = self._new_id("snapgroup")
        snapshots = [
            Volume(
                id=self._new_id("volume"),
                name=name,
                size_kb=source.size_kb,
                pool_id=source.pool_id,
                vtree_id=source.vtree_id,
                volume_type=SNAPSHOT,
                ancestor_id=source.id,
                creation_time=int(time.time()),
                compression_method=source.compression_method,
                nsid=next(self._nsids),
                access_mode_limit="ReadOnly" if read_only else "ReadWrite",
                snapshot_group_id=group_id,
            )
            for source, (_, name) in zip(sources, definitions, strict=True)
        ]
        copies = self._data.begin_snapshots(
            [(source.id, snapshot.id) for source, snapshot in zip(sources, snapshots, strict=True)]
        )
        for snapshot in snapshots:
            self._volumes[snapshot.id] = snapshot
        created = [s.id for s in snapshots]
        self._snapshot_groups[group_id] = list(created)
        return PendingSnapshots(group_id, created, copies, self._discard_snapshots)

    @locked
    def _discard_snapshots(self, volume_ids: list[str]) -> None:
        """Remove snapshots whose data copy failed, and whatever mapped them
        meanwhile: they must look as if never made."""
        doomed = [v for v in volume_ids if v in self._volumes]
        for volume_id in doomed:
            volume = self._volumes[volume_id]
            for host_id in list(volume.mappings):
                del volume.mappings[host_id]
                if isinstance(self._hosts[host_id], Sdc):
                    self._data.detach(host_id, volume_id)
        self._remove_volumes(doomed)

    @locked
    def remove_snapshot_group(self, group_id: str) -> int:
        members = self._snapshot_groups.get(group_id)
        if not members:
            raise errors.VOL_NOT_FOUND_FOR_SNAP_GROUP.error(v4=self.v4)
        count = len(members)
        self._remove_volumes(list(members))
        return count

    @locked
    def overwrite_volume_content(self, volume_id: str, source_volume_id: str) -> None:
        """Replace a volume's data with another's from the same V-Tree (revert)."""
        target = self.volume(volume_id)
        source = self.volume(source_volume_id)
        if target.id == source.id:
            raise errors.VOLUME_AND_SNAPSHOT_MATCH.error(v4=self.v4)
        if target.vtree_id != source.vtree_id:
            raise errors.VTREE_ID_MISMATCH.error(v4=self.v4)
        self._data.overwrite(target.id, source.id)

    # ------------------------------------------------------------- migration
    @locked
    def migrate_vtree(
        self, volume_id: str, destination_pool_id: str, *, conversion: str = "NoConversion"
    ) -> None:
        """Start moving a volume's whole V-Tree; it completes after ``migration_delay``."""
        volume = self.volume(volume_id)
        destination = self.storage_pool(destination_pool_id)
        vtree = self._vtrees[volume.vtree_id]
        if conversion not in CONVERSIONS:
            raise errors.invalid_request(
                f"volTypeConversion must be one of {', '.join(CONVERSIONS)}"
            )
        if vtree.migration is not None:
            raise errors.MIGRATION_IN_PROGRESS.error(v4=self.v4)
        if vtree.pool_id == destination.id:
            raise errors.ALREADY_IN_DESTINATION.error(v4=self.v4)
        members = self.volumes(vtree_id=vtree.id)
        if destination.data_layout != MEDIUM_GRANULARITY and any(
            converted_type(v.volume_type, conversion) == THICK for v in members
        ):
            raise self._thick_refused(destination, "; migrate with volTypeConversion ThickToThin")
        vtree.migration = Migration(
            vtree.pool_id, destination.id, conversion, self._clock() + self.migration_delay
        )
