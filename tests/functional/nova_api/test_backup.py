"""createBackup with rotation through nova's REST API: each backup is the root disk, the
older one is removed from Glance, and nothing is left on the gateway."""

from __future__ import annotations

from nova import exception
from sio_fixtures.servers import MARK, MARK_OFFSET, SioServersTestBase

from sio_backend.demo.device_io import read


class BackupTest(SioServersTestBase):
    def backup(self, server: dict) -> str:
        """A daily backup, rotation 1; the new image's id once nova has rotated."""
        action = {"createBackup": {"name": "daily", "backup_type": "daily", "rotation": 1}}
        image_id = self.api.post_server_action(server["id"], action)["image_id"]
        self._wait_for_instance_action_event(
            server, "createBackup", "compute_backup_instance", "success"
        )
        return image_id

    def test_backup_with_rotation_one_twice(self) -> None:
        disks = {"disk": 8, "disk.swap": 8}
        server, host = self.boot_marked(disks)

        first = self.backup(server)
        second = self.backup(server)

        self.assertNotEqual(first, second)
        # Rotation 1 keeps the newest backup only: the first is gone from Glance.
        self.assertRaises(exception.ImageNotFound, self.glance.show, None, first)
        self.assertEqual("active", self.glance.show(None, second)["status"])
        self.assertFalse(self.glance.path(first).exists())
        self.assertEqual(MARK, read(self.glance.path(second), MARK_OFFSET, len(MARK)))
        self.assertEqual(host, self.assert_disks(server, disks))
        self.assert_mark(server)
        self.assert_audit_clean()
        self.delete(server)
        self.assert_audit_clean()
