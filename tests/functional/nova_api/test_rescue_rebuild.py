"""Stable-device rescue and a rebuild from the same image, through nova's REST API."""

from __future__ import annotations

from sio_fixtures.generation import rounded_gb
from sio_fixtures.servers import MARK, SioServersTestBase

from sio_backend.demo.glance import QCOW2_IMAGE_ID


class RescueRebuildTest(SioServersTestBase):
    def test_stable_device_rescue_then_rebuild_from_the_same_image(self) -> None:
        disks = {"disk": 8, "disk.swap": 8}
        server, host = self.boot_marked(disks)
        rescue_image = self.glance.add_variant(
            QCOW2_IMAGE_ID, hw_rescue_device="disk", hw_rescue_bus="virtio"
        )

        self.api.post_server_action(server["id"], {"rescue": {"rescue_image_ref": rescue_image}})
        server = self._wait_for_state_change(server, "RESCUE")

        # nova's stable-device rescue makes a new swap for the rescue guest too.
        rescue = {"disk.rescue": rounded_gb(1, self.API_VERSION), "disk.swap.rescue": 8}
        self.assertEqual(host, self.assert_disks(server, disks | rescue))
        self.assert_image_data(server, "disk.rescue")
        self.assert_mark(server)
        server = self._unrescue_server(server)
        self.assertEqual(host, self.assert_disks(server, disks))
        self.assert_mark(server)
        self.assert_audit_clean()

        server = self._rebuild_server(server, QCOW2_IMAGE_ID)

        self.assertEqual(host, self.assert_disks(server, disks))
        self.assert_mark(server, bytes(len(MARK)))  # a new root disk, from the image
        self.assert_image_data(server)
        self.assert_audit_clean()
        self.delete(server)
        self.assert_audit_clean()
