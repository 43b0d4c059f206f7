"""Moves test_resize.py and test_live_migration_evacuation.py leave out, through the REST API.

A resize on the same host, one that moves the disks to another pool, the
resizes nova refuses (fewer or no ephemerals) and one to less swap; a cold
migration reverted; a live migration aborted by the operator.  Each ends with the
gateway holding exactly the server's disks, the data written before, and
nothing ``sio-backend audit`` would report.
"""

from __future__ import annotations

import threading

import fixtures
from nova.tests.fixtures import libvirt as fakelibvirt
from sio_fixtures.servers import MARK, SioServersTestBase

LATER = MARK.upper()  # written after the move


class SameHostResizeTest(SioServersTestBase):
    HOSTS = ("compute1",)

    def setUp(self) -> None:
        super().setUp()
        self.flags(allow_resize_to_same_host=True)

    def resized(self) -> tuple[dict, str]:
        server, host = self.boot_marked({"disk": 8, "disk.swap": 8})
        server = self._resize_server(server, self.flavor(disk=16, swap=8192))
        self.assertEqual(host, self.host_of(server))
        self.assert_volumes(
            server,
            {"disk": (16, {host}), "disk.swap": (8, {host}), "disk@resize_snapshot": (8, set())},
        )
        self.assert_mark(server)
        return server, host

    def test_confirmed(self) -> None:
        server, host = self.resized()
        self.write_mark(server, LATER)

        server = self._confirm_resize(server)

        self.assertEqual(host, self.assert_disks(server, {"disk": 16, "disk.swap": 8}))
        self.assert_mark(server, LATER)
        self.assert_audit_clean()
        self.delete(server)

    def test_reverted(self) -> None:
        server, host = self.resized()
        self.write_mark(server, LATER)

        server = self._revert_resize(server)

        self.assertEqual(host, self.assert_disks(server, {"disk": 8, "disk.swap": 8}))
        self.assert_mark(server)
        self.assert_audit_clean()
        self.delete(server)


class PoolChangingResizeTest(SioServersTestBase):
    """A resize to a flavor whose ``disk:pool`` names another pool moves the disks there."""

    def setUp(self) -> None:
        super().setUp()
        self.simulator.add_storage_pool("pd1", "sp2")

    def pools(self, server: dict) -> dict[str, str]:
        """The pool of each of the server's volumes, by disk name."""
        names = {self.gateway.client.storage_pool_id("pd1", pool): pool for pool in ("sp1", "sp2")}
        return {
            disk: names[found.volume.pool_id]
            for disk, found in self.gateway.instance_volumes(server["id"]).items()
        }

    def resized(self) -> tuple[dict, str]:
        server, source = self.boot_marked({"disk": 8, "disk.swap": 8})
        flavor = self.flavor(disk=16, swap=8192, **{"disk:pool": "sp2"})
        server = self._resize_server(server, flavor)
        self.assertNotEqual(source, self.host_of(server))
        self.assert_mark(server)
        return server, source

    def test_confirmed(self) -> None:
        server, _source = self.resized()
        self.write_mark(server, LATER)

        server = self._confirm_resize(server)

        self.assert_disks(server, {"disk": 16, "disk.swap": 8})
        self.assertEqual({"disk": "sp2", "disk.swap": "sp2"}, self.pools(server))
        self.assert_mark(server, LATER)
        self.assert_audit_clean()
        self.delete(server)

    def test_reverted(self) -> None:
        server, source = self.resized()

        server = self._revert_resize(server)

        self.assertEqual(source, self.assert_disks(server, {"disk": 8, "disk.swap": 8}))
        self.assertEqual({"disk": "sp1", "disk.swap": "sp1"}, self.pools(server))
        self.assert_mark(server)
        self.assert_audit_clean()
        self.delete(server)


class RefusedResizeTest(SioServersTestBase):
    """nova's libvirt driver refuses to shrink the ephemeral disks (``InstanceFaultRollback``
    in ``migrate_disk_and_power_off``, before the guest stops): the server stays on its
    host with its disks as they were."""

    CAST_AS_CALL = False  # the refusal ends the source's half, as in a real cloud

    def assert_refused(self, ephemeral: int) -> None:
        server, host = self.boot_marked({"disk": 8, "disk.eph0": 16})
        action = {"resize": {"flavorRef": self.flavor(disk=16, ephemeral=ephemeral)}}
        self.api.post_server_action(server["id"], action)
        self._wait_for_migration_status(server, ["error"])
        server = self._wait_for_state_change(server, "ACTIVE")

        self.assertEqual(host, self.assert_disks(server, {"disk": 8, "disk.eph0": 16}))
        self.assert_mark(server)
        self.assert_audit_clean()
        self.delete(server)

    def test_to_a_smaller_ephemeral(self) -> None:
        self.assert_refused(ephemeral=8)

    def test_to_no_ephemeral(self) -> None:
        self.assert_refused(ephemeral=0)


