"""Every lifecycle flow through SioLibvirtDriver's nova entry points, on two hosts.

After each flow the gateway's state is checked: which volumes exist, their
sizes, which hosts they are mapped to, that nothing leaked; and data written
to the root disk before a move reads back after it.
"""

from __future__ import annotations

from sio_fixtures.cloud import PATTERN, make_flavor
from sio_fixtures.flow_case import FlowTestCase

from sio_backend import exceptions
from sio_backend.demo.device_io import read
from sio_backend.flavor import DiskPlacement

GiB = 1024**3
MiB = 1024**2


class DriverFlowTestCase(FlowTestCase):
    def test_spawn_and_delete(self) -> None:
        cloud = self.cloud
        instance = cloud.spawn(cloud.new_instance(make_flavor(ephemeral_gb=8, swap=8192)))
        names = cloud.instance_volume_names(instance)
        self.assertEqual(3, len(names))
        root = cloud.volume_name(instance)
        self.assertEqual({"host1"}, cloud.mapped_hosts(root))
        self.assertEqual(PATTERN, read(cloud.device(instance), 4 * MiB, len(PATTERN)))
        self.assertTrue(cloud.domain_running(instance, "host1"))

        cloud.delete(instance)
        self.assertEqual(set(), cloud.instance_volume_names(instance))
        self.assertFalse(cloud.domain_running(instance, "host1"))

    # -- a first boot creates without asking: what if a disk exists after all --

    def leftover_root(self, instance, size_gb: int):
        """The root an earlier, failed attempt at booting this instance left."""
        store = self.cloud.storage()
        return store.create(
            self.cloud.volume_name(instance),
            DiskPlacement("pd1", "sp1", thin=True),
            size_gb * GiB,
        )

    def test_first_boot_adopts_a_root_left_exactly_as_it_would_make_it(self) -> None:
        cloud = self.cloud
        instance = cloud.new_instance(make_flavor())
        left = self.leftover_root(instance, 8)

        cloud.spawn(instance)

        root = cloud.volumes()[cloud.volume_name(instance)]
        self.assertEqual(left.id, root.id)
        self.assertEqual(PATTERN, read(cloud.device(instance), 4 * MiB, len(PATTERN)))
        cloud.delete(instance)
        self.assertEqual(set(), cloud.instance_volume_names(instance))

    def test_first_boot_refuses_a_root_left_otherwise_and_keeps_it(self) -> None:
        cloud = self.cloud
        instance = cloud.new_instance(make_flavor())
        left = self.leftover_root(instance, 16)

        with self.assertRaises(exceptions.VolumeConflict) as raised:
            cloud.spawn(instance)

        self.assertIn("its size is", str(raised.exception))
        # Not this boot's to remove: the earlier attempt's cleanup (or the audit) decides.
        self.assertEqual({cloud.volume_name(instance)}, cloud.instance_volume_names(instance))
        self.assertEqual(left.id, cloud.volumes()[cloud.volume_name(instance)].id)
        cloud.delete(instance)
        self.assertEqual(set(), cloud.instance_volume_names(instance))
