"""What Storage refuses to do, checked against the simulator's state afterwards.

No code path may remove, unmap, grow, move, snapshot or roll back a volume
whose name lacks this installation's identifier; nothing is created for a
host whose SDC is disconnected or in a pool without zero padding unless the
operator allowed it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sio_fixtures.generation import ALL

from sio_backend import exceptions, naming, pool_moves
from sio_backend.flavor import DiskPlacement
from sio_backend.simulator import Simulator
from sio_backend.simulator.host import simulated_storage
from sio_backend.storage import GiB, Storage

IID = "func"
PLACEMENT = DiskPlacement("pd1", "sp1", thin=True)
# Every request that changes a volume or a mapping.
CHANGES = (
    "removeVolume",
    "removeMappedSdc",
    "addMappedSdc",
    "removeMappedHost",
    "addMappedHost",
    "setVolumeSize",
    "setVolumeName",
    "snapshotVolumes",
    "createSnapshot",
    "createThinClone",
    "migrateVTree",
    "overwriteVolumeContent",
    "/api/types/Volume/instances",
)


@pytest.fixture
def host1(simulator: Simulator, lock_path: None) -> Storage:
    storage = simulated_storage(simulator, "host1", installation_id=IID, wait_timeout=2)
    yield storage
    storage.client.close()


def our_name(disk: str = "disk") -> str:
    return naming.disk_volume_name(IID, str(uuid.uuid4()), disk)


def state_of(simulator: Simulator) -> list[tuple[Any, ...]]:
    return sorted(
        (v.id, v.name, v.size_kb, v.pool_id, v.volume_type, tuple(sorted(v.mappings)))
        for v in simulator.state.volumes()
    )


def changes_sent(simulator: Simulator) -> list[str]:
    return [
        f"{entry.method} {entry.path}"
        for entry in simulator.request_log
        if entry.method == "POST"
        and any(change in entry.path for change in CHANGES)
        and not entry.path.endswith("queryIdByKey")
    ]


# ------------------------------------------------------------ ownership
FOREIGN_NAMES = {
    "another installation": naming.disk_volume_name("othr", str(uuid.uuid4()), "disk"),
    "made by hand": "data1",
    "unnamed": None,
}


@pytest.fixture(params=list(FOREIGN_NAMES), ids=list(FOREIGN_NAMES))
def foreign(request: pytest.FixtureRequest, simulator: Simulator, host1: Storage):
    """A volume this cloud did not make, mapped to host1 and host2."""
    pool_id = host1.client.storage_pool_id("pd1", "sp1")
    name = FOREIGN_NAMES[request.param]
    made = simulator.state.create_volume(pool_id, 8 * 1024 * 1024, name=name)
    for host in ("host1", "host2"):
        simulator.state.map_volume(made.id, simulator.sdcs[host].id, allow_multiple=True)
    return host1.get(made.id)


@pytest.fixture
def ours(simulator: Simulator, host1: Storage) -> tuple[Any, Any]:
    """One of our volumes and a snapshot of it, to roll back with."""
    simulator.add_storage_pool("pd1", "sp2")
    volume = host1.create(our_name(), PLACEMENT, 8 * GiB)
    owner = naming.parse_volume_name(volume.name)
    snapshot_name = naming.derived_volume_name(
        IID, owner.instance_uuid, "disk", naming.VolumeKind.RESIZE_SNAPSHOT
    )
    return volume, host1.snapshot(volume, snapshot_name)


ATTEMPTS: dict[str, Callable[[Storage, Any, tuple[Any, Any]], object]] = {
    "remove": lambda host, volume, ours: host.remove(volume),
    "remove_named": lambda host, volume, ours: host.remove_named(volume.name),
    "remove_snapshot_named": lambda host, volume, ours: host.remove_snapshot_named(volume.name),
    "detach": lambda host, volume, ours: host.detach(volume),
    "detach_quietly": lambda host, volume, ours: host.detach_quietly(volume),
    "unmap_others": lambda host, volume, ours: host.unmap_others(volume),
    "extend": lambda host, volume, ours: host.extend(volume, 16 * GiB),
    "move": lambda host, volume, ours: pool_moves.move(
        host, volume, DiskPlacement("pd1", "sp2", thin=True)
    ),
    "snapshot": lambda host, volume, ours: host.snapshot(volume, our_name()),
    "rollback dropping it": lambda host, volume, ours: host.rollback(volume, ours[1], ours[0].name),
    "rollback to it": lambda host, volume, ours: host.rollback(None, volume, our_name()),
    "rollback to it, dropping ours": lambda host, volume, ours: host.rollback(
        ours[0], volume, ours[0].name
    ),
}


@pytest.mark.parametrize("attempt", list(ATTEMPTS))
def test_foreign_volumes_are_never_changed(
    simulator: Simulator, host1: Storage, foreign: Any, ours: tuple[Any, Any], attempt: str
) -> None:
    before = state_of(simulator)
    simulator.reset_log()

    with pytest.raises(exceptions.NotOurVolume) as info:
        ATTEMPTS[attempt](host1, foreign, ours)

    assert f"(id {foreign.id})" in str(info.value) or str(foreign.name) in str(info.value)
    assert f"{IID!r}" in str(info.value)
    assert state_of(simulator) == before
    assert changes_sent(simulator) == []
    assert foreign.mapped_sdc_ids == {simulator.sdcs[h].id for h in ("host1", "host2")}


def test_a_failed_operation_leaves_a_foreign_volume_alone(
    simulator: Simulator, host1: Storage, foreign: Any, caplog: pytest.LogCaptureFixture
) -> None:
    before = state_of(simulator)
    simulator.reset_log()

    with pytest.raises(RuntimeError, match="the operation failed"):
        with host1.removed_on_error(foreign):
            raise RuntimeError("the operation failed")

    assert state_of(simulator) == before
    assert changes_sent(simulator) == []
    (logged,) = [r for r in caplog.records if r.exc_info and r.levelno == logging.ERROR]
    assert isinstance(logged.exc_info[1], exceptions.NotOurVolume)


def test_our_volume_is_removed_by_the_same_paths(simulator: Simulator, host1: Storage) -> None:
    volume = host1.create(our_name(), PLACEMENT, 8 * GiB)
    host1.attach(volume)

    with pytest.raises(RuntimeError):
        with host1.removed_on_error(host1.get(volume.id)):
            raise RuntimeError("the operation failed")

    assert state_of(simulator) == []


# ---------------------------------------- a snapshot left under the name
@pytest.mark.parametrize("lost_answer", [False, True], ids=["name refused", "answer lost"])
def test_a_snapshot_left_under_the_name_is_replaced_never_adopted(
    simulator: Simulator, host1: Storage, ours: tuple[Any, Any], lost_answer: bool
) -> None:
    """A failed resize's or upload's snapshot holds older data: reverting to it
    or uploading it would lose what was written since.  The name is not looked
    up first; the gateway's refusal (or a lost answer) has it replaced."""
    volume, left = ours
    if lost_answer:  # made, then the connection closed: no answer says so
        simulator.state.remove_volume(left.id)
        simulator.faults.drop_connection(method="POST", path=r".*/action/snapshotVolumes")
    simulator.reset_log()

    made = host1.snapshot(volume, left.name, replace=True)

    (named,) = [v for v in simulator.state.volumes() if v.name == left.name]
    assert named.id == made.id != left.id
    assert named.ancestor_id == volume.id
    assert simulator.call_counts()[("POST", "/api/types/Volume/instances/action/queryIdByKey")] == 1
    snapshots = [c for c in changes_sent(simulator) if c.endswith("snapshotVolumes")]
    assert len(snapshots) == 2  # refused (or unanswered), then taken again


