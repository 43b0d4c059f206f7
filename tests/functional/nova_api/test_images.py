"""What moves between a server's disks and Glance: snapshot, shelve and unshelve, rebuild,
and rescue, through the REST API."""

from __future__ import annotations

import fixtures
from nova.tests.fixtures import libvirt as fakelibvirt
from sio_fixtures.generation import rounded_gb
from sio_fixtures.servers import MARK, MARK_OFFSET, SioServersTestBase

from sio_backend.demo.device_io import read
from sio_backend.demo.glance import PATTERN, PATTERN_OFFSET, QCOW2_IMAGE_ID, RAW_IMAGE_ID


class SnapshotTest(SioServersTestBase):
    def snapshot(self, server: dict) -> str:
        """createImage; the new image's id, once nova reports the snapshot done."""
        action = {"createImage": {"name": "snapshot"}}
        image_id = self.api.post_server_action(server["id"], action)["image_id"]
        self.notifier.wait_for_versioned_notifications("instance.snapshot.end")
        return image_id

    def assert_uploaded(self, image_id: str) -> None:
        """The image holds the root disk: the image data and what was written to it."""
        image = self.glance.show(None, image_id)
        self.assertEqual(("active", "raw"), (image["status"], image["disk_format"]))
        uploaded = self.glance.path(image_id)
        self.assertEqual(8 * 1024**3, uploaded.stat().st_size)
        self.assertEqual(MARK, read(uploaded, MARK_OFFSET, len(MARK)))
        self.assertEqual(PATTERN, read(uploaded, PATTERN_OFFSET, len(PATTERN)))

    def test_create_image_uploads_the_root_disk(self) -> None:
        server, host = self.boot_marked({"disk": 8, "disk.swap": 8})

        self.assert_uploaded(self.snapshot(server))

        # The snapshot the upload was read from is gone; the server is untouched.
        self.assertEqual(host, self.assert_disks(server, {"disk": 8, "disk.swap": 8}))
        self.delete(server)

    def test_create_image_freezes_the_guest_filesystems(self) -> None:
        image = self.glance.add_variant(QCOW2_IMAGE_ID, hw_qemu_guest_agent="yes")
        server, _host = self.boot_marked({"disk": 8}, image)
        calls = []
        self.useFixture(
            fixtures.MonkeyPatch(
                "nova.tests.fixtures.libvirt.Domain.fsFreeze", lambda domain: calls.append("freeze")
            )
        )
        self.useFixture(
            fixtures.MonkeyPatch(
                "nova.tests.fixtures.libvirt.Domain.fsThaw", lambda domain: calls.append("thaw")
            )
        )

        self.assert_uploaded(self.snapshot(server))

        self.assertEqual(["freeze", "thaw"], calls)
        self.delete(server)

    def test_create_image_when_the_guest_agent_does_not_answer(self) -> None:
        image = self.glance.add_variant(QCOW2_IMAGE_ID, hw_qemu_guest_agent="yes")
        server, _host = self.boot_marked({"disk": 8}, image)

        def unresponsive(domain):
            raise fakelibvirt.make_libvirtError(
                fakelibvirt.libvirtError,
                "Guest agent is not responding",
                error_code=fakelibvirt.VIR_ERR_AGENT_UNRESPONSIVE,
            )

        self.useFixture(
            fixtures.MonkeyPatch("nova.tests.fixtures.libvirt.Domain.fsFreeze", unresponsive)
        )

        self.assert_uploaded(self.snapshot(server))

        self.assertEqual("ACTIVE", self.api.get_server(server["id"])["status"])
        self.delete(server)


class ShelveTest(SioServersTestBase):
    def test_shelve_offload_and_unshelve_on_another_host(self) -> None:
        server, shelved_from = self.boot_marked({"disk": 8, "disk.eph0": 8})

        server = self._shelve_server(server)  # offloaded at once (shelved_offload_time 0)
        self.assert_no_disks(server)

        dest = self.other_host(shelved_from)
        self.api.post_server_action(server["id"], {"unshelve": {"host": dest}})
        server = self._wait_for_state_change(server, "ACTIVE")

        self.assertEqual(dest, self.assert_disks(server, {"disk": 8, "disk.eph0": 8}))
        self.assert_mark(server)
        self.assert_image_data(server)
        self.delete(server)


class RebuildTest(SioServersTestBase):
    def test_rebuild_from_another_image(self) -> None:
        server, host = self.boot_marked({"disk": 8, "disk.swap": 8}, QCOW2_IMAGE_ID)

        server = self._rebuild_server(server, RAW_IMAGE_ID)

        self.assertEqual(host, self.assert_disks(server, {"disk": 8, "disk.swap": 8}))
        self.assert_mark(server, bytes(len(MARK)))  # a new root disk, from the image
        self.assert_image_data(server)
        self.delete(server)


class RescueTest(SioServersTestBase):
    def test_rescue_and_unrescue(self) -> None:
        server, host = self.boot_marked({"disk": 8, "disk.swap": 8})

        server = self._rescue_server(server)

        # The rescue disk is the 64 MiB image's size, in the pool's steps (1 GiB on 5.x).
        rescue_gb = rounded_gb(1, self.API_VERSION)
        self.assertEqual(
            host, self.assert_disks(server, {"disk": 8, "disk.swap": 8, "disk.rescue": rescue_gb})
        )
        self.assert_image_data(server, "disk.rescue")
        self.assert_mark(server)

        server = self._unrescue_server(server)

        self.assertEqual(host, self.assert_disks(server, {"disk": 8, "disk.swap": 8}))
        self.assert_mark(server)
        self.delete(server)
