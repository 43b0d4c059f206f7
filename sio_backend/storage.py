"""PowerFlex storage as one compute host uses it.

The image backend and the driver hooks are thin adapters over this module,
as nova's Rbd backend is over ``rbd_utils``.  Everything that decides
whether a volume may be touched lives here: a volume is only created,
removed or unmapped when its name carries this installation's identifier,
and a pool is only used when it cannot hand a tenant someone else's data.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from oslo_log import log as logging

from sio_backend import exceptions, naming
from sio_backend.capacity import SHARED, PoolStatistics
from sio_backend.flavor import DiskPlacement
from sio_backend.gateway import (
    MAYBE_APPLIED,
    SNAPSHOT,
    GatewayClient,
    MappedSdc,
    PoolCapacity,
    Sdc,
    StoragePool,
    Volume,
)
from sio_backend.host_mappings import HostMappings
from sio_backend.known_volumes import KnownVolumes, Lookups, forgets_on_error
from sio_backend.sdc import LocalSdc

LOG = logging.getLogger(__name__)

GiB = 1024**3
_KiB = 1024
# How long a reading of this host's SDC as connected is trusted before a create.
SDC_RECHECK_S = 30.0


class Storage(HostMappings):
    """Volumes of one installation, seen from one host's SDC."""

    def __init__(
        self,
        client: GatewayClient,
        sdc: LocalSdc,
        *,
        installation_id: str | None,
        allow_non_padded_pools: bool = False,
        clock: Callable[[], float] = time.monotonic,
        pool_statistics: PoolStatistics = SHARED,
    ) -> None:
        """``pool_statistics``: the process's capacity readings (a simulated
        fleet gives each simulated host its own)."""
        self.client = client
        self.pool_statistics = pool_statistics
        self.sdc = sdc
        self._clock = clock
        self._installation_id = installation_id
        self._allow_non_padded = allow_non_padded_pools
        self._lock = threading.Lock()
        self._local_sdc: Sdc | None = None
        self._sdc_connected_until = 0.0
        self._checked_pools: dict[str, StoragePool] = {}
        self._created: dict[str, set[str]] = {}
        self.known = KnownVolumes()
        self.lookups = Lookups(lambda: self.client, self.known, lambda: self.installation_id)

    @classmethod
    def from_config(cls, conf) -> Storage:
        return cls(
            GatewayClient.from_config(conf),
            LocalSdc.from_config(conf),
            installation_id=conf.scaleio.installation_identifier,
            allow_non_padded_pools=conf.scaleio.allow_non_padded_pools,
        )

    # -- identity -------------------------------------------------------

    @property
    def installation_id(self) -> str:
        if not self._installation_id:
            raise exceptions.ConfigurationError(
                "[scaleio] installation_identifier is not set. Choose 4 letters or digits "
                "that no other cloud sharing this PowerFlex system uses."
            )
        return self._installation_id

    def system_id(self) -> str:
        return self.client.system_id()

    def local_sdc(self) -> Sdc:
        """This host's SDC as the gateway knows it, looked up once.

        Unmapping and fencing need only its id, which does not change, so
        they work (and deletes succeed) while the SDC is disconnected; what
        needs a connected SDC asks :meth:`connected_sdc`.
        """
        with self._lock:
            if self._local_sdc is None:
                try:
                    self._remember_sdc(self.client.sdc_by_guid(self.sdc.guid))
                except exceptions.NotFound as err:
                    raise self._unknown_sdc() from err
            return self._local_sdc

    def connected_sdc(self) -> Sdc:
        """This host's SDC, refused unless it is connected to the MDM.

        The connection can drop at any time after the first lookup.  Asking
        the gateway again before every disk would cost a call per disk
        (three per disk is the spawn budget, see test_call_counts), so a
        reading is trusted for SDC_RECHECK_S: one extra call per half minute
        of activity at most.  A disconnection inside that window still gets
        its name, from :meth:`_wait_for_device`, once the device is missing.
        """
        sdc = self.local_sdc()
        with self._lock:
            fresh = self._clock() < self._sdc_connected_until
        return sdc if fresh else self._recheck_sdc()

    def _recheck_sdc(self) -> Sdc:
        """Read this host's SDC again; SdcDisconnected unless it is connected."""
        try:
            sdc = self.client.get_sdc(self.local_sdc().id)
        except exceptions.NotFound as err:
            with self._lock:
                self._local_sdc = None  # re-registered under a new id: look it up again
            raise self._unknown_sdc() from err
        with self._lock:
            self._remember_sdc(sdc)
        if not sdc.connected:
            raise exceptions.SdcDisconnected(
                f"SDC {sdc.guid} ({sdc.ip}) on this host is disconnected from the MDM, so "
                "volumes mapped to it never appear. Check the SDC service and the scini "
                "kernel module (drv_cfg --query_mdms) before starting instances here."
            )
        return sdc

    def _remember_sdc(self, sdc: Sdc) -> None:
        """Keep a fresh reading; the caller holds the lock."""
        self._local_sdc = sdc
        self._sdc_connected_until = self._clock() + SDC_RECHECK_S if sdc.connected else 0.0

    def _unknown_sdc(self) -> exceptions.ConfigurationError:
        return exceptions.ConfigurationError(
            f"The PowerFlex system does not know this host's SDC (GUID {self.sdc.guid}). "
            "Register the SDC with the MDM, or correct [scaleio] default_sdcguid."
        )

    def _wait_for_device(self, volume: Volume) -> str:
        """Wait for the volume's device; if it never came because this host's
        SDC has disconnected since it was last read, say that instead."""
        try:
            return self.sdc.wait_for_device(self.system_id(), volume.id, volume.name)
        except exceptions.DeviceNotFound as missing:
            try:
                self._recheck_sdc()
            except exceptions.GatewayError:
                raise missing from None
            raise

    def device_path(self, volume_id: str) -> str:
        return self.sdc.device_path(self.system_id(), volume_id)

    # -- names ----------------------------------------------------------

    def disk_volume_name(self, instance_uuid: str, disk_name: str) -> str:
        return naming.disk_volume_name(self.installation_id, instance_uuid, disk_name)

    def ensure_our_name(self, name: str, action: str) -> None:
        """Refuse to make or remove a volume under a name this installation does not own."""
        if not naming.is_ours(name, self.installation_id):
            raise exceptions.NotOurVolume(
                f"Refusing to {action} volume {name}: the name does not carry this "
                f"installation's identifier {self.installation_id!r}."
            )

    def ensure_ours(self, volume: Volume, action: str) -> None:
        """Refuse to touch a volume another installation (or a human) made."""
        if not (volume.name and naming.is_ours(volume.name, self.installation_id)):
            raise exceptions.NotOurVolume(
                f"Refusing to {action} volume {volume.name or '(unnamed)'} (id {volume.id}): "
                f"its name does not carry this installation's identifier "
                f"{self.installation_id!r}, so it was not created by this cloud."
            )

    # -- pools ----------------------------------------------------------

    def pool_id(self, placement: DiskPlacement) -> str:
        """The id of the placement's pool, once checked safe to use."""
        pool_id = self.client.storage_pool_id(placement.protection_domain, placement.storage_pool)
        with self._lock:
            pool = self._checked_pools.get(pool_id)
        if pool is None:
            pool = self.client.get_storage_pool(pool_id)
            self._check_pool(pool, placement)
            with self._lock:
                self._checked_pools[pool_id] = pool
        elif not placement.thin:
            self._check_pool(pool, placement)
        return pool_id

    def pool_capacity(self, placement: DiskPlacement, max_age: float) -> PoolCapacity:
        """The placement's pool capacity, read at most once per ``max_age`` s in this
        process (:mod:`sio_backend.capacity`)."""
        return self.pool_statistics.capacity(self.client, self.pool_id(placement), max_age)

    def size_granularity_gb(self, placement: DiskPlacement) -> int:
        """Volume sizes in the placement's pool are multiples of this (8, or 1 on EC pools)."""
        pool_id = self.pool_id(placement)
        with self._lock:
            return self._checked_pools[pool_id].size_granularity_gb

    def _check_pool(self, pool: StoragePool, placement: DiskPlacement) -> None:
        where = f"storage pool {placement.storage_pool!r} in {placement.protection_domain!r}"
        if not pool.zero_padding and not self._allow_non_padded:
            raise exceptions.ConfigurationError(
                f"The {where} has zero padding disabled: a new disk there could return "
                "a previous tenant's data. Enable zero padding on the pool, or set "
                "[scaleio] allow_non_padded_pools = True if you accept that risk."
            )
        if placement.thin:
            return
        # Thick volumes exist in medium-granularity pools only: not in fine-granularity
        # ones, nor in 5.x's Erasure Coding pools, which the gateway would refuse with
        # "Thick provisioned volumes are not supported" once the build is under way.
        if pool.erasure_coded:
            kind, instead = "Erasure Coding", "a mirroring pool"
        elif pool.data_layout == "FineGranularity":
            kind, instead = "fine granularity", "a medium-granularity pool"
        else:
            return
        raise exceptions.ConfigurationError(
            f"The {where} uses {kind}, which has no thick volumes. Use thin provisioning "
            "(flavor disk:provisioning_type=thin or [scaleio] default_provisioning_type = "
            f"thin) or {instead}."
        )

    def reads_zeros(self, volume: Volume) -> bool:
        """True when unwritten blocks of the volume are guaranteed to read as zero."""
        pool = self._checked_pools.get(volume.pool_id)
        return bool(pool and pool.zero_padding)

    # -- volumes --------------------------------------------------------

    def operation(
        self, instance_uuid: str, *, new_instance: bool = False
    ) -> AbstractContextManager:
        """One driver operation on the instance: its steps share what they learn
        of its volumes (see :mod:`sio_backend.known_volumes`)."""
        return self.known.operation(instance_uuid, new_instance=new_instance)

    def find(self, name: str) -> Volume | None:
        """The volume called ``name``, or None; asked once per operation."""
        return self.lookups.find(name)

    def find_all(self, names: list[str]) -> dict[str, Volume]:
        return self.lookups.find_all(names)

    def exists(self, name: str) -> bool:
        return self.lookups.exists(name)

    def find_snapshots_of(self, root_name: str, names: list[str]) -> None:
        self.lookups.find_snapshots_of(root_name, names)

    def view_of(self, name: str) -> Volume | object | None:
        """What this operation knows of ``name`` (UNKNOWN if nothing), asking only
        for the volumes of its instance whose ids this process knows."""
        return self.lookups.view(name)

    def _freshest(self, volume: Volume) -> Volume:
        """This operation's latest view of ``volume`` (it may have mapped it since)."""
        seen = self.known.view(volume.name or "")
        return seen if isinstance(seen, Volume) and seen.id == volume.id else volume

    def _seen_mappings(self, volume: Volume, mappings: tuple[MappedSdc, ...]) -> None:
        if volume.name:
            self.known.seen(volume.name, dataclasses.replace(volume, mapped_sdcs=mappings))

    def get(self, volume_id: str) -> Volume:
        return self.client.get_volume(volume_id)

    @forgets_on_error
    def create(
        self, name: str, placement: DiskPlacement, size_bytes: int, *, exclusive: bool = False
    ) -> Volume:
        """Create our volume; ``exclusive``: a name in use raises NameInUse (see the client)."""
        self.ensure_our_name(name, "create")
        self.connected_sdc()  # a disconnected SDC is reported before anything is created
        pool_id = self.pool_id(placement)
        size_gb = -(-size_bytes // GiB)
        LOG.info("Creating volume %s (%d GiB, %s)", name, size_gb, placement)
        volume = self.client.create_volume(
            name, pool_id, size_gb, thin=placement.thin, exclusive=exclusive
        )
        self._note_created(name)
        self.known.seen(name, volume)
        self.pool_statistics.consumed(self.client.endpoint, pool_id, size_gb)
        return volume

    def _note_created(self, name: str) -> None:
        owner = naming.parse_volume_name(name)
        if isinstance(owner, naming.InstanceVolumeName):
            with self._lock:
                self._created.setdefault(owner.instance_uuid, set()).add(name)

    def created_for(self, instance_uuid: str) -> set[str]:
        """Names of the instance's volumes this process created since the last forget."""
        with self._lock:
            return set(self._created.get(instance_uuid, ()))

    def forget_created(self, instance_uuid: str) -> None:
        with self._lock:
            self._created.pop(instance_uuid, None)

    @contextmanager
    def removed_on_error(self, volume: Volume) -> Iterator[Volume]:
        """Remove a volume this operation created if the rest of it fails."""
        try:
            yield volume
        except BaseException:
            LOG.warning("Removing volume %s created by a failed operation", volume.name)
            try:
                self.remove(volume)
            except exceptions.ScaleIOError:
                LOG.exception("Could not remove volume %s; sio-backend audit lists it", volume.name)
            raise

    @forgets_on_error
    def remove(self, volume: Volume) -> None:
        """Delete the volume (unmapping it everywhere first)."""
        self.ensure_ours(volume, "remove")
        LOG.info("Removing volume %s (id %s)", volume.name, volume.id)
        # A view this operation read or made says whether it is mapped; any
        # other is read again by the client first.
        fresh = self._freshest(volume)
        mapped = bool(fresh.mapped_sdcs) if fresh is self.known.view(volume.name or "") else None
        self._remove_id(volume.id, mapped)
        self.known.seen(volume.name or "", None)

    def _remove_id(self, volume_id: str, mapped: bool | None) -> None:
        """Remove the volume, unmapping it everywhere first unless ``mapped`` is False;
        one mapped after all is unmapped everywhere, then removed."""
        with self._volume_lock(volume_id):
            try:
                self.client.remove_volume(volume_id, mapped=mapped)
            except exceptions.VolumeMapped:
                if mapped is not False:
                    raise
                self.client.remove_volume(volume_id, mapped=True)  # mapped since: unmap first

    def snapshot_to_remove(self, name: str) -> Volume | str | None:
        """Our revert or Glance snapshot called ``name``: this operation's view
        of it, else its id (one lookup), or None when there is none."""
        self.ensure_our_name(name, "remove")
        seen = self.lookups.view(name)
        if seen is None or isinstance(seen, Volume):
            return seen
        volume_id = self.client.volume_id_by_name(name)
        if volume_id is None:
            self.known.seen(name, None)
        return volume_id

    @forgets_on_error
    def remove_snapshot(self, name: str, found: Volume | str) -> None:
        """Delete the snapshot :meth:`snapshot_to_remove` found, with no read.

        The exact name is the ownership check, as in :meth:`remove_named`.
        These snapshots are mapped only while an upload reads one, so none
        is unmapped first; one the gateway finds mapped is unmapped
        everywhere and removed, as :meth:`remove` does with a volume it was
        handed.
        """
        if isinstance(found, Volume):
            self.remove(found)
            return
        LOG.info("Removing volume %s (id %s)", name, found)
        self._remove_id(found, mapped=False)
        self.known.seen(name, None)

    def remove_snapshot_named(self, name: str) -> bool:
        """Delete our revert or Glance snapshot called ``name`` (id, remove); False
        when there is none."""
        found = self.snapshot_to_remove(name)
        if found is not None:
            self.remove_snapshot(name, found)
        return found is not None

    @forgets_on_error
    def remove_named(self, name: str, *, everywhere: bool = False) -> bool:
        """Delete our volume called ``name``; False when there is none.

        Three gateway calls (id, unmap, remove) and no read: an exact name
        carrying this installation's identifier is the ownership check
        :meth:`remove` makes on a volume it was handed.  Only this host's
        mapping is removed, unless the caller knows no other host may use
        the volume (``everywhere``: the owner deleting the instance, see
        :mod:`sio_backend.ownership`).  A mapping the unmap leaves, or one
        made after it, may be in use there: the gateway's refusal to remove
        the volume is reported rather than overridden.
        """
        self.ensure_our_name(name, "remove")
        seen = self.lookups.view(name)
        if seen is None:
            return False
        volume_id = seen.id if isinstance(seen, Volume) else self.client.volume_id_by_name(name)
        if volume_id is None:
            self.known.seen(name, None)
            return False
        LOG.info("Removing volume %s (id %s)", name, volume_id)
        # A view read in this operation says where the volume is mapped; without
        # one every unmap is sent.  A mapping made after the view is refused below.
        mapped = seen.mapped_sdc_ids if isinstance(seen, Volume) else None
        with self._volume_lock(volume_id):
            if everywhere:
                if mapped is None or mapped:
                    LOG.info("Unmapping %s from every host before removing it", name)
                    self.client.unmap_volume(volume_id)
            else:
                here = self.local_sdc().id
                if mapped is None or here in mapped or self._device_present(volume_id):
                    self.client.unmap_volume(volume_id, here)
            try:
                self.client.remove_volume(volume_id, mapped=False)
            except exceptions.VolumeMapped as err:
                raise exceptions.VolumeConflict(
                    f"Volume {name} (id {volume_id}) is mapped to another host, which may be "
                    "using it, so it was not removed; `sio-backend audit` lists the mapping. "
                    "If the instance does not run there, hard reboot it (`openstack server "
                    "reboot --hard`), which unmaps its volumes from every other host, then "
                    "repeat the operation."
                ) from err
        self.known.seen(name, None)
        return True

    @forgets_on_error
    def take_name(self, target: Volume, name: str) -> Volume:
        """``target`` renamed to ``name``; the gateway confirmed the rename,
        so the volume is the same under its new name (no read-back)."""
        renamed = dataclasses.replace(self._freshest(target), name=name)
        self.client.rename_volume(target.id, name)
        self.known.seen(target.name or "", None)
        self.known.seen(name, renamed)
        return renamed

    @forgets_on_error
    def extend(self, volume: Volume, size_bytes: int) -> Volume:
        """Grow the volume and make this host see the new size."""
        self.ensure_ours(volume, "extend")
        size_gb = -(-size_bytes // GiB)
        volume = self._freshest(volume)
        if volume.size_kb * _KiB >= size_gb * GiB:
            return volume
        grown = self.client.extend_volume(volume.id, size_gb, current=volume)
        self.known.seen(grown.name or "", grown)
        self.pool_statistics.consumed(
            self.client.endpoint, volume.pool_id, size_gb - volume.size_kb // (GiB // _KiB)
        )
        if self.local_sdc().id in grown.mapped_sdc_ids or self._device_present(grown.id):
            self.sdc.refresh_size(grown.id, grown.name, grown.size_kb * _KiB)
        return grown

    @forgets_on_error
    def snapshot(self, volume: Volume, snapshot_name: str, *, replace: bool = False) -> Volume:
        """A point-in-time copy of the volume, in its V-Tree, unmapped.

        ``replace``: a volume already called ``snapshot_name`` is an older
        one a failed operation left, never to be adopted (it holds older
        data).  The name is not looked up first: the gateway refuses a name
        in use, and only then (or when its answer was lost) is the volume of
        that name looked up, removed and the snapshot taken again.
        """
        self.ensure_ours(volume, "snapshot")
        self.ensure_our_name(snapshot_name, "create snapshot")
        try:
            snapshot_id = self.client.snapshot_volume(
                volume.id, snapshot_name, pool_id=volume.pool_id, exclusive=replace
            )
        except MAYBE_APPLIED:
            if not replace:
                raise
            self.known.forget_view(snapshot_name)  # whatever this operation knew, ask
            stale = self.find(snapshot_name)
            if stale is None:
                raise
            LOG.warning("Replacing %s, left by an earlier operation that failed", snapshot_name)
            self.remove(stale)
            snapshot_id = self.client.snapshot_volume(
                volume.id, snapshot_name, pool_id=volume.pool_id, exclusive=True
            )
        # What the gateway made is known: reading it back would cost a call.
        snapshot = dataclasses.replace(
            volume,
            id=snapshot_id,
            name=snapshot_name,
            volume_type=SNAPSHOT,
            ancestor_id=volume.id,
            mapped_sdcs=(),
        )
        self.known.seen(snapshot_name, snapshot)
        return snapshot

    def rollback(self, volume: Volume | None, snapshot: Volume, name: str) -> Volume:
        """Make ``snapshot`` the volume called ``name``, dropping ``volume``.

        The snapshot takes the volume's place (rename) rather than having its
        content copied back, so a volume grown since the snapshot returns to
        its old size too.  Safe to run again after an interruption: the data
        is in the snapshot until the rename completes.
        """
        self.ensure_ours(snapshot, "roll back to")
        if volume is not None:
            self.remove(volume)
        return self.take_name(snapshot, name)


_registry_lock = threading.Lock()
_by_host: dict[str, Storage] = {}


def for_host(conf, host: str | None = None) -> Storage:
    """The Storage of a compute host, built from configuration on first use.

    Nova builds image backends with keyword arguments only, so they find
    their Storage here.  The demo and the functional tests run several
    simulated hosts in one process and register each with :func:`register`.
    """
    host = host or conf.host
    with _registry_lock:
        storage = _by_host.get(host)
        if storage is None:
            storage = _by_host[host] = Storage.from_config(conf)
        return storage


def register(host: str, storage: Storage) -> None:
    with _registry_lock:
        _by_host[host] = storage


def unregister(host: str) -> None:
    with _registry_lock:
        _by_host.pop(host, None)
