"""Instance disks made as nova's libvirt driver makes them, without a driver.

Each disk goes through :class:`~sio_backend.imagebackend.ScaleIOImage` the
way nova's spawn calls it: ``cache`` with the arguments nova passes for that
disk (the image fetch for the root, nova's own mkfs and mkswap callbacks for
the ephemeral and swap disks), then ``libvirt_info`` as the domain
definition does.  The benchmark and the functional tests measure and race
the backend through these, so both drive it as nova does.
"""

from __future__ import annotations

import functools
import shutil
import uuid
from pathlib import Path

import nova.conf
from nova import objects
from nova.virt.libvirt import driver as libvirt_driver
from oslo_utils import units

from sio_backend.imagebackend import ScaleIOImage
from sio_backend.storage import Storage

CONF = nova.conf.CONF
GiB = units.Gi
DISKS = ("disk", "disk.local", "disk.swap")
DISK_INFO = {"bus": "virtio", "dev": "vda", "type": "disk"}

objects.register_all()


def new_instance(root_gb: int = 8, extra_specs: dict | None = None) -> objects.Instance:
    """A root + 8 GiB ephemeral + 8 GiB swap instance, as nova hands it to the driver."""
    flavor = objects.Flavor(
        name="m1.sio",
        flavorid="sio1",
        root_gb=root_gb,
        ephemeral_gb=8,
        swap=8192,
        extra_specs=extra_specs or {},
    )
    return objects.Instance(
        uuid=str(uuid.uuid4()),
        flavor=flavor,
        os_type="linux",
        config_drive="",
        system_metadata={},
        image_ref="",
        vm_state="active",
        task_state=None,
        host=CONF.host,
        deleted=False,
    )


def cache_arguments(disk: str, image: Path, root_gb: int, image_id: str | None = None) -> dict:
    """What nova's spawn passes to ``Image.cache`` for ``disk``.

    ``image_id`` names the Glance image of the root disk, as nova does;
    without it the root is a plain copy (the image cache needs an id).
    """
    if disk == "disk":

        def fetch(target, *args, **kwargs):
            shutil.copyfile(image, target)

        arguments = {"fetch_func": fetch, "filename": image_id or image.name, "size": root_gb * GiB}
        if image_id:
            arguments.update(context=None, image_id=image_id)
        return arguments
    if disk == "disk.local":
        make_fs = functools.partial(
            libvirt_driver.LibvirtDriver._create_ephemeral,
            fs_label="ephemeral0",
            os_type="linux",
            is_block_dev=True,
        )
        return {
            "fetch_func": make_fs,
            "filename": "ephemeral_8_ext4",
            "size": 8 * GiB,
            "ephemeral_size": 8,
            "safe": True,
        }
    return {
        "fetch_func": libvirt_driver.LibvirtDriver._create_swap,
        "filename": "swap_8192",
        "size": 8 * GiB,
        "swap_mb": 8192,
        "safe": True,
    }


def disk_image(host_storage: Storage, instance, disk: str) -> ScaleIOImage:
    """The image backend object of ``disk`` on the host of ``host_storage``."""
    image = ScaleIOImage(instance=instance, disk_name=disk)
    # nova builds images on the host it runs on; simulated hosts sharing one
    # process (and one CONF.host) hand each image its host's storage.
    image.storage = host_storage
    image.disk_info_mapping = DISK_INFO
    return image


def spawn_disk(
    host_storage: Storage, instance, disk: str, image: Path, image_id: str | None = None
) -> ScaleIOImage:
    """Create one disk: ``cache`` it, then define it in the domain (which maps it)."""
    backend = disk_image(host_storage, instance, disk)
    backend.cache(**cache_arguments(disk, image, instance.flavor.root_gb, image_id))
    backend.libvirt_info(cache_mode="none", extra_specs={})
    return backend


def spawn(host_storage: Storage, instance, image: Path, image_id: str | None = None) -> None:
    """Create the root, ephemeral and swap disks of ``instance``."""
    for disk in DISKS:
        spawn_disk(host_storage, instance, disk, image, image_id)
