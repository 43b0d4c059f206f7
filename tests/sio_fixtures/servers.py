"""nova's own services in one process for the API-level tests, with their assertions.

:class:`SioServersTestBase` is :class:`sio_backend.demo.services.SioServices`
(nova's ``ServersTestBase`` with SioLibvirtDriver on every compute, the
simulator over HTTPS, one SDC per compute) at the suite's PowerFlex
generation, plus what a test asserts: each server's volumes, sizes and
mappings on the gateway, the data in its disks, and nothing left once the
test ends.
"""

from __future__ import annotations

import fixtures
from nova.tests.fixtures import libvirt as fakelibvirt

from sio_backend import audit, instance_sources, inventory
from sio_backend.demo.device_io import read
from sio_backend.demo.glance import PATTERN, PATTERN_OFFSET, QCOW2_IMAGE_ID
from sio_backend.demo.services import (
    CONF,
    IID,
    MARK,
    MARK_OFFSET,
    SioServices,
    api_paste_config,
)
from sio_fixtures.generation import API_VERSION
from sio_fixtures.nova_support import PytestCompatibleMixin

__all__ = [
    "CONF",
    "IID",
    "MARK",
    "MARK_OFFSET",
    "SioServersTestBase",
    "api_paste_config",
]


class SioServersTestBase(PytestCompatibleMixin, SioServices):
    """nova's functional ServersTestBase with SioLibvirtDriver on every compute."""

    #: The simulator's PowerFlex generation: the suite's (``tests/sio_fixtures/generation.py``).
    API_VERSION = API_VERSION

    def setUp(self) -> None:
        super().setUp()
        # Runs first among the cleanups, while the services are up.
        self.addCleanup(self.assert_nothing_left)

    def delete(self, server: dict) -> None:
        """Delete the server; nothing of it is left on the gateway."""
        self._delete_server(server)
        self.assert_no_disks(server)

    def boot_marked(
        self, disks: dict[str, int], image_id: str = QCOW2_IMAGE_ID
    ) -> tuple[dict, str]:
        """An ACTIVE server with these disks (GiB by disk name: ``disk``, ``disk.eph0``,
        ``disk.swap``), checked on the gateway, with MARK written to its root; it, its host."""
        flavor = self.flavor(
            disk=disks["disk"],
            ephemeral=disks.get("disk.eph0", 0),
            swap=disks.get("disk.swap", 0) * 1024,
        )
        server = self.boot(flavor, image_id)
        host = self.assert_disks(server, disks)
        self.write_mark(server)
        return server, host

    # -- failures --------------------------------------------------------------------------------

    @staticmethod
    def guest_start_fails() -> fixtures.Fixture:
        """libvirt refuses to start guests (on every host) while the fixture is in use."""

        def refuse(*_args, **_kwargs):
            raise fakelibvirt.make_libvirtError(
                fakelibvirt.libvirtError,
                "internal error: the guest failed to start",
                error_code=fakelibvirt.VIR_ERR_INTERNAL_ERROR,
            )

        return fixtures.MockPatch(
            "nova.virt.libvirt.driver.LibvirtDriver._create_guest_with_network",
            side_effect=refuse,
        )

    # -- what the gateway holds ------------------------------------------------------------

    def assert_disks(self, server: dict, sizes: dict[str, int]) -> str:
        """The server's volumes are exactly ``sizes`` (GiB by disk name), each mapped to
        the host the API reports for the server and to no other; that host."""
        host = self.host_of(server)
        self.assertIn(host, self.computes, f"the API reports server {server['id']} on {host}")
        self.assert_volumes(server, {name: (size, {host}) for name, size in sizes.items()})
        return host

    def assert_volumes(self, server: dict, expected: dict[str, tuple[int, set[str]]]) -> None:
        """The server's volumes are exactly ``expected``: disk name -> (GiB, hosts mapped to)."""
        self.assertEqual(expected, self.gateway.state_of(server["id"]))

    def assert_no_disks(self, server: dict) -> None:
        self.assertEqual({}, self.gateway.state_of(server["id"]))

    def assert_nothing_left(self) -> None:
        """No instance volume is left, and no image cache volume is left mapped."""
        self.assertEqual([], self.gateway.leftovers())

    def assert_mark(self, server: dict, data: bytes = MARK) -> None:
        """The root disk holds ``data`` where :meth:`write_mark` writes."""
        self.assertEqual(data, read(self.device(server), MARK_OFFSET, len(data)))

    def assert_image_data(self, server: dict, disk: str = "disk") -> None:
        """The disk holds the data of the image it was made from."""
        self.assertEqual(PATTERN, read(self.device(server, disk), PATTERN_OFFSET, len(PATTERN)))

    # -- what `sio-backend audit` finds ------------------------------------------------------

    def audit_findings(self) -> list[tuple[str, str, str]]:
        """(volume name, problem, --fix action) of each finding of the audit, told which
        instances exist by nova's API (as ``--instances-file`` from ``openstack server list``)."""
        servers = self.admin_api.get_servers(detail=False, search_opts={"all_tenants": 1})
        known = instance_sources.from_list([server["id"] for server in servers], [])
        found = inventory.collect(self.gateway.client, IID)
        return [
            (finding.volume.name, finding.problem.value, finding.action.value)
            for finding in audit.classify(found, known)
        ]

    def assert_audit_clean(self) -> None:
        self.assertEqual([], self.audit_findings())
