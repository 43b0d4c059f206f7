"""Every way nova creates a disk, through ScaleIOImage, against the simulator.

The gateway is the simulator over verified HTTPS, the image is a real qcow2
file converted by real ``qemu-img``, filesystems are made by real mkfs and
mkswap through nova's own callbacks, and the data is read back from the
simulated device byte for byte.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import uuid
from pathlib import Path

import nova.conf
import nova.privsep
import pytest
from nova import exception, objects
from nova.virt.libvirt import driver as libvirt_driver
from oslo_config import fixture as config_fixture
from oslo_utils import units
from sio_fixtures.generation import PROVISIONING, THICK_VOLUMES, rounded_gb

from sio_backend import exceptions, privileged, storage
from sio_backend.demo.device_io import read, write
from sio_backend.demo.nova_conf import configure
from sio_backend.imagebackend import ScaleIOImage
from sio_backend.simulator.host import simulated_storage

CONF = nova.conf.CONF
IID = "func"
GiB = units.Gi
PATTERN = b"\xab" * units.Mi

objects.register_all()


@pytest.fixture
def nova_conf(tmp_path: Path):
    fixture = config_fixture.Config(CONF)
    fixture.setUp()
    fixture.config(instances_path=str(tmp_path / "instances"), host="host1")
    configure(
        fixture.config,
        installation_id=IID,
        lock_path=tmp_path / "locks",
        default_provisioning_type=PROVISIONING,
    )
    yield fixture
    fixture.cleanUp()


@pytest.fixture(autouse=True)
def privileged_in_process(monkeypatch):
    """Run privsep entrypoints in this (root) process, as nova's PrivsepFixture does."""
    monkeypatch.setattr(nova.privsep.sys_admin_pctxt, "client_mode", False)
    monkeypatch.setattr(privileged.sys_admin_pctxt, "client_mode", False)


@pytest.fixture
def hosts(simulator, nova_conf):
    made = {}
    for name in ("host1", "host2"):
        made[name] = simulated_storage(simulator, name, installation_id=IID, wait_timeout=5)
        storage.register(name, made[name])
    yield made
    for name in made:
        storage.unregister(name)


@pytest.fixture
def qcow2_image(tmp_path: Path) -> Path:
    """A 1 GiB qcow2 image with 1 MiB of 0xab at offset 4 MiB."""
    path = tmp_path / "cirros.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "1G"], check=True)
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", "write -P 0xab 4M 1M", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def make_instance(root_gb=8, ephemeral_gb=0, swap=0, extra_specs=None) -> objects.Instance:
    flavor = objects.Flavor(
        name="m1.sio",
        flavorid="sio1",
        root_gb=root_gb,
        ephemeral_gb=ephemeral_gb,
        swap=swap,
        extra_specs=extra_specs or {},
    )
    return objects.Instance(uuid=str(uuid.uuid4()), flavor=flavor, os_type="linux")


def copy_fetch(source: Path):
    def fetch(target, *args, **kwargs):
        shutil.copyfile(source, target)

    return fetch


def volume_of(host: storage.Storage, image: ScaleIOImage):
    return host.find(image.volume_name)


def test_root_disk_from_qcow2_image(hosts, simulator, qcow2_image):
    instance = make_instance()
    image = ScaleIOImage(instance=instance, disk_name="disk")
    assert not image.exists()
    image.cache(
        fetch_func=copy_fetch(qcow2_image),
        filename="image-1",
        size=8 * GiB,
        context=None,
        image_id="image-1",
    )
    volume = volume_of(hosts["host1"], image)
    assert volume.size_kb * units.Ki == 8 * GiB
    assert volume.thin is not THICK_VOLUMES
    assert volume.mapped_sdc_ids == {simulator.sdcs["host1"].id}
    assert image.path == str(simulator.sdcs["host1"].device_path(volume.id))
    # Byte for byte: the image's data, then zeros up to the end of the volume.
    subprocess.run(
        ["qemu-img", "compare", "-q", "-f", "qcow2", "-F", "raw", str(qcow2_image), image.path],
        check=True,
    )
    assert read(image.path, 4 * units.Mi, units.Mi) == PATTERN


