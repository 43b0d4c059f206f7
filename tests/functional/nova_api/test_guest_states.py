"""Pause, suspend, and delete from the states other than ACTIVE and ERROR, through nova's
REST API.

Pausing and suspending a guest leave its disks alone: the same volumes,
mapped to the same host, holding what was written before.  Delete from
SHUTOFF, from SHELVED_OFFLOADED and while a resize waits to be confirmed
leaves nothing on the gateway, and nothing the audit would find.
"""

from __future__ import annotations

from sio_fixtures.servers import SioServersTestBase


class GuestStatesTest(SioServersTestBase):
    def test_pause_unpause_suspend_resume(self) -> None:
        disks = {"disk": 8, "disk.eph0": 8, "disk.swap": 8}
        server, host = self.boot_marked(disks)

        for action, state in (
            ("pause", "PAUSED"),
            ("unpause", "ACTIVE"),
            ("suspend", "SUSPENDED"),
            ("resume", "ACTIVE"),
        ):
            self.api.post_server_action(server["id"], {action: None})
            server = self._wait_for_state_change(server, state)
            self.assertEqual(host, self.assert_disks(server, disks), action)
            self.assert_mark(server)

        self.assert_audit_clean()
        self.delete(server)
        self.assert_audit_clean()


class DeleteTest(SioServersTestBase):
    def test_delete_shutoff_shelved_offloaded_and_mid_resize(self) -> None:
        disks = {"disk": 8, "disk.swap": 8}
        stopped, _host = self.boot_marked(disks)
        shelved, _host = self.boot_marked(disks)
        resized, source = self.boot_marked(disks)

        stopped = self._stop_server(stopped)
        shelved = self._shelve_server(shelved)  # offloaded at once (shelved_offload_time 0)
        self.assert_no_disks(shelved)
        resized = self._resize_server(resized, self.flavor(disk=16, swap=8192))
        dest = self.host_of(resized)
        self.assertNotEqual(source, dest)
        self.assert_volumes(
            resized,
            {
                "disk": (16, {source, dest}),
                "disk.swap": (8, {source, dest}),
                "disk@resize_snapshot": (8, set()),
            },
        )
        self.assert_mark(resized)
        # While the resize waits, the audit reports what only nova knows to be needed
        # (the revert snapshot; the disks on both hosts), and --fix touches none of it.
        self.assertEqual(
            {"report only"}, {action for _name, _problem, action in self.audit_findings()}
        )

        for server in (stopped, shelved, resized):
            self.delete(server)
        self.assert_audit_clean()
