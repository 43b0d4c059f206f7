# ruff: noqa: F811 - pytest fixtures imported from test_imagebackend_create
"""``[scaleio] image_cache = volume`` against the simulator, with real qemu-img.

Root disks come out of ScaleIOImage as snapshots of one image-cache volume
per image and pool; the data is read back from the simulated devices.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
from nova import exception
from nova.compute import task_states
from oslo_utils import units
from sio_fixtures.generation import THICK_VOLUMES, rounded_gb
from test_imagebackend_create import (  # noqa: F401 - fixtures
    IID,
    PATTERN,
    hosts,
    make_instance,
    nova_conf,
    privileged_in_process,
    qcow2_image,
)

from sio_backend import audit, exceptions, image_cache, inventory, naming, storage
from sio_backend.demo.device_io import read, write
from sio_backend.flavor import DiskPlacement
from sio_backend.imagebackend import ScaleIOImage

GiB = units.Gi
IMAGE_ID = "5f1c2f3a-8d0e-4f4b-9a51-1b2c3d4e5f60"
CREATE = ("POST", "/api/types/Volume/instances")
THIN = DiskPlacement("pd1", "sp1", thin=True)


@pytest.fixture(autouse=True)
def cache_on(nova_conf):
    nova_conf.config(image_cache="volume", default_provisioning_type="thin", group="scaleio")
    image_cache._hints.clear()


class CountingFetch:
    """nova's fetch_func: copies the image into _base and counts the copies."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self.calls = 0

    def __call__(self, target, *args, **kwargs) -> None:
        self.calls += 1
        Path(target).write_bytes(self.source.read_bytes())


def boot(fetch, *, root_gb=16, extra_specs=None, image_id=IMAGE_ID) -> ScaleIOImage:
    """What nova's _create_and_inject_local_root does for the root disk."""
    instance = make_instance(root_gb=root_gb, extra_specs=extra_specs)
    image = ScaleIOImage(instance=instance, disk_name="disk")
    image.cache(
        fetch_func=fetch,
        filename=image_id,
        size=root_gb * GiB or None,
        context=None,
        image_id=image_id,
    )
    return image


def cache_volume(host: storage.Storage, generation: int = 0, image_id: str = IMAGE_ID):
    return host.find(naming.image_cache_volume_name(IID, image_id, generation))


def import_volume(host: storage.Storage, generation: int = 0):
    return host.find(naming.image_import_volume_name(IID, IMAGE_ID, generation))


def assert_holds_image(image: ScaleIOImage, qcow2: Path) -> None:
    subprocess.run(
        ["qemu-img", "compare", "-q", "-f", "qcow2", "-F", "raw", str(qcow2), image.path],
        check=True,
    )
    assert read(image.path, 4 * units.Mi, units.Mi) == PATTERN


def test_first_boot_imports_once_and_the_root_is_a_grown_snapshot(hosts, simulator, qcow2_image):
    fetch = CountingFetch(qcow2_image)
    image = boot(fetch)
    cached = cache_volume(hosts["host1"])
    root = hosts["host1"].find(image.volume_name)
    assert fetch.calls == 1
    image_size = rounded_gb(1) * GiB  # the 1 GiB image, in the pool's size steps
    assert (cached.thin, cached.size_kb * units.Ki, cached.mapped_sdcs) == (True, image_size, ())
    assert (root.volume_type, root.ancestor_id, root.vtree_id) == (
        "Snapshot",
        cached.id,
        cached.vtree_id,
    )
    assert root.size_kb * units.Ki == 16 * GiB
    assert Path(image.path).stat().st_size == 16 * GiB
    assert_holds_image(image, qcow2_image)
    assert import_volume(hosts["host1"]) is None


def test_later_boots_neither_fetch_nor_write_the_image(
    hosts, simulator, qcow2_image, nova_conf, tmp_path
):
    boot(CountingFetch(qcow2_image))
    for base in (tmp_path / "instances" / "_base").iterdir():
        base.unlink()  # as on a host that never saw the image
    nova_conf.config(host="host2")
    simulator.reset_log()
    fetch = CountingFetch(qcow2_image)

    image = boot(fetch, root_gb=8)

    assert fetch.calls == 0
    assert simulator.call_counts()[CREATE] == 0
    assert hosts["host2"].find(image.volume_name).size_kb * units.Ki == 8 * GiB
    assert_holds_image(image, qcow2_image)


