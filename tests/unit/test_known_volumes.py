"""Per-operation views and per-process ids of instance volumes."""

from __future__ import annotations

import threading
import uuid

from sio_backend import naming
from sio_backend.gateway import Volume
from sio_backend.known_volumes import UNKNOWN, KnownVolumes

IID = "test"


def name_of(instance: str, disk: str = "disk") -> str:
    return naming.disk_volume_name(IID, instance, disk)


def volume(name: str, volume_id: str = "0123456789abcdef") -> Volume:
    return Volume(volume_id, name, 8 * 1024 * 1024, "feedfeed00000000", None, "Thin", None, ())


def test_views_last_one_operation_and_ids_stay():
    known, instance = KnownVolumes(), str(uuid.uuid4())
    root = name_of(instance)
    with known.operation(instance):
        assert known.view(root) is UNKNOWN
        known.seen(root, volume(root))
        assert known.view(root) == volume(root)
        with known.operation(instance):  # a nested nova call shares them
            assert known.view(root) == volume(root)
        assert known.view(root) == volume(root)
    assert known.view(root) is UNKNOWN
    with known.operation(instance):
        assert known.ids_to_read(root) == {root: "0123456789abcdef"}
        assert known.ids_to_read(root) == {}  # once per operation


def test_a_removed_volume_is_absent_for_the_operation_and_its_id_forgotten():
    known, instance = KnownVolumes(), str(uuid.uuid4())
    root = name_of(instance)
    known.seen(root, volume(root))
    with known.operation(instance):
        known.seen(root, None)
        assert known.view(root) is None
        assert known.ids_to_read(root) == {}


def test_views_are_per_thread():
    known, instance = KnownVolumes(), str(uuid.uuid4())
    root = name_of(instance)
    seen_elsewhere = []
    with known.operation(instance):
        known.seen(root, volume(root))
        other = threading.Thread(target=lambda: seen_elsewhere.append(known.view(root)))
        other.start()
        other.join()
    assert seen_elsewhere == [UNKNOWN]


def test_a_first_boot_knows_its_volumes_absent_until_it_makes_them():
    known, instance = KnownVolumes(), str(uuid.uuid4())
    root, swap = name_of(instance), name_of(instance, "disk.swap")
    with known.operation(instance, new_instance=True):
        assert known.view(root) is None
        known.seen(swap, volume(swap))
        assert known.view(swap) == volume(swap)
    with known.operation(instance):
        assert known.view(root) is UNKNOWN


def test_only_instance_volumes_are_kept_and_the_oldest_instance_goes_first():
    known = KnownVolumes(max_instances=2)
    instances = [str(uuid.uuid4()) for _ in range(3)]
    for index, instance in enumerate(instances):
        known.learn_id(name_of(instance), f"{index:016x}")
    known.learn_id("someone-elses-volume", "00000000000000ff")
    with known.operation(instances[0]):
        assert known.ids_to_read(name_of(instances[0])) == {}
    with known.operation(instances[2]):
        assert known.ids_to_read(name_of(instances[2])) == {name_of(instances[2]): f"{2:016x}"}
