"""Gateway calls per disk stay within budget, whatever else the system holds.

Budgets, with warm caches (an earlier instance on this host has already
looked up the system id, the pool and this host's SDC): spawning costs at
most three calls per disk (existence check, create, map), one more when
the flavor sets QoS; deleting costs at most three (id, unmap, remove).
No per-instance operation lists volumes, so 1,000 other volumes in the
system change no count.  ``tox -e bench`` reports the same counts with
wall times and the peers' figures.
"""

from __future__ import annotations

import functools
from collections import Counter

import pytest
import test_imagebackend_create as create_tests
from nova.virt.libvirt import driver as libvirt_driver
from oslo_utils import units

from sio_backend.imagebackend import ScaleIOImage
from sio_backend.instance_volumes import InstanceVolumes

GiB = units.Gi
LOGIN = ("GET", "/api/login")

# The nova configuration, simulated hosts and image of the disk-creation tests.
nova_conf = create_tests.nova_conf
privileged_in_process = create_tests.privileged_in_process
hosts = create_tests.hosts
qcow2_image = create_tests.qcow2_image


def new_instance(**extra_specs):
    instance = create_tests.make_instance(
        root_gb=8, ephemeral_gb=8, swap=8192, extra_specs=extra_specs
    )
    instance.update({"config_drive": "", "image_ref": "", "system_metadata": {}})
    instance.update({"vm_state": "active", "task_state": None})
    return instance


def disks(image_path):
    make_fs = functools.partial(
        libvirt_driver.LibvirtDriver._create_ephemeral,
        fs_label="ephemeral0",
        os_type="linux",
        is_block_dev=True,
    )
    return {
        "disk": {
            "fetch_func": create_tests.copy_fetch(image_path),
            "filename": "image-1",
            "size": 8 * GiB,
        },
        "disk.local": {
            "fetch_func": make_fs,
            "filename": "ephemeral_8_ext4",
            "size": 8 * GiB,
            "ephemeral_size": 8,
            "safe": True,
        },
        "disk.swap": {
            "fetch_func": libvirt_driver.LibvirtDriver._create_swap,
            "filename": "swap_8192",
            "size": 8 * GiB,
            "swap_mb": 8192,
            "safe": True,
        },
    }


def calls(simulator) -> Counter:
    counts = simulator.call_counts()
    counts.pop(LOGIN, None)
    return counts


def spawn_disk(simulator, instance, disk_name, arguments) -> Counter:
    """What nova does per disk on spawn: cache the image, then define the domain."""
    simulator.reset_log()
    image = ScaleIOImage(instance=instance, disk_name=disk_name)
    image.cache(**arguments)
    image.disk_info_mapping = {"bus": "virtio", "dev": "vda", "type": "disk"}
    image.libvirt_info(cache_mode="none", extra_specs={})
    return calls(simulator)


def spawn(simulator, instance, image_path) -> list[Counter]:
    return [
        spawn_disk(simulator, instance, name, arguments)
        for name, arguments in disks(image_path).items()
    ]


def delete(simulator, host_storage, instance) -> Counter:
    simulator.reset_log()
    InstanceVolumes(host_storage, instance, {}).remove_all()
    return calls(simulator)


@pytest.fixture
def warm(hosts, simulator, qcow2_image):
    """A host whose caches an earlier instance has filled."""
    first = new_instance()
    spawn(simulator, first, qcow2_image)
    delete(simulator, hosts["host1"], first)
    return hosts["host1"]


@pytest.mark.parametrize(("extra_specs", "budget"), [({}, 3), ({"disk:iops_limit": "1000"}, 4)])
def test_warm_spawn_costs_three_calls_per_disk_plus_one_for_qos(
    warm, simulator, qcow2_image, extra_specs, budget
):
    per_disk = spawn(simulator, new_instance(**extra_specs), qcow2_image)

    assert [sum(counts.values()) for counts in per_disk] == [budget] * 3
    assert all(counts[LOGIN] == 0 for counts in per_disk)


def test_delete_costs_three_calls_per_disk_and_removes_every_volume(warm, simulator, qcow2_image):
    instance = new_instance()
    spawn(simulator, instance, qcow2_image)

    counts = delete(simulator, warm, instance)

    assert sum(counts.values()) <= 3 * 3
    assert not any(v.name.startswith(warm.installation_id) for v in simulator.state.volumes())


def test_counts_do_not_depend_on_other_volumes(warm, simulator, qcow2_image):
    def spawn_and_delete() -> tuple[list[Counter], Counter]:
        instance = new_instance()
        return spawn(simulator, instance, qcow2_image), delete(simulator, warm, instance)

    alone = spawn_and_delete()
    pool_id = simulator.add_storage_pool("pd1", "others", capacity_gb=10_000)
    for index in range(1000):
        simulator.state.create_volume(pool_id, 8 * 1024 * 1024, name=f"other-{index:04d}")

    assert spawn_and_delete() == alone
