"""The same operations done the peers' way, against the same simulator.

* ``siolib`` 2.0.3 is the client of the historical nova ScaleIO patch; the
  adapter replays that patch's ``SIODriver`` call sequence (volume lookups
  by name per disk, pool and domain resolved on every create, volumes of an
  instance found by listing every volume of the system on delete and on
  live migration, a new HTTPS connection per request).
* ``PyPowerFlex`` (Dell's SDK) has no nova driver; the adapter does what its
  API offers for each step (names are found by listing and filtering, every
  API call logs in, asks the version, logs in again and logs out).  Its pool
  and SDC ids are resolved once, as sio_backend caches them.

Both write the same data onto the devices as sio_backend does, without its
zero skipping, so wall times compare gateway costs, not different work.
Either peer that cannot be imported is reported as unavailable with the reason.
"""

from __future__ import annotations

import base64
import importlib
import uuid

from nova.virt import images
from nova.virt.libvirt import driver as libvirt_driver
from sio_fixtures.nova_disks import DISKS

from benchmarks.environment import Bench
from sio_backend import privileged

_SIOLIB_SUFFIX = {"disk": "", "disk.local": "local", "disk.swap": "swap"}


def fill(disk: str, device: str, image: str) -> None:
    """Write what nova writes onto a new disk: the image, a filesystem or swap."""
    if disk == "disk":
        privileged.convert_image(
            image, "qcow2", device, "raw", target_exists=True, target_is_zero=False
        )
    elif disk == "disk.local":
        libvirt_driver.LibvirtDriver._create_ephemeral(
            target=device,
            ephemeral_size=8,
            fs_label="ephemeral0",
            os_type="linux",
            is_block_dev=True,
        )
    else:
        libvirt_driver.LibvirtDriver._create_swap(target=device, swap_mb=8192)


def historical_name(instance_uuid: str, disk: str) -> str:
    """The historical patch's volume name: base64 of the UUID's bytes, plus a role suffix."""
    prefix = base64.b64encode(uuid.UUID(instance_uuid).bytes).decode()
    return prefix + _SIOLIB_SUFFIX.get(disk, disk)


class SiolibWay:
    """The historical nova ScaleIO patch (``sio_utils.SIODriver``) over siolib 2.0.3."""

    name = "siolib 2.0.3"

    def __init__(self, bench: Bench, image: str) -> None:
        self._siolib = importlib.import_module("siolib")
        self._scaleio = importlib.import_module("siolib.scaleio")
        self.bench = bench
        self.image = image
        sim = bench.sim
        self.io = self._siolib.ScaleIO(
            rest_server_ip=sim.host,
            rest_server_port=sim.port,
            rest_server_username=sim.username,
            rest_server_password=sim.password,
            verify_server_certificate=True,
            server_certificate_path=str(sim.ca_path),
        )

    def _on(self, host: str) -> str:
        """siolib looks for devices in one module-wide directory; point it at the host's."""
        sdc = self.bench.sim.sdcs[host]
        self._scaleio.LOCAL_DEVICES_PATH = str(sdc.by_id_dir)
        return sdc.guid

    def _map(self, volume_id: str, guid: str, with_no_wait: bool = False) -> str | None:
        try:
            self.io.attach_volume(volume_id, guid)
        except self._siolib.VolumeAlreadyMapped:
            pass
        return self.io.get_volumepath(volume_id, with_no_wait=with_no_wait)

    def _instance_volume_ids(self, instance) -> list[str]:
        prefix = historical_name(instance.uuid, "disk")
        return [v["id"] for v in self.io.list_volume_infos() if v["name"].startswith(prefix)]

    def spawn_disk(self, instance, disk: str, host: str = "host1") -> None:
        guid = self._on(host)
        name = historical_name(instance.uuid, disk)
        try:
            self.io.get_volumeid(name)
            return
        except self._siolib.VolumeNotFound:
            pass
        volume_id, _ = self.io.create_volume(name, "pd1", "sp1", "thick", 8)
        fill(disk, self._map(volume_id, guid), self.image)

    def spawn(self, instance, host: str = "host1") -> None:
        for disk in DISKS:
            self.spawn_disk(instance, disk, host)

    def delete(self, instance, host: str = "host1") -> None:
        self._on(host)
        for volume_id in self._instance_volume_ids(instance):
            try:
                self.io.delete_volume(volume_id, unmap_on_delete=True)
            except self._siolib.VolumeNotFound:
                pass

    def live_migrate(self, instance, source: str = "host1", dest: str = "host2") -> None:
        guid = self._on(dest)
        for volume_id in self._instance_volume_ids(instance):  # pre_live_migration
            self._map(volume_id, guid, with_no_wait=True)
        guid = self._on(source)
        for volume_id in self._instance_volume_ids(instance):  # cleanup(unmap_only=True)
            try:
                self.io.detach_volume(volume_id, guid)
            except (self._siolib.VolumeNotMapped, self._siolib.VolumeNotFound):
                pass

    def resize(self, instance, host: str = "host1") -> None:
        self._on(host)
        name = historical_name(instance.uuid, "disk")
        snapshot = name + "/~"
        self.io.snapshot_volume(self.io.get_volumeid(name), snapshot)
        volume_id = self.io.get_volumeid(name)  # finish_migration's new image object
        self.io.extend_volume(volume_id, 16)
        self.io.get_volumepath(volume_id, with_no_wait=True)
        self.io.delete_volume(snapshot, unmap_on_delete=True)  # confirm

    def snapshot(self, instance, host: str = "host1") -> None:
        """Cold snapshot: export the root device itself."""
        self._on(host)
        path = self.io.get_volumepath(self.io.get_volumeid(historical_name(instance.uuid, "disk")))
        target = self.bench.workdir / f"siolib-snapshot-{instance.uuid}.raw"
        images.convert_image(path, str(target), "raw", "raw", run_as_root=True)
        target.unlink()


