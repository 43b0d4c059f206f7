"""A resize whose guest fails to start on the destination, and nova's ways out of it.

nova leaves the server in ERROR on the destination, in the old flavor, with
its disks still mapped to both hosts; its advice is a hard reboot, and a
delete must work from ERROR too.
"""

from __future__ import annotations

import time

from nova.tests.functional.api import client
from sio_fixtures.servers import SioServersTestBase


class FailedResizeTest(SioServersTestBase):
    # Casts stay casts: the failure ends the destination's half, as in a real cloud,
    # instead of travelling back up the caller's stack.
    CAST_AS_CALL = False

    def failed_resize(self) -> tuple[dict, str, str]:
        """A server whose resize (root 8 -> 16 GiB) to another host failed; it, source, dest."""
        server, source = self.boot_marked({"disk": 8, "disk.swap": 8})
        with self.guest_start_fails():
            action = {"resize": {"flavorRef": self.flavor(disk=16, swap=8192)}}
            self.api.post_server_action(server["id"], action)
            server = self._wait_for_state_change(server, "ERROR")
        dest = self.host_of(server)
        self.assertNotEqual(source, dest)
        self.assert_volumes(
            server,
            {
                "disk": (16, {source, dest}),
                "disk.swap": (8, {source, dest}),
                "disk@resize_snapshot": (8, set()),
            },
        )
        return server, source, dest

    def test_hard_reboot_recovers_on_the_destination(self) -> None:
        server, _source, dest = self.failed_resize()

        server = self._reboot_server(server, hard=True)

        # The root keeps the size it was grown to (a volume cannot shrink, as an
        # rbd image cannot); the source no longer sees the disks and the revert
        # snapshot, useless now, is gone.
        self.assertEqual(dest, self.host_of(server))
        self.assert_volumes(server, {"disk": (16, {dest}), "disk.swap": (8, {dest})})
        self.assert_mark(server)
        self.delete(server)

    def test_delete_in_error(self) -> None:
        server, _source, _dest = self.failed_resize()

        self.api.delete_server(server["id"])

        self.assertIsNone(self.wait_for_delete(server), "the delete failed")
        self.assert_no_disks(server)

    def wait_for_delete(self, server: dict) -> dict | None:
        """None once the server is gone; the server if its delete ends without removing it.

        nova's own waiter cannot tell a failed delete of a server in ERROR from a slow one.
        """
        for _ in range(100):
            try:
                server = self.api.get_server(server["id"])
            except client.OpenStackApiNotFoundException:
                return None
            if server["status"] == "DELETED":  # an admin may still read it for a while
                return None
            if server["OS-EXT-STS:task_state"] is None:
                return server
            time.sleep(0.1)
        self.fail(f"server {server['id']} is still being deleted")
