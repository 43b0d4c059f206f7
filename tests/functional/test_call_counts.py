"""Gateway calls per disk stay within budget, whatever else the system holds.

Budgets, with warm caches (an earlier instance on this host has already
looked up the system id, the pool and this host's SDC): spawning costs at
most three calls per disk (existence check, create, map), one more when
the flavor sets QoS; deleting costs at most three (id, unmap, remove),
plus one look for a snapshot a failed upload to Glance left.
No per-instance operation lists volumes, so 1,000 other volumes in the
system change no count.  ``tox -e bench`` reports the same counts with
wall times and the peers' figures.
"""

from __future__ import annotations

from collections import Counter

import pytest
import test_imagebackend_create as create_tests
from generation import REFRESH, login_route

from sio_backend.demo import nova_disks
from sio_backend.instance_volumes import InstanceVolumes

# The nova configuration, simulated hosts and image of the disk-creation tests.
nova_conf = create_tests.nova_conf
privileged_in_process = create_tests.privileged_in_process
hosts = create_tests.hosts
qcow2_image = create_tests.qcow2_image


def calls(simulator) -> Counter:
    """The calls since the last reset, but logins and OAuth token refreshes."""
    counts = simulator.call_counts()
    for renewal in (login_route(), REFRESH):
        counts.pop(renewal, None)
    return counts


def spawn(simulator, host_storage, instance, image_path) -> list[Counter]:
    """The calls of each disk nova creates on spawn (cache, then the domain definition)."""
    per_disk = []
    for disk in nova_disks.DISKS:
        simulator.reset_log()
        nova_disks.spawn_disk(host_storage, instance, disk, image_path)
        per_disk.append(calls(simulator))
    return per_disk


def delete(simulator, host_storage, instance) -> Counter:
    simulator.reset_log()
    InstanceVolumes(host_storage, instance, {}).remove_all()
    return calls(simulator)


@pytest.fixture
def warm(hosts, simulator, qcow2_image):
    """A host whose caches an earlier instance has filled."""
    first = nova_disks.new_instance()
    spawn(simulator, hosts["host1"], first, qcow2_image)
    delete(simulator, hosts["host1"], first)
    return hosts["host1"]


@pytest.mark.parametrize(("extra_specs", "budget"), [({}, 3), ({"disk:iops_limit": "1000"}, 4)])
def test_warm_spawn_costs_three_calls_per_disk_plus_one_for_qos(
    warm, simulator, qcow2_image, extra_specs, budget
):
    instance = nova_disks.new_instance(extra_specs=extra_specs)
    tokens = simulator.sessions.issued_tokens()
    per_disk = spawn(simulator, warm, instance, qcow2_image)

    assert [sum(counts.values()) for counts in per_disk] == [budget] * 3
    assert simulator.sessions.issued_tokens() == tokens  # no login, no token refresh


def test_delete_costs_three_calls_per_disk_and_removes_every_volume(warm, simulator, qcow2_image):
    instance = nova_disks.new_instance()
    spawn(simulator, warm, instance, qcow2_image)

    counts = delete(simulator, warm, instance)

    # One lookup each for a leftover resize snapshot and Glance snapshot.
    assert sum(counts.values()) <= 3 * 3 + 2
    assert not any(v.name.startswith(warm.installation_id) for v in simulator.state.volumes())


def test_counts_do_not_depend_on_other_volumes(warm, simulator, qcow2_image):
    def spawn_and_delete() -> tuple[list[Counter], Counter]:
        instance = nova_disks.new_instance()
        return spawn(simulator, warm, instance, qcow2_image), delete(simulator, warm, instance)

    alone = spawn_and_delete()
    pool_id = simulator.add_storage_pool("pd1", "others", capacity_gb=10_000)
    for index in range(1000):
        simulator.state.create_volume(pool_id, 8 * 1024 * 1024, name=f"other-{index:04d}")

    assert spawn_and_delete() == alone