def test_root_gb_zero_and_rescue_are_sized_from_the_image_and_thin(hosts, qcow2_image):
    instance = make_instance(root_gb=0)
    for disk_name in ("disk", "disk.rescue"):
        image = ScaleIOImage(instance=instance, disk_name=disk_name)
        image.cache(fetch_func=copy_fetch(qcow2_image), filename="image-1", size=None)
        volume = volume_of(hosts["host1"], image)
        assert volume.size_kb * units.Ki == rounded_gb(1) * GiB  # the 1 GiB image
        assert volume.thin
        assert read(image.path, 4 * units.Mi, units.Mi) == PATTERN


def test_ephemeral_disk_gets_a_filesystem_on_the_device(hosts):
    instance = make_instance(ephemeral_gb=8)
    image = ScaleIOImage(instance=instance, disk_name="disk.local")
    make_fs = functools.partial(
        libvirt_driver.LibvirtDriver._create_ephemeral,
        fs_label="ephemeral0",
        os_type="linux",
        is_block_dev=image.is_block_dev,
    )
    image.cache(
        fetch_func=make_fs, filename="ephemeral_8_ext4", size=8 * GiB, ephemeral_size=8, safe=True
    )
    volume = volume_of(hosts["host1"], image)
    assert volume.size_kb * units.Ki == 8 * GiB
    # ext4 superblock magic 0xEF53 at byte 1080.
    assert read(image.path, 1080, 2) == b"\x53\xef"


def test_swap_disk(hosts):
    instance = make_instance(swap=8192)
    image = ScaleIOImage(instance=instance, disk_name="disk.swap")
    image.cache(
        fetch_func=libvirt_driver.LibvirtDriver._create_swap,
        filename="swap_8192",
        size=8192 * units.Mi,
        swap_mb=8192,
        safe=True,
    )
    volume = volume_of(hosts["host1"], image)
    assert volume.size_kb * units.Ki == 8 * GiB
    assert read(image.path, 4096 - 10, 10) == b"SWAPSPACE2"


def test_existing_volume_is_mapped_on_another_host_and_grown(
    hosts, simulator, qcow2_image, nova_conf
):
    instance = make_instance()
    ScaleIOImage(instance=instance, disk_name="disk").cache(
        fetch_func=copy_fetch(qcow2_image), filename="image-1", size=8 * GiB
    )
    nova_conf.config(host="host2")
    instance.flavor.root_gb = 16
    image = ScaleIOImage(instance=instance, disk_name="disk")
    assert image.exists()
    image.cache(fetch_func=copy_fetch(qcow2_image), filename="image-1", size=16 * GiB)
    # The device appears when nova defines the domain, as on every start.
    image.disk_info_mapping = {"bus": "virtio", "dev": "vda", "type": "disk"}
    image.libvirt_info(cache_mode="none", extra_specs={})
    volume = volume_of(hosts["host2"], image)
    assert volume.size_kb * units.Ki == 16 * GiB
    assert simulator.sdcs["host2"].id in volume.mapped_sdc_ids
    assert Path(image.path).stat().st_size == 16 * GiB
    assert read(image.path, 4 * units.Mi, units.Mi) == PATTERN


def test_flavor_size_off_the_pools_step_aborts_the_build(hosts, qcow2_image):
    instance = make_instance(root_gb=10)
    image = ScaleIOImage(instance=instance, disk_name="disk")
    if rounded_gb(10) == 10:  # 5.x Erasure Coding: 1 GiB steps, 10 GiB is a size
        image.cache(fetch_func=copy_fetch(qcow2_image), filename="image-1", size=10 * GiB)
        assert volume_of(hosts["host1"], image).size_kb * units.Ki == 10 * GiB
        return
    with pytest.raises(exception.InvalidInput) as err:
        image.cache(fetch_func=copy_fetch(qcow2_image), filename="image-1", size=10 * GiB)
    message = str(err.value)
    assert "m1.sio" in message
    assert "8 GiB and 16 GiB" in message
    assert "disk_size_policy" in message
    assert hosts["host1"].find(image.volume_name) is None


def test_round_up_policy(hosts, qcow2_image, nova_conf):
    nova_conf.config(disk_size_policy="round_up", group="scaleio")
    image = ScaleIOImage(instance=make_instance(root_gb=10), disk_name="disk")
    image.cache(fetch_func=copy_fetch(qcow2_image), filename="image-1", size=10 * GiB)
    assert volume_of(hosts["host1"], image).size_kb * units.Ki == rounded_gb(10) * GiB