def test_writes_to_a_root_disk_stay_in_that_root_disk(hosts, qcow2_image):
    fetch = CountingFetch(qcow2_image)
    first, second = boot(fetch), boot(fetch)
    with open(first.path, "r+b") as device:
        device.seek(4 * units.Mi)
        device.write(b"\x00" * units.Mi)
    assert read(second.path, 4 * units.Mi, units.Mi) == PATTERN
    assert_holds_image(boot(fetch), qcow2_image)


def test_a_full_image_volume_rolls_over_to_the_next_generation(
    hosts, simulator, qcow2_image, nova_conf
):
    nova_conf.config(image_cache_max_clones=2, group="scaleio")
    fetch = CountingFetch(qcow2_image)
    roots = [boot(fetch) for _ in range(5)]
    generations = [cache_volume(hosts["host1"], n) for n in range(3)]
    assert fetch.calls == 1  # later imports reuse the _base file
    for index, root in enumerate(roots):
        volume = hosts["host1"].find(root.volume_name)
        assert volume.ancestor_id == generations[index // 2].id
    assert_holds_image(roots[-1], qcow2_image)


def test_the_gateway_snapshot_limit_also_rolls_over(hosts, simulator, qcow2_image):
    simulator.state.max_snapshots_per_vtree = 1
    fetch = CountingFetch(qcow2_image)
    first, second = boot(fetch), boot(fetch)
    assert hosts["host1"].find(first.volume_name).ancestor_id == cache_volume(hosts["host1"]).id
    assert hosts["host1"].find(second.volume_name).ancestor_id == cache_volume(hosts["host1"], 1).id
    assert_holds_image(second, qcow2_image)


def test_each_pool_gets_its_own_image_volume(hosts, simulator, qcow2_image):
    simulator.add_storage_pool("pd1", "sp2")
    fetch = CountingFetch(qcow2_image)
    boot(fetch)
    other = boot(fetch, extra_specs={"disk:pool": "sp2"})
    in_sp2 = cache_volume(hosts["host1"], 1)
    assert in_sp2.pool_id != cache_volume(hosts["host1"]).pool_id
    assert hosts["host1"].find(other.volume_name).ancestor_id == in_sp2.id
    assert_holds_image(other, qcow2_image)


def test_thick_flavors_get_a_full_copy(hosts, qcow2_image):
    if not THICK_VOLUMES:  # 5.x: Erasure Coding pools have none, the build is refused
        with pytest.raises(exceptions.ConfigurationError, match="Erasure Coding"):
            boot(CountingFetch(qcow2_image), extra_specs={"disk:provisioning_type": "thick"})
        assert hosts["host1"].client.list_volumes() == []
        return
    image = boot(CountingFetch(qcow2_image), extra_specs={"disk:provisioning_type": "thick"})
    root = hosts["host1"].find(image.volume_name)
    assert root.volume_type == "ThickProvisioned"
    assert cache_volume(hosts["host1"]) is None
    assert_holds_image(image, qcow2_image)


def test_image_ids_that_are_no_uuid_and_rescue_disks_are_copied(hosts, qcow2_image):
    image = boot(CountingFetch(qcow2_image), image_id="not-a-uuid")
    assert hosts["host1"].find(image.volume_name).volume_type == "ThinProvisioned"
    rescue = ScaleIOImage(instance=make_instance(), disk_name="disk.rescue")
    rescue.cache(fetch_func=CountingFetch(qcow2_image), filename="r", size=None, image_id=IMAGE_ID)
    assert hosts["host1"].find(rescue.volume_name).volume_type == "ThinProvisioned"
    assert cache_volume(hosts["host1"]) is None


def test_root_gb_zero_is_the_image_volume_size(hosts, qcow2_image):
    image = boot(CountingFetch(qcow2_image), root_gb=0)
    assert hosts["host1"].find(image.volume_name).size_kb * units.Ki == rounded_gb(1) * GiB


def test_a_disk_smaller_than_the_image_is_refused_exactly(hosts, nova_conf, tmp_path):
    """Under round_up the disk is the whole volume: a 9 GiB image fits a 10 GiB
    flavor's root, and no root smaller than 9 GiB (7 GiB, in the pool's steps)."""
    nova_conf.config(disk_size_policy="round_up", group="scaleio")
    nine_gib = tmp_path / "nine.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(nine_gib), "9G"], check=True)
    fetch = CountingFetch(nine_gib)
    boot(fetch, root_gb=10)
    with pytest.raises(exception.FlavorDiskSmallerThanImage):
        boot(fetch, root_gb=7)
    image_volume = cache_volume(hosts["host1"])
    members = hosts["host1"].client.vtree_volumes(image_volume.vtree_id)
    assert len(members) == 2  # the image and the 10 GiB root; the refused root is gone


def test_round_up_takes_an_image_of_the_whole_volume(hosts, nova_conf, tmp_path):
    """A server of a 1 GiB flavor has a whole volume (8 GiB where the pool's step is
    8): its shelve snapshot is that big, and unshelving it with the flavor works."""
    nova_conf.config(disk_size_policy="round_up", group="scaleio")
    whole_volume = tmp_path / "shelved.qcow2"
    size = f"{rounded_gb(1)}G"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(whole_volume), size], check=True)

    image = boot(CountingFetch(whole_volume), root_gb=1)

    assert hosts["host1"].find(image.volume_name).size_kb * units.Ki == rounded_gb(1) * GiB