class LessSwapResizeTest(SioServersTestBase):
    def resized(self) -> tuple[dict, str, str]:
        server, source = self.boot_marked({"disk": 8, "disk.swap": 8})
        server = self._resize_server(server, self.flavor(disk=16, swap=4096))
        dest = self.host_of(server)
        self.assertNotEqual(source, dest)
        return server, source, dest

    def test_confirmed(self) -> None:
        server, _source, dest = self.resized()

        server = self._confirm_resize(server)

        # A volume cannot shrink, as an rbd image cannot: with nova's Rbd backend
        # too the guest keeps the larger swap, and nothing is left beside it.
        self.assertEqual(dest, self.assert_disks(server, {"disk": 16, "disk.swap": 8}))
        self.assert_mark(server)
        self.assert_audit_clean()
        self.delete(server)

    def test_reverted(self) -> None:
        server, source, _dest = self.resized()

        server = self._revert_resize(server)

        self.assertEqual(source, self.assert_disks(server, {"disk": 8, "disk.swap": 8}))
        self.assert_mark(server)
        self.assert_audit_clean()
        self.delete(server)


class ColdMigrationRevertTest(SioServersTestBase):
    def test_reverted(self) -> None:
        server, source = self.boot_marked({"disk": 8, "disk.eph0": 8, "disk.swap": 8})
        server = self._migrate_server(server)
        self.assertNotEqual(source, self.host_of(server))
        self.write_mark(server, LATER)  # a revert goes back to the disks as they were

        server = self._revert_resize(server)

        self.assertEqual(
            source, self.assert_disks(server, {"disk": 8, "disk.eph0": 8, "disk.swap": 8})
        )
        self.assert_mark(server)
        self.assert_audit_clean()
        self.delete(server)


class LiveMigrationAbortTest(SioServersTestBase):
    """The operator aborts a running live migration (``DELETE
    /servers/{id}/migrations/{mid}``): libvirt cancels the job, nova rolls back, and the
    guest keeps running on the source on its disks, mapped there only."""

    CAST_AS_CALL = False  # the migration runs while the test calls the API

    def setUp(self) -> None:
        super().setUp()
        self.migrating = threading.Event()
        self.aborted = threading.Event()
        self.useFixture(
            fixtures.MonkeyPatch(
                "nova.tests.fixtures.libvirt.Domain.migrateToURI3", self._migrate_until_aborted
            )
        )
        self.useFixture(
            fixtures.MonkeyPatch("nova.tests.fixtures.libvirt.Domain.abortJob", self._abort_job)
        )

    def _migrate_until_aborted(self, domain, destination, params, flags) -> None:
        """libvirt's part, still copying memory when the operator aborts it."""
        domain._job_type = fakelibvirt.VIR_DOMAIN_JOB_UNBOUNDED
        self.migrating.set()
        if not self.aborted.wait(30):
            domain.fail_job()
            raise AssertionError("the live migration was not aborted")

    def _abort_job(self, domain) -> None:
        domain._job_type = fakelibvirt.VIR_DOMAIN_JOB_CANCELLED
        self.aborted.set()

    def test_abort(self) -> None:
        server, source = self.boot_marked({"disk": 8, "disk.eph0": 8, "disk.swap": 8})
        dest = self.other_host(source)
        action = {"os-migrateLive": {"host": dest, "block_migration": "auto"}}
        self.api.post_server_action(server["id"], action)
        migration = self._wait_for_migration_status(server, ["running"])
        self.assertTrue(self.migrating.wait(30), "libvirt's migration did not start")

        self.api.delete_migration(server["id"], migration["id"])

        self._wait_for_migration_status(server, ["cancelled"])
        server = self._wait_for_state_change(server, "ACTIVE")
        self.assertEqual(
            source, self.assert_disks(server, {"disk": 8, "disk.eph0": 8, "disk.swap": 8})
        )
        self.assert_mark(server)
        self.assert_audit_clean()
        self.delete(server)