def test_round_up_takes_an_image_of_the_whole_volume(hosts, nova_conf, tmp_path):
    """A server of a 1 GiB flavor has a whole volume (8 GiB where the pool's step is
    8): its shelve snapshot is that big, and unshelving it with the flavor works;
    an image larger than the volume is still refused."""
    nova_conf.config(disk_size_policy="round_up", group="scaleio")
    whole_volume, larger = tmp_path / "shelved.qcow2", tmp_path / "larger.qcow2"
    for path, size_gb in ((whole_volume, rounded_gb(1)), (larger, rounded_gb(1) + 1)):
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", str(path), f"{size_gb}G"], check=True
        )

    image = ScaleIOImage(instance=make_instance(root_gb=1), disk_name="disk")
    image.cache(fetch_func=copy_fetch(whole_volume), filename="shelved", size=1 * GiB)
    assert volume_of(hosts["host1"], image).size_kb * units.Ki == rounded_gb(1) * GiB

    refused = ScaleIOImage(instance=make_instance(root_gb=1), disk_name="disk")
    with pytest.raises(exception.FlavorDiskSmallerThanImage):
        refused.cache(fetch_func=copy_fetch(larger), filename="larger", size=1 * GiB)
    assert hosts["host1"].find(refused.volume_name) is None


def test_failed_import_removes_the_volume_it_created(hosts, simulator, tmp_path):
    # qemu-img reads the header fine but cannot open the backing file to convert.
    broken, backing = tmp_path / "broken.qcow2", tmp_path / "gone"
    backing.write_bytes(b"")
    subprocess.run(
        [
            "qemu-img",
            "create",
            "-q",
            "-f",
            "qcow2",
            "-F",
            "raw",
            "-b",
            str(backing),
            str(broken),
            "1G",
        ],
        check=True,
    )
    backing.unlink()
    image = ScaleIOImage(instance=make_instance(), disk_name="disk")
    with pytest.raises(exception.ImageUnacceptable, match=image.volume_name):
        image.cache(fetch_func=copy_fetch(broken), filename="broken", size=8 * GiB)
    assert hosts["host1"].find(image.volume_name) is None
    assert list(simulator.sdcs["host1"].by_id_dir.iterdir()) == []


def test_unpadded_pool_is_refused_before_anything_is_created(hosts, simulator, qcow2_image):
    simulator.add_storage_pool("pd1", "unpadded", zero_padding=False)
    instance = make_instance(extra_specs={"disk:pool": "unpadded"})
    image = ScaleIOImage(instance=instance, disk_name="disk")
    with pytest.raises(Exception, match="zero padding"):
        image.cache(fetch_func=copy_fetch(qcow2_image), filename="image-1", size=8 * GiB)
    assert hosts["host1"].find(image.volume_name) is None


def root_disk(instance, qcow2_image, size_gb=8) -> ScaleIOImage:
    image = ScaleIOImage(
        instance=instance,
        disk_name="disk",
        disk_info_mapping={"bus": "virtio", "dev": "vda", "type": "disk"},
    )
    image.cache(fetch_func=copy_fetch(qcow2_image), filename="image-1", size=size_gb * GiB)
    return image


def test_resize_grows_the_volume_and_the_host_sees_it(hosts, qcow2_image):
    image = root_disk(make_instance(), qcow2_image)
    image.resize_image(16 * GiB)
    volume = volume_of(hosts["host1"], image)
    assert volume.size_kb * units.Ki == 16 * GiB
    # os-brick's extend_volume (rescan + blockdev) reported the new size.
    assert Path(image.path).stat().st_size == 16 * GiB
    assert read(image.path, 4 * units.Mi, units.Mi) == PATTERN


