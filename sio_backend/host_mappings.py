"""This host's mappings of volumes, as :class:`~sio_backend.storage.Storage` makes them.

Map, unmap and per-host QoS limits, each serialised per volume on this host
(:meth:`HostMappings._volume_lock` says why).  A part of ``Storage`` kept
in its own module: it relies on the identity, ownership and view methods
``Storage`` defines (``ensure_ours``, ``local_sdc``, ``connected_sdc``,
``_freshest``, ``_seen_mappings``, ``_wait_for_device``, ``device_path``).
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager

from oslo_concurrency import lockutils
from oslo_log import log as logging

from sio_backend import exceptions
from sio_backend.flavor import DiskPlacement
from sio_backend.gateway import MappedSdc, Volume
from sio_backend.known_volumes import forgets_on_error

LOG = logging.getLogger(__name__)


class HostMappings:
    """Mapping volumes to this host's SDC, one operation per volume at a time."""

    def _volume_lock(self, volume_id: str) -> AbstractContextManager:
        """Serialise this host's attach, detach and remove of one volume.

        nova's per-instance lock keeps most operations on an instance apart,
        not all: ``pre_live_migration`` takes none on the destination, so the
        ``rollback_live_migration_at_destination`` that follows an RPC
        timeout can unmap there while the mapping is still being made.
        Unserialised, a remove racing a map here failed blaming another host
        and left the mapping; a detach whose view predated the map left it
        too; an attach that failed unmapped a volume another attach had just
        made present.  Under this lock each sees the other's result, and the
        caller's possibly older view of the volume is checked against this
        host's device.  Across hosts the gateway arbitrates: a mapped volume
        cannot be removed, a removed one cannot be mapped.  What no lock
        here orders is a rollback that finishes before the map starts; the
        audit lists such a mapping.
        """
        return lockutils.lock(f"sio-volume-{self.sdc.guid}-{volume_id}")

    def _device_present(self, volume_id: str) -> bool:
        return os.path.lexists(self.device_path(volume_id))

    @forgets_on_error
    def attach(self, volume: Volume, placement: DiskPlacement | None = None) -> str:
        """Map the volume to this host, apply QoS, and wait for its device.

        The gateway is asked to map unless both the volume's view and this
        host's device say it is mapped; a failure undoes only a mapping this
        call made (the gateway says whether it was there already), so never
        one something here may be using.
        """
        self.ensure_ours(volume, "map")
        sdc = self.connected_sdc()
        volume = self._freshest(volume)
        with self._volume_lock(volume.id):
            mapped_here = False
            if not (self._device_present(volume.id) and sdc.id in volume.mapped_sdc_ids):
                mapped_here = self.client.map_volume(volume.id, sdc.id, allow_multiple=True)
            others = tuple(m for m in volume.mapped_sdcs if m.sdc_id != sdc.id)
            # A mapping this call made has no limits yet, whatever an older view said.
            mine = None if mapped_here else self._mapping(volume, sdc.id)
            try:
                if placement is not None:
                    mine = self._apply_qos(volume, sdc.id, placement, mine)
                path = self._wait_for_device(volume)
            except BaseException:
                if mapped_here:
                    LOG.warning("Rolling back the mapping of %s to this host", volume.name)
                    self._unmap_quietly(volume, sdc.id)
                raise
            if mine is None and not mapped_here:
                self.known.forget_view(volume.name or "")  # its limits here are not known
            else:
                self._seen_mappings(volume, (*others, mine or MappedSdc(sdc.id, sdc.ip, 0, 0)))
            return path

    @staticmethod
    def _mapping(volume: Volume, sdc_id: str) -> MappedSdc | None:
        return next((m for m in volume.mapped_sdcs if m.sdc_id == sdc_id), None)

    def _apply_qos(
        self, volume: Volume, sdc_id: str, placement: DiskPlacement, current: MappedSdc | None
    ) -> MappedSdc:
        """Make this host's limits on the volume those of the flavor (0 = unlimited).

        Limits left by an earlier flavor are cleared too, so a resize to a
        flavor without QoS does not keep the old ones.  Returns the mapping as
        it now is.
        """
        have = {
            "iops_limit": current.iops_limit if current else 0,
            "bandwidth_limit_kbps": current.bandwidth_limit_kbps if current else 0,
        }
        wanted = {
            "iops_limit": placement.iops_limit or 0,
            "bandwidth_limit_kbps": placement.bandwidth_limit_kbps or 0,
        }
        changes = {key: value for key, value in wanted.items() if have[key] != value}
        # Gateways have refused clearing both limits in one request; send them apart.
        batches = [changes] if any(changes.values()) else [{k: v} for k, v in changes.items()]
        for batch in batches:
            self.client.set_sdc_limits(volume.id, sdc_id, **batch)
        return MappedSdc(
            sdc_id,
            current.sdc_ip if current else None,
            wanted["iops_limit"],
            wanted["bandwidth_limit_kbps"],
        )

    def _unmap_quietly(self, volume: Volume, sdc_id: str) -> None:
        try:
            self.client.unmap_volume(volume.id, sdc_id)
        except exceptions.ScaleIOError:
            LOG.exception("Could not unmap %s; sio-backend audit lists the mapping", volume.name)

    def detach_quietly(self, volume: Volume) -> None:
        """Undo a mapping this host made, logging rather than raising on failure."""
        self.ensure_ours(volume, "unmap")
        here = self.local_sdc().id
        with self._volume_lock(volume.id):
            self._unmap_quietly(volume, here)
        self.known.forget_view(volume.name or "")  # whether the unmap worked is not known

    @forgets_on_error
    def unmap_others(self, volume: Volume) -> None:
        """Unmap the volume from every SDC but this host's (fencing a failed host)."""
        here = self.local_sdc().id
        others = volume.mapped_sdc_ids - {here}
        if others:
            self.ensure_ours(volume, "unmap")
        for sdc_id in sorted(others):
            LOG.warning("Fencing: unmapping %s from SDC %s", volume.name, sdc_id)
            self.client.unmap_volume(volume.id, sdc_id)
        if others:
            self._seen_mappings(volume, tuple(m for m in volume.mapped_sdcs if m.sdc_id == here))

    @forgets_on_error
    def detach(self, volume: Volume) -> None:
        """Unmap the volume from this host only (if its view or this host's device says mapped)."""
        self.ensure_ours(volume, "unmap")
        sdc = self.local_sdc()
        volume = self._freshest(volume)
        with self._volume_lock(volume.id):
            if sdc.id in volume.mapped_sdc_ids or self._device_present(volume.id):
                self.client.unmap_volume(volume.id, sdc.id)
                self.sdc.wait_for_removal(self.system_id(), volume.id)
                self._seen_mappings(
                    volume, tuple(m for m in volume.mapped_sdcs if m.sdc_id != sdc.id)
                )