def test_concurrent_first_boots_import_once(hosts, simulator, qcow2_image):
    fetch = CountingFetch(qcow2_image)
    images, errors = [], []

    def one_boot() -> None:
        try:
            images.append(boot(fetch))
        except Exception as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=one_boot) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(images) == 5
    assert fetch.calls == 1
    cached = cache_volume(hosts["host1"])
    assert cache_volume(hosts["host1"], 1) is None
    for image in images:
        assert hosts["host1"].find(image.volume_name).ancestor_id == cached.id
        assert_holds_image(image, qcow2_image)


class FileSource:
    """An ImageSource over a raw file, counting imports; optionally failing."""

    def __init__(self, path: Path, *, fail: bool = False, delay: float = 0.0) -> None:
        self.path, self.fail, self.delay = path, fail, delay
        self.writes = 0

    def virtual_size(self) -> int:
        time.sleep(self.delay)  # as a fetch would: the hosts race to create the volume
        return self.path.stat().st_size

    def write(self, device_path: str, volume_name: str, *, target_is_zero: bool) -> None:
        self.writes += 1
        time.sleep(self.delay)
        if self.fail:
            raise OSError(f"cannot write {volume_name}")
        with open(device_path, "r+b") as device:
            device.write(self.path.read_bytes())


@pytest.fixture
def raw_image(tmp_path: Path) -> Path:
    path = tmp_path / "image.raw"
    path.write_bytes(PATTERN * 3)
    return path


def host_cache(
    host: storage.Storage, tmp_path: Path, name: str, **options
) -> image_cache.ImageCache:
    """The image cache of one simulated host, with its own lock directory."""
    options.setdefault("max_clones", 100)
    options.setdefault("import_timeout", 30)
    options.setdefault("poll_interval", 0.05)
    return image_cache.ImageCache(host, lock_path=str(tmp_path / f"locks-{name}"), **options)


def root_name(instance_uuid: str | None = None) -> str:
    return naming.disk_volume_name(IID, instance_uuid or str(uuid.uuid4()), "disk")


