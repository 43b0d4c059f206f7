"""What the gateway holds, read over its REST API, in terms a test can compare.

Each instance volume is named after the nova disk it holds (``disk``,
``disk.eph0``, ``disk.swap``, ``disk.rescue``...); volumes the backend
derives from a disk are named ``<disk>@<kind>`` (``disk@resize_snapshot``).
Mappings are named by the simulated host whose SDC they are to.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sio_backend import naming
from sio_backend.gateway import GatewayClient, Volume

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

    def leftovers(self) -> list[str]:
        """What no server should leave behind once deleted: every instance volume, every
        volume this installation cannot name, and image cache volumes left mapped."""
        found = []
        for volume in self.client.list_volumes():
            owner = naming.parse_volume_name(volume.name)
            if isinstance(owner, naming.InstanceVolumeName):
                found.append(f"{volume.name} (instance {owner.instance_uuid})")
            elif owner is None or volume.mapped_sdcs:
                found.append(f"{volume.name} mapped to {sorted(self._hosts(volume))}")
        return found

    def _instance_disks(self) -> Iterator[tuple[str, DiskVolume]]:
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
