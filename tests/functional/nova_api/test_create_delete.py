"""Create, reboot, stop and start, and delete servers through nova's REST API.

After each action the gateway holds exactly the server's volumes, of the
flavor's sizes, mapped to the host the API reports for the server and to no
other, and the root disk holds what was written to it before.
"""

from __future__ import annotations

from sio_fixtures.servers import SioServersTestBase

from sio_backend.demo.glance import QCOW2_IMAGE_ID, RAW_IMAGE_ID


class CreateDeleteTest(SioServersTestBase):
    def test_root_only_from_qcow2(self) -> None:
        server = self.boot(self.flavor(disk=8), QCOW2_IMAGE_ID)

        self.assert_disks(server, {"disk": 8})
        self.assert_image_data(server)

        self.delete(server)

    def test_root_ephemeral_swap_from_raw_on_each_host(self) -> None:
        flavor = self.flavor(disk=16, ephemeral=8, swap=8192)
        servers = [self.boot(flavor, RAW_IMAGE_ID, host=host) for host in self.HOSTS]

        for server, host in zip(servers, self.HOSTS, strict=True):
            self.assertEqual(
                host, self.assert_disks(server, {"disk": 16, "disk.eph0": 8, "disk.swap": 8})
            )
            self.assert_image_data(server)

        for server in servers:
            self.delete(server)


class PowerActionsTest(SioServersTestBase):
    def test_reboot_soft_and_hard_stop_and_start(self) -> None:
        server, host = self.boot_marked({"disk": 8, "disk.swap": 8})

        for action in (
            lambda: self._reboot_server(server, hard=False),
            lambda: self._reboot_server(server, hard=True),
            lambda: self._stop_server(server),
            lambda: self._start_server(server),
        ):
            action()
            self.assertEqual(host, self.assert_disks(server, {"disk": 8, "disk.swap": 8}))
            self.assert_mark(server)

        self.delete(server)
