"""Volume names: which PowerFlex volume holds which nova disk.

A name is the only link between a PowerFlex volume and the nova instance it
belongs to, so it must be deterministic (any host finds the volume by an
exact-name lookup, never by listing every volume in the system), fit
PowerFlex's 31 characters without truncation, and decode back to its owner:
leak audits and the ownership guard (never touch a volume whose name lacks
this installation's identifier) both read names.  docs/naming.rst describes
the layout for operators.

Layout (fixed positions, so decoding never guesses)::

    IIII UUUUUUUUUUUUUUUUUUUUUU -D      a nova disk             (28-30 characters)
    IIII UUUUUUUUUUUUUUUUUUUUUU _xD     its rescue twin         (29-31)
    IIII UUUUUUUUUUUUUUUUUUUUUU _kD     a volume derived from a disk, k = v, g, m
    IIII UUUUUUUUUUUUUUUUUUUUUU _iN     generation N of an image-cache volume
    IIII UUUUUUUUUUUUUUUUUUUUUU _jN     the same while the image is written into it

``IIII`` is ``[scaleio] installation_identifier``; ``U…`` the 16 bytes of the
instance (or image) UUID in unpadded URL-safe base64; ``D`` the disk code
(``r`` root, ``l`` local, ``s`` swap, ``c`` config, ``e0``-``e99``).  URL-safe
rather than standard base64 because ``/`` and ``+`` need (double) escaping
wherever a name meets a URL, a shell, ``scli`` or a file name; names travel
in JSON bodies today, but every character of ours stays within
``[A-Za-z0-9_-]``, which is safe everywhere.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
import re
import uuid

from sio_backend import exceptions

MAX_NAME_LENGTH = 31
MAX_EPHEMERAL_INDEX = 99
MAX_IMAGE_GENERATION = 999

RESCUE_SUFFIX = ".rescue"

_INSTALLATION_ID_RE = re.compile(r"[A-Za-z0-9]{4}", re.ASCII)
_ENCODED_UUID_LENGTH = 22


class DiskRole(enum.Enum):
    """What a nova disk is for; decides its size rules and how it is made."""

    ROOT = "root disk"
    EPHEMERAL = "ephemeral disk"
    SWAP = "swap disk"
    CONFIG = "config drive"


class VolumeKind(enum.Enum):
    """Why a volume exists; every kind but DISK is created by the backend itself."""

    DISK = "disk"
    RESIZE_SNAPSHOT = "resize_snapshot"  # nova's ``nova-resize`` snapshot, for revert
    IMAGE_SNAPSHOT = "image_snapshot"  # temporary snapshot while uploading to Glance
    MOVE = "move"  # temporary copy target while a disk moves to another pool
    IMAGE_CACHE = "image_cache"  # one generation of a Glance image, shared by instances
    IMAGE_IMPORT = "image_import"  # an image-cache volume until its import completes


# One letter per disk, then the ephemeral index.  Only lower case and digits
# follow the UUID, so no two names of an instance differ by case alone (in
# case PowerFlex ever compares names case-insensitively).
_BASE_CODES = {"disk": "r", "disk.local": "l", "disk.swap": "s", "disk.config": "c"}
_BASE_ROLES = {
    "disk": DiskRole.ROOT,
    "disk.local": DiskRole.EPHEMERAL,
    "disk.swap": DiskRole.SWAP,
    "disk.config": DiskRole.CONFIG,
}
_BASES_BY_CODE = {code: base for base, code in _BASE_CODES.items()}
_EPH_PREFIX = "disk.eph"
_EPH_CODE = "e"

# What follows the UUID: "-" and a disk code for a disk; "_", a letter and a
# disk code for a rescue disk or a volume derived from a disk; "_i" (or "_j"
# while it is being written) and a generation for an image-cache volume.
_DISK_SEPARATOR = "-"
_DERIVED_SEPARATOR = "_"
_RESCUE_LETTER = "x"
_KIND_LETTERS = {
    VolumeKind.RESIZE_SNAPSHOT: "v",
    VolumeKind.IMAGE_SNAPSHOT: "g",
    VolumeKind.MOVE: "m",
    VolumeKind.IMAGE_CACHE: "i",
    VolumeKind.IMAGE_IMPORT: "j",
}
IMAGE_KINDS = frozenset({VolumeKind.IMAGE_CACHE, VolumeKind.IMAGE_IMPORT})
_KINDS_BY_LETTER = {letter: kind for kind, letter in _KIND_LETTERS.items()}

_INDEX = r"(?:0|[1-9][0-9]?)"  # 0..99, no leading zeros: one spelling per disk
_BASE_RE = re.compile(rf"disk(?:\.local|\.swap|\.config|\.eph{_INDEX})?", re.ASCII)
_DISK_CODE = rf"[rlsc]|e{_INDEX}"
_NAME_RE = re.compile(
    rf"(?P<iid>[A-Za-z0-9]{{4}})(?P<uuid>[A-Za-z0-9_-]{{{_ENCODED_UUID_LENGTH}}})"
    rf"(?:-(?P<disk>{_DISK_CODE})"
    rf"|_x(?P<rescue>{_DISK_CODE})"
    rf"|_(?P<kind>[vgm])(?P<derived>{_DISK_CODE})"
    rf"|_(?P<image_kind>[ij])(?P<generation>0|[1-9][0-9]{{0,2}}))",
    re.ASCII,
)


@dataclasses.dataclass(frozen=True)
class NovaDisk:
    """A nova disk name taken apart: ``disk.eph3.rescue`` is base ``disk.eph3``, rescue."""

    base: str
    rescue: bool = False

    def __post_init__(self) -> None:
        if not (isinstance(self.base, str) and _BASE_RE.fullmatch(self.base)):
            raise _unknown_disk(self.base)

    @property
    def name(self) -> str:
        return self.base + (RESCUE_SUFFIX if self.rescue else "")

    @property
    def role(self) -> DiskRole:
        return _BASE_ROLES.get(self.base, DiskRole.EPHEMERAL)

    @property
    def code(self) -> str:
        """The disk's letter (and index) in volume names; rescue is marked elsewhere."""
        return _BASE_CODES.get(self.base) or _EPH_CODE + self.base[len(_EPH_PREFIX) :]

    @classmethod
    def from_code(cls, code: str, *, rescue: bool = False) -> NovaDisk:
        return cls(_BASES_BY_CODE.get(code) or _EPH_PREFIX + code[len(_EPH_CODE) :], rescue)


