"""A Cinder volume attached beside the ephemeral disks, through nova's REST API.

The Cinder volume is a PowerFlex volume of the same system, made and mapped
by Cinder's PowerFlex driver (``sio_fixtures.cinder``), and connected on the
compute by nova's ``LibvirtScaleIOVolumeDriver`` with real os-brick.  The
backend must never touch it: its own volumes stay as they were through
attach, stop/start, hard reboot, cold and live migration, evacuation (and
the failed host's return), a resize reverted, shelve offload and unshelve,
and detach; the Cinder volume is mapped to the server's host only, keeps
what the guest wrote, is changed on the gateway by Cinder alone, is never
reported by the audit, and outlives the server unmapped (detached first, or
still attached when the server is deleted).  A stable-device rescue and a
rebuild keep it attached as well.
"""

from __future__ import annotations

import collections

from sio_fixtures.cinder import ComputeSdcsFixture, PowerFlexCinderFixture, cinder_volume_name
from sio_fixtures.generation import rounded_gb
from sio_fixtures.servers import MARK, SioServersTestBase

from sio_backend.demo.device_io import read, write
from sio_backend.demo.glance import QCOW2_IMAGE_ID

DISKS = {"disk": 8, "disk.eph0": 8, "disk.swap": 8}
CINDER_MARK = b"written to the cinder volume\n" * 32
CINDER_MARK_OFFSET = 4096


