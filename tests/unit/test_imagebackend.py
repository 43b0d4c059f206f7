"""nova's own generic image-backend tests, run against ScaleIOImage.

The backend talks to a real simulator over HTTP on 127.0.0.1; nothing
about the gateway is mocked.  Where nova's generic test assumes a file
backend (fallocate, qemu-img size of the path) the override says what the
block backend does instead, as nova's RbdTestCase does.
"""

from __future__ import annotations

import inspect
from unittest import mock

import ddt
import fixtures
import libvirt
import nova.conf
from nova import exception, objects
from nova.tests.unit.virt.libvirt import test_imagebackend
from nova.virt.image import model as imgmodel
from nova.virt.libvirt import config as vconfig
from nova.virt.libvirt import imagebackend
from oslo_utils import units
from oslo_utils.fixture import uuidsentinel as uuids
from sio_fixtures import nova_support

from sio_backend import storage
from sio_backend.flavor import DiskPlacement
from sio_backend.gateway import Volume
from sio_backend.image_model import ScaleIOVolumeImage
from sio_backend.imagebackend import ScaleIOImage
from sio_backend.simulator import Simulator
from sio_backend.simulator.host import simulated_storage

CONF = nova.conf.CONF
INSTALLATION_ID = "unit"


class SimulatedBackendMixin:
    """A simulator, this host's Storage bound to it, and an instance with a flavor."""

    def start_simulated_host(self) -> None:
        self.flags(images_type="sio", group="libvirt")
        self.flags(
            installation_identifier=INSTALLATION_ID,
            default_protection_domain_name="pd1",
            default_storage_pool_name="sp1",
            group="scaleio",
        )
        self.flags(lock_path=self.useFixture(fixtures.TempDir()).path, group="oslo_concurrency")
        self.sim = Simulator()
        self.sim.start()
        self.addCleanup(self.sim.stop)
        self.sim.add_sdc("host1")
        self.storage = simulated_storage(
            self.sim, "host1", installation_id=INSTALLATION_ID, wait_timeout=2
        )
        storage.register(CONF.host, self.storage)
        self.addCleanup(storage.unregister, CONF.host)

    def create_volume(self, instance_uuid: str, disk_name: str) -> Volume:
        name = self.storage.disk_volume_name(instance_uuid, disk_name)
        return self.storage.create(name, DiskPlacement("pd1", "sp1", thin=True), 8 * units.Gi)

    def make_flavor(self, **kwargs) -> objects.Flavor:
        values = {
            "name": "m1.sio",
            "flavorid": "sio1",
            "root_gb": 8,
            "ephemeral_gb": 0,
            "swap": 0,
            "extra_specs": {},
        }
        values.update(kwargs)
        return objects.Flavor(**values)


@ddt.ddt
class ScaleIOImageGenericTestCase(
    SimulatedBackendMixin, test_imagebackend._ImageTestCase, nova_support.NovaTestCase
):
    SIZE = 8 * units.Gi

    def setUp(self):
        self.image_class = ScaleIOImage
        super().setUp()
        self.start_simulated_host()
        self.INSTANCE.flavor = self.make_flavor()
        self.NAME = "disk"
        volume_name = self.storage.disk_volume_name(self.INSTANCE.uuid, self.NAME)
        placement = mock.Mock(protection_domain="pd1", storage_pool="sp1", thin=True, has_qos=False)
        self.volume = self.storage.create(volume_name, placement, self.SIZE)
        self.PATH = self.storage.device_path(self.volume.id)

    # -- overrides of generic tests that assume files --------------------

    def test_prealloc_image(self):
        """A volume is allocated by PowerFlex: nova never runs fallocate on it."""
        CONF.set_override("preallocate_images", "space")
        image = self.image_class(self.INSTANCE, self.NAME)
        with mock.patch("oslo_concurrency.processutils.execute") as execute:
            image.cache(lambda target, *a, **kw: None, "template", self.SIZE)
            image.cache(lambda target, *a, **kw: None, "template", self.SIZE)
        execute.assert_not_called()

    def test_prealloc_image_without_write_access(self):
        self.test_prealloc_image()

    @mock.patch("nova.virt.disk.api.get_disk_size")
    def test_get_disk_size(self, get_disk_size):
        """Like Rbd: the volume's size, whatever path nova passes."""
        image = self.image_class(self.INSTANCE, self.NAME)
        self.assertEqual(self.SIZE, image.get_disk_size("/some/base/file"))
        get_disk_size.assert_not_called()

    # -- what the block backend adds -------------------------------------

    def test_parent_compatible(self):
        self.assertEqual(
            inspect.getfullargspec(imagebackend.Image.libvirt_info),
            inspect.getfullargspec(self.image_class.libvirt_info),
        )

    def test_registered_as_sio(self):
        self.assertIs(imagebackend.Backend(False).backend("sio"), ScaleIOImage)

    def test_block_device_properties(self):
        image = self.image_class(self.INSTANCE, self.NAME)
        self.assertTrue(image.is_shared_block_storage())
        self.assertTrue(image.is_block_dev)
        self.assertEqual("block", image.source_type)
        self.assertEqual("raw", image.driver_format)
        self.assertEqual(self.PATH, image.path)
        self.assertTrue(image.path.endswith(f"emc-vol-{self.sim.system_id}-{self.volume.id}"))

    def test_exists_asks_the_gateway(self):
        self.assertTrue(self.image_class(self.INSTANCE, self.NAME).exists())
        self.assertFalse(self.image_class(self.INSTANCE, "disk.local").exists())

    def test_by_libvirt_path(self):
        image = self.image_class(self.INSTANCE, path=self.PATH)
        self.assertEqual(self.SIZE, image.get_disk_size(self.PATH))
        self.assertEqual(self.volume.name, image.volume_name)
        self.assertEqual("disk", image.disk_name)

    def test_by_libvirt_path_rejects_other_devices(self):
        self.assertRaises(
            exception.InvalidDevicePath,
            self.image_class,
            self.INSTANCE,
            path="/dev/vg/lv",
        )

    def test_libvirt_info_maps_volume_to_this_host(self):
        image = self.image_class(
            self.INSTANCE,
            self.NAME,
            disk_info_mapping={"bus": "virtio", "dev": "vda", "type": "disk"},
        )
        disk = image.libvirt_info(cache_mode="none", extra_specs={})
        self.assertEqual(self.PATH, disk.source_path)
        self.assertEqual("block", disk.source_type)
        self.assertEqual("native", disk.driver_io)
        sdc_id = self.sim.sdcs["host1"].id
        mapped = self.storage.get(self.volume.id).mapped_sdc_ids
        self.assertEqual(frozenset({sdc_id}), mapped)

    def test_get_model_is_a_local_block_image(self):
        model = self.image_class(self.INSTANCE, self.NAME).get_model(None)
        self.assertIsInstance(model, ScaleIOVolumeImage)
        self.assertIsInstance(model, imgmodel.LocalBlockImage)
        self.assertEqual(self.PATH, model.path)
        self.assertEqual(self.volume.id, model.volume_id)

    def test_missing_volume_path_is_disk_not_found(self):
        image = self.image_class(self.INSTANCE, "disk.local")
        self.assertRaises(exception.DiskNotFound, getattr, image, "path")


