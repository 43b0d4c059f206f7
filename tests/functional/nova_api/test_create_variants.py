"""Servers created with more than a root disk, through nova's REST API: a config drive and
two ephemerals from the block device mapping, roots from the image cache, and flavors
with QoS limits and another storage pool.

After each: the gateway holds exactly the expected volumes, sizes, pools and
mappings; what was written into the disks reads back after a hard reboot and
a stop and start; the audit finds nothing once the servers are deleted.
"""

from __future__ import annotations

from sio_fixtures.generation import rounded_gb, size_step_gb
from sio_fixtures.servers import MARK, SioServersTestBase

from sio_backend import naming
from sio_backend.demo.device_io import read, write
from sio_backend.demo.glance import QCOW2_IMAGE_ID, RAW_IMAGE_ID
from sio_backend.gateway import SNAPSHOT

ISO9660_MAGIC = (32 * 1024 + 1, b"CD001")  # the primary volume descriptor's signature
EPH_MARKS = {"disk.eph0": b"first ephemeral\n" * 64, "disk.eph1": b"second ephemeral\n" * 64}


class CreateVariantsTest(SioServersTestBase):
    def restart_guest(self, server: dict) -> dict:
        """Hard reboot, then stop and start: each defines the guest from its disks anew."""
        server = self._reboot_server(server, hard=True)
        self._stop_server(server)
        return self._start_server(server)

    def test_config_drive_and_two_ephemerals(self) -> None:
        step = size_step_gb(self.API_VERSION)  # the ephemerals' sizes must be whole steps
        flavor = self.flavor(disk=8, ephemeral=3 * step)
        body = self._build_server(image_uuid=QCOW2_IMAGE_ID, flavor_id=flavor, networks="none")
        body["config_drive"] = True
        body["block_device_mapping_v2"] = [
            {"boot_index": 0, "uuid": QCOW2_IMAGE_ID, "source_type": "image",
             "destination_type": "local"},
            {"boot_index": -1, "source_type": "blank", "destination_type": "local",
             "volume_size": step},
            {"boot_index": -1, "source_type": "blank", "destination_type": "local",
             "volume_size": 2 * step},
        ]  # fmt: skip
        server = self._wait_for_state_change(self.api.post_server({"server": body}), "ACTIVE")
        disks = {
            "disk": 8,
            "disk.eph0": step,
            "disk.eph1": 2 * step,
            "disk.config": rounded_gb(1, self.API_VERSION),
        }
        host = self.assert_disks(server, disks)
        # The config drive nova built (genisoimage) is on its volume, not in a local file.
        offset, magic = ISO9660_MAGIC
        self.assertEqual(magic, read(self.device(server, "disk.config"), offset, len(magic)))
        instance_dir = self.hosts.instances_path(host) / server["id"]
        self.assertFalse((instance_dir / "disk.config").exists())
        self.write_mark(server)
        for disk, data in EPH_MARKS.items():
            write(self.device(server, disk), 0, data)

        server = self.restart_guest(server)

        self.assertEqual(host, self.assert_disks(server, disks))
        self.assert_mark(server)
        self.assert_image_data(server)
        for disk, data in EPH_MARKS.items():
            self.assertEqual(data, read(self.device(server, disk), 0, len(data)))
        self.assertEqual(magic, read(self.device(server, "disk.config"), offset, len(magic)))
        self.assert_audit_clean()
        self.delete(server)
        self.assert_audit_clean()

    def test_roots_from_the_image_cache(self) -> None:
        self.flags(image_cache="volume", group="scaleio")
        flavor = self.flavor(disk=8, swap=8192)
        servers = [self.boot(flavor, RAW_IMAGE_ID, host=host) for host in self.HOSTS[:2]]

        caches = [
            volume
            for volume in self.gateway.client.list_volumes()
            if isinstance(naming.parse_volume_name(volume.name), naming.ImageCacheVolumeName)
        ]
        self.assertEqual(1, len(caches), "one image-cache volume for the image in the pool")
        cache = caches[0]
        self.assertEqual((), cache.mapped_sdcs, "the cache is unmapped once written")
        for server, host in zip(servers, self.HOSTS[:2], strict=True):
            self.assertEqual(host, self.assert_disks(server, {"disk": 8, "disk.swap": 8}))
            root = self.gateway.instance_volumes(server["id"])["disk"].volume
            self.assertEqual((SNAPSHOT, cache.vtree_id), (root.volume_type, root.vtree_id))
            self.assert_image_data(server)
            self.write_mark(server, MARK + server["id"].encode())
        self.assert_audit_clean()

        self.delete(servers[0])

        self.assert_mark(servers[1], MARK + servers[1]["id"].encode())
        self.assert_image_data(servers[1])
        self.delete(servers[1])
        # The image stays cached for the next boot; the audit says it is unused.
        self.assertEqual([(cache.name, "unused image cache", "report only")], self.audit_findings())

    def test_qos_flavor_on_another_pool(self) -> None:
        pool_id = self.simulator.add_storage_pool("pd1", "sp2")
        flavor = self.flavor(
            disk=8,
            ephemeral=8,
            swap=8192,
            **{
                "disk:pool": "sp2",
                "disk:iops_limit": "500",
                "disk:bandwidth_limit_mbps": "40",
            },
        )
        server = self.boot(flavor, QCOW2_IMAGE_ID)
        disks = {"disk": 8, "disk.eph0": 8, "disk.swap": 8}
        host = self.assert_disks(server, disks)
        self.assert_pool_and_limits(server, pool_id, iops=500, bandwidth_kbps=40 * 1024)
        self.write_mark(server)

        server = self.restart_guest(server)

        self.assertEqual(host, self.assert_disks(server, disks))
        self.assert_pool_and_limits(server, pool_id, iops=500, bandwidth_kbps=40 * 1024)
        self.assert_mark(server)
        self.assert_audit_clean()
        self.delete(server)
        self.assert_audit_clean()

    def assert_pool_and_limits(self, server: dict, pool_id: str, iops: int, bandwidth_kbps: int):
        """Every disk is in ``pool_id``, and its one mapping carries the flavor's limits."""
        for name, disk in self.gateway.instance_volumes(server["id"]).items():
            mappings = [(m.iops_limit, m.bandwidth_limit_kbps) for m in disk.volume.mapped_sdcs]
            self.assertEqual(
                (pool_id, [(iops, bandwidth_kbps)]), (disk.volume.pool_id, mappings), name
            )
