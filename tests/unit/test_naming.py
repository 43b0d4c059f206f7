"""The volume-name codec: layout, limits, round trips and the ownership guard."""

from __future__ import annotations

import base64
import dataclasses
import re
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sio_backend import exceptions, naming
from sio_backend.naming import ImageCacheVolumeName, InstanceVolumeName, VolumeKind

IID = "AbC1"
UUID = "a0b1c2d3-e4f5-4a6b-8c7d-9e8f7a6b5c4d"
ENCODED = "oLHC0-T1SmuMfZ6PemtcTQ"  # URL-safe base64 of UUID's 16 bytes, unpadded
POWERFLEX_NAME = re.compile(r"[A-Za-z0-9_-]{1,31}")
DERIVED_KINDS = [VolumeKind.RESIZE_SNAPSHOT, VolumeKind.IMAGE_SNAPSHOT, VolumeKind.MOVE]

# Every disk nova 34's libvirt driver names (driver._create_image with suffix
# '' or '.rescue', blockinfo.get_eph_disk, _create_configdrive).
NOVA_DISKS = [
    base + suffix
    for suffix in ("", ".rescue")
    for base in ("disk", "disk.local", "disk.swap", "disk.config", "disk.eph0", "disk.eph99")
]

fast = settings(max_examples=200, deadline=None)

installation_ids = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    min_size=4,
    max_size=4,
)
uuids = st.uuids().map(str)
disk_names = st.one_of(
    st.sampled_from(["disk", "disk.local", "disk.swap", "disk.config"]),
    st.integers(0, naming.MAX_EPHEMERAL_INDEX).map(lambda i: f"disk.eph{i}"),
).flatmap(lambda base: st.sampled_from([base, base + ".rescue"]))
instance_names = st.builds(
    InstanceVolumeName, installation_ids, uuids, disk_names, st.just(VolumeKind.DISK)
) | st.builds(
    InstanceVolumeName,
    installation_ids,
    uuids,
    disk_names.filter(lambda d: not d.endswith(".rescue")),
    st.sampled_from(DERIVED_KINDS),
)
cache_names = st.builds(
    ImageCacheVolumeName,
    installation_ids,
    uuids,
    st.integers(0, naming.MAX_IMAGE_GENERATION),
    st.sampled_from(sorted(naming.IMAGE_KINDS, key=lambda kind: kind.value)),
)
owners = instance_names | cache_names


