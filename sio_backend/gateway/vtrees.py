"""V-Trees: a volume with its snapshots, and moving them between pools."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oslo_log import log as logging

from sio_backend.exceptions import (
    AlreadyInPool,
    GatewayError,
    InvalidArgument,
    InvalidResponse,
    MigrationInProgress,
)
from sio_backend.gateway.api import Api
from sio_backend.gateway.models import Volume
from sio_backend.gateway.volumes import Volumes, volume_path
from sio_backend.gateway.wire import as_list, as_object, check_id

LOG = logging.getLogger(__name__)

MIGRATION_CONVERSIONS = frozenset({"NoConversion", "ThickToThin", "ThinToThick"})


def vtree_path(vtree_id: str) -> str:
    return f"/api/instances/VTree::{check_id(vtree_id, 'V-Tree id')}"


class VTrees:
    """V-Tree reads and migration, over one shared :class:`Api`."""

    def __init__(self, api: Api, volumes: Volumes) -> None:
        self._api = api
        self._volumes = volumes

    def volumes(self, vtree_id: str) -> list[Volume]:
        return self._api.request(
            "GET",
            f"{vtree_path(vtree_id)}/relationships/Volume",
            parse=lambda data: [
                Volume.from_api(item) for item in as_list(data, "the V-Tree volumes")
            ],
        )

    def get(self, vtree_id: str) -> dict:
        return self._api.request(
            "GET", vtree_path(vtree_id), parse=lambda data: dict(as_object(data, "a V-Tree"))
        )

    def _migration_info(self, vtree_id: str) -> Mapping[str, Any]:
        def parse(data: Any) -> Mapping[str, Any]:
            info = as_object(data, "a V-Tree").get("vtreeMigrationInfo") or {}
            return as_object(info, f"V-Tree {vtree_id} vtreeMigrationInfo")

        return self._api.request("GET", vtree_path(vtree_id), parse=parse)

    def migrate(
        self,
        volume_id: str,
        dest_pool_id: str,
        *,
        conversion: str = "NoConversion",
        poll_interval: float = 3.0,
        timeout: float = 3600.0,
    ) -> None:
        if conversion not in MIGRATION_CONVERSIONS:
            raise InvalidArgument(
                f"V-Tree conversion {conversion!r} is invalid; use one of "
                f"{', '.join(sorted(MIGRATION_CONVERSIONS))}"
            )
        check_id(dest_pool_id, "destination pool id")
        volume = self._volumes.get(volume_id)
        if volume.pool_id == dest_pool_id:
            return
        if volume.vtree_id is None:
            raise InvalidResponse(
                f"volume {volume_id} has no vtreeId, so it cannot be migrated",
                method="GET",
                path=volume_path(volume_id),
            )
        body = {"destSPId": dest_pool_id, "volTypeConversion": conversion}
        try:
            self._api.request("POST", volume_path(volume_id, "migrateVTree"), body)
        except AlreadyInPool:
            return
        except MigrationInProgress:
            LOG.info("Volume %s is already migrating; waiting for it", volume_id)
        self._wait(volume_id, volume.vtree_id, dest_pool_id, poll_interval, timeout)

    def _wait(
        self, volume_id: str, vtree_id: str, dest_pool_id: str, poll_interval: float, timeout: float
    ) -> None:
        deadline = self._api.clock() + timeout
        what = f"migration of volume {volume_id} to storage pool {dest_pool_id}"
        while True:
            info = self._migration_info(vtree_id)
            status = info.get("migrationStatus")
            if status == "NotInMigration":
                break
            if info.get("migrationPauseReason"):
                raise GatewayError(
                    f"{what} is paused ({info['migrationPauseReason']}); resume or roll it "
                    "back on the PowerFlex system, then retry"
                )
            if self._api.clock() >= deadline:
                raise MigrationInProgress(
                    f"{what} did not finish within {timeout:g} s (status {status}); it goes "
                    "on in the background, wait for it before retrying"
                )
            self._api.sleep(poll_interval)
        moved = self._volumes.get(volume_id)
        if moved.pool_id != dest_pool_id:
            raise GatewayError(f"{what} ended with the volume still in pool {moved.pool_id}")
        LOG.info("Migrated volume %s to storage pool %s", volume_id, dest_pool_id)
