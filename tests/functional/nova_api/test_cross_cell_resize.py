"""Cross-cell resize, confirmed and reverted, through the REST API.

Two cells, one compute in each, with nova's cross-cell resize policy on.
nova moves the instance by snapshot: the source cell's record powers off,
its root is snapshotted to Glance, and the target cell's record is built
on the destination and marked shown while the source's is hidden.  Both
records carry one UUID, so both name the same volumes: the product's
ownership rule (``sio_backend/ownership.py``) keeps a hidden copy from
removing what the shown one runs on.
"""

from __future__ import annotations

from nova import context as nova_context
from nova import objects
from nova.policies import base as base_policies
from nova.policies import servers as servers_policies
from sio_fixtures.servers import MARK, SioServersTestBase

LATER = MARK.upper()  # written on the destination, after the resize
CELL_OF = {"compute1": "cell1", "compute2": "cell2"}  # one compute in each cell


class CrossCellResizeTest(SioServersTestBase):
    NUMBER_OF_CELLS = 2
    HOSTS = tuple(CELL_OF)

    def setUp(self) -> None:
        super().setUp()
        self.policy.set_rules(
            {servers_policies.CROSS_CELL_RESIZE: base_policies.RULE_ADMIN_API}, overwrite=False
        )

    def start_compute(self, hostname: str = "compute1", *args, **kwargs) -> str:
        kwargs.setdefault("cell_name", CELL_OF[hostname])
        return super().start_compute(hostname, *args, **kwargs)

    def cell_of(self, server: dict) -> str:
        """The cell whose record of the server nova's API shows."""
        context = nova_context.get_admin_context()
        return objects.InstanceMapping.get_by_instance_uuid(context, server["id"]).cell_mapping.name

    def resized_to_the_other_cell(self, old: dict[str, int], new: dict[str, int]) -> tuple:
        """A server with ``old`` disks resized to a flavor with ``new`` ones, in the
        other cell, waiting to be confirmed; it, source, dest."""
        server, source = self.boot_marked(old)
        flavor = self.flavor(disk=new["disk"], swap=new.get("disk.swap", 0) * 1024)
        server = self._resize_server(server, flavor)
        dest = self.host_of(server)
        self.assertNotEqual(source, dest)
        self.assertEqual(CELL_OF[dest], self.cell_of(server))
        self.assertEqual(1, len(self.api.get_servers()), "the hidden copy is listed")
        self.assert_mark(server)
        return server, source, dest

    def guest_xml(self, server: dict) -> str:
        """The domain of the server on the host the API reports."""
        connection = self.computes[self.host_of(server)].driver._host.get_connection()
        return connection.lookupByUUIDString(server["id"]).XMLDesc(0)

    def confirm_cross_cell(self, server: dict) -> dict:
        """Confirm; nova's waiter looks for the same-cell confirm's action event."""
        self.api.post_server_action(server["id"], {"confirmResize": None})
        self._wait_for_migration_status(server, ["confirmed"])
        return self._wait_for_state_change(server, "ACTIVE")

    def test_confirm_leaves_the_disks_on_the_destination_only(self) -> None:
        server, _source, dest = self.resized_to_the_other_cell(
            {"disk": 8, "disk.swap": 8}, {"disk": 16}
        )
        self.write_mark(server, LATER)

        server = self.confirm_cross_cell(server)

        # nova copies the block device mappings to the target cell as they were,
        # swap included, and builds the guest there with it: the swap is the
        # running copy's, and goes with its delete.
        self.assertEqual(dest, self.assert_disks(server, {"disk": 16, "disk.swap": 8}))
        self.assertIn(str(self.device(server, "disk.swap")), self.guest_xml(server))
        self.assert_mark(server, LATER)
        self.assert_audit_clean()
        self.delete(server)
        self.assert_audit_clean()

    def test_revert_goes_back_to_the_disks_as_they_were(self) -> None:
        server, source, _dest = self.resized_to_the_other_cell(
            {"disk": 8}, {"disk": 16, "disk.swap": 8}
        )
        self.write_mark(server, LATER)  # a revert goes back to the disks as they were

        server = self._revert_resize(server)

        self.assertEqual(source, self.assert_disks(server, {"disk": 8}))
        self.assert_mark(server)
        self.assert_audit_clean()
        self.delete(server)
        self.assert_audit_clean()