class TestLayout:
    @pytest.mark.parametrize(
        ("disk_name", "suffix"),
        [
            ("disk", "-r"),
            ("disk.local", "-l"),
            ("disk.swap", "-s"),
            ("disk.config", "-c"),
            ("disk.eph0", "-e0"),
            ("disk.eph7", "-e7"),
            ("disk.eph99", "-e99"),
            ("disk.rescue", "_xr"),
            ("disk.local.rescue", "_xl"),
            ("disk.swap.rescue", "_xs"),
            ("disk.config.rescue", "_xc"),
            ("disk.eph0.rescue", "_xe0"),
            ("disk.eph99.rescue", "_xe99"),
        ],
    )
    def test_every_nova_disk_has_a_documented_name(self, disk_name: str, suffix: str) -> None:
        assert naming.disk_volume_name(IID, UUID, disk_name) == IID + ENCODED + suffix

    @pytest.mark.parametrize(
        ("kind", "suffix"),
        [
            (VolumeKind.RESIZE_SNAPSHOT, "_vr"),
            (VolumeKind.IMAGE_SNAPSHOT, "_gr"),
            (VolumeKind.MOVE, "_mr"),
        ],
    )
    def test_derived_volumes(self, kind: VolumeKind, suffix: str) -> None:
        assert naming.derived_volume_name(IID, UUID, "disk", kind) == IID + ENCODED + suffix

    def test_image_cache_volume(self) -> None:
        assert naming.image_cache_volume_name(IID, UUID, 0) == IID + ENCODED + "_i0"
        assert naming.image_cache_volume_name(IID, UUID, 999) == IID + ENCODED + "_i999"

    def test_image_import_volume(self) -> None:
        assert naming.image_import_volume_name(IID, UUID, 7) == IID + ENCODED + "_j7"
        assert len(naming.image_import_volume_name(IID, UUID, 999)) == naming.MAX_NAME_LENGTH

    def test_uuid_part_is_cinders_encoding_in_the_url_safe_alphabet(self) -> None:
        cinder = base64.b64encode(uuid.UUID(UUID).bytes).decode()  # flex_utils.id_to_base64
        assert cinder == "oLHC0+T1SmuMfZ6PemtcTQ=="
        ours = naming.disk_volume_name(IID, UUID, "disk")[4:26]
        assert ours == cinder.rstrip("=").translate(str.maketrans("+/", "-_"))

    def test_longest_names_fit_powerflex(self) -> None:
        longest = [
            naming.disk_volume_name(IID, UUID, "disk.eph99.rescue"),
            naming.derived_volume_name(IID, UUID, "disk.eph99", VolumeKind.MOVE),
            naming.image_cache_volume_name(IID, UUID, naming.MAX_IMAGE_GENERATION),
        ]
        assert [len(name) for name in longest] == [31, 31, 31]

    def test_uuid_spelling_does_not_matter(self) -> None:
        spellings = [UUID, UUID.upper(), UUID.replace("-", ""), uuid.UUID(UUID)]
        names = {naming.disk_volume_name(IID, spelling, "disk") for spelling in spellings}
        assert names == {IID + ENCODED + "-r"}

    def test_names_of_one_instance_differ_even_ignoring_case(self) -> None:
        names = [
            owner.volume_name
            for owner in naming.instance_volume_names(
                IID, UUID, ephemeral_count=100, rescue=True, derived=True
            )
        ]
        assert len({name.lower() for name in names}) == len(names)


class TestRefusals:
    @pytest.mark.parametrize(
        "disk_name",
        [
            "kernel",
            "ramdisk",
            "disk.eph100",
            "disk.eph01",
            "disk.eph",
            "disk.eph-1",
            "disk.rescue.rescue",
            "disk.local.swap",
            "Disk",
            "disk.",
            "disk.ephemeral",
            "",
        ],
    )
    def test_unknown_disk_names_are_refused_by_name(self, disk_name: str) -> None:
        with pytest.raises(ValueError, match=re.escape(repr(disk_name))):
            naming.disk_volume_name(IID, UUID, disk_name)

    @pytest.mark.parametrize("iid", ["abc", "abcde", "ab-c", "ab c", "abç1", None, ""])
    def test_bad_installation_identifier_names_the_option(self, iid: str | None) -> None:
        with pytest.raises(exceptions.ConfigurationError, match="installation_identifier"):
            naming.disk_volume_name(iid, UUID, "disk")  # type: ignore[arg-type]

    def test_bad_installation_identifier_is_refused_by_the_guard_too(self) -> None:
        with pytest.raises(exceptions.ConfigurationError):
            naming.is_ours(IID + ENCODED + "-r", "bad")

    @pytest.mark.parametrize("bad", ["not-a-uuid", "", "a0b1c2d3", 12])
    def test_bad_instance_uuid(self, bad: object) -> None:
        with pytest.raises(ValueError, match="Instance UUID"):
            naming.disk_volume_name(IID, bad, "disk")  # type: ignore[arg-type]

    def test_no_derived_volume_of_a_rescue_disk(self) -> None:
        with pytest.raises(ValueError, match=r"disk\.rescue"):
            naming.derived_volume_name(IID, UUID, "disk.rescue", VolumeKind.RESIZE_SNAPSHOT)

    @pytest.mark.parametrize("kind", [VolumeKind.DISK, *naming.IMAGE_KINDS])
    def test_derived_kind_must_be_derived(self, kind: VolumeKind) -> None:
        with pytest.raises(ValueError):
            naming.derived_volume_name(IID, UUID, "disk", kind)

    @pytest.mark.parametrize("generation", [-1, 1000, True, "1"])
    def test_image_cache_generation_range(self, generation: object) -> None:
        with pytest.raises(ValueError, match="generation"):
            naming.image_cache_volume_name(IID, UUID, generation)  # type: ignore[arg-type]

    @pytest.mark.parametrize("kind", [VolumeKind.DISK, VolumeKind.MOVE])
    def test_image_volume_kind_must_be_an_image_kind(self, kind: VolumeKind) -> None:
        with pytest.raises(ValueError, match="image-cache"):
            ImageCacheVolumeName(IID, UUID, 0, kind)

    def test_image_id_must_be_a_uuid(self) -> None:
        with pytest.raises(ValueError, match="Image id"):
            naming.image_cache_volume_name(IID, "cirros", 0)


