"""The size rule: which volume size a nova disk gets.

PowerFlex allocates volumes in units of its pool's granularity: 8 GiB on
3.x and 4.x and on mirroring pools, 1 GiB on the Erasure Coding pools of
5.x (``StoragePool.size_granularity_gb``).  Create rounds up silently,
extend refuses anything else.  A flavor whose disks are not multiples of
the granularity would therefore get more space than nova accounts for, so
by default such a disk is refused with a message that tells the operator
what to change; ``[scaleio] disk_size_policy = round_up`` accepts the
mismatch instead.  Disks whose size nova does not take from the flavor
(rescue disks, ``root_gb = 0`` roots sized by their image, config drives)
are always rounded up, and made thin so the extra space costs nothing.

Every function takes the granularity in GiB and defaults to 8 GiB, the
strictest: where the pool is not known (nova-api's flavor validators, the
scheduler filter), a size valid in 8 GiB steps is valid on every pool.
"""

from __future__ import annotations

import dataclasses

from sio_backend import exceptions, naming

MiB = 1024**2
GiB = 1024**3
GRANULARITY_GB = 8  # mirroring pools, and every pool before 5.x
GRANULARITY = GRANULARITY_GB * GiB  # bytes
SWAP_GRANULARITY_MB = GRANULARITY // MiB  # swap is given in MiB: 8192 MiB steps

POLICY_REJECT = "reject"
POLICY_ROUND_UP = "round_up"
POLICIES = (POLICY_REJECT, POLICY_ROUND_UP)


def round_up_bytes(size_bytes: int, granularity_gb: int = GRANULARITY_GB) -> int:
    """The smallest volume, in bytes, that holds ``size_bytes`` (at least one unit)."""
    if size_bytes < 0:
        raise ValueError(f"A disk size cannot be negative, got {size_bytes} bytes")
    unit = granularity_gb * GiB
    return max(1, -(-size_bytes // unit)) * unit


def round_up_gb(size_gb: int, granularity_gb: int = GRANULARITY_GB) -> int:
    """The smallest volume, in GiB, that holds ``size_gb`` GiB (at least one unit)."""
    return round_up_bytes(size_gb * GiB, granularity_gb) // GiB


def is_aligned(size_bytes: int, granularity_gb: int = GRANULARITY_GB) -> bool:
    """True when PowerFlex can allocate exactly ``size_bytes``."""
    return size_bytes > 0 and size_bytes % (granularity_gb * GiB) == 0


@dataclasses.dataclass(frozen=True)
class VolumeSize:
    """The volume a disk gets, and whether the flavor's provisioning is overridden."""

    size_bytes: int  # a positive multiple of the pool's granularity
    requested_bytes: int
    always_thin: bool  # rounded-up disks nova does not size from the flavor

    @property
    def size_gb(self) -> int:
        return self.size_bytes // GiB

    @property
    def rounded_up(self) -> bool:
        return self.size_bytes != self.requested_bytes


def _format_size(size_bytes: int, role: naming.DiskRole) -> str:
    """Sizes in the unit the flavor uses: MiB for swap, GiB for the rest."""
    unit, name = (MiB, "MiB") if role is naming.DiskRole.SWAP else (GiB, "GiB")
    if size_bytes % unit == 0:
        return f"{size_bytes // unit} {name}"
    return f"{size_bytes} bytes"


def _refusal(
    flavor: str, disk: naming.NovaDisk, size_bytes: int, granularity_gb: int
) -> exceptions.DiskSizeNotSupported:
    unit = granularity_gb * GiB
    below = size_bytes // unit * unit
    above = below + unit
    nearest = [_format_size(size, disk.role) for size in (below, above) if size > 0]
    swap_mb = unit // MiB
    return exceptions.DiskSizeNotSupported(
        f"Flavor {flavor} gives the {disk.role.value} ({disk.name}) "
        f"{_format_size(size_bytes, disk.role)}, but PowerFlex allocates volumes in "
        f"multiples of {granularity_gb} GiB ({swap_mb} MiB for swap) on this storage pool; "
        f"the nearest valid {'sizes are' if len(nearest) > 1 else 'size is'} "
        f"{' and '.join(nearest)}. Use (or resize to) a flavor whose root and ephemeral "
        f"sizes are multiples of {granularity_gb} GiB and whose swap is a multiple of "
        f"{swap_mb} MiB, or set [scaleio] disk_size_policy = {POLICY_ROUND_UP} "
        f"to round such disks up (nova then accounts for less space than they use)."
    )


def disk_volume_size(
    flavor: str,
    disk_name: str,
    size_bytes: int | None,
    *,
    policy: str,
    image_size_bytes: int | None = None,
    granularity_gb: int = GRANULARITY_GB,
) -> VolumeSize | None:
    """The volume size for one nova disk, or None when the disk is not wanted.

    ``flavor`` names the flavor in messages (see :func:`flavor.flavor_label`);
    ``size_bytes`` is what nova asks for (None or 0 for a ``root_gb = 0`` root
    and for a rescue root, which are sized from ``image_size_bytes``).  A zero
    ephemeral or swap size means the flavor has no such disk.

    ``granularity_gb`` is the pool's (8, or 1 on Erasure Coding pools).

    Raises :class:`~sio_backend.exceptions.DiskSizeNotSupported` for a flavor
    disk that is not a multiple of the granularity under the ``reject`` policy.
    """
    if policy not in POLICIES:
        raise exceptions.ConfigurationError(
            f"[scaleio] disk_size_policy must be one of {', '.join(POLICIES)}, got {policy!r}"
        )
    disk = naming.nova_disk(disk_name)
    if size_bytes is not None and size_bytes < 0:
        raise ValueError(f"Disk {disk_name} cannot have a negative size ({size_bytes} bytes)")
    sized_by_image = disk.role is naming.DiskRole.ROOT and not size_bytes
    if disk.rescue or disk.role is naming.DiskRole.CONFIG or sized_by_image:
        wanted = size_bytes or image_size_bytes
        if not wanted or wanted < 0:
            raise ValueError(
                f"Disk {disk_name} is sized from its image, but no image size was given "
                f"(got {image_size_bytes!r})"
            )
        return VolumeSize(round_up_bytes(wanted, granularity_gb), wanted, always_thin=True)
    if not size_bytes:
        return None
    if is_aligned(size_bytes, granularity_gb) or policy == POLICY_ROUND_UP:
        return VolumeSize(round_up_bytes(size_bytes, granularity_gb), size_bytes, always_thin=False)
    raise _refusal(flavor, disk, size_bytes, granularity_gb)
