"""nova's own services in one process, with instance disks on the PowerFlex simulator.

:class:`SioServices` is nova's functional ``ServersTestBase`` (the real REST
API, conductor, scheduler, placement and compute managers, in nova's
threading mode) with ``compute_driver = sio_libvirt.SioLibvirtDriver`` and
``[libvirt] images_type = sio`` on every compute, against the gateway
simulator over verified HTTPS on 127.0.0.1, one simulated SDC per compute.
``sio-backend demo`` runs on it (:func:`run`), and the API-level tests
derive their base class from it (``tests/sio_fixtures/servers.py``).

Of ``ServersTestBase``'s stand-ins it keeps fakelibvirt and the host
capability mocks, and drops the ones that would keep the backend from
running: the fake image backend (``LibvirtImageBackendFixture``), the
mocked os-brick (``OSBrickFixture``), the mocked ``_create_image``, the
fixed ``_get_local_gb_info`` and the empty ``file_open``.  What a single
process cannot have is stood in for:

- each compute's identity (``CONF.host``, its own instances path), per
  thread: :mod:`sio_backend.demo.compute_hosts`;
- the SDC of each host: the simulator's, through os-brick's connector
  looking in that SDC's device directory (``sio_backend.simulator.host``);
- privileged calls run in this (root) process, as nova's ``PrivsepFixture``;
- Glance with real image bytes: :mod:`sio_backend.demo.glance`;
- SSH between hosts (nova's remote filesystem and image copies):
  :mod:`sio_backend.demo.remote_hosts`; and libvirt's own part of a live
  migration (defining the guest on the destination, with the device paths
  of the destination's SDC).
"""

from __future__ import annotations

import os

os.environ.setdefault("OS_NOVA_DISABLE_EVENTLET_PATCHING", "1")

import logging
import sys
import unittest
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import fixtures
import nova.conf
import nova.privsep
import nova.tests.unit
from nova.tests import fixtures as nova_fixtures
from nova.tests.functional.libvirt import base

from sio_backend import privileged, storage
from sio_backend.demo.compute_hosts import ComputeHostsFixture
from sio_backend.demo.device_io import write
from sio_backend.demo.gateway_https import RealHttpsFixture
from sio_backend.demo.gateway_view import GatewayView
from sio_backend.demo.glance import QCOW2_IMAGE_ID, ImageFilesGlanceFixture
from sio_backend.demo.nova_conf import configure
from sio_backend.demo.remote_hosts import RemoteHosts
from sio_backend.gateway import GatewayClient
from sio_backend.simulator import Simulator
from sio_backend.simulator.host import simulated_storage

CONF = nova.conf.CONF
IID = "napi"  # the installation identifier in every volume name
MARK = b"written by the guest\n" * 64
MARK_OFFSET = 1024**2  # where MARK is written into root disks (images hold PATTERN at 4 MiB)

T = TypeVar("T")


def api_paste_config() -> str:
    """nova's api-paste.ini: a wheel installs it under the environment's prefix, where
    nova's ConfFixture, which expects a source tree, does not look."""
    path = Path(sys.prefix) / "etc" / "nova" / "api-paste.ini"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: install nova from its wheel into {sys.prefix}")
    return str(path)


class SioServices(base.ServersTestBase):
    """nova's functional ServersTestBase with SioLibvirtDriver on every compute."""

    ADMIN_API = True
    microversion = "latest"
    #: The computes started, each with its own SDC.
    HOSTS = ("compute1", "compute2", "compute3")
    #: Whether the computes share one instances path (as on NFS), or each has its own.
    SHARED_INSTANCES_PATH = False
    #: The simulator's PowerFlex generation.
    API_VERSION = "3.5"
    #: The virtual size of the images Glance holds (MiB).
    IMAGE_SIZE_MB = 64
    #: Where the simulator, Glance and the computes keep their files (None: a temporary
    #: directory removed at the end).
    STATE_DIR: Path | None = None

    def setUp(self) -> None:
        self.tmp = self.STATE_DIR or Path(self.useFixture(fixtures.TempDir()).path)
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
        self.flags(migration_inbound_addr="%s", group="libvirt")
        configure(self.flags, installation_id=IID, default_provisioning_type="thin")
        self.glance = self.useFixture(
            ImageFilesGlanceFixture(self, self.tmp / "glance", self.IMAGE_SIZE_MB)
        )
        self.remote = RemoteHosts(self.hosts.instances_path)
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
        # Persistent, as nova's VIR_MIGRATE_PERSIST_DEST makes it: a later rescue or
        # hard reboot on the destination finds the guest after destroying it.
        self.computes[dest].driver._host.get_connection().defineXML(xml).create()
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

    # -- what the API reports ---------------------------------------------------------------

    def host_of(self, server: dict) -> str:
        return self.api.get_server(server["id"])["OS-EXT-SRV-ATTR:host"]

    def other_host(self, *hosts: str) -> str:
        """A compute that is none of ``hosts``."""
        return next(host for host in self.HOSTS if host not in hosts)

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

    # -- the guest's disks -------------------------------------------------------------------

    def device(self, server: dict, disk: str = "disk") -> Path:
        """The disk's device on the host the API reports for the server."""
        volume = self.gateway.instance_volumes(server["id"])[disk].volume
        return self.simulator.sdcs[self.host_of(server)].device_path(volume.id)

    def write_mark(self, server: dict, data: bytes = MARK) -> None:
        """What the guest writes to its root disk, written through its host's device."""
        write(self.device(server), MARK_OFFSET, data)


class ServicesFailed(Exception):
    """nova's services could not start or stop; the message is the traceback."""


def run(body: Callable[[SioServices], T], services: type[SioServices] = SioServices) -> T:
    """Start ``services``, run ``body`` with them, stop them; what ``body`` returned.

    Outside a test runner: nova's test case machinery (setUp, cleanups,
    fixtures) runs the services as it runs them for a test.
    """
    outcome: list[T] = []

    class _Run(services):
        def test_body(self) -> None:
            outcome.append(body(self))

        def _clear_attrs(self) -> None:
            """nova deletes a finished test's attributes; the caller may still read them."""

    result = unittest.TestResult()
    # nova.test sets oslo.log up to write to stderr on import, and nova's fixtures
    # stop capturing before the last cleanups log: the services' log stays out.
    root = logging.getLogger()
    handlers, root.handlers = root.handlers, [logging.NullHandler()]
    try:
        _Run("test_body").run(result)
    finally:
        root.handlers = handlers
    problems = result.errors + result.failures
    if problems:
        raise ServicesFailed("\n".join(text for _case, text in problems))
    return outcome[0]
