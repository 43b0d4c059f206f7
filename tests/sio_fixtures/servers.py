"""nova's own services in one process, with instance disks on the PowerFlex simulator.

:class:`SioServersTestBase` is nova's ``ServersTestBase`` (the real REST API,
conductor, scheduler, placement and compute managers, in nova's threading
mode) with ``compute_driver = sio_libvirt.SioLibvirtDriver`` and
``[libvirt] images_type = sio`` on every compute, against the gateway
simulator over verified HTTPS on 127.0.0.1, one simulated SDC per compute.

Of ``ServersTestBase``'s stand-ins it keeps fakelibvirt and the host
capability mocks, and drops the ones that would keep the backend from
running: the fake image backend (``LibvirtImageBackendFixture``), the
mocked os-brick (``OSBrickFixture``), the mocked ``_create_image``, the
fixed ``_get_local_gb_info`` and the empty ``file_open``.  What a single
process cannot have is stood in for:

- each compute's identity (``CONF.host``, its own instances path), per
  thread: :mod:`compute_hosts`;
- the SDC of each host: the simulator's, through os-brick's connector
  looking in that SDC's device directory (``sio_backend.simulator.host``);
- privileged calls run in this (root) process, as nova's ``PrivsepFixture``;
- Glance with real image bytes: :mod:`glance`;
- SSH between hosts (nova's remote filesystem and image copies), and
  libvirt's own part of a live migration (defining the guest on the
  destination, with the device paths of the destination's SDC).
"""

from __future__ import annotations

import sys
import urllib.parse
from pathlib import Path

import fixtures
import nova.conf
import nova.privsep
from nova.tests import fixtures as nova_fixtures
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.functional.libvirt import base

from sio_backend import audit, instance_sources, inventory, privileged, storage
from sio_backend.demo.cloud import RemoteHosts
from sio_backend.gateway import GatewayClient
from sio_backend.simulator import Simulator
from sio_backend.simulator.host import simulated_storage
from sio_fixtures.compute_hosts import ComputeHostsFixture
from sio_fixtures.device_io import read, write
from sio_fixtures.gateway_https import RealHttpsFixture
from sio_fixtures.gateway_view import GatewayView
from sio_fixtures.generation import API_VERSION
from sio_fixtures.glance import PATTERN, PATTERN_OFFSET, QCOW2_IMAGE_ID, ImageFilesGlanceFixture
from sio_fixtures.nova_support import PytestCompatibleMixin

CONF = nova.conf.CONF
IID = "napi"  # the installation identifier in every volume name
MARK = b"written by the guest\n" * 64
MARK_OFFSET = 1024**2  # where tests write it into root disks (images hold PATTERN at 4 MiB)


def api_paste_config() -> str:
    """nova's api-paste.ini: a wheel installs it under the environment's prefix, where
    nova's ConfFixture, which expects a source tree, does not look."""
    path = Path(sys.prefix) / "etc" / "nova" / "api-paste.ini"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: install nova from its wheel into {sys.prefix}")
    return str(path)


class RemoteHostsByPath(RemoteHosts):
    """SSH to another compute: nova's remote file operations and copies land in that
    host's instances path (the same directory as this host's when it is shared)."""

    def __init__(self, hosts: ComputeHostsFixture) -> None:
        super().__init__(hosts.root)
        self.hosts = hosts

    def _there(self, host: str, path: str) -> Path:
        return self.hosts.instances_path(host) / Path(path).relative_to(CONF.instances_path)


