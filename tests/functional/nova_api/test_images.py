"""What moves between a server's disks and Glance: snapshot, shelve and unshelve, rebuild,
and rescue, through the REST API."""

from __future__ import annotations

from device_io import read
from sio_fixtures.glance import PATTERN, PATTERN_OFFSET, QCOW2_IMAGE_ID, RAW_IMAGE_ID
from sio_fixtures.servers import MARK, MARK_OFFSET, SioServersTestBase


class SnapshotTest(SioServersTestBase):
    def test_create_image_uploads_the_root_disk(self) -> None:
        server = self.boot(self.flavor(disk=8, swap=8192))
        host = self.assert_disks(server, {"disk": 8, "disk.swap": 8})
        self.write_mark(server)

        image_id = self.api.post_server_action(server["id"], {"createImage": {"name": "snapshot"}})[
            "image_id"
        ]
        self.notifier.wait_for_versioned_notifications("instance.snapshot.end")

        image = self.glance.show(None, image_id)
        self.assertEqual(("active", "raw"), (image["status"], image["disk_format"]))
        uploaded = self.glance.path(image_id)
        self.assertEqual(8 * 1024**3, uploaded.stat().st_size)
        self.assertEqual(MARK, read(uploaded, MARK_OFFSET, len(MARK)))
        self.assertEqual(PATTERN, read(uploaded, PATTERN_OFFSET, len(PATTERN)))
        # The snapshot the upload was read from is gone; the server is untouched.
        self.assertEqual(host, self.assert_disks(server, {"disk": 8, "disk.swap": 8}))

        self._delete_server(server)
        self.assert_no_disks(server)


class ShelveTest(SioServersTestBase):
    def test_shelve_offload_and_unshelve_on_another_host(self) -> None:
        server = self.boot(self.flavor(disk=8, ephemeral=8))
        shelved_from = self.assert_disks(server, {"disk": 8, "disk.eph0": 8})
        self.write_mark(server)

        server = self._shelve_server(server)  # offloaded at once (shelved_offload_time 0)
        self.assert_no_disks(server)

        dest = self.other_host(shelved_from)
        self.api.post_server_action(server["id"], {"unshelve": {"host": dest}})
        server = self._wait_for_state_change(server, "ACTIVE")

        self.assertEqual(dest, self.assert_disks(server, {"disk": 8, "disk.eph0": 8}))
        self.assert_mark(server)
        self.assert_image_data(server)
        self._delete_server(server)
        self.assert_no_disks(server)


class RebuildTest(SioServersTestBase):
    def test_rebuild_from_another_image(self) -> None:
        server = self.boot(self.flavor(disk=8, swap=8192), QCOW2_IMAGE_ID)
        host = self.assert_disks(server, {"disk": 8, "disk.swap": 8})
        self.write_mark(server)

        server = self._rebuild_server(server, RAW_IMAGE_ID)

        self.assertEqual(host, self.assert_disks(server, {"disk": 8, "disk.swap": 8}))
        self.assert_mark(server, bytes(len(MARK)))  # a new root disk, from the image
        self.assert_image_data(server)
        self._delete_server(server)
        self.assert_no_disks(server)


class RescueTest(SioServersTestBase):
    def test_rescue_and_unrescue(self) -> None:
        server = self.boot(self.flavor(disk=8, swap=8192))
        host = self.assert_disks(server, {"disk": 8, "disk.swap": 8})
        self.write_mark(server)

        server = self._rescue_server(server)

        self.assertEqual(
            host, self.assert_disks(server, {"disk": 8, "disk.swap": 8, "disk.rescue": 8})
        )
        self.assert_image_data(server, "disk.rescue")
        self.assert_mark(server)

        server = self._unrescue_server(server)

        self.assertEqual(host, self.assert_disks(server, {"disk": 8, "disk.swap": 8}))
        self.assert_mark(server)
        self._delete_server(server)
        self.assert_no_disks(server)
