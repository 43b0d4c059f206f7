"""The simulator's model on its own: the MDM's rules, without HTTP or files."""

from __future__ import annotations

from typing import Any

import pytest

from sio_backend.simulator.errors import SimulatorError
from sio_backend.simulator.objects import (
    ERASURE_CODING,
    FINE_GRANULARITY,
    GIB_KB,
    MAX_SNAPSHOTS_PER_VTREE,
    SNAPSHOT,
    THICK,
    THIN,
)
from sio_backend.simulator.state import GatewayState


class World:
    """A model with pd1/sp1 (medium granularity), pd1/fg1 (fine) and two SDCs."""

    def __init__(self, clock: Any, api_version: str = "3.5") -> None:
        self.clock = clock
        self.state = GatewayState(api_version=api_version, clock=self.clock, migration_delay=5)
        self.pd = self.state.add_protection_domain("pd1")
        self.pool = self.state.add_storage_pool(self.pd.id, "sp1", capacity_gb=64)
        self.fine = self.state.add_storage_pool(self.pd.id, "fg1", data_layout=FINE_GRANULARITY)
        self.host1 = self.state.add_sdc("host1")
        self.host2 = self.state.add_sdc("host2")

    def volume(self, name: str | None = "v1", size_gb: int = 8, **kwargs: object) -> str:
        kwargs.setdefault("volume_type", THIN)
        return self.state.create_volume(self.pool.id, size_gb * GIB_KB, name=name, **kwargs).id


@pytest.fixture
def world(fake_clock: Any) -> World:
    return World(fake_clock)


def raises(error_code: int, status: int = 500) -> Any:
    """Expect a SimulatorError with exactly this HTTP status and errorCode."""
    return pytest.raises(SimulatorError, match=rf"^HTTP {status} errorCode {error_code}:")


# ------------------------------------------------------------------ create
@pytest.mark.parametrize(
    ("asked_kb", "expected_gb"),
    [(1, 8), (8 * GIB_KB, 8), (8 * GIB_KB + 1, 16), (10 * GIB_KB, 16), (17 * GIB_KB, 24)],
)
def test_create_rounds_up_to_8_gib(world: World, asked_kb: int, expected_gb: int) -> None:
    volume = world.state.create_volume(world.pool.id, asked_kb, name="v")
    assert volume.size_kb == expected_gb * GIB_KB


def test_create_defaults_thick_on_medium_and_thin_on_fine_granularity(world: World) -> None:
    medium = world.state.create_volume(world.pool.id, GIB_KB, name="m")
    fine = world.state.create_volume(world.fine.id, GIB_KB, name="f")
    assert (medium.volume_type, fine.volume_type) == (THICK, THIN)


def test_fine_granularity_pool_refuses_thick_volumes(world: World) -> None:
    with raises(288):
        world.state.create_volume(world.fine.id, GIB_KB, name="f", volume_type=THICK)
    assert world.state.volumes() == []


def test_name_of_31_characters_is_accepted_and_32_refused(world: World) -> None:
    world.volume("a" * 31)
    with raises(226):
        world.volume("b" * 32)


@pytest.mark.parametrize("name", ["has space", "tab\there", "", "naïve"])
def test_names_with_spaces_or_non_printable_characters_are_refused(world: World, name: str) -> None:
    with raises(227):
        world.volume(name)


def test_base64_punctuation_is_a_valid_name(world: World) -> None:
    volume_id = world.volume("oLHC0+T1SmuMfZ6PemtcTQ==/~")
    assert world.state.volume_id_by_name("oLHC0+T1SmuMfZ6PemtcTQ==/~") == volume_id


def test_duplicate_name_is_error_99_with_the_real_message(world: World) -> None:
    world.volume("same")
    with pytest.raises(SimulatorError) as caught:
        world.volume("same")
    assert caught.value.error_code == 99
    assert caught.value.message == "Volume name already in use. Please use a different name."
    assert len(world.state.volumes()) == 1


def test_names_are_optional(world: World) -> None:
    first, second = world.volume(None), world.volume(None)
    assert first != second
    assert world.state.volume(first).name is None


def test_pool_outside_the_given_protection_domain_is_refused(world: World) -> None:
    other = world.state.add_protection_domain("pd2")
    with raises(197):
        world.state.create_volume(world.pool.id, GIB_KB, protection_domain_id=other.id)


