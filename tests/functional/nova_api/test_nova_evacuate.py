"""nova's own evacuation tests (``nova/tests/functional/libvirt/test_evacuate.py``)
with ``images_type = sio``.

nova runs its two failed-evacuation tests once per image backend, through a
mixin that configures the backend and says what a failed evacuation must
leave of each server's local disk: ``_FlatTest``, ``_Qcow2Test``, ``_RbdTest``
and ``_LVMTest``.  :class:`_SioTest` is that mixin for PowerFlex, so nova's
test bodies run unchanged against SioLibvirtDriver, with real disks on the
simulator instead of the fakes nova's mixins install.

nova's servers: a root disk from an image, and three servers booted from a
Cinder volume, one with an ephemeral disk, one with swap, one with neither.
Each is evacuated from the failed compute0 to compute1, where the guest
fails to start (``plug_vifs`` raises).  A PowerFlex disk lives in the
cluster, as an Rbd one does: whatever the instances path, the failed
evacuation must neither remove it nor lose what the guest wrote, and it
must leave it where nova's next attempt (or the failed host's return) can
use it.
"""

from __future__ import annotations

from pathlib import Path

import fixtures
from nova import test
from nova.tests.functional.libvirt import test_evacuate as nova_evacuate
from sio_fixtures.generation import API_VERSION
from sio_fixtures.nova_support import PytestCompatibleMixin
from sio_fixtures.servers import IID, MARK, SioServersTestBase, api_paste_config

from sio_backend import storage
from sio_backend.demo.compute_hosts import ComputeHostsFixture
from sio_backend.demo.gateway_https import RealHttpsFixture
from sio_backend.demo.glance import ImageFilesGlanceFixture, make_image
from sio_backend.simulator.host import simulated_storage


class _SioTest:
    """nova's image-backend mixin for ``images_type = sio`` (cf. ``_RbdTest``).

    It borrows SioServersTestBase's simulator, HTTPS and privsep set-up.
    """

    API_VERSION = API_VERSION
    # os-brick's connector takes an external lock (ServersTestBase's mixins have it too).
    REQUIRES_LOCKING = True

    def setUp(self) -> None:
        super().setUp()
        self.tmp = Path(self.useFixture(fixtures.TempDir()).path)
        # nova's test keeps both computes on one instances path, and moves the
        # destination's aside with a mock for its non-shared case.
        self.hosts = ComputeHostsFixture(self.tmp, shared_instances_path=True)
        # nova's test bodies look for instance directories from the test's thread.
        self.flags(instances_path=str(self.hosts.instances_path("compute0")))
        SioServersTestBase._run_privileged_in_process(self)
        self.useFixture(RealHttpsFixture())
        self.useFixture(self.hosts)
        self.simulator = SioServersTestBase._start_simulator(self)
        self.gateway = SioServersTestBase._gateway_view(self)
        self.flags(images_type="sio", group="libvirt")
        self.flags(
            installation_identifier=IID,
            default_protection_domain_name="pd1",
            default_storage_pool_name="sp1",
            default_provisioning_type="thin",
            # nova's flavors give 1 GiB disks; the operator's setting for such flavors.
            disk_size_policy="round_up",
            group="scaleio",
        )
        self._image_with_data(nova_evacuate.IMAGE_ID)

    def _image_with_data(self, image_id: str) -> None:
        """nova's image, as a raw image with data (nova's Glance serves no bytes)."""
        glance = self.useFixture(ImageFilesGlanceFixture(self, self.tmp / "glance"))
        path = make_image(self.tmp / "image.raw", "raw", 64)
        path.rename(glance.path(image_id))
        glance.update(
            None,
            image_id,
            {"disk_format": "raw", "container_format": "bare", "size": 64 * 1024**2},
        )

    def _start_compute(self, name: str):
        """nova's compute, as SioLibvirtDriver with its own SDC on the simulator."""
        self.flags(compute_driver="sio_libvirt.SioLibvirtDriver")
        if name not in self.simulator.sdcs:
            self.simulator.add_sdc(name)
            self.gateway.sdc_hosts[self.simulator.sdcs[name].id] = name
            self.hosts.add(name)
            storage.register(
                name, simulated_storage(self.simulator, name, installation_id=IID, wait_timeout=5)
            )
            self.addCleanup(storage.unregister, name)
        with self.hosts.on(name):
            return super()._start_compute(name)

    def _create_servers(self):
        """nova's servers, with a mark written into each local disk."""
        servers = super()._create_servers()
        for server in servers:
            disk = nova_evacuate.SERVER_DISKS[server["name"]]
            if disk:
                volume = self.gateway.instance_volumes(server["id"])[disk].volume
                device = self.simulator.sdcs["compute0"].device_path(volume.id)
                with device.open("r+b") as guest_disk:
                    guest_disk.write(MARK)
        return servers

    def _assert_disks(self, server: dict) -> None:
        """The server's one local disk is whole, where the server's host can reach it."""
        disk = nova_evacuate.SERVER_DISKS[server["name"]]
        volumes = self.gateway.instance_volumes(server["id"])
        if not disk:
            self.assertEqual({}, volumes, f"server {server['name']} has no local disk")
            return
        self.assertEqual({disk}, set(volumes), f"the volumes of server {server['name']}")
        volume = volumes[disk]
        # The failed evacuation fenced compute0; compute1 may keep its mapping
        # for nova's next attempt, and no other host may have one.
        self.assertLessEqual(set(volume.hosts), {"compute1"}, server["name"])
        with self.simulator.devices.data_path(volume.volume.id).open("rb") as data:
            self.assertEqual(MARK, data.read(len(MARK)), f"{server['name']}'s {disk}")

    assert_disks_nonshared_instancedir = _assert_disks
    assert_disks_shared_instancedir = _assert_disks


class _WheelPasteConfig:
    """nova's API fixture, which nova's setUp starts, finding api-paste.ini in a wheel install."""

    def setUp(self) -> None:
        super().setUp()
        self.flags(api_paste_config=api_paste_config(), group="wsgi")


class SioEvacuateTest(
    _SioTest,
    PytestCompatibleMixin,
    nova_evacuate._LibvirtEvacuateTest,
    _WheelPasteConfig,
    test.TestCase,
):
    """nova's ``LibvirtRbdEvacuateTest``, on PowerFlex."""
