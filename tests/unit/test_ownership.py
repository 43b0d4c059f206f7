"""The ownership decision: which record of an instance may do what to its volumes, where.

The functional tests (tests/functional/test_nova_manager_paths.py) replay
nova's calls for each path against the simulator; these pin the decision
table itself, one row per record nova can hand the driver.
"""

from __future__ import annotations

import pytest
from nova import objects
from nova.compute import task_states, vm_states

from sio_backend import ownership
from sio_backend.ownership import Release, Role

objects.register_all()

HERE, THERE = "host1", "host2"


def flavor(swap: int = 0, ephemeral_gb: int = 0) -> objects.Flavor:
    return objects.Flavor(root_gb=8, swap=swap, ephemeral_gb=ephemeral_gb, extra_specs={})


def record(**fields) -> objects.Instance:
    fields.setdefault("host", HERE)
    fields.setdefault("flavor", flavor())
    fields.setdefault("vm_state", vm_states.ACTIVE)
    fields.setdefault("task_state", None)
    return objects.Instance(uuid="5d3e0f55-0b6c-4f39-9b4a-53e1d2f4cc70", **fields)


@pytest.mark.parametrize(
    ("fields", "role"),
    [
        ({}, Role.OWNER),
        ({"host": None}, Role.OWNER),
        ({"host": THERE}, Role.VISITOR),
        ({"host": THERE, "deleted": True}, Role.OWNER),
        ({"hidden": True}, Role.HIDDEN_COPY),
        ({"host": THERE, "hidden": True}, Role.HIDDEN_COPY),
    ],
)
def test_role(fields, role):
    assert ownership.role(record(**fields), HERE) is role


def test_only_the_owner_removes_everything():
    assert ownership.on_cleanup(record(), HERE, destroy_disks=True) == Release(remove_all=True)
    visitor = record(host=THERE)
    assert ownership.on_cleanup(visitor, HERE, destroy_disks=True) == Release(unmap_here=True)


@pytest.mark.parametrize(
    ("task_state", "flavors", "release"),
    [
        # The source cell's copy on a cross-cell confirm: the target runs the new flavor.
        (
            task_states.RESIZE_MIGRATED,
            (flavor(swap=512), flavor(swap=512), flavor()),
            Release(
                unmap_here=True,
                remove=frozenset({"disk.swap"}),
                keep_if_mapped_elsewhere=True,
                remove_resize_snapshot=True,
            ),
        ),
        # The target cell's copy on a cross-cell revert: the source reverts to the snapshot.
        (
            task_states.RESIZE_REVERTING,
            (flavor(ephemeral_gb=8), flavor(swap=512), flavor(ephemeral_gb=8)),
            Release(
                unmap_here=True, remove=frozenset({"disk.local"}), keep_if_mapped_elsewhere=True
            ),
        ),
    ],
)
def test_a_hidden_copy_gives_up_only_what_the_live_copy_does_not_use(task_state, flavors, release):
    own, old, new = flavors
    copy = record(hidden=True, task_state=task_state, flavor=own, old_flavor=old, new_flavor=new)
    assert ownership.on_cleanup(copy, HERE, destroy_disks=True) == release


def test_a_hidden_copy_whose_flavors_are_unknown_removes_nothing_but_the_snapshot():
    source = record(hidden=True, flavor=flavor(swap=512))
    assert ownership.on_cleanup(source, HERE, destroy_disks=True) == Release(
        unmap_here=True, keep_if_mapped_elsewhere=True, remove_resize_snapshot=True
    )


def test_a_same_cell_revert_removes_what_only_the_new_flavor_has():
    instance = record(
        task_state=task_states.RESIZE_REVERTING, flavor=flavor(swap=512), old_flavor=flavor()
    )
    assert ownership.on_cleanup(instance, HERE, destroy_disks=False) == Release(
        unmap_here=True, remove=frozenset({"disk.swap"})
    )


def test_a_hard_reboot_keeps_the_mappings_of_its_host():
    instance = record(task_state=task_states.REBOOT_STARTED_HARD)
    assert ownership.on_cleanup(instance, HERE, destroy_disks=False) == Release()


def test_a_confirm_gives_up_the_old_flavors_disks_and_the_snapshot():
    instance = record(host=THERE, flavor=flavor(), old_flavor=flavor(swap=512))
    assert ownership.on_confirm(instance, HERE) == Release(
        unmap_here=True, remove=frozenset({"disk.swap"}), remove_resize_snapshot=True
    )
    same_host = record(flavor=flavor(swap=512), old_flavor=flavor(swap=512))
    assert ownership.on_confirm(same_host, HERE) == Release(remove_resize_snapshot=True)


@pytest.mark.parametrize(
    ("fields", "release"),
    [
        ({"vm_state": vm_states.ERROR}, Release(fence=True, remove_resize_snapshot=True)),
        ({"vm_state": vm_states.RESIZED}, Release(fence=True)),  # a host reboot in VERIFY_RESIZE
        ({"hidden": True}, Release()),
        ({"host": THERE}, Release()),
    ],
)
def test_hard_reboot(fields, release):
    assert ownership.on_hard_reboot(record(**fields), HERE) == release


def test_only_an_evacuation_spawn_fences():
    evacuating = record(host=THERE, task_state=task_states.REBUILD_SPAWNING)
    assert ownership.on_spawn(evacuating, HERE) == Release(fence=True)
    assert ownership.on_spawn(record(task_state=task_states.SPAWNING), HERE) == Release()
    target_copy = record(hidden=True, task_state=task_states.RESIZE_FINISH)
    assert ownership.on_spawn(target_copy, HERE) == Release()


def test_the_sole_host_is_the_owners():
    assert ownership.on_sole_host(record(), HERE) == Release(fence=True)
    assert ownership.on_sole_host(record(hidden=True), HERE) == Release()