def test_qos_limits_from_the_flavor_are_applied_after_mapping(hosts, simulator, qcow2_image):
    instance = make_instance(
        extra_specs={"disk:iops_limit": "500", "disk:bandwidth_limit_mbps": "100"}
    )
    image = root_disk(instance, qcow2_image)
    (mapping,) = volume_of(hosts["host1"], image).mapped_sdcs
    assert mapping.sdc_id == simulator.sdcs["host1"].id
    assert mapping.iops_limit == 500
    assert mapping.bandwidth_limit_kbps == 100 * 1024
    # Resized to a flavor without QoS: the next start clears the old limits.
    instance.flavor.extra_specs = {}
    ScaleIOImage(
        instance=instance,
        disk_name="disk",
        disk_info_mapping={"bus": "virtio", "dev": "vda", "type": "disk"},
    ).libvirt_info(cache_mode="none", extra_specs={})
    (mapping,) = volume_of(hosts["host1"], image).mapped_sdcs
    assert (mapping.iops_limit, mapping.bandwidth_limit_kbps) == (0, 0)


def test_invalid_extra_spec_aborts_the_build(hosts, qcow2_image):
    image = ScaleIOImage(
        instance=make_instance(extra_specs={"disk:iops_limit": "5"}), disk_name="disk"
    )
    with pytest.raises(exception.InvalidInput, match="disk:iops_limit"):
        image.cache(fetch_func=copy_fetch(qcow2_image), filename="image-1", size=8 * GiB)
    assert hosts["host1"].find(image.volume_name) is None


def test_resize_revert_rolls_back_to_the_snapshot(hosts, qcow2_image):
    instance = make_instance()
    image = root_disk(instance, qcow2_image)
    image.create_snap("nova-resize")
    image.resize_image(16 * GiB)
    write(image.path, 4 * units.Mi, b"\x00" * units.Mi)  # the guest writes after the resize
    image.rollback_to_snap("nova-resize")
    image.remove_snap("nova-resize")
    reverted = ScaleIOImage(
        instance=instance,
        disk_name="disk",
        disk_info_mapping={"bus": "virtio", "dev": "vda", "type": "disk"},
    )
    reverted.libvirt_info(cache_mode="none", extra_specs={})
    volume = volume_of(hosts["host1"], reverted)
    assert volume.size_kb * units.Ki == 8 * GiB
    assert read(reverted.path, 4 * units.Mi, units.Mi) == PATTERN
    assert hosts["host1"].find(reverted._snapshot_name("nova-resize")) is None


def test_confirm_removes_the_snapshot(hosts, qcow2_image):
    instance = make_instance()
    image = root_disk(instance, qcow2_image)
    image.create_snap("nova-resize")
    image.create_snap("nova-resize")  # a retried resize does not fail
    snap_name = image._snapshot_name("nova-resize")
    assert hosts["host1"].find(snap_name) is not None
    image.remove_snap("nova-resize")
    assert hosts["host1"].find(snap_name) is None
    image.remove_snap("nova-resize", ignore_errors=True)


def test_snapshot_extract_writes_the_disk_to_a_file(hosts, qcow2_image, tmp_path):
    image = root_disk(make_instance(), qcow2_image)
    target = tmp_path / "snapshot.qcow2"
    image.snapshot_extract(str(target), "qcow2")
    subprocess.run(
        ["qemu-img", "compare", "-q", "-f", "qcow2", "-F", "qcow2", str(qcow2_image), str(target)],
        check=True,
    )


def test_device_that_never_appears_rolls_back(simulator, nova_conf, qcow2_image):
    host = simulated_storage(simulator, "host1", installation_id=IID, wait_timeout=0.5)
    storage.register("host1", host)
    try:
        simulator.faults.suppress_devices("host1")
        image = ScaleIOImage(instance=make_instance(), disk_name="disk")
        with pytest.raises(exceptions.DeviceNotFound, match=image.volume_name):
            image.cache(fetch_func=copy_fetch(qcow2_image), filename="image-1", size=8 * GiB)
        assert host.find(image.volume_name) is None
    finally:
        storage.unregister("host1")


def test_device_that_appears_late_is_waited_for(simulator, nova_conf, qcow2_image):
    host = simulated_storage(simulator, "host1", installation_id=IID, wait_timeout=5)
    storage.register("host1", host)
    try:
        simulator.faults.delay_devices(1.0, sdc="host1")
        image = ScaleIOImage(instance=make_instance(), disk_name="disk")
        image.cache(fetch_func=copy_fetch(qcow2_image), filename="image-1", size=8 * GiB)
        assert read(image.path, 4 * units.Mi, units.Mi) == PATTERN
    finally:
        storage.unregister("host1")
