"""Which nova record of an instance may remove or unmap its volumes, and which ones.

Volume names derive from the instance UUID, and more than one live nova
record can carry one UUID: during a cross-cell resize each cell holds a
copy of the instance (nova marks the one the user does not see
``hidden``), and during a resize one record names two hosts and two
flavors.  The rule every driver hook follows is decided here and nowhere
else: **no action run for one record ever removes or unmaps a volume that
another live record of the instance still needs**.  "Ours" is this record
of the instance on this host, not merely the same UUID:

* the **owner** is the record nova shows (not hidden) placed on this host
  (or on none yet, or deleted): when nova destroys the disks here, every
  volume goes, and any other host's mapping is cut first: no other record
  can be using it;
* a **visitor** is the record nova shows, placed on another host: this
  host lets go of the volumes (unmaps them) and removes nothing;
* a **hidden copy** is one cell's record while the other cell's runs the
  instance: it gives up only what no live record needs (the disks only its
  own flavor has, and the revert snapshot once no revert can come) and
  unmaps from this host.

The disk names a flavor decides (swap, the flavor's ephemeral disk) are
compared between the two flavors of a resize, so that a disk only one of
them has is removed when that flavor is left for good, and kept while a
record may still return to it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from nova.compute import task_states, vm_states

SWAP = "disk.swap"
FLAVOR_EPHEMERAL = "disk.local"
HARD_REBOOT = (
    task_states.REBOOTING_HARD,
    task_states.REBOOT_PENDING_HARD,
    task_states.REBOOT_STARTED_HARD,
)


class Role(enum.Enum):
    OWNER = "owner"
    VISITOR = "visitor"
    HIDDEN_COPY = "hidden copy"


def field(instance, name: str, default=None):
    """A field of the record if nova loaded it; never a database round trip."""
    return instance.get(name, default)


def role(instance, host: str) -> Role:
    """What this record of the instance is on ``host``."""
    if field(instance, "hidden", False):
        return Role.HIDDEN_COPY
    if field(instance, "deleted", False) or field(instance, "host") in (None, host):
        return Role.OWNER
    return Role.VISITOR


def flavor_disks(flavor) -> frozenset[str]:
    """The disks a flavor itself adds to the root: its swap and its ephemeral disk."""
    if flavor is None:
        return frozenset()
    names = set()
    if flavor.swap:
        names.add(SWAP)
    if flavor.ephemeral_gb:
        names.add(FLAVOR_EPHEMERAL)
    return frozenset(names)


def only_in(flavor, other) -> frozenset[str]:
    """The flavor disks of ``flavor`` that ``other`` does not have (none if either is unknown)."""
    if flavor is None or other is None:
        return frozenset()
    return flavor_disks(flavor) - flavor_disks(other)


def resize_flavors(instance) -> Iterable:
    """Every flavor the record names: its own and, mid-resize, the old and the new one."""
    for name in ("flavor", "old_flavor", "new_flavor"):
        flavor = field(instance, name)
        if flavor is not None:
            yield flavor


@dataclass(frozen=True)
class Release:
    """What one driver call does with the instance's volumes on this host."""

    remove_all: bool = False  # every volume, other hosts cut off first
    unmap_here: bool = False  # the volumes stay, this host lets go of them
    remove: frozenset[str] = frozenset()  # disks no live record needs any more
    # A disk of ``remove`` that another host maps is left to the record running there.
    keep_if_mapped_elsewhere: bool = False
    remove_resize_snapshot: bool = False  # no revert can use it any more
    fence: bool = False  # cut every other host off: this record is the only live one


def on_cleanup(instance, host: str, *, destroy_disks: bool) -> Release:
    """nova's ``destroy``/``cleanup`` of the record on this host."""
    who = role(instance, host)
    if who is Role.HIDDEN_COPY:
        return _hidden_copy_ends(instance) if destroy_disks else Release(unmap_here=True)
    if who is Role.VISITOR:
        return Release(unmap_here=True)
    if destroy_disks:
        return Release(remove_all=True)
    task = field(instance, "task_state")
    if task in HARD_REBOOT:
        return Release()  # the same host starts the guest again at once
    if task == task_states.RESIZE_REVERTING:
        # A revert, on the destination: back to the old flavor, whose disks
        # the source maps again; the ones only the new flavor had go.
        flavor, old = field(instance, "flavor"), field(instance, "old_flavor")
        return Release(unmap_here=True, remove=only_in(flavor, old))
    # Moved away (live migration, evacuation): the volumes stay.
    return Release(unmap_here=True)


def _hidden_copy_ends(instance) -> Release:
    """The copy nova ends while the other cell's copy lives on.

    The target cell's on a cross-cell revert: the source's copy goes back
    to the old flavor and reverts to the snapshot.  The source cell's on a
    confirm: the target's copy keeps the new flavor, and no revert can come.
    The other copy's flavor does not say all it uses: nova copies the block
    device mappings to the target cell as they are (a swap the new flavor
    drops stays in them, and the guest there gets it), so a disk the other
    copy's host maps is left to it.
    """
    reverting = field(instance, "task_state") == task_states.RESIZE_REVERTING
    live = field(instance, "old_flavor") if reverting else field(instance, "new_flavor")
    return Release(
        unmap_here=True,
        remove=only_in(field(instance, "flavor"), live),
        keep_if_mapped_elsewhere=True,
        remove_resize_snapshot=not reverting,
    )


def on_confirm(instance, host: str) -> Release:
    """A resize confirmed, on the source: the old flavor and the revert are given up."""
    return Release(
        unmap_here=field(instance, "host") != host,
        remove=only_in(field(instance, "old_flavor"), field(instance, "flavor")),
        remove_resize_snapshot=True,
    )


def on_hard_reboot(instance, host: str) -> Release:
    """A hard reboot: nova's recovery of an instance in ERROR or after a host reboot.

    nova hard reboots no instance that another host may use (not while it
    migrates or waits for a resize to be confirmed), so for the owner every
    other mapping is stale: left by a failed resize or migration, it would
    make the delete fail.  Outside ``VERIFY_RESIZE`` (which only a host
    reboot brings here) no revert can come, so a revert snapshot left by a
    failed resize only holds capacity.
    """
    if role(instance, host) is not Role.OWNER:
        return Release()
    return Release(
        fence=True, remove_resize_snapshot=field(instance, "vm_state") != vm_states.RESIZED
    )


def on_spawn(instance, host: str) -> Release:
    """An evacuation takes the instance over from a host that may only be partitioned."""
    rebuilding = field(instance, "task_state") == task_states.REBUILD_SPAWNING
    return Release(fence=rebuilding and role(instance, host) is not Role.HIDDEN_COPY)


def on_sole_host(instance, host: str) -> Release:
    """The owner knows no other host uses the disks now.

    Said by a live migration rolled back to the source, and by one about to
    start from it: nova runs one move of an instance at a time, so a
    mapping elsewhere is one a failed move left (nova calls no driver back
    when it fails after the destination's ``pre_live_migration``).
    """
    return Release(fence=role(instance, host) is Role.OWNER)
