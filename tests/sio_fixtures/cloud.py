"""Two nova compute hosts in one process, each a real SioLibvirtDriver, driven step by step.

The step-level harness: the tests call the driver's methods in nova's
order themselves, where nova's API cannot reach a step (crash points between
two driver calls, call budgets, the fault matrix's single calls).  Whole
server actions go through nova's own services instead
(:class:`sio_fixtures.servers.SioServersTestBase`).

The libvirt underneath is nova's fakelibvirt (LibvirtFixture); the storage is
the simulator over verified HTTPS, with one simulated SDC per host; images
are real qcow2 files written by real ``qemu-img``.  What a host does runs
with ``CONF.host`` set to it (``with cloud.on("host2"): ...``), so nova's and
the backend's per-host decisions are the ones a real host would make.

Only what needs a nova database or other services is replaced: Glance
(images come from a local file, snapshots go to one), ``instance.save()``,
the device metadata and the config drive content builder.  Every domain
XML nova generates is recorded (``Cloud.domain_xmls``) so callers can
validate it in libvirt's own test driver.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import fixtures
import nova.conf
import nova.privsep
from nova import context as nova_context
from nova import objects
from nova.compute import power_state, task_states, vm_states
from nova.tests import fixtures as nova_fixtures
from nova.tests.unit import fake_instance
from nova.virt import fake as fake_virt
from nova.virt.libvirt import driver as libvirt_driver
from oslo_serialization import jsonutils
from oslo_utils import units, uuidutils

from sio_backend import naming, privileged, storage
from sio_backend.demo.remote_hosts import RemoteHosts
from sio_backend.driver import SioLibvirtDriver
from sio_backend.simulator import Simulator
from sio_backend.simulator.host import simulated_storage

CONF = nova.conf.CONF
IID = "flow"
HOSTS = ("host1", "host2")
IMAGE_ID = "155d900f-4e14-4e4c-a73d-069cbf4541e6"
PATTERN = b"\x5a" * units.Mi  # written by the image at 4 MiB


def make_image(path: Path, size_mb: int = 1024) -> Path:
    """A qcow2 image of ``size_mb`` MiB (at least 8) with PATTERN at 4 MiB."""
    if size_mb < 8:
        raise ValueError(
            f"the image must be at least 8 MiB to hold PATTERN at 4 MiB, not {size_mb}"
        )
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", str(path), f"{size_mb}M"], check=True
    )
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 4M 1M", str(path)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return path


def make_flavor(
    name: str = "m1.sio", root_gb: int = 8, ephemeral_gb: int = 0, swap: int = 0, **extra_specs
):
    return objects.Flavor(
        id=1,
        flavorid=name,
        name=name,
        memory_mb=512,
        vcpus=1,
        root_gb=root_gb,
        ephemeral_gb=ephemeral_gb,
        swap=swap,
        extra_specs=dict(extra_specs),
        rxtx_factor=1.0,
        vcpu_weight=None,
        disabled=False,
        is_public=True,
        description=None,
    )


class FileGlance:
    """The two calls the snapshot flow makes to Glance, storing images as files."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.images: dict[str, dict] = {}
        directory.mkdir(parents=True, exist_ok=True)

    def create(self, name: str) -> str:
        image_id = uuidutils.generate_uuid()
        self.images[image_id] = {"id": image_id, "name": name, "status": "queued"}
        return image_id

    def path(self, image_id: str) -> Path:
        return self.directory / image_id

    def get(self, context, image_id: str, **_kwargs) -> dict:
        return dict(self.images[image_id])

    def update(self, context, image_id: str, metadata: dict, data=None, **_kwargs) -> dict:
        self.images[image_id].update(metadata, status="active")
        if data is not None:
            self._write_sparse(data, self.path(image_id))
        return dict(self.images[image_id])

    def delete(self, context, image_id: str) -> None:
        """What the manager does with the image of a failed snapshot."""
        del self.images[image_id]
        self.path(image_id).unlink(missing_ok=True)

    @staticmethod
    def _write_sparse(data, path: Path) -> None:
        """Copy only the data extents, seeking over the holes, to the source's length.

        An 8 GiB root holding a 16 MiB image uploads as 16 MiB in an instant;
        reading its holes as zeros would take seconds, writing them 8 GiB of disk.
        """
        source = data.fileno()
        size = os.fstat(source).st_size
        with path.open("wb") as target:
            end = 0
            while end < size:
                try:
                    start = os.lseek(source, end, os.SEEK_DATA)
                except OSError as err:
                    if err.errno != errno.ENXIO:
                        raise
                    break  # only a hole is left
                end = os.lseek(source, start, os.SEEK_HOLE)
                while start < end:
                    start += os.copy_file_range(source, target.fileno(), end - start, start, start)
            target.truncate(size)


