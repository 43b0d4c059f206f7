"""What the gateway holds, read over its REST API, in terms a test can compare.

Each instance volume is named after the nova disk it holds (``disk``,
``disk.eph0``, ``disk.swap``, ``disk.rescue``...); volumes the backend
derives from a disk are named ``<disk>@<kind>`` (``disk@resize_snapshot``).
Mappings are named by the simulated host whose SDC they are to.
"""

from __future__ import annotations

from dataclasses import dataclass

from sio_backend import naming
from sio_backend.client import GatewayClient, Volume

GiB_IN_KB = 1024**2


@dataclass(frozen=True)
class DiskVolume:
    """One volume of an instance as a test sees it."""

    name: str  # nova's disk name, or <disk>@<kind>
    volume: Volume
    size_gb: int
    hosts: frozenset[str]


class GatewayView:
    """Reads every volume and mapping of the system through ``client``."""

    def __init__(self, client: GatewayClient, sdc_hosts: dict[str, str]) -> None:
        """``sdc_hosts`` maps each SDC's id to the name of its host."""
        self.client = client
        self.sdc_hosts = sdc_hosts

    def instance_volumes(self, instance_uuid: str) -> dict[str, DiskVolume]:
        """The volumes of one instance, by disk name."""
        return {disk.name: disk for uuid, disk in self._instance_disks() if uuid == instance_uuid}

    def state_of(self, instance_uuid: str) -> dict[str, tuple[int, set[str]]]:
        """The instance's volumes by disk name: (size in GiB, hosts mapped to)."""
        return {
            name: (disk.size_gb, set(disk.hosts))
            for name, disk in self.instance_volumes(instance_uuid).items()
        }

    def stray_volumes(self, instance_uuids: set[str]) -> list[str]:
        """Volumes that belong to no instance in ``instance_uuids`` and are no image cache
        (or are an image cache volume left mapped): what a test may leave behind by mistake."""
        strays = []
        for volume in self.client.list_volumes():
            owner = naming.parse_volume_name(volume.name)
            if isinstance(owner, naming.InstanceVolumeName):
                if owner.instance_uuid not in instance_uuids:
                    strays.append(f"{volume.name} (instance {owner.instance_uuid})")
            elif owner is None or volume.mapped_sdcs:
                strays.append(f"{volume.name} mapped to {self._hosts(volume)}")
        return strays

    def _instance_disks(self):
        for volume in self.client.list_volumes():
            owner = naming.parse_volume_name(volume.name)
            if not isinstance(owner, naming.InstanceVolumeName):
                continue
            name = owner.disk_name
            if owner.kind is not naming.VolumeKind.DISK:
                name = f"{name}@{owner.kind.value}"
            yield (
                owner.instance_uuid,
                DiskVolume(name, volume, volume.size_kb // GiB_IN_KB, self._hosts(volume)),
            )

    def _hosts(self, volume: Volume) -> frozenset[str]:
        return frozenset(
            self.sdc_hosts.get(mapped.sdc_id, f"unknown SDC {mapped.sdc_id}")
            for mapped in volume.mapped_sdcs
        )