class TestParse:
    def test_disk(self) -> None:
        parsed = naming.parse_volume_name(IID + ENCODED + "-e12")
        assert parsed == InstanceVolumeName(IID, UUID, "disk.eph12", VolumeKind.DISK)
        assert parsed.disk.role is naming.DiskRole.EPHEMERAL

    def test_rescue_disk(self) -> None:
        parsed = naming.parse_volume_name(IID + ENCODED + "_xs")
        assert parsed == InstanceVolumeName(IID, UUID, "disk.swap.rescue")
        assert parsed.disk.rescue

    def test_derived(self) -> None:
        parsed = naming.parse_volume_name(IID + ENCODED + "_gl")
        assert parsed == InstanceVolumeName(IID, UUID, "disk.local", VolumeKind.IMAGE_SNAPSHOT)

    def test_image_cache(self) -> None:
        parsed = naming.parse_volume_name(IID + ENCODED + "_i42")
        assert parsed == ImageCacheVolumeName(IID, UUID, 42)
        assert parsed.kind is VolumeKind.IMAGE_CACHE

    def test_image_import(self) -> None:
        parsed = naming.parse_volume_name(IID + ENCODED + "_j0")
        assert parsed == ImageCacheVolumeName(IID, UUID, 0, VolumeKind.IMAGE_IMPORT)

    @pytest.mark.parametrize(
        "name",
        [
            None,
            42,
            b"AbC1oLHC0-T1SmuMfZ6PemtcTQ-r",
            "",
            "vol1",
            "oLHC0+T1SmuMfZ6PemtcTQ==",  # a cinder volume
            "vol-42-a1b2-AbC1",  # a CloudStack volume
            IID + ENCODED,  # no disk code
            IID + ENCODED + "-x",  # unknown disk code
            IID + ENCODED + "-R",  # upper case is never ours
            IID + ENCODED + "-e01",  # leading zero
            IID + ENCODED + "-e100",
            IID + ENCODED + "_xe100",
            IID + ENCODED + "_i01",
            IID + ENCODED + "_i1000",
            IID + ENCODED + "_j01",
            IID + ENCODED + "_J0",
            IID + ENCODED + "_q" + "r",  # unknown kind
            IID + ENCODED + "-r ",
            IID + ENCODED[:-1] + "R-r",  # spare bits set: a second spelling of a UUID
            IID + ENCODED[:-1] + "+-r",  # standard-alphabet character
            "AbC" + ENCODED + "-r",
            "AbC-" + ENCODED + "-r",
            "x" * 1000,
        ],
    )
    def test_names_we_did_not_make(self, name: object) -> None:
        assert naming.parse_volume_name(name) is None

    def test_is_ours_checks_the_installation(self) -> None:
        name = naming.disk_volume_name(IID, UUID, "disk")
        assert naming.is_ours(name, IID)
        assert not naming.is_ours(name, "ZZZZ")
        assert not naming.is_ours(name, IID.lower())
        assert not naming.is_ours("vol1", IID)
        assert not naming.is_ours(None, IID)