@dataclass
class Cloud:
    """The two hosts, their drivers, and the gateway they share."""

    simulator: Simulator
    image: Path
    tmp: Path
    drivers: dict[str, SioLibvirtDriver] = field(default_factory=dict)
    context: object = None
    domain_xmls: list[tuple[str, str]] = field(default_factory=list)  # (host, XML) generated
    glance: FileGlance | None = None
    remote: RemoteHosts | None = None
    # What nova's database would hold: the block devices each instance booted with.
    block_devices: dict[str, dict | None] = field(default_factory=dict)

    @contextlib.contextmanager
    def on(self, host: str) -> Iterator[SioLibvirtDriver]:
        CONF.set_override("host", host)
        CONF.set_override("instances_path", str(self.tmp / host / "instances"))
        try:
            yield self.drivers.get(host)
        finally:
            CONF.clear_override("host")
            CONF.clear_override("instances_path")

    def storage(self, host: str = "host1") -> storage.Storage:
        return storage.for_host(CONF, host)

    # -- instances ---------------------------------------------------------

    def new_instance(self, flavor=None, *, host: str = "host1", config_drive: bool = False):
        flavor = flavor or make_flavor()
        instance = fake_instance.fake_instance_obj(
            self.context,
            uuid=uuidutils.generate_uuid(),
            host=host,
            node=host,
            image_ref=IMAGE_ID,
            flavor=flavor,
            root_gb=flavor.root_gb,
            ephemeral_gb=flavor.ephemeral_gb,
            memory_mb=flavor.memory_mb,
            vcpus=flavor.vcpus,
            vm_state=vm_states.BUILDING,
            task_state=task_states.SPAWNING,
            config_drive="True" if config_drive else "",
            os_type="linux",
            system_metadata={},
            old_flavor=None,
            new_flavor=None,
        )
        instance.system_metadata = {}
        instance.numa_topology = None
        instance.pci_requests = objects.InstancePCIRequests(requests=[])
        instance.resources = None
        for lazy in ("trusted_certs", "vcpu_model", "migration_context", "device_metadata"):
            setattr(instance, lazy, None)
        instance.keypairs = objects.KeyPairList(objects=[])
        instance.pci_devices = objects.PciDeviceList(objects=[])
        instance.tags = objects.TagList(objects=[])
        instance.services = objects.ServiceList(objects=[])
        return instance

    def image_meta(self, **properties):
        return objects.ImageMeta.from_dict(
            {
                "id": IMAGE_ID,
                "name": "cirros",
                "disk_format": "qcow2",
                "container_format": "bare",
                "size": self.image.stat().st_size,
                "properties": properties,
            }
        )

    def spawn(self, instance, host: str = "host1", block_device_info=None, **image_props):
        with self.on(host) as driver:
            driver.spawn(
                self.context,
                instance,
                self.image_meta(**image_props),
                [],
                None,
                {},
                network_info=[],
                block_device_info=block_device_info,
            )
        self.block_devices[instance.uuid] = block_device_info
        instance.vm_state, instance.task_state = vm_states.ACTIVE, None
        return instance

    def reboot_hard(self, instance, host: str = "host1"):
        instance.task_state = task_states.REBOOTING_HARD
        with self.on(host) as driver:
            driver.reboot(self.context, instance, [], "HARD")
        instance.task_state = None

    def resize(self, instance, flavor, source: str, dest: str):
        """Resize (or cold-migrate) to ``dest``, as the compute managers of both hosts do."""
        migration = self.migration(source, dest)
        disk_info = self.resize_instance(instance, flavor, migration)
        self.finish_resize(instance, migration, disk_info)
        return migration

    @staticmethod
    def migration(source: str, dest: str):
        """The record of one resize, as prep_resize leaves it."""
        return objects.Migration(
            id=1,
            uuid=uuidutils.generate_uuid(),
            source_compute=source,
            dest_compute=dest,
            source_node=source,
            dest_node=dest,
            migration_type="resize",
            status="pre-migrating",
        )

    def resize_instance(self, instance, flavor, migration) -> str:
        """The source's half: power off and hand the disks over; nova's disk_info."""
        instance.new_flavor = flavor
        instance.system_metadata["old_vm_state"] = instance.vm_state
        migration.status = "migrating"
        instance.task_state = task_states.RESIZE_MIGRATING
        with self.on(migration.source_compute) as driver:
            disk_info = driver.migrate_disk_and_power_off(
                self.context, instance, migration.dest_compute, flavor, [], None, 0, 0
            )
        migration.status = "post-migrating"
        instance.host = instance.node = migration.dest_compute
        instance.old_flavor = instance.flavor
        instance.task_state = task_states.RESIZE_MIGRATED
        return disk_info

    def finish_resize(self, instance, migration, disk_info: str) -> None:
        """The destination's half: the disks in the new flavor, the guest started."""
        flavor = instance.new_flavor
        instance.flavor = flavor
        instance.root_gb, instance.ephemeral_gb = flavor.root_gb, flavor.ephemeral_gb
        instance.task_state = task_states.RESIZE_FINISH
        with self.on(migration.dest_compute) as driver:
            driver.finish_migration(
                self.context,
                migration,
                instance,
                disk_info,
                [],
                self.image_meta(),
                True,
                {},
                None,
                True,
            )
        migration.status = "finished"
        instance.vm_state, instance.task_state = vm_states.RESIZED, None

    def confirm_resize(self, instance, migration, source: str):
        with self.on(source) as driver:
            driver.confirm_migration(self.context, migration, instance, [])
        migration.status = "confirmed"
        instance.old_flavor = instance.new_flavor = None
        instance.vm_state = vm_states.ACTIVE

    def revert_resize(self, instance, migration) -> None:
        """Back to the source in the old flavor: the destination lets go, the source restarts."""
        self.revert_resize_at_dest(instance, migration)
        self.finish_revert_resize(instance, migration)

    def revert_resize_at_dest(self, instance, migration) -> None:
        instance.task_state = task_states.RESIZE_REVERTING
        migration.status = "reverting"
        with self.on(migration.dest_compute) as driver:
            # The disks are shared block storage: nova keeps them.
            driver.destroy(self.context, instance, [], None, destroy_disks=False)

    def finish_revert_resize(self, instance, migration, block_device_info=None) -> None:
        instance.flavor = instance.old_flavor
        instance.root_gb = instance.flavor.root_gb
        instance.ephemeral_gb = instance.flavor.ephemeral_gb
        instance.host = instance.node = migration.source_compute
        with self.on(migration.source_compute) as driver:
            driver.finish_revert_migration(
                self.context, instance, [], migration, block_device_info, True
            )
        migration.status = "reverted"
        instance.vm_state, instance.task_state = vm_states.ACTIVE, None
        instance.old_flavor = instance.new_flavor = None

    def snapshot(self, instance, host: str = "host1") -> Path:
        """Snapshot the root disk to the file-backed Glance; the uploaded file."""
        image_id = self.glance.create(f"snapshot of {instance.uuid}")
        with self.on(host) as driver:
            driver.snapshot(self.context, instance, image_id, lambda **_: None)
        return self.glance.path(image_id)

    def live_migrate(self, instance, source: str, dest: str):
        """Every driver call of a live migration, in nova's order, on the right host.

        fakelibvirt cannot migrate a guest, so the one step libvirt does is
        done here: the domain is defined and started on ``dest`` and
        undefined on ``source``.  The simulated hosts see their devices in
        different directories (real hosts share /dev/disk/by-id paths), so
        the XML's device paths are moved to ``dest``'s.
        """
        instance.task_state = task_states.MIGRATING
        with self.on(source) as driver:  # what the compute node records hold
            source_info = {"cpu_info": jsonutils.dumps(driver._get_cpu_info())}
        with self.on(dest) as driver:
            dest_info = {"disk_available_least": driver._get_local_gb_info()["free"]}
            dest_check = driver.check_can_live_migrate_destination(
                self.context, instance, source_info, dest_info
            )
        with self.on(source) as driver:
            migrate_data = driver.check_can_live_migrate_source(self.context, instance, dest_check)
            xml = driver._host.get_guest(instance).get_xml_desc()
        with self.on(dest) as driver:
            migrate_data = driver.pre_live_migration(
                self.context, instance, None, [], None, migrate_data
            )
            moved = xml.replace(
                str(self.simulator.sdcs[source].by_id_dir),
                str(self.simulator.sdcs[dest].by_id_dir),
            )
            driver._host.write_instance_config(moved).launch()
        with self.on(source) as driver:
            guest = driver._host.get_guest(instance)
            guest.poweroff()
            guest.delete_configuration()
            driver.post_live_migration(self.context, instance, None, migrate_data)
            driver.post_live_migration_at_source(self.context, instance, [])
        instance.host = instance.node = dest
        with self.on(dest) as driver:
            driver.post_live_migration_at_destination(self.context, instance, [])
        instance.task_state = None

    def evacuate(self, instance, source: str, dest: str):
        """Rebuild the instance on ``dest`` after ``source`` failed, as nova's manager does.

        ``instance.host`` stays ``source`` while ``dest`` spawns: the manager
        moves it only once the spawn succeeded (``finish_evacuation``).  Its
        rebuild claim gives the instance a migration context for the move.
        """
        instance.task_state = task_states.REBUILD_SPAWNING
        instance.migration_context = objects.MigrationContext(
            instance_uuid=instance.uuid, migration_id=1, source_compute=source, dest_compute=dest
        )
        # The Migration record nova reads back through it is not in this harness's
        # database; an evacuation is never a cross-cell move.
        cross_cell = mock.patch.object(
            objects.MigrationContext, "is_cross_cell_move", return_value=False
        )
        try:
            with cross_cell:
                self.spawn(instance, host=dest)
        finally:
            instance.migration_context = None  # drop_migration_context
        instance.host = instance.node = dest
        return instance

    def destroy_for_rebuild(self, instance, host: str):
        """A rebuild on ``host`` up to its spawn: nova's default rebuild destroys the disks."""
        instance.task_state = task_states.REBUILDING
        with self.on(host) as driver:
            driver.destroy(self.context, instance, [], None, destroy_disks=True)

    def evacuated_host_returns(self, instance, host: str, block_device_info=None):
        """``host`` starts again after the instance left it: ``_destroy_evacuated_instances``."""
        with self.on(host) as driver:
            data = driver.check_instance_shared_storage_local(self.context, instance)
            # With data the manager asks the instance's host whether it sees
            # that file; the simulated hosts' instance paths are apart, so no.
            destroy_disks = data is not None
            if data:
                driver.check_instance_shared_storage_cleanup(self.context, data)
            driver.destroy(self.context, instance, [], block_device_info, destroy_disks)

    def rescue(self, instance, host: str = "host1"):
        instance.task_state = task_states.RESCUING
        with self.on(host) as driver:
            driver.rescue(self.context, instance, [], self.image_meta(), "secret", None, None)
        instance.vm_state, instance.task_state = vm_states.RESCUED, None

    def unrescue(self, instance, host: str = "host1"):
        instance.task_state = task_states.UNRESCUING
        with self.on(host) as driver:
            driver.unrescue(self.context, instance)
        instance.vm_state, instance.task_state = vm_states.ACTIVE, None

    def delete(self, instance, host: str = "host1", block_device_info=None):
        instance.task_state = task_states.DELETING
        with self.on(host) as driver:
            driver.destroy(self.context, instance, [], block_device_info, destroy_disks=True)

    def domain_running(self, instance, host: str) -> bool:
        with self.on(host) as driver:
            try:
                info = driver.get_info(instance)
            except Exception:  # InstanceNotFound and friends: not running
                return False
            return info.state == power_state.RUNNING

    # -- the gateway's view ---------------------------------------------------

    def volumes(self) -> dict[str, object]:
        """Every volume in the system by name (the simulator's state model)."""
        return {v.name: v for v in self.simulator.state.volumes()}

    def mapped_hosts(self, volume_name: str) -> set[str]:
        volume = self.volumes()[volume_name]
        by_id = {sdc.id: name for name, sdc in self.simulator.sdcs.items()}
        return {by_id[sdc_id] for sdc_id in volume.mappings}

    def instance_volume_names(self, instance) -> set[str]:
        prefix = storage.for_host(CONF, "host1").disk_volume_name(instance.uuid, "disk")[:26]
        return {name for name in self.volumes() if name and name.startswith(prefix)}

    def volume_name(self, instance, disk: str = "disk") -> str:
        return self.storage().disk_volume_name(instance.uuid, disk)

    def device(self, instance, disk: str = "disk", host: str = "host1") -> str:
        volume = self.volumes()[self.volume_name(instance, disk)]
        return str(self.simulator.sdcs[host].device_path(volume.id))

    def state_of(self, instance) -> dict[str, tuple[int, set[str]]]:
        """The instance's volumes by name: (size in GiB, hosts mapped to)."""
        volumes = self.volumes()
        return {
            name: (volumes[name].size_kb // units.Mi, self.mapped_hosts(name))
            for name in self.instance_volume_names(instance)
        }

    def assert_state(self, instance, expected: dict[str, tuple[int, set[str]]]) -> None:
        """Exactly these volumes of the instance exist, of these sizes, mapped only there."""
        actual = self.state_of(instance)
        if actual != expected:
            raise AssertionError(f"gateway state {actual} != expected {expected}")

    def assert_no_leaks(self, *instances) -> None:
        """Every volume but these instances' is an image cache volume, mapped nowhere."""
        owned = set().union(*(self.instance_volume_names(i) for i in instances))
        for name, volume in self.volumes().items():
            if name in owned:
                continue
            if not isinstance(naming.parse_volume_name(name), naming.ImageCacheVolumeName):
                raise AssertionError(f"leaked volume {name}")
            if volume.mappings:
                raise AssertionError(f"image volume {name} left mapped to {volume.mappings}")


class CloudFixture(fixtures.Fixture):
    """Starts the simulator (of the PowerFlex generation ``api_version`` names)
    and both hosts; stops everything on cleanup."""

    def __init__(self, tmp: Path, image_size_mb: int = 1024, *, api_version: str = "3.5") -> None:
        super().__init__()
        self.tmp = tmp
        self.image_size_mb = image_size_mb
        self.api_version = api_version

    def _setUp(self) -> None:
        self.useFixture(nova_fixtures.LibvirtFixture())
        # The host's control groups, as nova's ServersTestBase does: otherwise what
        # the guest XML gets depends on the cgroup layout of the machine under test.
        self.useFixture(nova_fixtures.CGroupsFixture())
        # Privileged helpers run in this (root) process, as nova's PrivsepFixture does.
        for context in (nova.privsep.sys_admin_pctxt, privileged.sys_admin_pctxt):
            self.useFixture(fixtures.MockPatchObject(context, "client_mode", False))
        simulator = Simulator(
            self.tmp / "simulator", tls=True, migration_delay=0.05, api_version=self.api_version
        )
        simulator.start()
        self.addCleanup(simulator.stop)
        image = make_image(self.tmp / "cirros.qcow2", self.image_size_mb)
        self.cloud = Cloud(
            simulator,
            image,
            self.tmp,
            context=nova_context.get_admin_context(),
            glance=FileGlance(self.tmp / "glance"),
            remote=RemoteHosts(lambda host: self.tmp / host / "instances"),
        )
        self._record_domain_xmls()
        # The harness's instances are not in nova's database: where the driver
        # reads their block devices, it gets those they booted with.
        self.useFixture(
            fixtures.MockPatchObject(
                SioLibvirtDriver,
                "_stored_block_device_info",
                lambda driver, context, instance: self.cloud.block_devices.get(instance.uuid),
            )
        )
        for host in HOSTS:
            simulator.add_sdc(host)
            (self.tmp / host / "instances").mkdir(parents=True)
            storage.register(
                host, simulated_storage(simulator, host, installation_id=IID, wait_timeout=5)
            )
            self.addCleanup(storage.unregister, host)
            with self.cloud.on(host):
                self.cloud.drivers[host] = SioLibvirtDriver(fake_virt.FakeVirtAPI(), False)
                self.cloud.drivers[host]._image_api = self.cloud.glance
                self.cloud.drivers[host]._remotefs = self.cloud.remote
        self._replace_services(image)

    def _record_domain_xmls(self) -> None:
        """Keep every domain XML nova generates (fakelibvirt's own rendering is not nova's)."""
        generate = libvirt_driver.LibvirtDriver._get_guest_xml
        recorded = self.cloud.domain_xmls

        def _get_guest_xml(driver, *args, **kwargs):
            xml = generate(driver, *args, **kwargs)
            recorded.append((CONF.host, xml))
            return xml

        self.useFixture(
            fixtures.MockPatchObject(libvirt_driver.LibvirtDriver, "_get_guest_xml", _get_guest_xml)
        )

    def _replace_services(self, image: Path) -> None:
        """Glance, the database and device metadata, which a lone driver has none of."""

        def fetch_image(context, target, image_id, trusted_certs=None):
            shutil.copyfile(image, target)

        self.useFixture(fixtures.MockPatch("nova.virt.libvirt.utils.fetch_image", fetch_image))
        self.useFixture(
            fixtures.MockPatch("nova.virt.libvirt.utils.copy_image", self.cloud.remote.copy_image)
        )
        self.useFixture(fixtures.MockPatch("nova.objects.Instance.save"))
        # Lifecycle events go to the compute manager, which is not running.
        self.useFixture(
            fixtures.MockPatch(
                "nova.virt.libvirt.host.Host._event_lifecycle_callback",
                staticmethod(lambda *args: None),
            )
        )
        self.useFixture(
            fixtures.MockPatch(
                "nova.virt.libvirt.driver.LibvirtDriver._build_device_metadata",
                return_value=None,
            )
        )
        self.useFixture(
            fixtures.MockPatch(
                "nova.virt.libvirt.driver.LibvirtDriver._register_undefined_instance_details"
            )
        )