class PyPowerFlexWay:
    """Dell's PyPowerFlex SDK, one SDK call per step."""

    name = "PyPowerFlex"

    def __init__(self, bench: Bench, image: str) -> None:
        self.bench = bench
        self.image = image
        sim = bench.sim
        self.client = importlib.import_module("PyPowerFlex").PowerFlexClient(
            gateway_address=sim.host,
            gateway_port=sim.port,
            username=sim.username,
            password=sim.password,
            verify_certificate=True,
            certificate_path=str(sim.ca_path),
        )
        self.client.initialize()
        (domain,) = self.client.protection_domain.get(filter_fields={"name": "pd1"})
        (pool,) = self.client.storage_pool.get(
            filter_fields={"name": "sp1", "protectionDomainId": domain["id"]}
        )
        self.pool_id = pool["id"]
        self.sdc_ids = {
            host: self.client.sdc.get(filter_fields={"sdcGuid": sdc.guid})[0]["id"]
            for host, sdc in bench.sim.sdcs.items()
        }
        self.system_id = self.client.system.get()[0]["id"]

    def _volumes(self, instance, disks=DISKS) -> dict[str, dict]:
        names = [historical_name(instance.uuid, disk) for disk in disks]
        found = self.client.volume.get(filter_fields={"name": names})
        return {volume["name"]: volume for volume in found}

    def _map(self, volume_id: str, host: str) -> None:
        self.client.volume.add_mapped_sdc(
            volume_id,
            sdc_id=self.sdc_ids[host],
            allow_multiple_mappings=True,
        )

    def _device(self, volume: dict, host: str) -> str:
        local = self.bench.hosts[host].sdc
        return local.wait_for_device(self.system_id, volume["id"], volume["name"])

    def spawn_disk(self, instance, disk: str, host: str = "host1") -> None:
        name = historical_name(instance.uuid, disk)
        if self.client.volume.get(filter_fields={"name": name}):
            return
        volume = self.client.volume.create(
            self.pool_id, 8, name=name, volume_type="ThickProvisioned"
        )
        self._map(volume["id"], host)
        fill(disk, self._device(volume, host), self.image)

    def spawn(self, instance, host: str = "host1") -> None:
        for disk in DISKS:
            self.spawn_disk(instance, disk, host)

    def delete(self, instance, host: str = "host1") -> None:
        for volume in self._volumes(instance).values():
            if volume.get("mappedSdcInfo"):
                self.client.volume.remove_mapped_sdc(volume["id"], all_sdcs=True)
            self.client.volume.delete(volume["id"], "ONLY_ME")

    def live_migrate(self, instance, source: str = "host1", dest: str = "host2") -> None:
        for volume in self._volumes(instance).values():
            self._map(volume["id"], dest)
            self._device(volume, dest)
        for volume in self._volumes(instance).values():
            self.client.volume.remove_mapped_sdc(volume["id"], sdc_id=self.sdc_ids[source])

    def _snapshot(self, volume: dict, name: str) -> str:
        answer = self.client.system.snapshot_volumes(
            self.system_id, [{"volumeId": volume["id"], "snapshotName": name}]
        )
        return answer["volumeIdList"][0]

    def resize(self, instance, host: str = "host1") -> None:
        name = historical_name(instance.uuid, "disk")
        root = self._volumes(instance, ["disk"])[name]
        snapshot_id = self._snapshot(root, name[:29] + "/~")
        self.client.volume.extend(root["id"], 16)
        self.client.volume.delete(snapshot_id, "ONLY_ME")

    def snapshot(self, instance, host: str = "host1") -> None:
        """Like sio_backend's live snapshot: snapshot, map, export, unmap, remove."""
        name = historical_name(instance.uuid, "disk")
        root = self._volumes(instance, ["disk"])[name]
        snapshot_id = self._snapshot(root, name[:29] + "/g")
        self._map(snapshot_id, host)
        device = self._device({"id": snapshot_id, "name": None}, host)
        target = self.bench.workdir / f"pypowerflex-snapshot-{instance.uuid}.raw"
        images.convert_image(device, str(target), "raw", "raw", run_as_root=True)
        target.unlink()
        self.client.volume.remove_mapped_sdc(snapshot_id, sdc_id=self.sdc_ids[host])
        self.client.volume.delete(snapshot_id, "ONLY_ME")