def test_thick_volume_larger_than_free_capacity_is_refused(world: World) -> None:
    world.volume("big", 56, volume_type=THICK)
    with raises(300):
        world.volume("more", 16, volume_type=THICK)
    world.volume("thin-is-overprovisioned", 64)


def test_missing_objects_have_their_own_codes(world: World) -> None:
    with raises(79):
        world.state.volume("0123456789abcdef")
    with raises(3):
        world.state.volume_id_by_name("nope")
    with raises(171):
        world.state.storage_pool("0123456789abcdef")
    with raises(142):
        world.state.protection_domain("0123456789abcdef")
    with raises(80):
        world.state.sdc("0123456789abcdef")
    with raises(3):
        world.state.protection_domain_id_by_name("nope")
    with raises(3):
        world.state.storage_pool_id_by_name(world.pd.id, "nope")


# ------------------------------------------------------------------ resize
def test_resize_takes_exact_multiples_of_8_and_never_shrinks(world: World) -> None:
    volume_id = world.volume(size_gb=16)
    world.state.resize_volume(volume_id, 24)
    assert world.state.volume(volume_id).size_kb == 24 * GIB_KB
    with raises(225, status=400):
        world.state.resize_volume(volume_id, 30)
    with raises(133, status=400):
        world.state.resize_volume(volume_id, 16)
    with raises(133, status=400):
        world.state.resize_volume(volume_id, 24)
    assert world.state.volume(volume_id).size_kb == 24 * GIB_KB


def test_rename_checks_the_name_and_keeps_the_old_one_on_failure(world: World) -> None:
    volume_id = world.volume("old")
    world.volume("taken")
    with raises(99):
        world.state.rename_volume(volume_id, "taken")
    world.state.rename_volume(volume_id, "old")
    world.state.rename_volume(volume_id, "new")
    assert world.state.volume(volume_id).name == "new"


# ----------------------------------------------------------------- mapping
@pytest.mark.parametrize(
    ("version", "already", "not_mapped"), [("3.5", 81, 84), ("4.5", 4037, 4039)]
)
def test_mapping_codes_follow_the_api_version(
    fake_clock: Any, version: str, already: int, not_mapped: int
) -> None:
    world = World(fake_clock, version)
    volume_id = world.volume()
    world.state.map_volume(volume_id, world.host1.id)
    with raises(already):
        world.state.map_volume(volume_id, world.host1.id, allow_multiple=True)
    with raises(not_mapped):
        world.state.unmap_volume(volume_id, world.host2.id)


def test_second_sdc_needs_allow_multiple_mappings(world: World) -> None:
    volume_id = world.volume()
    world.state.map_volume(volume_id, world.host1.id)
    with pytest.raises(SimulatorError) as caught:
        world.state.map_volume(volume_id, world.host2.id)
    assert caught.value.error_code == 297
    assert "may not be mapped to additional SDCs" in caught.value.message
    world.state.map_volume(volume_id, world.host2.id, allow_multiple=True)
    assert list(world.state.volume(volume_id).mappings) == [world.host1.id, world.host2.id]


def test_unmap_from_all_sdcs(world: World) -> None:
    volume_id = world.volume()
    with raises(84):
        world.state.unmap_volume(volume_id, None)
    world.state.map_volume(volume_id, world.host1.id)
    world.state.map_volume(volume_id, world.host2.id, allow_multiple=True)
    world.state.unmap_volume(volume_id, None)
    assert world.state.volume(volume_id).mappings == {}


def test_sdc_lookups_are_case_insensitive_for_guids(world: World) -> None:
    assert world.host1.guid == world.host1.guid.upper()
    assert world.state.sdc_by_guid(world.host1.guid.lower()).id == world.host1.id
    assert world.state.sdc_id_by_key(ip=world.host2.ip) == world.host2.id
    with raises(80):
        world.state.sdc_by_guid("00000000-0000-0000-0000-000000000000")


@pytest.mark.parametrize("iops", [1, 10, -1])
def test_iops_limit_must_be_zero_or_above_ten(world: World, iops: int) -> None:
    volume_id = world.volume()
    world.state.map_volume(volume_id, world.host1.id)
    with raises(0, status=400):
        world.state.set_mapped_sdc_limits(volume_id, world.host1.id, iops_limit=iops)