class CinderVolumeTest(SioServersTestBase):
    def setUp(self) -> None:
        super().setUp()
        self.useFixture(ComputeSdcsFixture(self.simulator, self.hosts, self.tmp / "scaleio"))
        self.cinder = self.useFixture(
            PowerFlexCinderFixture(
                self,
                self.simulator,
                self.gateway.client,
                self.gateway.client.storage_pool_id("pd1", "sp1"),
            )
        )

    # -- helpers ---------------------------------------------------------------------------

    def cinder_volume(self) -> str:
        """A Cinder volume, removed (as Cinder would) before the test's last checks."""
        volume_id = self.cinder.create_volume(8)
        self.addCleanup(self.cinder.delete_volume, volume_id)
        self.assertEqual(
            cinder_volume_name(volume_id), self.cinder.powerflex_volume(volume_id).name
        )
        return volume_id

    def boot_attached(self, disks: dict[str, int] = DISKS) -> tuple[dict, str, str]:
        """An ACTIVE server with ``disks`` and MARK in its root, and a Cinder volume attached
        that holds CINDER_MARK; it, its host, the volume's id."""
        server, host = self.boot_marked(disks)
        volume_id = self.cinder_volume()
        self.assertEqual(set(), self.cinder_hosts(volume_id))
        self.attach(server, volume_id)
        self.assertEqual({host}, self.cinder_hosts(volume_id))
        write(self.cinder_device(host, volume_id), CINDER_MARK_OFFSET, CINDER_MARK)
        self.assertEqual(host, self.assert_attached(server, volume_id, disks))
        self.assert_audit_clean()
        return server, host, volume_id

    def attach(self, server: dict, volume_id: str) -> None:
        self.api.post_server_volume(server["id"], {"volumeAttachment": {"volumeId": volume_id}})
        self._wait_for_instance_action_event(
            server, "attach_volume", "compute_attach_volume", "success"
        )

    def detach(self, server: dict, volume_id: str) -> None:
        self.api.delete_server_volume(server["id"], volume_id)
        self._wait_for_instance_action_event(
            server, "detach_volume", "compute_detach_volume", "success"
        )
        self._wait_for_volume_detach(server["id"], volume_id)

    def cinder_hosts(self, volume_id: str) -> set[str]:
        """The hosts whose SDC the Cinder volume is mapped to, on the gateway."""
        volume = self.cinder.powerflex_volume(volume_id)
        return {self.gateway.sdc_hosts[sdc_id] for sdc_id in volume.mapped_sdc_ids}

    def gateway_changes(self, volume_id: str) -> collections.Counter[str]:
        """The changes the gateway made to the Cinder volume, whoever asked: "map",
        "unmap", or the name of any other action."""
        prefix = f"/api/instances/Volume::{self.cinder.volumes[volume_id]['provider_id']}/action/"
        changes: collections.Counter[str] = collections.Counter()
        for entry in self.simulator.request_log:
            if entry.method == "POST" and entry.path.startswith(prefix) and entry.status == 200:
                action = entry.path[len(prefix) :]
                if action.startswith(("addMapped", "removeMapped")):
                    action = "map" if action.startswith("add") else "unmap"
                changes[action] += 1
        return changes

    def assert_only_cinder_changed(self, volume_id: str) -> None:
        """Every change the gateway made to the Cinder volume was Cinder's."""
        self.assertEqual(self.cinder.changes[volume_id], self.gateway_changes(volume_id))

    def cinder_device(self, host: str, volume_id: str):
        return self.simulator.sdcs[host].device_path(self.cinder.volumes[volume_id]["provider_id"])

    def assert_attached(self, server: dict, volume_id: str, disks: dict[str, int]) -> str:
        """The server's own volumes are ``disks`` on its host, and the Cinder volume is
        mapped to that host only, in the guest's definition through that host's SDC,
        holding CINDER_MARK; the host."""
        host = self.assert_disks(server, disks)
        self.assertEqual({host}, self.cinder_hosts(volume_id))
        self.assertEqual(
            [volume_id], [a["volumeId"] for a in self.api.get_server_volumes(server["id"])]
        )
        domain = self.computes[host].driver._host.get_connection().lookupByUUIDString(server["id"])
        self.assertIn(f"<source dev='{self.cinder_device(host, volume_id)}'/>", domain.XMLDesc(0))
        self.assertEqual(
            CINDER_MARK,
            read(self.cinder_device(host, volume_id), CINDER_MARK_OFFSET, len(CINDER_MARK)),
        )
        self.assert_mark(server)
        self.assert_only_cinder_changed(volume_id)
        return host

    def assert_detached(self, volume_id: str) -> None:
        """The Cinder volume exists, mapped nowhere, holding what the guest wrote."""
        self.assertEqual(set(), self.cinder_hosts(volume_id))
        with open(
            self.simulator.devices.data_path(self.cinder.volumes[volume_id]["provider_id"]), "rb"
        ) as data:
            data.seek(CINDER_MARK_OFFSET)
            self.assertEqual(CINDER_MARK, data.read(len(CINDER_MARK)))
        self.assert_only_cinder_changed(volume_id)

    # -- tests ---------------------------------------------------------------------------------

    def test_attach_move_detach_delete(self) -> None:
        server, host, volume_id = self.boot_attached()

        server = self._stop_server(server)
        server = self._start_server(server)
        self.assertEqual(host, self.assert_attached(server, volume_id, DISKS))

        server = self._reboot_server(server, hard=True)
        self.assertEqual(host, self.assert_attached(server, volume_id, DISKS))
        self.assert_audit_clean()

        server = self._migrate_server(server)
        server = self._confirm_resize(server)
        migrated_to = self.assert_attached(server, volume_id, DISKS)
        self.assertNotEqual(host, migrated_to)
        self.assert_audit_clean()

        dest = self.other_host(host, migrated_to)
        server = self._live_migrate(server, host=dest)
        self.assertEqual(dest, self.assert_attached(server, volume_id, DISKS))
        self.assert_audit_clean()

        self.detach(server, volume_id)
        self.assertEqual([], self.api.get_server_volumes(server["id"]))
        self.assertEqual(dest, self.assert_disks(server, DISKS))
        self.assert_detached(volume_id)
        self.assert_mark(server)
        self.assert_audit_clean()

        self.delete(server)
        self.assert_detached(volume_id)
        self.assert_audit_clean()

    def test_delete_with_the_volume_attached(self) -> None:
        server, _host, volume_id = self.boot_attached()

        self.delete(server)

        self.assert_detached(volume_id)
        self.assertEqual({}, dict(self.cinder.volume_to_attachment[volume_id]))
        self.assert_audit_clean()

    def test_evacuation_resize_revert_shelve_unshelve(self) -> None:
        server, failed, volume_id = self.boot_attached()

        self.fail_host(failed)
        server = self._evacuate_server(server, expected_state="SHUTOFF")
        evacuated_to = self.assert_attached(server, volume_id, DISKS)
        self.assertNotEqual(failed, evacuated_to)
        self.restore_host(failed)
        server = self._start_server(server)
        self.assertEqual(evacuated_to, self.assert_attached(server, volume_id, DISKS))
        self.assert_audit_clean()

        server = self._resize_server(server, self.flavor(disk=16, ephemeral=8, swap=8192))
        resized_to = self.host_of(server)
        self.assertNotEqual(evacuated_to, resized_to)
        self.assertEqual({resized_to}, self.cinder_hosts(volume_id))
        server = self._revert_resize(server)
        self.assertEqual(evacuated_to, self.assert_attached(server, volume_id, DISKS))
        self.assert_audit_clean()

        server = self._shelve_server(server)  # offloaded at once (shelved_offload_time 0)
        self.assert_no_disks(server)
        self.assert_detached(volume_id)
        server = self._unshelve_server(server)
        self.assert_attached(server, volume_id, DISKS)
        self.assert_audit_clean()

        self.delete(server)
        self.assert_detached(volume_id)
        self.assert_audit_clean()

    def test_stable_device_rescue_and_rebuild(self) -> None:
        disks = {"disk": 8, "disk.swap": 8}
        server, host, volume_id = self.boot_attached(disks)
        rescue_image = self.glance.add_variant(
            QCOW2_IMAGE_ID, hw_rescue_device="disk", hw_rescue_bus="virtio"
        )

        self.api.post_server_action(server["id"], {"rescue": {"rescue_image_ref": rescue_image}})
        server = self._wait_for_state_change(server, "RESCUE")
        rescue = {"disk.rescue": rounded_gb(1, self.API_VERSION), "disk.swap.rescue": 8}
        self.assertEqual(host, self.assert_attached(server, volume_id, disks | rescue))
        server = self._unrescue_server(server)
        self.assertEqual(host, self.assert_attached(server, volume_id, disks))
        self.assert_audit_clean()

        server = self._rebuild_server(server, QCOW2_IMAGE_ID)
        self.assertEqual(host, self.assert_disks(server, disks))
        self.assert_mark(server, bytes(len(MARK)))  # a new root disk, from the image
        self.assertEqual({host}, self.cinder_hosts(volume_id))
        self.assert_only_cinder_changed(volume_id)
        self.assert_audit_clean()

        self.delete(server)
        self.assert_detached(volume_id)