def _unknown_disk(disk_name: object) -> ValueError:
    return ValueError(
        f"Unknown nova disk name {disk_name!r}: PowerFlex volumes hold only 'disk', "
        f"'disk.local', 'disk.swap', 'disk.config' and 'disk.eph0' to "
        f"'disk.eph{MAX_EPHEMERAL_INDEX}', each optionally with the "
        f"'{RESCUE_SUFFIX}' suffix of a rescue."
    )


def nova_disk(disk_name: str) -> NovaDisk:
    """Take apart a disk name nova's libvirt driver uses; refuse any other."""
    base, rescue = disk_name, False
    if isinstance(disk_name, str) and disk_name.endswith(RESCUE_SUFFIX):
        base, rescue = disk_name[: -len(RESCUE_SUFFIX)], True
    try:
        return NovaDisk(base, rescue)
    except ValueError:
        raise _unknown_disk(disk_name) from None


def _check_installation_id(installation_id: str) -> None:
    if not (isinstance(installation_id, str) and _INSTALLATION_ID_RE.fullmatch(installation_id)):
        raise exceptions.ConfigurationError(
            f"[scaleio] installation_identifier must be exactly 4 letters or digits "
            f"(got {installation_id!r}); set it in nova.conf to the value this cloud "
            f"has always used, or pick a new one unique among the clouds sharing the "
            f"PowerFlex system."
        )


def _canonical_uuid(value: str | uuid.UUID, what: str) -> str:
    try:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(value))
    except (TypeError, ValueError, AttributeError):
        raise ValueError(f"{what} {value!r} is not a UUID") from None


