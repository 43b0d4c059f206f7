"""Many nova operations at once, and two operations racing for one volume.

Two simulated hosts share one gateway client, as the workers of one
nova-compute do.  Disks are made through ScaleIOImage exactly as nova's
spawn makes them (:mod:`sio_fixtures.nova_disks`), deleted as the
driver's cleanup deletes them.  Races on one volume are made to happen in
a chosen order by pausing one operation inside a gateway call.
"""

from __future__ import annotations

import threading
import time
import traceback
import types
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable

import pytest
import test_imagebackend_create as create_tests
from sio_fixtures import nova_disks
from sio_fixtures.generation import THICK_VOLUMES

from sio_backend import exceptions, image_cache, naming
from sio_backend.flavor import DiskPlacement
from sio_backend.gateway import GatewayClient
from sio_backend.instance_volumes import InstanceVolumes
from sio_backend.storage import Storage

IID = create_tests.IID
# The nova configuration, simulated hosts and image of the disk-creation tests.
nova_conf = create_tests.nova_conf
privileged_in_process = create_tests.privileged_in_process
hosts = create_tests.hosts
qcow2_image = create_tests.qcow2_image

IMAGE_ID = "0c8a3a52-5d5e-4b8e-9d53-2f1a7b6c9e01"
WORKERS = 50
# Thick where the pool has thick volumes (not on 5.x's Erasure Coding pools).
PLACEMENT = DiskPlacement("pd1", "sp1", thin=not THICK_VOLUMES)
JOIN_TIMEOUT_S = 120
GiB = 1024**3


@pytest.fixture
def shared_client(hosts, simulator, make_client) -> GatewayClient:
    """One client for both hosts, as nova-compute shares one between its workers."""
    client = make_client(simulator, max_connections=WORKERS)
    for host_storage in hosts.values():
        host_storage.client.close()
        host_storage.client = client
    return client


class PerHostLocks:
    """Each simulated host's own image-cache locks: hosts in one process share none."""

    def __init__(self) -> None:
        self.host = threading.local()
        self._locks: defaultdict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)
        self._guard = threading.Lock()

    def lock(self, name: str, *_args, **_kwargs) -> threading.Lock:
        with self._guard:
            return self._locks[(self.host.name, name)]


def run_together(tasks: list[Callable[[], None]]) -> list[str]:
    """Start every task at once (a barrier); the tracebacks of those that failed."""
    start = threading.Barrier(len(tasks), timeout=30)
    errors: list[str] = []

    def run(task: Callable[[], None]) -> None:
        try:
            start.wait()
            task()
        except Exception:  # every failure is reported by the test
            errors.append(traceback.format_exc(limit=4))

    threads = [threading.Thread(target=run, args=(task,), daemon=True) for task in tasks]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "workers still running"
    return errors


def volumes_by_name(simulator) -> dict:
    volumes = simulator.state.volumes()
    names = Counter(volume.name for volume in volumes)
    assert [name for name, count in names.items() if count > 1] == [], "duplicate names"
    assert len({volume.id for volume in volumes}) == len(volumes), "duplicate ids"
    return {volume.name: volume for volume in volumes}


def assert_only(simulator, live: dict[str, list]) -> None:
    """Only the live instances' disks exist, each mapped to its own host alone."""
    volumes = volumes_by_name(simulator)
    expected = set()
    for host, instances in live.items():
        sdc = simulator.sdcs[host]
        for instance in instances:
            for disk in nova_disks.DISKS:
                name = naming.disk_volume_name(IID, instance.uuid, disk)
                expected.add(name)
                volume = volumes.get(name)
                assert volume is not None, f"{disk} of {instance.uuid} on {host} is lost"
                assert set(volume.mappings) == {sdc.id}, f"{name} mapped to {volume.mappings}"
                assert sdc.device_path(volume.id).exists(), f"no device for {name} on {host}"
    assert set(volumes) == expected, f"leaked volumes {sorted(set(volumes) - expected)}"
    for host, sdc in simulator.sdcs.items():
        devices = {path.name for path in sdc.by_id_dir.iterdir()}
        mapped = {volume.id for volume in volumes.values() if sdc.id in volume.mappings}
        assert len(devices) == len(mapped), f"{host} has devices of unmapped volumes"