class TestListing:
    def test_disk_names(self) -> None:
        assert naming.instance_disk_names(2) == (
            "disk",
            "disk.local",
            "disk.swap",
            "disk.config",
            "disk.eph0",
            "disk.eph1",
        )

    def test_disk_names_with_rescue(self) -> None:
        names = naming.instance_disk_names(1, rescue=True)
        assert names[5:] == tuple(f"{name}.rescue" for name in names[:5])

    @pytest.mark.parametrize("count", [-1, 101])
    def test_ephemeral_count_range(self, count: int) -> None:
        with pytest.raises(ValueError, match="ephemeral_count"):
            naming.instance_disk_names(count)

    def test_volume_names(self) -> None:
        owners = naming.instance_volume_names(IID, UUID, ephemeral_count=1)
        assert [owner.volume_name for owner in owners] == [
            naming.disk_volume_name(IID, UUID, disk)
            for disk in ("disk", "disk.local", "disk.swap", "disk.config", "disk.eph0")
        ]

    def test_volume_names_with_derived(self) -> None:
        owners = naming.instance_volume_names(
            IID, UUID, ephemeral_count=0, rescue=True, derived=True
        )
        # 4 disks, 4 rescue twins, 3 derived kinds of the 4 non-rescue disks
        assert len(owners) == 4 + 4 + 3 * 4
        assert {owner.kind for owner in owners} == {VolumeKind.DISK, *DERIVED_KINDS}
        assert not [o for o in owners if o.kind is not VolumeKind.DISK and o.disk.rescue]

    def test_every_nova_disk_is_listed(self) -> None:
        listed = naming.instance_disk_names(naming.MAX_EPHEMERAL_INDEX + 1, rescue=True)
        assert set(NOVA_DISKS) <= set(listed)


class TestProperties:
    @fast
    @given(owners)
    def test_round_trip(self, owner: naming.VolumeName) -> None:
        name = owner.volume_name
        assert POWERFLEX_NAME.fullmatch(name)
        assert naming.parse_volume_name(name) == owner
        assert naming.is_ours(name, owner.installation_id)

    @fast
    @given(owners, owners)
    def test_different_owners_never_share_a_name(
        self, first: naming.VolumeName, second: naming.VolumeName
    ) -> None:
        if first != second:
            assert first.volume_name != second.volume_name

    @fast
    @given(instance_names, st.data())
    def test_a_changed_field_changes_the_name(
        self, owner: InstanceVolumeName, data: st.DataObject
    ) -> None:
        # Random pairs rarely share fields; change exactly one to probe each.
        field = data.draw(st.sampled_from(["installation_id", "instance_uuid", "disk_name"]))
        strategy = {"installation_id": installation_ids, "instance_uuid": uuids}.get(
            field, disk_names
        )
        value = data.draw(strategy)
        try:
            other = dataclasses.replace(owner, **{field: value})
        except ValueError:  # a rescue disk drawn for a derived kind
            return
        assert (other == owner) == (other.volume_name == owner.volume_name)

    @fast
    @given(st.text(max_size=40))
    def test_parse_never_raises_and_only_accepts_canonical_names(self, name: str) -> None:
        parsed = naming.parse_volume_name(name)
        if parsed is not None:
            assert parsed.volume_name == name

    @fast
    @given(instance_names, st.integers(0, 30), st.characters())
    def test_parse_of_a_mutated_name_is_none_or_canonical(
        self, owner: InstanceVolumeName, position: int, char: str
    ) -> None:
        name = owner.volume_name
        mutated = name[:position] + char + name[position + 1 :]
        parsed = naming.parse_volume_name(mutated)
        assert parsed is None or parsed.volume_name == mutated


class TestOwnershipProperties:
    @fast
    @given(owners, installation_ids)
    def test_is_ours_only_for_the_installation_in_the_name(
        self, owner: naming.VolumeName, installation_id: str
    ) -> None:
        name = owner.volume_name
        assert naming.is_ours(name, installation_id) == (installation_id == owner.installation_id)

    @fast
    @given(st.text(max_size=40), installation_ids)
    def test_is_ours_never_raises_and_implies_a_canonical_name(
        self, name: str, installation_id: str
    ) -> None:
        if naming.is_ours(name, installation_id):
            assert name.startswith(installation_id)
            assert naming.parse_volume_name(name).volume_name == name
