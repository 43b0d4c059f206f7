"""Volumes: create, find, rename, grow, remove, map, limit and snapshot.

Every change either is idempotent or, when it fails in a way that may hide
success (a lost answer, a replay after re-login), re-reads the volume and
reports success if the volume is already as asked.  Volumes are created with
``storagePoolId`` only (pyscaleio, CloudStack, PyPowerFlex): the pool
already implies its protection domain.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from oslo_log import log as logging

from sio_backend.exceptions import (
    AlreadyMapped,
    BadRequest,
    GatewayError,
    GatewayUnavailable,
    InvalidArgument,
    InvalidResponse,
    NameInUse,
    NotFound,
    NotMapped,
    ShrinkNotAllowed,
    VolumeConflict,
)
from sio_backend.gateway.api import Api
from sio_backend.gateway.errors import not_served
from sio_backend.gateway.models import KB_PER_GB, SNAPSHOT, THICK, THIN, Volume
from sio_backend.gateway.system import System
from sio_backend.gateway.wire import (
    ID_PATTERN,
    as_list,
    as_object,
    check_id,
    check_volume_name,
    describe,
    object_id,
)
from sio_backend.sizing import round_up_gb

LOG = logging.getLogger(__name__)

_OTHER_MAP_VERB = {"addMappedSdc": "addMappedHost", "addMappedHost": "addMappedSdc"}
# A change that failed with one of these may still have happened.
MAYBE_APPLIED = (NameInUse, GatewayUnavailable, InvalidResponse)


def _snapshot_id(data: Any) -> str | None:
    """The id in ``volumeIdList`` (as cinder reads it), None for an empty answer."""
    if data is None or (isinstance(data, Mapping) and "volumeIdList" not in data):
        return None
    ids = as_list(as_object(data, "the snapshot answer").get("volumeIdList"), "volumeIdList")
    if not ids or not isinstance(ids[0], str) or not ID_PATTERN.fullmatch(ids[0]):
        raise InvalidResponse(f"the snapshot answer has no volume id: {describe(data)}")
    return ids[0]


def volume_path(volume_id: str, action: str | None = None) -> str:
    path = f"/api/instances/Volume::{check_id(volume_id, 'volume id')}"
    return f"{path}/action/{action}" if action else path


class Volumes:
    """The volume calls, over one shared :class:`Api`."""

    def __init__(self, api: Api, system: System) -> None:
        self._api = api
        self._system = system
        self._map_verb: str | None = None  # the one that worked, once one has

    def create(
        self, name: str, pool_id: str, size_gb: int, *, thin: bool, exclusive: bool = False
    ) -> Volume:
        check_volume_name(name)
        check_id(pool_id, "storage pool id")
        if size_gb <= 0:
            raise InvalidArgument(f"volume {name!r}: size must be positive, got {size_gb} GiB")
        size_kb = round_up_gb(size_gb, self._system.size_granularity_gb(pool_id)) * KB_PER_GB
        volume_type = THIN if thin else THICK
        body = {
            "storagePoolId": pool_id,
            "name": name,
            "volumeType": volume_type,
            "volumeSizeInKb": size_kb,
        }

        def parse(data: Any) -> str:
            return object_id(as_object(data, "the created volume"), "id", "the created volume")

        try:
            volume_id = self._api.request("POST", "/api/types/Volume/instances", body, parse=parse)
        except MAYBE_APPLIED as error:
            if exclusive:
                raise

            def differences(volume: Volume) -> list[str]:
                found = []
                if volume.pool_id != pool_id:
                    found.append(f"it is in storage pool {volume.pool_id}, not {pool_id}")
                if volume.size_kb != size_kb:
                    found.append(f"its size is {volume.size_kb} KiB, not {size_kb} KiB")
                if volume.volume_type != volume_type:
                    found.append(f"it is {volume.volume_type}, not {volume_type}")
                return found

            return self._adopt(name, error, differences)
        LOG.info("Created PowerFlex volume %s (%s) in pool %s", name, volume_id, pool_id)
        # The answer names only the id; the rest is what was asked for, so
        # reading it back would cost a round trip per disk and tell nothing.
        # The V-Tree id stays unknown until someone reads the volume.
        return Volume(
            id=volume_id,
            name=name,
            size_kb=size_kb,
            pool_id=pool_id,
            vtree_id=None,
            volume_type=volume_type,
            ancestor_id=None,
            mapped_sdcs=(),
        )

    def _adopt(
        self, name: str, error: GatewayError, differences: Callable[[Volume], list[str]]
    ) -> Volume:
        """After a create-like call failed in a way that may hide success, take
        the same-named volume if it is the one that was asked for."""
        try:
            existing = self.find(name)
        except GatewayError:
            raise error  # noqa: B904 - the original failure is the one to report
        if existing is None:
            raise error
        found = differences(existing)
        if existing.name != name:
            found.insert(0, f"its name is {existing.name!r}")
        if found:
            raise VolumeConflict(
                f"PowerFlex volume {name!r} already exists as {existing.id} but "
                f"{'; '.join(found)}; remove or rename it, or use another name"
            ) from error
        LOG.info(
            "PowerFlex volume %s already exists as %s and matches the request; using it "
            "(the earlier attempt failed with: %s)",
            name,
            existing.id,
            error.message,
        )
        return existing

    def _confirm(
        self, error: GatewayError, volume_id: str, done: Callable[[Volume], bool]
    ) -> Volume:
        """A change failed, possibly after taking effect: the volume's state decides."""
        try:
            volume = self.get(volume_id)
        except GatewayError:
            raise error  # noqa: B904 - the original failure is the one to report
        if not done(volume):
            raise error
        LOG.info("Volume %s is already as requested despite: %s", volume_id, error.message)
        return volume

    def id_by_name(self, name: str) -> str | None:
        return self._api.query_id("Volume", {"name": name})

    def find(self, name: str) -> Volume | None:
        volume_id = self.id_by_name(name)
        if volume_id is None:
            return None
        try:
            return self.get(volume_id)
        except NotFound:
            return None

    def get(self, volume_id: str) -> Volume:
        return self._api.request("GET", volume_path(volume_id), parse=Volume.from_api)

    def by_ids(self, volume_ids: list[str]) -> list[Volume]:
        """The volumes of these ids that exist, in one request where the gateway allows."""
        ids = [check_id(volume_id, "volume id") for volume_id in volume_ids]
        try:
            return self._api.request(
                "POST",
                "/api/types/Volume/instances/action/queryBySelectedIds",
                {"ids": ids},
                parse=lambda data: [
                    Volume.from_api(item) for item in as_list(data, "the volume list")
                ],
            )
        except (NotFound, BadRequest) as error:
            # A gateway that refuses the whole query over one missing id (or
            # does not serve it) is asked for each volume.
            LOG.debug("Reading volumes one by one: %s", error.message)
        found = []
        for volume_id in ids:
            try:
                found.append(self.get(volume_id))
            except NotFound:
                continue
        return found

    def list_all(self) -> list[Volume]:
        return self._api.request(
            "GET",
            "/api/types/Volume/instances",
            parse=lambda data: [Volume.from_api(item) for item in as_list(data, "the volume list")],
        )

    def rename(self, volume_id: str, new_name: str) -> None:
        check_volume_name(new_name)
        try:
            self._api.request(
                "POST", volume_path(volume_id, "setVolumeName"), {"newName": new_name}
            )
        except GatewayError as error:
            self._confirm(error, volume_id, lambda volume: volume.name == new_name)

    def extend(self, volume_id: str, size_gb: int, *, current: Volume | None = None) -> Volume:
        if size_gb <= 0:
            raise InvalidArgument(f"volume {volume_id}: size must be positive, got {size_gb} GiB")
        volume = current if current is not None and current.id == volume_id else None
        volume = volume or self.get(volume_id)
        target_gb = round_up_gb(size_gb, self._system.size_granularity_gb(volume.pool_id))
        target_kb = target_gb * KB_PER_GB
        if volume.size_kb == target_kb:
            return volume
        if volume.size_kb > target_kb:
            raise ShrinkNotAllowed(
                f"volume {volume_id} ({volume.name}) is {volume.size_gb} GiB and cannot shrink "
                f"to {size_gb} GiB (rounded up to {target_gb} GiB)"
            )
        try:
            self._api.request(
                "POST", volume_path(volume_id, "setVolumeSize"), {"sizeInGB": target_gb}
            )
        except GatewayError as error:
            return self._confirm(error, volume_id, lambda found: found.size_kb >= target_kb)
        LOG.info("Extended PowerFlex volume %s to %d GiB", volume_id, target_gb)
        # Confirmed: the size is the one asked for, nothing else changed.
        return dataclasses.replace(volume, size_kb=target_kb)

    def remove(self, volume_id: str, *, mapped: bool | None = None) -> None:
        try:
            if mapped is None:
                mapped = bool(self.get(volume_id).mapped_sdcs)
            if mapped:
                self.unmap(volume_id)
            self._api.request(
                "POST", volume_path(volume_id, "removeVolume"), {"removeMode": "ONLY_ME"}
            )
        except NotFound:
            return
        except GatewayError as error:
            self._confirm_gone(error, volume_id)
            return
        LOG.info("Removed PowerFlex volume %s", volume_id)

    def _confirm_gone(self, error: GatewayError, volume_id: str) -> None:
        """A removal failed, possibly after taking effect: success if the volume is gone."""
        try:
            self.get(volume_id)
        except NotFound:
            LOG.info("Volume %s is gone despite: %s", volume_id, error.message)
            return
        except GatewayError:
            raise error  # noqa: B904 - the original failure is the one to report
        raise error

    def map(self, volume_id: str, sdc_id: str, *, allow_multiple: bool = True) -> bool:
        verb = self._map_verb or self._preferred_map_verb()
        # addMappedHost takes the SDC's id as hostId (Dell's 4.5 and 5.0 API files).
        key = "hostId" if verb == "addMappedHost" else "sdcId"
        body = {key: sdc_id, "allowMultipleMappings": allow_multiple}
        try:
            self._api.request("POST", volume_path(volume_id, verb), body)
        except AlreadyMapped:
            return False
        except GatewayError as error:
            if self._map_verb is None and not_served(error):
                self._map_verb = _OTHER_MAP_VERB[verb]
                LOG.info("The gateway does not serve %s; mapping with %s", verb, self._map_verb)
                return self.map(volume_id, sdc_id, allow_multiple=allow_multiple)
            self._confirm(error, volume_id, lambda volume: sdc_id in volume.mapped_sdc_ids)
        self._map_verb = verb
        return True

    def _preferred_map_verb(self) -> str:
        """addMappedSdc (what every client sends on 3.x and 4.x), or on 5.x
        addMappedHost (the only mapping verb in Dell's 5.0 API file)."""
        return "addMappedHost" if self._system.version_at_least(5, 0) else "addMappedSdc"

    def unmap(self, volume_id: str, sdc_id: str | None = None) -> None:
        body = {"sdcId": sdc_id} if sdc_id else {"allSdcs": ""}
        try:
            self._api.request("POST", volume_path(volume_id, "removeMappedSdc"), body)
        except NotMapped:
            return
        except GatewayError as error:
            self._confirm(
                error,
                volume_id,
                lambda volume: (
                    sdc_id not in volume.mapped_sdc_ids if sdc_id else not volume.mapped_sdcs
                ),
            )

    def set_limits(
        self,
        volume_id: str,
        sdc_id: str,
        *,
        iops_limit: int | None = None,
        bandwidth_limit_kbps: int | None = None,
    ) -> None:
        body: dict[str, Any] = {"sdcId": sdc_id}
        if iops_limit is not None:
            if iops_limit < 0 or 0 < iops_limit <= 10:
                raise InvalidArgument(
                    f"IOPS limit {iops_limit} for volume {volume_id} is invalid: PowerFlex "
                    "accepts 0 (unlimited) or more than 10"
                )
            body["iopsLimit"] = iops_limit
        if bandwidth_limit_kbps is not None:
            if bandwidth_limit_kbps < 0 or bandwidth_limit_kbps % 1024:
                raise InvalidArgument(
                    f"bandwidth limit {bandwidth_limit_kbps} KB/s for volume {volume_id} is "
                    "invalid: PowerFlex accepts 0 (unlimited) or a multiple of 1024 KB/s"
                )
            body["bandwidthLimitInKbps"] = bandwidth_limit_kbps
        if len(body) == 1:
            return
        self._api.request("POST", volume_path(volume_id, "setMappedSdcLimits"), body)

    def snapshot(
        self, volume_id: str, name: str, *, pool_id: str | None = None, exclusive: bool = False
    ) -> str:
        """``snapshotVolumes``, or on an Erasure Coding pool ``createThinClone``.

        Every snapshot this backend takes is mapped to a host afterwards, and
        resize snapshots and image-cache clones become disks; on 5.x a
        ``createSnapshot`` snapshot is read-only ("a read-only copy of the
        volume", Dell's 5.0 API file) and a thin clone is "a read/write copy
        of a volume or a snapshot", so the thin clone is what replaces
        ``snapshotVolumes`` there (cinder does the same for its clones).
        """
        check_volume_name(name)
        check_id(volume_id, "volume id")
        if self._system.version_at_least(5, 0):
            in_pool = pool_id or self.get(volume_id).pool_id
            erasure_coded = self._system.erasure_coded(in_pool)
        else:
            erasure_coded = False
        verb = "createThinClone" if erasure_coded else "snapshotVolumes"
        path = f"/api/instances/System::{self._system.system_id()}/action/{verb}"
        body = {"snapshotDefs": [{"volumeId": volume_id, "snapshotName": name}]}

        def differences(volume: Volume) -> list[str]:
            found = []
            # What type 5.x gives a thin clone is not documented: only its source is checked.
            if not erasure_coded and volume.volume_type != SNAPSHOT:
                found.append(f"it is a {volume.volume_type} volume, not a snapshot")
            if volume.ancestor_id != volume_id:
                found.append(f"its source is {volume.ancestor_id}, not {volume_id}")
            return found

        try:
            made = self._api.request("POST", path, body, parse=_snapshot_id)
        except MAYBE_APPLIED as error:
            if exclusive:
                raise
            return self._adopt(name, error, differences).id
        if made is not None:
            return made
        # Dell's 5.0 file documents {} as the answer; the name tells which it made.
        missing = InvalidResponse(
            f"the gateway answered {verb} without the new volume's id and no volume "
            f"{name!r} exists",
            method="POST",
            path=path,
        )
        return self._adopt(name, missing, differences).id

    def overwrite_content(self, volume_id: str, source_volume_id: str) -> None:
        body = {"srcVolumeId": check_id(source_volume_id, "source volume id")}
        self._api.request("POST", volume_path(volume_id, "overwriteVolumeContent"), body)
