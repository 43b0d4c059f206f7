"""Live migration and evacuation through the REST API.

Live migration maps the disks to the destination for the switch-over and
leaves them mapped there only.  Evacuation fences the failed host before
the destination uses the disks, and the failed host's return removes
nothing: the disks belong to the instance on its new host.
"""

from __future__ import annotations

import fixtures
import pytest
from nova.network import neutron
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


class FailedLiveMigrationTest(SioServersTestBase):
    CAST_AS_CALL = False  # the failure ends the destination's call, as in a real cloud

    def failed_live_migration(self) -> tuple[dict, str, str]:
        """A server whose live migration nova's manager failed on the destination right
        after the destination driver's pre_live_migration mapped the disks there;
        it, its host, the destination."""
        server, source = self.boot_marked({"disk": 8, "disk.swap": 8})
        dest = self.other_host(source)
        setup_networks = neutron.API.setup_networks_on_host

        def fail_on_dest(api, context, instance, host=None, teardown=False):
            if host == dest and not teardown:
                raise RuntimeError("port binding failed on the destination")
            return setup_networks(api, context, instance, host, teardown)

        with fixtures.MonkeyPatch("nova.network.neutron.API.setup_networks_on_host", fail_on_dest):
            action = {"os-migrateLive": {"host": dest, "block_migration": "auto"}}
            self.api.post_server_action(server["id"], action)
            self._wait_for_migration_status(server, ["error", "failed"])
            server = self._wait_for_state_change(server, "ACTIVE")
        self.assertEqual(source, self.host_of(server))
        self.assert_mark(server)
        return server, source, dest

    def test_failure_leaves_the_disks_on_the_source_only(self) -> None:
        server, _source, _dest = self.failed_live_migration()

        self.assert_disks(server, {"disk": 8, "disk.swap": 8})
        self.delete(server)

    def test_next_attempt_and_delete_after_a_failure(self) -> None:
        server, _source, dest = self.failed_live_migration()

        server = self._live_migrate(server, host=dest)

        self.assertEqual(dest, self.assert_disks(server, {"disk": 8, "disk.swap": 8}))
        self.assert_mark(server)
        self.delete(server)


class SharedInstancesPathFailedLiveMigrationTest(FailedLiveMigrationTest):
    """With a shared instances path nova calls neither host's driver back after a failed
    pre_live_migration (no rollback_live_migration_at_source, no cleanup at the destination):
    the destination's mappings stay until the next live migration check, hard reboot or
    delete of the server removes them."""

    SHARED_INSTANCES_PATH = True

    @pytest.mark.xfail(
        strict=True,
        reason="issue 15: after nova's manager fails a live migration past the destination "
        "driver's pre_live_migration, with a shared instances path, the destination keeps its "
        "mappings until the server's next operation",
    )
    def test_failure_leaves_the_disks_on_the_source_only(self) -> None:
        super().test_failure_leaves_the_disks_on_the_source_only()

    def test_delete_after_a_failure(self) -> None:
        server, _source, _dest = self.failed_live_migration()

        self.delete(server)


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