def test_fifty_spawns_and_deletes_on_two_hosts(hosts, simulator, shared_client, qcow2_image):
    """Spawns and deletes at once: nothing lost, duplicated, leaked or failed."""
    plan = [
        (f"host{1 + index % 2}", nova_disks.new_instance(), index % 3 == 0)
        for index in range(WORKERS)
    ]

    def worker(host: str, instance, delete: bool) -> Callable[[], None]:
        def work() -> None:
            nova_disks.spawn(hosts[host], instance, qcow2_image)
            if delete:
                InstanceVolumes(hosts[host], instance, {}).remove_all()

        return work

    assert run_together([worker(*step) for step in plan]) == []
    live = defaultdict(list)
    for host, instance, deleted in plan:
        if not deleted:
            live[host].append(instance)
    assert_only(simulator, live)
    for host, instance, deleted in plan:
        if not deleted:
            InstanceVolumes(hosts[host], instance, {}).remove_all()
    assert_only(simulator, {})


@pytest.fixture
def image_cache_on(nova_conf, monkeypatch) -> PerHostLocks:
    """``[scaleio] image_cache = volume``, each simulated host with its own locks."""
    nova_conf.config(image_cache="volume", default_provisioning_type="thin", group="scaleio")
    image_cache._hints.clear()
    locks = PerHostLocks()
    monkeypatch.setattr(image_cache, "lockutils", types.SimpleNamespace(lock=locks.lock))
    return locks


def test_first_boots_of_one_image_on_both_hosts_import_it_once(
    hosts, simulator, shared_client, qcow2_image, image_cache_on
):
    locks = image_cache_on
    boots = [(f"host{1 + index % 2}", nova_disks.new_instance()) for index in range(12)]

    def boot(host: str, instance) -> Callable[[], None]:
        def work() -> None:
            locks.host.name = host
            nova_disks.spawn_disk(hosts[host], instance, "disk", qcow2_image, IMAGE_ID)

        return work

    assert run_together([boot(*step) for step in boots]) == []
    volumes = volumes_by_name(simulator)
    image_volume = volumes[naming.image_cache_volume_name(IID, IMAGE_ID, 0)]
    assert not image_volume.mappings
    roots = [volumes[naming.disk_volume_name(IID, i.uuid, "disk")] for _, i in boots]
    assert {root.ancestor_id for root in roots} == {image_volume.id}
    assert set(volumes) == {image_volume.name} | {root.name for root in roots}
    for host, instance in boots:
        root = volumes[naming.disk_volume_name(IID, instance.uuid, "disk")]
        assert set(root.mappings) == {simulator.sdcs[host].id}


# -- two operations on one volume -------------------------------------------


class Pause:
    """Holds the first call of a client method, after the gateway answered it, until released."""

    def __init__(self, monkeypatch, client: GatewayClient, method: str) -> None:
        self.reached, self.release = threading.Event(), threading.Event()
        self._first = threading.Lock()
        original = getattr(client, method)

        def paused(*args, **kwargs):
            result = original(*args, **kwargs)
            if self._first.acquire(blocking=False):
                self.reached.set()
                assert self.release.wait(10), f"{method} was never released"
            return result

        monkeypatch.setattr(client, method, paused)


class Running(threading.Thread):
    """One operation in the background; its result or error once it ends."""

    def __init__(self, operation: Callable[[], object]) -> None:
        super().__init__(daemon=True)
        self.operation = operation
        self.result: object = None
        self.error: Exception | None = None
        self.start()

    def run(self) -> None:
        try:
            self.result = self.operation()
        except Exception as err:  # the test inspects it
            self.error = err

    def outcome(self) -> Running:
        self.join(timeout=30)
        assert not self.is_alive(), "the operation never ended"
        return self


def new_volume(host: Storage):
    name = naming.disk_volume_name(IID, str(uuid.uuid4()), "disk")
    return host.create(name, PLACEMENT, 8 * GiB)


def state(simulator, volume_id: str) -> tuple[bool, set[str], set[str]]:
    """(exists, hosts it is mapped to, hosts with its device) as the gateway and SDCs see it."""
    exists = volume_id in {volume.id for volume in simulator.state.volumes()}
    mapped = set(simulator.state.volume(volume_id).mappings) if exists else set()
    by_id = {sdc.id: name for name, sdc in simulator.sdcs.items()}
    devices = {name for name, sdc in simulator.sdcs.items() if sdc.device_path(volume_id).exists()}
    return exists, {by_id[sdc_id] for sdc_id in mapped}, devices