def test_hosts_racing_for_one_image_import_it_once(hosts, tmp_path, raw_image, monkeypatch):
    # Threads of one process share oslo's lock; hosts share none.
    monkeypatch.setattr(image_cache.lockutils, "lock", lambda *a, **k: contextlib.nullcontext())
    source = FileSource(raw_image, delay=0.3)
    caches = [host_cache(hosts[f"host{1 + n % 2}"], tmp_path, f"host{1 + n % 2}") for n in range(6)]
    results: list = []
    threads = [
        threading.Thread(
            target=lambda c=c: results.append(c.clone(IMAGE_ID, THIN, root_name(), source))
        )
        for c in caches
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert source.writes == 1
    assert {clone.ancestor_id for clone in results} == {cache_volume(hosts["host1"]).id}
    assert len(results) == 6


def test_failed_import_leaves_no_volume_behind(hosts, tmp_path, raw_image):
    cache = host_cache(hosts["host1"], tmp_path, "host1")
    name = root_name()
    with pytest.raises(OSError, match="cannot write"):
        cache.clone(IMAGE_ID, THIN, name, FileSource(raw_image, fail=True))
    assert import_volume(hosts["host1"]) is None
    assert cache_volume(hosts["host1"]) is None
    assert hosts["host1"].find(name) is None
    assert cache.clone(IMAGE_ID, THIN, name, FileSource(raw_image)).name == name


def test_a_boot_waits_for_another_hosts_import(hosts, tmp_path, raw_image):
    host1 = hosts["host1"]
    staging = host1.create(naming.image_import_volume_name(IID, IMAGE_ID, 0), THIN, GiB)
    final = naming.image_cache_volume_name(IID, IMAGE_ID, 0)
    timer = threading.Timer(0.3, host1.client.rename_volume, (staging.id, final))
    timer.start()
    source = FileSource(raw_image)
    clone = host_cache(hosts["host2"], tmp_path, "host2").clone(IMAGE_ID, THIN, root_name(), source)
    timer.join()
    assert (clone.ancestor_id, source.writes) == (staging.id, 0)


def test_an_abandoned_import_is_skipped_after_the_timeout(hosts, tmp_path, raw_image):
    host1 = hosts["host1"]
    host1.create(naming.image_import_volume_name(IID, IMAGE_ID, 0), THIN, GiB)
    cache = host_cache(hosts["host2"], tmp_path, "host2", import_timeout=0.2)
    clone = cache.clone(IMAGE_ID, THIN, root_name(), FileSource(raw_image))
    assert clone.ancestor_id == cache_volume(host1, 1).id
    listed = host1.client.list_volumes()
    assert [v.name for v in image_cache.import_volumes(listed, IID)] == [
        naming.image_import_volume_name(IID, IMAGE_ID, 0)
    ]


def test_an_import_that_failed_elsewhere_is_taken_over(hosts, tmp_path, raw_image):
    host1 = hosts["host1"]
    staging = host1.create(naming.image_import_volume_name(IID, IMAGE_ID, 0), THIN, GiB)
    timer = threading.Timer(0.3, host1.remove, (staging,))
    timer.start()
    source = FileSource(raw_image)
    clone = host_cache(hosts["host2"], tmp_path, "host2").clone(IMAGE_ID, THIN, root_name(), source)
    timer.join()
    assert source.writes == 1
    assert clone.ancestor_id == cache_volume(host1).id


def test_root_disks_outlive_their_image_volume(hosts, qcow2_image):
    fetch = CountingFetch(qcow2_image)
    first, second = boot(fetch), boot(fetch)
    host = hosts["host1"]
    host.remove(host.find(first.volume_name))
    cached = cache_volume(host)
    assert cached is not None
    assert image_cache.unused_volumes(host.client.list_volumes(), IID) == []
    assert not image_cache.remove_if_unused(host.client, IID, cached)
    host.remove(cached)  # ONLY_ME, as an operator might
    assert_holds_image(second, qcow2_image)


def test_unused_image_volumes_are_found_and_removed(hosts, qcow2_image):
    image = boot(CountingFetch(qcow2_image))
    host = hosts["host1"]
    host.remove(host.find(image.volume_name))
    unused = image_cache.unused_volumes(host.client.list_volumes(), IID)
    assert [v.name for v in unused] == [cache_volume(host).name]
    assert image_cache.unused_volumes(host.client.list_volumes(), "othr") == []
    assert image_cache.remove_if_unused(host.client, IID, unused[0])
    assert cache_volume(host) is None
    # The next boot imports the image again.
    assert_holds_image(boot(CountingFetch(qcow2_image)), qcow2_image)


def test_a_removed_image_volume_is_imported_again(hosts, qcow2_image):
    fetch = CountingFetch(qcow2_image)
    boot(fetch)
    host = hosts["host1"]
    removed = cache_volume(host)
    host.remove(removed)
    image = boot(fetch)
    again = cache_volume(host)  # the free generation is used again
    assert again.id != removed.id
    assert host.find(image.volume_name).ancestor_id == again.id
    assert_holds_image(image, qcow2_image)


def test_other_hosts_root_disks_count_once_this_host_counts_again(
    hosts, simulator, qcow2_image, nova_conf, monkeypatch
):
    """Boots within RECOUNT_S trust this process's count; the next count sees
    the snapshots other hosts made and moves on to the next generation."""
    nova_conf.config(image_cache_max_clones=3, group="scaleio")
    fetch = CountingFetch(qcow2_image)
    boot(fetch)
    first = cache_volume(hosts["host1"])
    for _ in range(2):  # two root disks another host made
        simulator.state.snapshot_volumes([(first.id, None)])
    trusted = boot(fetch)
    monkeypatch.setattr(image_cache, "RECOUNT_S", 0.0)
    counted = boot(fetch)
    host = hosts["host1"]
    assert host.find(trusted.volume_name).ancestor_id == first.id
    assert host.find(counted.volume_name).ancestor_id == cache_volume(host, 1).id


def test_an_image_volume_renamed_since_it_was_counted_is_not_used(
    hosts, simulator, qcow2_image, monkeypatch
):
    """Its name is what says it is ours and complete: each count reads it again."""
    fetch = CountingFetch(qcow2_image)
    boot(fetch)
    first = cache_volume(hosts["host1"])
    simulator.state.rename_volume(first.id, "kept-by-an-operator")
    monkeypatch.setattr(image_cache, "RECOUNT_S", 0.0)
    image = boot(fetch)
    root = hosts["host1"].find(image.volume_name)
    assert root.ancestor_id == cache_volume(hosts["host1"]).id != first.id
    assert_holds_image(image, qcow2_image)


def test_clones_must_be_copied_to_move_pools(hosts, qcow2_image):
    host = hosts["host1"]
    clone = boot(CountingFetch(qcow2_image))
    assert image_cache.needs_copy_to_move(host, host.find(clone.volume_name))
    copy = boot(CountingFetch(qcow2_image), image_id="not-a-uuid")  # copied, not cloned
    copy.create_snap("nova-resize")
    assert not image_cache.needs_copy_to_move(host, host.find(copy.volume_name))
    with pytest.raises(exceptions.NotOurVolume):
        image_cache.needs_copy_to_move(host, cache_volume(host))


def test_the_audit_removes_only_an_import_nobody_writes_never_an_image_volume(
    hosts, tmp_path, raw_image
):
    host1 = hosts["host1"]
    abandoned = host1.create(naming.image_import_volume_name(IID, IMAGE_ID, 0), THIN, GiB)
    writing = host1.create(naming.image_import_volume_name(IID, IMAGE_ID, 2), THIN, GiB)
    host1.attach(writing)  # its writer maps it first thing
    host1.create(naming.image_cache_volume_name(IID, IMAGE_ID, 1), THIN, GiB)
    no_instances = audit.KnownInstances(frozenset(), "a test")
    findings = audit.classify(inventory.collect(host1.client, IID), no_instances)
    assert {(f.volume.name, f.problem, f.action) for f in findings} == {
        (abandoned.name, audit.Problem.LEFTOVER, audit.Action.REMOVE),
        (writing.name, audit.Problem.LEFTOVER, audit.Action.REPORT),
        (
            naming.image_cache_volume_name(IID, IMAGE_ID, 1),
            audit.Problem.UNUSED_IMAGE_CACHE,
            audit.Action.REPORT,
        ),
    }


def test_a_resize_to_another_pool_copies_a_clone_and_leaves_the_image_volume(
    hosts, simulator, qcow2_image
):
    simulator.add_storage_pool("pd1", "sp2")
    root = boot(CountingFetch(qcow2_image))
    host = hosts["host1"]
    write(root.path, 64 * units.Mi, b"resized" * 100)
    image_pool = cache_volume(host).pool_id

    instance = make_instance(root_gb=24, extra_specs={"disk:pool": "sp2"})
    instance.uuid = root.instance.uuid
    instance.task_state = task_states.RESIZE_FINISH  # finish_migration, after a resize
    moved = ScaleIOImage(instance=instance, disk_name="disk")
    moved.create_image(None, None, 24 * GiB)

    volume = host.find(root.volume_name)
    assert volume.pool_id == host.client.storage_pool_id("pd1", "sp2")
    assert volume.size_gb == 24
    assert not image_cache.needs_copy_to_move(host, volume)
    assert cache_volume(host).pool_id == image_pool
    assert read(moved.path, 64 * units.Mi, 700) == b"resized" * 100
    assert read(moved.path, 4 * units.Mi, units.Mi) == PATTERN
    leftovers = {v.name for v in host.client.list_volumes()} - {
        root.volume_name,
        cache_volume(host).name,
    }
    assert leftovers == set()