@pytest.mark.parametrize("bandwidth", [1000, 1025, -1024])
def test_bandwidth_limit_must_be_a_multiple_of_1024(world: World, bandwidth: int) -> None:
    volume_id = world.volume()
    world.state.map_volume(volume_id, world.host1.id)
    with raises(0, status=400):
        world.state.set_mapped_sdc_limits(volume_id, world.host1.id, bandwidth_limit_kbps=bandwidth)


def test_limits_are_kept_per_mapping(world: World) -> None:
    volume_id = world.volume()
    world.state.map_volume(volume_id, world.host1.id)
    world.state.map_volume(volume_id, world.host2.id, allow_multiple=True)
    world.state.set_mapped_sdc_limits(
        volume_id, world.host1.id, iops_limit=11, bandwidth_limit_kbps=2048
    )
    world.state.set_mapped_sdc_limits(volume_id, world.host1.id, iops_limit=0)
    mappings = world.state.volume(volume_id).mappings
    assert (mappings[world.host1.id].iops_limit, mappings[world.host1.id].bandwidth_limit_kbps) == (
        0,
        2048,
    )
    assert mappings[world.host2.id].bandwidth_limit_kbps == 0


def test_limits_on_an_unmapped_sdc_are_not_mapped_errors(world: World) -> None:
    volume_id = world.volume()
    with raises(84):
        world.state.set_mapped_sdc_limits(volume_id, world.host1.id, iops_limit=100)


# ------------------------------------------------------------------ remove
def test_a_mapped_volume_cannot_be_removed(world: World) -> None:
    volume_id = world.volume()
    world.state.map_volume(volume_id, world.host1.id)
    with raises(104):
        world.state.remove_volume(volume_id)
    world.state.unmap_volume(volume_id, world.host1.id)
    world.state.remove_volume(volume_id)
    with raises(79):
        world.state.remove_volume(volume_id)


def test_remove_modes(world: World) -> None:
    base = world.volume("base")
    _, (snap1,) = world.state.snapshot_volumes([(base, "s1")])
    world.state.snapshot_volumes([(snap1, "s2")])
    _, (snap3,) = world.state.snapshot_volumes([(base, "s3")])
    vtree = world.state.volume(base).vtree_id

    world.state.remove_volume(snap1, "DESCENDANTS_ONLY")
    assert {v.id for v in world.state.volumes(vtree_id=vtree)} == {base, snap1, snap3}
    world.state.remove_volume(base, "ONLY_ME")
    assert {v.id for v in world.state.volumes(vtree_id=vtree)} == {snap1, snap3}
    world.state.remove_volume(snap3, "WHOLE_VTREE")
    assert world.state.volumes() == []
    assert world.state.vtrees() == []
    with raises(0, status=400):
        world.state.remove_volume(world.volume("x"), "EVERYTHING")


def test_remove_including_descendants_refuses_when_a_descendant_is_mapped(world: World) -> None:
    base = world.volume("base")
    _, (snap,) = world.state.snapshot_volumes([(base, "s1")])
    world.state.map_volume(snap, world.host1.id)
    with raises(104):
        world.state.remove_volume(base, "INCLUDING_DESCENDANTS")
    assert {v.id for v in world.state.volumes()} == {base, snap}


# --------------------------------------------------------------- snapshots
def test_snapshot_is_an_unmapped_snapshot_volume_in_the_same_vtree(world: World) -> None:
    base = world.volume("base", 16)
    world.state.map_volume(base, world.host1.id)
    group, (snap_id,) = world.state.snapshot_volumes([(base, "snap")])
    snap = world.state.volume(snap_id)
    assert (snap.volume_type, snap.ancestor_id, snap.mappings) == (SNAPSHOT, base, {})
    assert snap.vtree_id == world.state.volume(base).vtree_id
    assert snap.size_kb == 16 * GIB_KB
    assert snap.snapshot_group_id == group
    assert world.state.remove_snapshot_group(group) == 1
    with raises(185):
        world.state.remove_snapshot_group(group)


def test_at_most_126_snapshots_per_vtree(world: World) -> None:
    base = world.volume("base")
    world.state.snapshot_volumes([(base, None)] * (MAX_SNAPSHOTS_PER_VTREE - 1))
    with pytest.raises(SimulatorError) as caught:
        world.state.snapshot_volumes([(base, "one"), (base, "two")])
    assert caught.value.details is not None
    assert caught.value.details[0]["rc"] == 182
    assert caught.value.details[0]["error"] == "TOO_MANY_SNAPS_IN_VTREE"
    assert world.state.volume_statistics(base)["numOfChildVolumes"] == 125
    world.state.snapshot_volumes([(base, "last")])
    with raises(0):
        world.state.snapshot_volumes([(base, "beyond")])