def test_an_attach_during_a_remove_on_one_host_waits_and_finds_it_gone(
    hosts, simulator, monkeypatch
):
    host = hosts["host1"]
    volume = new_volume(host)
    unmapped = Pause(monkeypatch, host.client, "unmap_volume")  # the remove's first step
    remove = Running(lambda: host.remove_named(volume.name))
    assert unmapped.reached.wait(10)
    attach = Running(lambda: host.attach(volume))
    attach.join(timeout=0.5)  # unserialised, it would map the volume now
    unmapped.release.set()

    assert remove.outcome().error is None
    assert isinstance(attach.outcome().error, exceptions.NotFound)
    assert state(simulator, volume.id) == (False, set(), set())


def test_a_detach_during_an_attach_on_one_host_unmaps_what_it_mapped(hosts, simulator, monkeypatch):
    host = hosts["host1"]
    volume = new_volume(host)  # both operations hold this view: not mapped
    mapped = Pause(monkeypatch, host.client, "map_volume")
    attach = Running(lambda: host.attach(volume))
    assert mapped.reached.wait(10)
    detach = Running(lambda: host.detach(volume))
    detach.join(timeout=0.5)  # unserialised, it would see nothing to unmap
    mapped.release.set()

    assert attach.outcome().error is None
    assert detach.outcome().error is None
    assert state(simulator, volume.id) == (True, set(), set())


def test_an_attach_with_a_view_older_than_a_detach_maps_again(hosts, simulator):
    host = hosts["host1"]
    host.sdc.wait_timeout = 1
    volume = new_volume(host)
    host.attach(volume)
    seen_mapped = host.get(volume.id)
    host.detach(seen_mapped)

    assert host.attach(seen_mapped) == host.device_path(volume.id)
    assert state(simulator, volume.id) == (True, {"host1"}, {"host1"})


def attach_refused_by_qos(host: Storage, volume, monkeypatch) -> None:
    """An attach that fails after its map call: the gateway refuses the QoS limits."""

    def refuse(*_args, **_kwargs):
        raise exceptions.BadRequest("injected QoS failure")

    monkeypatch.setattr(host.client, "set_sdc_limits", refuse)
    qos = DiskPlacement("pd1", "sp1", thin=False, iops_limit=1000)
    with pytest.raises(exceptions.BadRequest):
        host.attach(volume, qos)


def test_a_failed_attach_keeps_the_mapping_another_attach_made(hosts, simulator, monkeypatch):
    host = hosts["host1"]
    volume = new_volume(host)  # a view from before the first attach: not mapped
    host.attach(volume)
    attach_refused_by_qos(host, volume, monkeypatch)
    assert state(simulator, volume.id) == (True, {"host1"}, {"host1"})


def test_a_failed_attach_with_a_view_older_than_a_detach_undoes_its_own_mapping(
    hosts, simulator, monkeypatch
):
    host = hosts["host1"]
    volume = new_volume(host)
    host.attach(volume)
    seen_mapped = host.get(volume.id)
    host.detach(seen_mapped)  # the view still says mapped; the gateway maps it again
    attach_refused_by_qos(host, seen_mapped, monkeypatch)
    assert state(simulator, volume.id) == (True, set(), set())


def test_a_map_on_another_host_during_a_remove_keeps_the_volume(hosts, simulator, monkeypatch):
    host1, host2 = hosts["host1"], hosts["host2"]
    volume = new_volume(host1)
    unmapped = Pause(monkeypatch, host1.client, "unmap_volume")
    remove = Running(lambda: host1.remove_named(volume.name))
    assert unmapped.reached.wait(10)
    assert Running(lambda: host2.attach(volume)).outcome().error is None
    unmapped.release.set()

    assert isinstance(remove.outcome().error, exceptions.VolumeConflict)
    assert state(simulator, volume.id) == (True, {"host2"}, {"host2"})


def test_a_map_on_another_host_after_a_remove_finds_it_gone(hosts, simulator):
    volume = new_volume(hosts["host1"])
    assert hosts["host1"].remove_named(volume.name)

    with pytest.raises(exceptions.NotFound):
        hosts["host2"].attach(volume)
    assert state(simulator, volume.id) == (False, set(), set())
