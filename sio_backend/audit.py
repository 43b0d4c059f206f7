"""What ``sio-backend audit`` finds, and the only changes ``--fix`` may make.

:func:`classify` is pure: given one :class:`~sio_backend.inventory.Inventory`
and what is known about which instances exist, it lists findings.  An
instance is only ever called deleted on positive evidence (a list the
operator gave, libvirt, or nova's API); with no source of instances no
volume is, and only leftovers and bad mappings are reported.

:func:`fix` acts on those findings and nothing else: it re-reads each volume
just before touching it and refuses one whose name no longer carries this
installation's identifier, was renamed, or gained a mapping since it was
listed.  Volume removal unmaps first (the client does), and a bad mapping
of a disk that is still in use is unmapped, never removed.

A volume an existing instance may still need is only ever reported: a
resize snapshot (nova reverts to it), a rescue disk (the rescued guest runs
on it) and a move copy whose disk is gone (the copy is then the disk's only
one, and the instance's next start finishes the move).  Whether a resize or
rescue is still in progress is known to nova alone.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from sio_backend import exceptions, naming
from sio_backend.gateway import GatewayClient, Volume
from sio_backend.inventory import Inventory, OwnedVolume


class Problem(enum.Enum):
    DELETED_INSTANCE = "instance deleted"
    LEFTOVER = "leftover"
    INTERRUPTED_MOVE = "interrupted move"
    UNUSED_IMAGE_CACHE = "unused image cache"
    SEVERAL_HOSTS = "mapped to several hosts"
    DISCONNECTED_SDC = "mapped to a disconnected SDC"
    NVME_HOST = "mapped to an NVMe host"


class Action(enum.Enum):
    REMOVE = "remove volume"
    UNMAP = "unmap"
    REPORT = "report only"


@dataclass(frozen=True)
class KnownInstances:
    """Instances that exist, and where that knowledge comes from.

    ``local_sdc_id`` is set when the source sees one host only (libvirt):
    then only volumes mapped to that host alone can be judged, since an
    instance elsewhere is not a domain here.
    """

    uuids: frozenset[str]
    source: str
    local_sdc_id: str | None = None

    def deleted(self, owned: OwnedVolume) -> bool:
        if owned.instance_uuid in self.uuids:
            return False
        if self.local_sdc_id is None:
            return True
        return owned.volume.mapped_sdc_ids == {self.local_sdc_id}


@dataclass(frozen=True)
class Finding:
    volume: OwnedVolume
    problem: Problem
    action: Action
    reason: str
    sdc_ids: tuple[str, ...] = ()  # the mappings an UNMAP removes

    def row(self, inventory: Inventory) -> dict[str, object]:
        return {
            "name": self.volume.name,
            "id": self.volume.volume.id,
            "kind": self.volume.kind_label,
            "instance": self.volume.instance_uuid,
            "problem": self.problem.value,
            "action": self.action.value,
            "hosts": inventory.hosts(self.volume.volume),
            "unmap_from": [inventory.host(sdc_id) for sdc_id in self.sdc_ids],
            "reason": self.reason,
        }


_REMOVABLE_LEFTOVERS = {
    naming.VolumeKind.IMAGE_SNAPSHOT: "it exists only while a snapshot is uploaded to Glance",
    naming.VolumeKind.MOVE: "it exists only while the disk moves to another pool, and the "
    "disk itself is whole",
}
_KEPT_LEFTOVERS = {
    naming.VolumeKind.RESIZE_SNAPSHOT: ("nova reverts a resize to it", "confirmed or reverted"),
    naming.VolumeKind.DISK: ("the rescued guest runs on it", "unrescued"),  # rescue disks
}


def classify(inventory: Inventory, known: KnownInstances | None) -> list[Finding]:
    """Every finding, in inventory order; at most one removal per volume."""
    names = frozenset(owned.name for owned in inventory.volumes)
    findings: list[Finding] = []
    for owned in inventory.volumes:
        findings.extend(_classify_one(inventory, known, owned, names))
    return findings


def _classify_one(
    inventory: Inventory, known: KnownInstances | None, owned: OwnedVolume, names: frozenset[str]
) -> Iterable[Finding]:
    volume = owned.volume
    hosts = ", ".join(inventory.hosts(volume))
    mapped = f"; mapped to {hosts}" if hosts else ""
    if owned.kind is naming.VolumeKind.IMAGE_CACHE:
        if volume.vtree_id and inventory.vtree_sizes.get(volume.vtree_id, 0) <= 1:
            yield Finding(
                owned,
                Problem.UNUSED_IMAGE_CACHE,
                Action.REPORT,
                f"no disk was cloned from image {owned.owner.image_uuid} (its V-Tree holds "
                "no other volume); removing it frees its capacity, and the next boot of "
                "the image in this pool imports it again",
            )
        return
    if owned.kind is naming.VolumeKind.IMAGE_IMPORT:
        yield _import_leftover(owned, mapped)
        return
    uuid = owned.instance_uuid
    if known is not None and known.deleted(owned):
        yield Finding(
            owned,
            Problem.DELETED_INSTANCE,
            Action.REMOVE,
            f"instance {uuid} is not known to {known.source}{mapped}",
        )
        return
    if owned.kind is not naming.VolumeKind.DISK or owned.is_rescue:
        yield _leftover(owned, names, mapped)
        return
    nvme_hosts = tuple(
        sorted(
            s for s in volume.mapped_sdc_ids if s in inventory.sdcs and not inventory.sdcs[s].is_sdc
        )
    )
    if nvme_hosts:
        yield Finding(
            owned,
            Problem.NVME_HOST,
            Action.REPORT,
            f"mapped to {', '.join(map(inventory.host, nvme_hosts))}: nova's hosts reach their "
            "disks through their SDC, so someone else mapped this one there, and only they "
            "know when it may be unmapped",
        )
    disconnected = tuple(
        sorted(
            sdc_id
            for sdc_id in volume.mapped_sdc_ids
            if sdc_id not in nvme_hosts
            and (sdc_id not in inventory.sdcs or not inventory.sdcs[sdc_id].connected)
        )
    )
    if disconnected:
        yield Finding(
            owned,
            Problem.DISCONNECTED_SDC,
            Action.UNMAP,
            f"mapped to {', '.join(inventory.host(s) for s in disconnected)}, whose SDC is "
            "not connected to the MDM; the instance cannot be running there",
            disconnected,
        )
    connected = sorted(volume.mapped_sdc_ids - set(disconnected) - set(nvme_hosts))
    if len(connected) > 1:
        yield Finding(
            owned,
            Problem.SEVERAL_HOSTS,
            Action.REPORT,
            f"mapped to {len(connected)} hosts ({', '.join(map(inventory.host, connected))}); "
            "a disk is mapped to exactly one host except during a live migration. If "
            f"instance {uuid} is not migrating, unmap it from the host that does not run it",
        )


def _leftover(owned: OwnedVolume, names: frozenset[str], mapped: str) -> Finding:
    """A volume an existing instance has beside its disks: removed only if it cannot be needed."""
    uuid = owned.instance_uuid
    what = f"{owned.kind_label} of instance {uuid}"
    owner = owned.owner
    disk = naming.disk_volume_name(owner.installation_id, owner.instance_uuid, owner.disk_name)
    if owned.kind is naming.VolumeKind.MOVE and disk not in names:
        return Finding(
            owned,
            Problem.INTERRUPTED_MOVE,
            Action.REPORT,
            f"{what}: the move of disk {owner.disk_name} to another pool stopped after "
            "the old volume was removed, so this is the disk's only copy. Never remove it: "
            "the instance's next start (hard reboot) finishes the move",
        )
    if owned.kind in _REMOVABLE_LEFTOVERS:
        never = "; a snapshot is never mapped to a host" if mapped else ""
        return Finding(
            owned,
            Problem.LEFTOVER,
            Action.REMOVE,
            f"{what}: {_REMOVABLE_LEFTOVERS[owned.kind]}, unless that is in progress "
            f"now{mapped}{never}",
        )
    needed, until = _KEPT_LEFTOVERS[owned.kind]
    return Finding(
        owned,
        Problem.LEFTOVER,
        Action.REPORT,
        f"{what}: {needed}, so --fix leaves it; nova removes it when the instance is "
        f"{until}. If nova shows instance {uuid} neither resized nor rescued, remove "
        f"it by hand{mapped}",
    )


def _import_leftover(owned: OwnedVolume, mapped: str) -> Finding:
    image = owned.owner.image_uuid
    if not owned.volume.mapped_sdcs:
        # The host writing an import maps it as soon as it exists and renames
        # it before unmapping it: unmapped, nobody writes it.
        return Finding(
            owned,
            Problem.LEFTOVER,
            Action.REMOVE,
            f"an import of image {image} that no host is writing (it is mapped nowhere); "
            "boots would wait for it up to [scaleio] image_cache_import_timeout",
        )
    return Finding(
        owned,
        Problem.LEFTOVER,
        Action.REPORT,
        f"image {image} is being written into it, or was when the host writing it "
        f"stopped{mapped}; that host removes it at its next boot of the image, other "
        "boots wait for it at most [scaleio] image_cache_import_timeout, so remove it if "
        "it is older than that",
    )


@dataclass
class FixReport:
    removed: list[str] = field(default_factory=list)
    unmapped: list[tuple[str, str]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def planned(findings: Iterable[Finding]) -> tuple[int, int]:
    """(volumes to remove, mappings to remove) that a fix of ``findings`` would make."""
    findings = list(findings)
    removals = sum(1 for f in findings if f.action is Action.REMOVE)
    unmaps = sum(len(f.sdc_ids) for f in findings if f.action is Action.UNMAP)
    return removals, unmaps


def fix(client: GatewayClient, installation_id: str, findings: Iterable[Finding]) -> FixReport:
    """Carry out the REMOVE and UNMAP findings listed in this run, and nothing else."""
    report = FixReport()
    for finding in findings:
        if finding.action is Action.REPORT:
            continue
        listed = finding.volume.volume
        try:
            current = client.get_volume(listed.id)
        except exceptions.NotFound:
            report.refused.append(f"{listed.name}: already gone")
            continue
        except exceptions.GatewayError as error:
            report.errors.append(f"{listed.name}: cannot re-read it: {error.message}")
            continue
        refusal = _refusal(current, listed, installation_id, finding)
        if refusal:
            report.refused.append(f"{listed.name} (id {listed.id}): {refusal}")
            continue
        try:
            if finding.action is Action.REMOVE:
                client.remove_volume(current.id)
                report.removed.append(listed.name or listed.id)
            else:
                for sdc_id in finding.sdc_ids:
                    if sdc_id in current.mapped_sdc_ids:
                        client.unmap_volume(current.id, sdc_id)
                        report.unmapped.append((listed.name or listed.id, sdc_id))
        except exceptions.GatewayError as error:
            report.errors.append(f"{listed.name}: {finding.action.value} failed: {error.message}")
    return report


def _refusal(current: Volume, listed: Volume, installation_id: str, finding: Finding) -> str | None:
    if not (current.name and naming.is_ours(current.name, installation_id)):
        return (
            f"its name {current.name!r} does not carry this installation's identifier "
            f"{installation_id!r}; not touching it"
        )
    if current.name != listed.name:
        return f"it was renamed to {current.name} since it was listed"
    if finding.action is Action.REMOVE and current.mapped_sdc_ids - listed.mapped_sdc_ids:
        return "it was mapped to another host since it was listed, so something uses it"
    return None