def test_snapshot_limit_can_be_lowered_for_tests(fake_clock: Any) -> None:
    state = GatewayState(clock=fake_clock, max_snapshots_per_vtree=2)
    pool = state.add_storage_pool(state.add_protection_domain("pd1").id, "sp1")
    base = state.create_volume(pool.id, 8 * GIB_KB, name="base", volume_type=THIN).id
    state.snapshot_volumes([(base, "one"), (base, "two")])
    with pytest.raises(SimulatorError) as caught:
        state.snapshot_volumes([(base, "three")])
    assert caught.value.details[0]["rc"] == 182


def test_snapshot_definitions_are_all_or_nothing(world: World) -> None:
    base = world.volume("base")
    with raises(79):
        world.state.snapshot_volumes([(base, "ok"), ("0123456789abcdef", "bad")])
    with raises(99):
        world.state.snapshot_volumes([(base, "dup"), (base, "dup")])
    assert [v.id for v in world.state.volumes()] == [base]


def test_overwrite_needs_another_volume_of_the_same_vtree(world: World) -> None:
    base = world.volume("base")
    other = world.volume("other")
    _, (snap,) = world.state.snapshot_volumes([(base, "snap")])
    world.state.overwrite_volume_content(base, snap)
    with raises(198):
        world.state.overwrite_volume_content(base, other)
    with raises(330):
        world.state.overwrite_volume_content(base, base)


# --------------------------------------------------------------- migration
def test_migration_completes_after_the_delay_and_moves_the_whole_vtree(world: World) -> None:
    destination = world.state.add_storage_pool(world.pd.id, "sp2")
    base = world.volume("base", volume_type=THICK)
    _, (snap,) = world.state.snapshot_volumes([(base, "snap")])
    world.state.migrate_vtree(base, destination.id, conversion="ThickToThin")
    vtree = world.state.vtree(world.state.volume(base).vtree_id)
    assert vtree.migration is not None
    with raises(717):
        world.state.migrate_vtree(snap, destination.id)
    world.clock.advance(4.9)
    assert world.state.volume(base).pool_id == world.pool.id
    world.clock.advance(0.2)
    assert world.state.vtree(vtree.id).migration is None
    moved = world.state.volume(base)
    assert (moved.pool_id, moved.volume_type) == (destination.id, THIN)
    assert world.state.volume(snap).pool_id == destination.id
    with raises(718):
        world.state.migrate_vtree(base, destination.id)


def test_migration_of_thick_volumes_into_fine_granularity_needs_conversion(world: World) -> None:
    base = world.volume("base", volume_type=THICK)
    with raises(288):
        world.state.migrate_vtree(base, world.fine.id)
    with raises(0, status=400):
        world.state.migrate_vtree(base, world.fine.id, conversion="Sideways")
    world.state.migrate_vtree(base, world.fine.id, conversion="ThickToThin")


# -------------------------------------------------------------- statistics
def test_pool_statistics_follow_thick_volumes(world: World) -> None:
    empty = world.state.pool_statistics(world.pool.id)
    total = empty["netUnusedCapacityInKb"] + empty["netCapacityInUseInKb"]
    assert total == 64 * GIB_KB
    assert (empty["capacityLimitInKb"] - empty["spareCapacityInKb"]) // 2 == total

    volume_id = world.volume("thick", 8, volume_type=THICK)
    created = world.state.pool_statistics(world.pool.id)
    assert created["thickCapacityInUseInKb"] == 2 * 8 * GIB_KB
    assert created["netCapacityInUseInKb"] == 8 * GIB_KB
    assert created["capacityAvailableForVolumeAllocationInKb"] == 56 * GIB_KB

    world.state.resize_volume(volume_id, 16)
    assert world.state.pool_statistics(world.pool.id)["netUnusedCapacityInKb"] == 48 * GIB_KB

    world.state.remove_volume(volume_id)
    assert world.state.pool_statistics(world.pool.id) == empty


