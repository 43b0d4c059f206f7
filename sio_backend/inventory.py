"""This installation's volumes, decoded back to their owners, for operators.

Listing every volume of the system is fine here, once per operator command;
nova's code paths never list, they look volumes up by exact name.  Volumes
whose names do not carry this installation's identifier (other clouds,
volumes made by hand) are left out entirely.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sio_backend import naming
from sio_backend.gateway import THICK, THIN, GatewayClient, Sdc, Volume

_KIND_LABELS = {
    naming.VolumeKind.DISK: "disk",
    naming.VolumeKind.RESIZE_SNAPSHOT: "resize snapshot",
    naming.VolumeKind.IMAGE_SNAPSHOT: "image snapshot",
    naming.VolumeKind.MOVE: "move copy",
    naming.VolumeKind.IMAGE_CACHE: "image cache",
    naming.VolumeKind.IMAGE_IMPORT: "image import",
}
_PROVISIONING = {THIN: "thin", THICK: "thick"}


@dataclass(frozen=True)
class OwnedVolume:
    """A volume of this installation with the owner its name encodes."""

    volume: Volume
    owner: naming.VolumeName
    pool_name: str

    @property
    def name(self) -> str:
        return self.volume.name or ""

    @property
    def kind(self) -> naming.VolumeKind:
        return self.owner.kind

    @property
    def instance_uuid(self) -> str | None:
        return getattr(self.owner, "instance_uuid", None)

    @property
    def owner_uuid(self) -> str:
        """The instance's UUID, or the image's for an image-cache volume."""
        return self.instance_uuid or self.owner.image_uuid

    @property
    def is_rescue(self) -> bool:
        return isinstance(self.owner, naming.InstanceVolumeName) and self.owner.disk.rescue

    @property
    def kind_label(self) -> str:
        return "rescue disk" if self.is_rescue else _KIND_LABELS[self.kind]

    @property
    def provisioning(self) -> str:
        return _PROVISIONING.get(self.volume.volume_type, "snapshot")


@dataclass(frozen=True)
class Inventory:
    """One consistent read of the system: our volumes, every SDC, V-Tree sizes."""

    installation_id: str
    volumes: tuple[OwnedVolume, ...]
    sdcs: Mapping[str, Sdc]
    vtree_sizes: Mapping[str, int]  # volumes per V-Tree, counting every owner's

    def host(self, sdc_id: str) -> str:
        """An SDC as operators know it: its name, else its IP, else its id."""
        sdc = self.sdcs.get(sdc_id)
        if sdc is None:
            return f"{sdc_id} (unknown SDC)"
        label = sdc.name or sdc.ip or sdc.id
        if not sdc.is_sdc:  # 4.x and later: an NVMe host, which has no MDM connection state
            return f"{label} (NVMe host)"
        return label if sdc.connected else f"{label} (disconnected)"

    def hosts(self, volume: Volume) -> list[str]:
        return sorted(self.host(sdc_id) for sdc_id in volume.mapped_sdc_ids)

    def row(self, owned: OwnedVolume) -> dict[str, Any]:
        """What ``sio-backend volumes`` shows of one volume."""
        owner = owned.owner
        return {
            "name": owned.name,
            "id": owned.volume.id,
            "kind": owned.kind_label,
            "instance": owned.instance_uuid,
            "disk": getattr(owner, "disk_name", None),
            "image": getattr(owner, "image_uuid", None),
            "owner": owned.instance_uuid or f"image {owned.owner_uuid}",
            "size_gb": owned.volume.size_gb,
            "pool": owned.pool_name,
            "provisioning": owned.provisioning,
            "hosts": self.hosts(owned.volume),
        }


def collect(client: GatewayClient, installation_id: str) -> Inventory:
    """List the system once and keep what belongs to ``installation_id``."""
    volumes = client.list_volumes()
    sdcs = {sdc.id: sdc for sdc in client.list_sdcs()}
    pool_names: dict[str, str] = {}
    owned = []
    for volume in volumes:
        owner = naming.parse_volume_name(volume.name)
        if owner is None or owner.installation_id != installation_id:
            continue
        if volume.pool_id not in pool_names:
            pool_names[volume.pool_id] = client.get_storage_pool(volume.pool_id).name
        owned.append(OwnedVolume(volume, owner, pool_names[volume.pool_id]))
    owned.sort(key=lambda item: (item.owner_uuid, item.name))
    vtree_sizes = Counter(volume.vtree_id for volume in volumes if volume.vtree_id)
    return Inventory(installation_id, tuple(owned), sdcs, dict(vtree_sizes))