class DomainXmlValidationTestCase(SimulatedBackendMixin, nova_support.NovaTestCase):
    """libvirt itself accepts the disk XML the backend generates."""

    def setUp(self):
        super().setUp()
        self.start_simulated_host()

    def test_disk_xml_defines_in_libvirt_test_driver(self):
        instance = objects.Instance(uuid=uuids.instance, flavor=self.make_flavor())
        guest = vconfig.LibvirtConfigGuest()
        guest.virt_type = "test"
        guest.name = "sio-validate"
        guest.uuid = instance.uuid
        guest.memory = 512 * units.Ki
        guest.vcpus = 1
        guest.os_type = "hvm"
        guest.os_mach_type = "pc"
        devices = (
            ("disk", "vda", "virtio"),
            ("disk.local", "vdb", "virtio"),
            ("disk.swap", "sda", "scsi"),
        )
        for unit, (disk_name, dev, bus) in enumerate(devices):
            name = self.storage.disk_volume_name(instance.uuid, disk_name)
            placement = mock.Mock(
                protection_domain="pd1", storage_pool="sp1", thin=True, has_qos=False
            )
            self.storage.create(name, placement, 8 * units.Gi)
            image = ScaleIOImage(
                instance=instance,
                disk_name=disk_name,
                disk_info_mapping={"bus": bus, "dev": dev, "type": "disk"},
            )
            guest.add_device(
                image.libvirt_info(
                    cache_mode="none",
                    extra_specs={"quota:disk_total_iops_sec": "500"},
                    boot_order="1" if unit == 0 else None,
                    disk_unit=unit if bus == "scsi" else None,
                )
            )
        controller = vconfig.LibvirtConfigGuestController()
        controller.type = "scsi"
        controller.model = "virtio-scsi"
        controller.index = 0
        guest.add_device(controller)
        xml = guest.to_xml()
        conn = libvirt.open("test:///default")
        try:
            domain = conn.defineXMLFlags(xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
            defined = domain.XMLDesc()
            domain.undefine()
        finally:
            conn.close()
        for disk_name in ("disk", "disk.local", "disk.swap"):
            volume = self.storage.find(self.storage.disk_volume_name(instance.uuid, disk_name))
            self.assertIn(f"emc-vol-{self.sim.system_id}-{volume.id}", defined)
        self.assertIn("io='native'", defined)

    def test_libvirt_rejects_broken_xml(self):
        """The check above can fail: libvirt refuses an invalid disk element."""
        conn = libvirt.open("test:///default")
        try:
            bad = (
                "<domain type='test'><name>x</name><memory>1024</memory><os><type>hvm</type></os>"
                "<devices><disk type='block' device='disk'><bogus/></disk></devices></domain>"
            )
            self.assertRaises(
                libvirt.libvirtError, conn.defineXMLFlags, bad, libvirt.VIR_DOMAIN_DEFINE_VALIDATE
            )
        finally:
            conn.close()