def test_thin_volumes_count_as_provisioned_not_used(world: World) -> None:
    world.volume("thin", 32)
    stats = world.state.pool_statistics(world.pool.id)
    assert stats["thinCapacityAllocatedInKb"] == 2 * 32 * GIB_KB
    assert stats["netCapacityInUseInKb"] == 0
    assert stats["numOfVolumes"] == stats["numOfThinBaseVolumes"] == 1


def test_disconnected_sdc_is_reported_and_reconnects(world: World) -> None:
    world.state.set_sdc_connected(world.host1.id, False)
    assert world.state.sdc(world.host1.id).connected is False
    world.state.set_sdc_connected(world.host1.id, True)
    assert world.state.sdc(world.host1.id).connected is True


# ------------------------------------------------------------ generations
def test_an_unknown_generation_is_refused_by_name() -> None:
    for version in ("2.0", "6.0", "4", "latest"):
        with pytest.raises(ValueError, match=r"3\.5, 4\.5 or 5\.0"):
            GatewayState(api_version=version)
    assert GatewayState(api_version="3.6").generation.major == 3


def test_5x_pools_are_erasure_coding_with_1_gib_steps_and_no_thick(fake_clock: Any) -> None:
    state = GatewayState(api_version="5.0", clock=fake_clock)
    pd = state.add_protection_domain("pd1")
    assert pd.gen_type == "EC"
    pool = state.add_storage_pool(pd.id, "ec1")
    assert (pool.data_layout, pool.granularity_kb) == (ERASURE_CODING, GIB_KB)
    with raises(0, 400):
        state.add_storage_pool(pd.id, "mg1", data_layout="MediumGranularity")
    volume = state.create_volume(pool.id, 3 * GIB_KB + 1, name="v")
    assert (volume.size_kb, volume.volume_type) == (4 * GIB_KB, THIN)
    state.resize_volume(volume.id, 5)
    assert volume.size_kb == 5 * GIB_KB
    with raises(288):
        state.create_volume(pool.id, GIB_KB, volume_type=THICK)
    with raises(0, 400):
        state.create_volume(pool.id, GIB_KB, compression_method="None")
    assert state.max_snapshots_per_vtree == 1022


def test_mirroring_generations_keep_8_gib_and_no_gen_type(world: World) -> None:
    assert (world.pd.gen_type, world.pool.granularity_kb) == (None, 8 * GIB_KB)
    with raises(0, 400):
        world.state.add_storage_pool(world.pd.id, "ec1", data_layout=ERASURE_CODING)
    assert world.state.max_snapshots_per_vtree == MAX_SNAPSHOTS_PER_VTREE


def test_nvme_hosts_map_without_a_device_and_exist_from_4x_on(fake_clock: Any) -> None:
    with raises(288):
        World(fake_clock).state.add_nvme_host("nvme1")
    world = World(fake_clock, api_version="4.5")
    host = world.state.add_nvme_host("nvme1", nqn="nqn.2014-08.org.nvmexpress:uuid:1")
    assert [h.name for h in world.state.hosts()] == ["host1", "host2", "nvme1"]
    assert [s.name for s in world.state.sdcs()] == ["host1", "host2"]
    with raises(80):
        world.state.sdc(host.id)  # not an SDC: no GUID, no device
    volume_id = world.volume()
    world.state.map_volume(volume_id, host.id)
    assert world.state.nvme_host_by_nqn(host.nqn) is host
    assert world.state.sdc_statistics(host.id)["volumeIds"] == [volume_id]
    world.state.unmap_volume(volume_id, host.id)
    with raises(4039):
        world.state.unmap_volume(volume_id, host.id)
    with raises(0, 400):
        world.state.add_nvme_host("nvme2", nqn=host.nqn)


def test_5x_read_only_snapshots_and_writable_clones(fake_clock: Any) -> None:
    state = GatewayState(api_version="5.0", clock=fake_clock)
    pool = state.add_storage_pool(state.add_protection_domain("pd1").id, "ec1")
    base = state.create_volume(pool.id, GIB_KB, name="base")
    _, (snapshot_id,) = state.snapshot_volumes([(base.id, "ro")], read_only=True)
    _, (clone_id,) = state.snapshot_volumes([(snapshot_id, "rw")])
    assert state.volume(snapshot_id).access_mode_limit == "ReadOnly"
    assert state.volume(clone_id).access_mode_limit == "ReadWrite"
    assert state.volume(clone_id).vtree_id == base.vtree_id
