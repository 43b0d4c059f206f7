"""Live migration and evacuation through the REST API.

Live migration maps the disks to the destination for the switch-over and
leaves them mapped there only.  Evacuation fences the failed host before
the destination uses the disks, and the failed host's return removes
nothing: the disks belong to the instance on its new host.
"""

from __future__ import annotations

import pytest
from sio_fixtures.servers import SioServersTestBase


class LiveMigrationTest(SioServersTestBase):
    def test_live_migration(self) -> None:
        server, source = self.boot_marked({"disk": 8, "disk.eph0": 8, "disk.swap": 8})
        dest = self.other_host(source)

        server = self._live_migrate(server, host=dest)

        self.assertEqual(
            dest, self.assert_disks(server, {"disk": 8, "disk.eph0": 8, "disk.swap": 8})
        )
        self.assert_mark(server)
        self.delete(server)


class LiveMigrationAfterRevertTest(SioServersTestBase):
    @pytest.mark.xfail(
        strict=True,
        reason="issue 15: after a cross-host resize is reverted the instance directory stays "
        "on the destination, so a live migration to that host fails DestinationDiskExists",
    )
    def test_live_migration_to_the_host_a_resize_was_reverted_from(self) -> None:
        server = self.boot(self.flavor(disk=8))
        server = self._resize_server(server, self.flavor(disk=16))
        reverted_from = self.host_of(server)
        server = self._revert_resize(server)

        server = self._live_migrate(server, host=reverted_from)

        self.assertEqual(reverted_from, self.assert_disks(server, {"disk": 8}))
        self.delete(server)


class SharedInstancesPathLiveMigrationTest(LiveMigrationTest):
    """With a shared instances path nova does not clean up the source after the move:
    the driver's post_live_migration_at_source must let go of the disks."""

    SHARED_INSTANCES_PATH = True


class EvacuationTest(SioServersTestBase):
    def test_evacuation_and_the_failed_host_returning(self) -> None:
        server, failed = self.boot_marked({"disk": 8, "disk.swap": 8})
        self.fail_host(failed)

        # Since microversion 2.95 an evacuated server stays stopped on its new host.
        server = self._evacuate_server(server, expected_state="SHUTOFF")

        dest = self.assert_disks(server, {"disk": 8, "disk.swap": 8})
        self.assertNotEqual(failed, dest)
        self.assert_mark(server)

        self.restore_host(failed)
        self.assertEqual(dest, self.assert_disks(server, {"disk": 8, "disk.swap": 8}))
        server = self._start_server(server)
        self.assert_mark(server)
        self.delete(server)