def _encode_uuid(canonical: str) -> str:
    raw = uuid.UUID(canonical).bytes
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_uuid(encoded: str) -> str | None:
    """The UUID, or None unless ``encoded`` is its one canonical spelling."""
    try:
        raw = base64.urlsafe_b64decode(encoded + "==")
    except (binascii.Error, ValueError):
        return None
    canonical = str(uuid.UUID(bytes=raw))
    # 22 characters carry 132 bits; a name whose 4 spare bits are set would
    # decode to the same UUID as another name, so it is not one of ours.
    return canonical if _encode_uuid(canonical) == encoded else None


@dataclasses.dataclass(frozen=True)
class InstanceVolumeName:
    """The owner of a volume that belongs to one nova disk of one instance."""

    installation_id: str
    instance_uuid: str
    disk_name: str
    kind: VolumeKind = VolumeKind.DISK

    def __post_init__(self) -> None:
        _check_installation_id(self.installation_id)
        object.__setattr__(
            self, "instance_uuid", _canonical_uuid(self.instance_uuid, "Instance UUID")
        )
        if not isinstance(self.kind, VolumeKind) or self.kind in IMAGE_KINDS:
            raise ValueError(f"{self.kind!r} is not a kind of instance volume")
        if self.disk.rescue and self.kind is not VolumeKind.DISK:
            # nova neither resizes nor snapshots a rescued instance.
            raise ValueError(
                f"No {self.kind.value} volume is ever made of rescue disk {self.disk_name!r}"
            )

    @property
    def disk(self) -> NovaDisk:
        return nova_disk(self.disk_name)

    @property
    def volume_name(self) -> str:
        disk = self.disk
        prefix = self.installation_id + _encode_uuid(self.instance_uuid)
        if self.kind is not VolumeKind.DISK:
            return prefix + _DERIVED_SEPARATOR + _KIND_LETTERS[self.kind] + disk.code
        if disk.rescue:
            return prefix + _DERIVED_SEPARATOR + _RESCUE_LETTER + disk.code
        return prefix + _DISK_SEPARATOR + disk.code


@dataclasses.dataclass(frozen=True)
class ImageCacheVolumeName:
    """The owner of one generation of a Glance image kept as a volume.

    ``IMAGE_IMPORT`` names the volume while the image is written into it; the
    rename to ``IMAGE_CACHE`` marks the import complete, since PowerFlex keeps
    no other metadata a second host could read.
    """

    installation_id: str
    image_uuid: str
    generation: int
    kind: VolumeKind = VolumeKind.IMAGE_CACHE

    def __post_init__(self) -> None:
        _check_installation_id(self.installation_id)
        object.__setattr__(self, "image_uuid", _canonical_uuid(self.image_uuid, "Image id"))
        if self.kind not in IMAGE_KINDS:
            raise ValueError(f"{self.kind!r} is not a kind of image-cache volume")
        if not (
            isinstance(self.generation, int)
            and not isinstance(self.generation, bool)
            and 0 <= self.generation <= MAX_IMAGE_GENERATION
        ):
            raise ValueError(
                f"Image-cache generation {self.generation!r} of image {self.image_uuid} "
                f"must be an integer from 0 to {MAX_IMAGE_GENERATION}."
            )

    @property
    def volume_name(self) -> str:
        return (
            self.installation_id
            + _encode_uuid(self.image_uuid)
            + _DERIVED_SEPARATOR
            + _KIND_LETTERS[self.kind]
            + str(self.generation)
        )


VolumeName = InstanceVolumeName | ImageCacheVolumeName


def disk_volume_name(installation_id: str, instance_uuid: str, disk_name: str) -> str:
    """The name of the volume holding ``disk_name`` of the instance."""
    return InstanceVolumeName(installation_id, instance_uuid, disk_name).volume_name