def test_a_snapshot_costs_no_lookup_when_none_is_left(
    simulator: Simulator, host1: Storage, ours: tuple[Any, Any]
) -> None:
    volume, left = ours
    host1.remove(left)
    simulator.reset_log()

    host1.snapshot(volume, left.name, replace=True)

    assert sum(simulator.call_counts().values()) == 1


# ------------------------------------------------- before anything is created
def test_disconnected_sdc_is_reported_before_anything_is_created(
    simulator: Simulator, host1: Storage
) -> None:
    simulator.faults.disconnect_sdc("host1")
    simulator.reset_log()

    with pytest.raises(exceptions.ConfigurationError) as info:
        host1.create(our_name(), PLACEMENT, 8 * GiB)

    assert "disconnected" in str(info.value)
    assert simulator.sdcs["host1"].guid in str(info.value)
    assert state_of(simulator) == []
    assert changes_sent(simulator) == []


@pytest.mark.parametrize("allowed", [False, True])
def test_pool_without_zero_padding_needs_explicit_permission(
    simulator: Simulator, allowed: bool
) -> None:
    simulator.add_storage_pool("pd1", "unpadded", zero_padding=False)
    host = simulated_storage(
        simulator, "host1", installation_id=IID, allow_non_padded_pools=allowed
    )
    placement = DiskPlacement("pd1", "unpadded", thin=True)
    try:
        if allowed:
            volume = host.create(our_name(), placement, 8 * GiB)
            assert not host.reads_zeros(volume)
            assert [v.id for v in simulator.state.volumes()] == [volume.id]
        else:
            with pytest.raises(exceptions.ConfigurationError) as info:
                host.create(our_name(), placement, 8 * GiB)
            assert "zero padding disabled" in str(info.value)
            assert "[scaleio] allow_non_padded_pools = True" in str(info.value)
            assert state_of(simulator) == []
    finally:
        host.client.close()


