"""Every lifecycle flow through SioLibvirtDriver's nova entry points, on two hosts.

After each flow the gateway's state is checked: which volumes exist, their
sizes, which hosts they are mapped to, that nothing leaked; and data written
to the root disk before a move reads back after it.
"""

from __future__ import annotations

from device_io import read
from nova_hosts import PATTERN, FlowTestCase, make_flavor

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