class SioServersTestBase(PytestCompatibleMixin, base.ServersTestBase):
    """nova's functional ServersTestBase with SioLibvirtDriver on every compute."""

    ADMIN_API = True
    microversion = "latest"
    #: The computes every test starts, each with its own SDC.
    HOSTS = ("compute1", "compute2", "compute3")
    #: Whether the computes share one instances path (as on NFS), or each has its own.
    SHARED_INSTANCES_PATH = False
    #: The simulator's PowerFlex generation: the suite's (``tests/sio_fixtures/generation.py``).
    API_VERSION = API_VERSION

    def setUp(self) -> None:
        self.tmp = Path(self.useFixture(fixtures.TempDir()).path)
        self.flags(instances_path=str(self.tmp / "controller"))
        self.flags(api_paste_config=api_paste_config(), group="wsgi")
        self.computes = {}
        self.compute_rp_uuids = {}
        self.hosts = ComputeHostsFixture(self.tmp, shared_instances_path=self.SHARED_INSTANCES_PATH)
        # ServersTestBase.setUp is skipped on purpose: its fake image backend,
        # mocked os-brick and mocked _create_image would keep ours from running.
        super(base.ServersTestBase, self).setUp()
        self._keep_libvirt_fakes()
        self._run_privileged_in_process()
        self.useFixture(RealHttpsFixture())
        self.useFixture(self.hosts)
        self.simulator = self._start_simulator()
        self.flags(images_type="sio", migration_inbound_addr="%s", group="libvirt")
        self.flags(
            installation_identifier=IID,
            default_protection_domain_name="pd1",
            default_storage_pool_name="sp1",
            default_provisioning_type="thin",
            group="scaleio",
        )
        self.glance = self.useFixture(ImageFilesGlanceFixture(self, self.tmp / "glance"))
        self.remote = RemoteHostsByPath(self.hosts)
        self.useFixture(
            fixtures.MockPatch("nova.virt.libvirt.utils.copy_image", self.remote.copy_image)
        )
        self.useFixture(
            fixtures.MonkeyPatch(
                "nova.tests.fixtures.libvirt.Domain.migrateToURI3", self._migrate_guest
            )
        )
        self.gateway = self._gateway_view()
        for host in self.HOSTS:
            self.start_compute(host)
        # Runs first among the cleanups, while the services are up.
        self.addCleanup(self.assert_nothing_left)

    # -- what ServersTestBase.setUp does that is kept ----------------------------------

    def _keep_libvirt_fakes(self) -> None:
        self.useFixture(nova_fixtures.CGroupsFixture())
        self.libvirt = self.useFixture(nova_fixtures.LibvirtFixture())
        for target, value in (
            ("nova.virt.libvirt.driver.libvirt_utils.is_valid_hostname", True),
            ("nova.privsep.utils.supports_direct_io", True),
            ("nova.virt.libvirt.host.Host.get_online_cpus", set(range(16))),
        ):
            self.useFixture(fixtures.MockPatch(target, return_value=value))
        self.mock_conn = self.useFixture(
            fixtures.MockPatch("nova.virt.libvirt.host.Host.get_connection")
        ).mock

    def _run_privileged_in_process(self) -> None:
        for context in (nova.privsep.sys_admin_pctxt, privileged.sys_admin_pctxt):
            self.useFixture(fixtures.MockPatchObject(context, "client_mode", False))

    def _setup_compute_service(self) -> None:
        self.flags(compute_driver="sio_libvirt.SioLibvirtDriver")

    # -- the simulator -------------------------------------------------------------------------

    def _start_simulator(self) -> Simulator:
        simulator = Simulator(
            self.tmp / "simulator", tls=True, migration_delay=0.05, api_version=self.API_VERSION
        )
        simulator.start()
        self.addCleanup(simulator.stop)
        return simulator

    def _gateway_view(self) -> GatewayView:
        client = GatewayClient(
            self.simulator.host,
            self.simulator.port,
            self.simulator.username,
            self.simulator.password,
            verify=str(self.simulator.ca_path),
        )
        self.addCleanup(client.close)
        return GatewayView(client, {})

    # -- computes ---------------------------------------------------------------------------------

    def start_compute(self, hostname: str = "compute1", *args, **kwargs) -> str:
        """Start ``hostname`` with its own SDC, instances path and Storage."""
        if hostname not in self.simulator.sdcs:
            self.simulator.add_sdc(hostname)
            self.gateway.sdc_hosts[self.simulator.sdcs[hostname].id] = hostname
            self.hosts.add(hostname)
            storage.register(
                hostname,
                simulated_storage(self.simulator, hostname, installation_id=IID, wait_timeout=5),
            )
            self.addCleanup(storage.unregister, hostname)
        with self.hosts.on(hostname):
            super().start_compute(hostname, *args, **kwargs)
        self.computes[hostname].driver._remotefs = self.remote
        return hostname

    def _migrate_guest(self, domain, destination: str, params: dict, flags: int) -> None:
        """libvirt's part of a live migration: the guest moves to the destination.

        The simulated SDCs show their devices in different directories (real
        hosts share /dev/disk/by-id), so the destination's guest gets its own.
        """
        dest = urllib.parse.urlparse(destination).hostname
        source = next(
            host
            for host, compute in self.computes.items()
            if compute.driver._host.get_connection() is domain._connection
        )
        xml = params["destination_xml"].replace(
            str(self.simulator.sdcs[source].by_id_dir), str(self.simulator.sdcs[dest].by_id_dir)
        )
        self.computes[dest].driver._host.get_connection().createXML(xml, 0)
        domain.complete_job()

    # -- flavors and servers ----------------------------------------------------------------

    def flavor(self, disk: int = 8, ephemeral: int = 0, swap: int = 0, **extra_specs) -> str:
        """A small flavor with these disks (GiB, swap MiB); its id."""
        return self._create_flavor(
            memory_mb=512,
            vcpu=1,
            disk=disk,
            ephemeral=ephemeral,
            swap=swap,
            extra_spec=extra_specs or None,
        )

    def boot(self, flavor_id: str, image_id: str = QCOW2_IMAGE_ID, host: str | None = None) -> dict:
        """An ACTIVE server (on ``host`` if given)."""
        return self._create_server(
            image_uuid=image_id, flavor_id=flavor_id, networks="none", host=host
        )

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

    # -- what the API reports ---------------------------------------------------------------

    def host_of(self, server: dict) -> str:
        return self.api.get_server(server["id"])["OS-EXT-SRV-ATTR:host"]

    def other_host(self, *hosts: str) -> str:
        """A compute that is none of ``hosts``."""
        return next(host for host in self.HOSTS if host not in hosts)

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

    # -- a host that fails and comes back ----------------------------------------------------

    def fail_host(self, host: str) -> None:
        """``host`` stops, and the operator tells nova it is down (so it may evacuate)."""
        self.computes[host].stop()
        self.admin_api.put_service_force_down(self._compute_service_id(host), True)

    def restore_host(self, host: str) -> None:
        """``host`` starts again (with its guests' state), and is no longer forced down."""
        self.restart_compute_service(host)
        self.admin_api.put_service_force_down(self._compute_service_id(host), False)

    def _compute_service_id(self, host: str) -> str:
        return self.admin_api.get_services(host=host, binary="nova-compute")[0]["id"]

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

    def device(self, server: dict, disk: str = "disk") -> Path:
        """The disk's device on the host the API reports for the server."""
        volume = self.gateway.instance_volumes(server["id"])[disk].volume
        return self.simulator.sdcs[self.host_of(server)].device_path(volume.id)

    def write_mark(self, server: dict, data: bytes = MARK) -> None:
        """What the guest writes to its root disk, written through its host's device."""
        write(self.device(server), MARK_OFFSET, data)

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
        servers = self.api.get_servers(detail=False, search_opts={"all_tenants": 1})
        known = instance_sources.from_list([server["id"] for server in servers], [])
        found = inventory.collect(self.gateway.client, IID)
        return [
            (finding.volume.name, finding.problem.value, finding.action.value)
            for finding in audit.classify(found, known)
        ]

    def assert_audit_clean(self) -> None:
        self.assertEqual([], self.audit_findings())
