"""Per-operation views and per-process ids of instance volumes."""

from __future__ import annotations

import threading
import uuid

from sio_backend import naming
from sio_backend.gateway import Volume
from sio_backend.known_volumes import UNKNOWN, KnownVolumes, Lookups

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


class _Gateway:
    """The two reads find_snapshots_of may make, counted."""

    def __init__(self, volumes: list[Volume]) -> None:
        self.volumes = volumes
        self.calls: list[str] = []

    def volumes_by_ids(self, ids: list[str]) -> list[Volume]:
        self.calls.append("read")
        return [v for v in self.volumes if v.id in ids]

    def vtree_volumes(self, vtree_id: str) -> list[Volume]:
        self.calls.append("vtree")
        return [v for v in self.volumes if v.vtree_id == vtree_id]


def snapshot_names(instance: str) -> list[str]:
    kinds = (naming.VolumeKind.RESIZE_SNAPSHOT, naming.VolumeKind.IMAGE_SNAPSHOT)
    return [naming.derived_volume_name(IID, instance, "disk", kind) for kind in kinds]


def lookups_for(volumes: list[Volume]) -> tuple[Lookups, _Gateway]:
    gateway, known = _Gateway(volumes), KnownVolumes()
    for v in volumes:
        known.learn_id(v.name or "", v.id)
    return Lookups(lambda: gateway, known, lambda: IID), gateway


def test_a_roots_snapshots_are_found_in_one_listing_of_its_vtree():
    instance = str(uuid.uuid4())
    root, (revert, glance) = name_of(instance), snapshot_names(instance)
    base = Volume("00000000000000a1", root, 8 << 20, "feedfeed00000000", "5a", "Thin", None, ())
    left = Volume(
        "00000000000000a2", glance, 8 << 20, "feedfeed00000000", "5a", "Snapshot", base.id, ()
    )
    lookups, gateway = lookups_for([base])
    gateway.volumes.append(left)  # a leftover no state records: its id is unknown
    with lookups.known.operation(instance):
        lookups.find_snapshots_of(root, [revert, glance])
        assert gateway.calls == ["read", "vtree"]
        assert lookups.view(revert) is None
        assert lookups.view(glance) == left
        assert gateway.calls == ["read", "vtree"]


def test_the_snapshots_of_a_cached_image_clone_are_left_to_be_looked_up_by_name():
    instance = str(uuid.uuid4())
    root = name_of(instance)
    clone = Volume(
        "00000000000000a1", root, 8 << 20, "feedfeed00000000", "5a", "Snapshot", "0b", ()
    )
    lookups, gateway = lookups_for([clone])
    with lookups.known.operation(instance):
        lookups.find_snapshots_of(root, snapshot_names(instance))
        assert gateway.calls == ["read"]  # the V-Tree is the image's, shared by every clone
        assert all(lookups.known.view(n) is UNKNOWN for n in snapshot_names(instance))


def test_no_listing_without_the_root_or_for_a_single_unknown_snapshot():
    instance = str(uuid.uuid4())
    root, (revert, glance) = name_of(instance), snapshot_names(instance)
    base = Volume("00000000000000a1", root, 8 << 20, "feedfeed00000000", "5a", "Thin", None, ())
    lookups, gateway = lookups_for([])
    with lookups.known.operation(instance):
        lookups.find_snapshots_of(root, [revert, glance])  # root unknown: looked up by name
        lookups.known.seen(root, base)
        lookups.known.seen(revert, None)
        lookups.find_snapshots_of(root, [revert, glance])  # one name: a lookup costs the same
    assert gateway.calls == []
