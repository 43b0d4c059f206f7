"""Resize and cold migration to another host, confirmed and reverted, through the REST API.

While a resize waits to be confirmed the disks are mapped to both hosts
(the source keeps them for a revert) and the root's revert snapshot is
mapped nowhere; confirm leaves the disks on the destination only, revert on
the source only, in the old sizes, with the data written before the resize.
"""

from __future__ import annotations

from sio_fixtures.servers import MARK, SioServersTestBase

LATER = MARK.upper()  # written after the resize


class ResizeTest(SioServersTestBase):
    def resized(self, disk: int, swap: int = 8192) -> tuple[dict, str, str]:
        """A server on one host resized (root 8 GiB -> ``disk``) onto another; it, source, dest."""
        server, source = self.boot_marked({"disk": 8, "disk.swap": 8})
        server = self._resize_server(server, self.flavor(disk=disk, swap=swap))
        dest = self.host_of(server)
        self.assertNotEqual(source, dest)
        return server, source, dest

    def test_resize_to_another_host_confirmed(self) -> None:
        server, source, dest = self.resized(disk=16)
        self.assert_volumes(
            server,
            {
                "disk": (16, {source, dest}),
                "disk.swap": (8, {source, dest}),
                "disk@resize_snapshot": (8, set()),
            },
        )
        self.assert_mark(server)
        self.write_mark(server, LATER)

        server = self._confirm_resize(server)

        self.assertEqual(dest, self.assert_disks(server, {"disk": 16, "disk.swap": 8}))
        self.assert_mark(server, LATER)
        self.delete(server)

    def test_resize_to_another_host_reverted(self) -> None:
        server, source, _dest = self.resized(disk=16)
        self.write_mark(server, LATER)  # a revert goes back to the disks as they were

        server = self._revert_resize(server)

        self.assertEqual(source, self.assert_disks(server, {"disk": 8, "disk.swap": 8}))
        self.assert_mark(server)
        self.delete(server)

    def test_cold_migration_confirmed(self) -> None:
        server, source = self.boot_marked({"disk": 8, "disk.eph0": 8})

        server = self._migrate_server(server)
        dest = self.host_of(server)
        self.assertNotEqual(source, dest)
        self.assert_volumes(
            server,
            {
                "disk": (8, {source, dest}),
                "disk.eph0": (8, {source, dest}),
                "disk@resize_snapshot": (8, set()),
            },
        )
        server = self._confirm_resize(server)

        self.assertEqual(dest, self.assert_disks(server, {"disk": 8, "disk.eph0": 8}))
        self.assert_mark(server)
        self.delete(server)

    def test_resize_to_a_flavor_without_swap(self) -> None:
        server, _source, dest = self.resized(disk=16, swap=0)
        server = self._confirm_resize(server)

        self.assertEqual(dest, self.assert_disks(server, {"disk": 16}))
        self.delete(server)