def derived_volume_name(
    installation_id: str, instance_uuid: str, disk_name: str, kind: VolumeKind
) -> str:
    """The name of a snapshot or temporary volume the backend makes of a disk."""
    if kind is VolumeKind.DISK:
        raise ValueError("A derived volume needs a kind other than DISK; use disk_volume_name")
    return InstanceVolumeName(installation_id, instance_uuid, disk_name, kind).volume_name


def image_cache_volume_name(installation_id: str, image_uuid: str, generation: int) -> str:
    """The name of generation ``generation`` of a Glance image kept as a volume."""
    return ImageCacheVolumeName(installation_id, image_uuid, generation).volume_name


def image_import_volume_name(installation_id: str, image_uuid: str, generation: int) -> str:
    """The name generation ``generation`` has until the image is completely written."""
    return ImageCacheVolumeName(
        installation_id, image_uuid, generation, VolumeKind.IMAGE_IMPORT
    ).volume_name


def parse_volume_name(name: object) -> VolumeName | None:
    """Who owns the volume called ``name``; None for any name we did not make.

    Never raises: it reads names listed from a system other clouds and people
    share.  A name that decodes is the only spelling of its owner, so
    ``parse_volume_name(n).volume_name == n``.
    """
    if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH:
        return None
    match = _NAME_RE.fullmatch(name)
    if match is None:
        return None
    owner_uuid = _decode_uuid(match["uuid"])
    if owner_uuid is None:
        return None
    if match["generation"] is not None:
        kind = _KINDS_BY_LETTER[match["image_kind"]]
        return ImageCacheVolumeName(match["iid"], owner_uuid, int(match["generation"]), kind)
    if match["derived"] is not None:
        kind, disk = _KINDS_BY_LETTER[match["kind"]], NovaDisk.from_code(match["derived"])
    elif match["rescue"] is not None:
        kind, disk = VolumeKind.DISK, NovaDisk.from_code(match["rescue"], rescue=True)
    else:
        kind, disk = VolumeKind.DISK, NovaDisk.from_code(match["disk"])
    return InstanceVolumeName(match["iid"], owner_uuid, disk.name, kind)


def is_ours(name: object, installation_id: str) -> bool:
    """True only for names this installation makes; the guard before any removal."""
    _check_installation_id(installation_id)
    parsed = parse_volume_name(name)
    return parsed is not None and parsed.installation_id == installation_id


def instance_disk_names(ephemeral_count: int, *, rescue: bool = False) -> tuple[str, ...]:
    """Every disk name nova may give an instance with ``ephemeral_count`` BDM ephemerals."""
    if not 0 <= ephemeral_count <= MAX_EPHEMERAL_INDEX + 1:
        raise ValueError(
            f"ephemeral_count must be from 0 to {MAX_EPHEMERAL_INDEX + 1}, got {ephemeral_count}"
        )
    bases = [*_BASE_CODES, *(f"{_EPH_PREFIX}{index}" for index in range(ephemeral_count))]
    suffixes = ("", RESCUE_SUFFIX) if rescue else ("",)
    return tuple(base + suffix for suffix in suffixes for base in bases)


def instance_volume_names(
    installation_id: str,
    instance_uuid: str,
    *,
    ephemeral_count: int,
    rescue: bool = False,
    derived: bool = False,
) -> tuple[InstanceVolumeName, ...]:
    """Every name an instance's volumes may have, for exact-name lookups.

    The list is short and bounded (4 + ``ephemeral_count`` disks, their
    rescue twins, three derived volumes per non-rescue disk), which is what
    lets cleanup and audits find an instance's volumes without listing the
    whole system.
    """
    disks = [
        InstanceVolumeName(installation_id, instance_uuid, disk_name)
        for disk_name in instance_disk_names(ephemeral_count, rescue=rescue)
    ]
    if not derived:
        return tuple(disks)
    kinds = [kind for kind in _KIND_LETTERS if kind not in IMAGE_KINDS]
    return (
        *disks,
        *(
            dataclasses.replace(disk, kind=kind)
            for kind in kinds
            for disk in disks
            if not disk.disk.rescue
        ),
    )