def test_a_known_id_is_never_acted_on_unread(simulator: Simulator, host1: Storage) -> None:
    """Ids this host remembers only say what to read: a volume renamed by an
    operator since is not removed under the name it no longer has."""
    instance = str(uuid.uuid4())
    root = naming.disk_volume_name(IID, instance, "disk")
    kept = host1.create(root, PLACEMENT, 8 * GiB)
    simulator.state.rename_volume(kept.id, "rescued-by-an-operator")

    with host1.operation(instance):
        assert host1.remove_named(root, everywhere=True) is False

    assert simulator.state.volume(kept.id).name == "rescued-by-an-operator"


@pytest.mark.parametrize("api_version", ALL)
def test_thick_disks_are_refused_where_the_pool_has_none(
    make_simulator: Callable[..., Simulator], api_version: str
) -> None:
    """Fine Granularity pools (3.x, 4.x) and Erasure Coding pools (5.x) have
    thin volumes only: a thick disk there is a configuration to fix, named
    before anything is created, not a gateway error halfway through a build."""
    simulator = make_simulator(api_version=api_version)
    erasure_coded = simulator.generation.erasure_coding
    layout = "ErasureCoding" if erasure_coded else "FineGranularity"
    simulator.add_storage_pool("pd1", "thin-only", data_layout=layout)
    host = simulated_storage(simulator, "host1", installation_id=IID)
    simulator.reset_log()
    try:
        with pytest.raises(exceptions.ConfigurationError) as info:
            host.create(our_name(), DiskPlacement("pd1", "thin-only", thin=False), 8 * GiB)
    finally:
        host.client.close()

    kind = "Erasure Coding" if erasure_coded else "fine granularity"
    assert f"'thin-only' in 'pd1' uses {kind}, which has no thick volumes" in str(info.value)
    assert "[scaleio] default_provisioning_type = thin" in str(info.value)
    assert state_of(simulator) == []
    assert changes_sent(simulator) == []
