"""Cinder with its PowerFlex driver, for servers with a Cinder volume beside their own disks.

nova's ``CinderFixture`` stands in for Cinder's API with attachments whose
connection is fake.  :class:`PowerFlexCinderFixture` answers the volumes it
created as Cinder's PowerFlex driver does when the host's connector names its
SDC (``sdc_guid``, os-brick 6 and later): the volume is a PowerFlex volume
named as Cinder names it (its id in base64, without any installation
prefix); connecting an attachment maps the volume to that SDC over the
gateway's REST API and returns ``driver_volume_type = scaleio``; deleting
the attachment unmaps it unless another attachment is still connected
through the same SDC.  nova's ``LibvirtScaleIOVolumeDriver`` then hands that
connection to real os-brick.

:class:`ComputeSdcsFixture` is the host side nova's os-brick needs for it:
each compute answers the SDC GUID ioctl with its own simulated SDC, finds
devices in that SDC's by-id directory, and reads the PowerFlex connector's
credentials from a real ``connector.conf`` (os-brick's privileged reader,
run in process).
"""

from __future__ import annotations

import base64
import collections
import uuid
from pathlib import Path

import fixtures
from nova import exception
from nova.tests.fixtures import cinder as nova_cinder
from os_brick import exception as brick_exception
from os_brick import privileged as brick_privileged
from os_brick.initiator import connector as brick_connector
from os_brick.initiator.connectors import scaleio
from os_brick.privileged import scaleio as priv_scaleio

from sio_backend.demo.compute_hosts import ComputeHostsFixture
from sio_backend.gateway import GatewayClient, Volume
from sio_backend.simulator import Simulator

CONFIG_GROUP = "powerflex"  # the cinder.conf backend section, as os-brick's connector.conf names it


def cinder_volume_name(volume_id: str) -> str:
    """The PowerFlex name Cinder gives a volume: its UUID's bytes in base64."""
    return base64.b64encode(uuid.UUID(volume_id).bytes).decode("ascii")


class PowerFlexCinderFixture(nova_cinder.CinderFixture):
    """nova's CinderFixture, whose own volumes live on the simulator as Cinder's
    PowerFlex driver keeps them."""

    def __init__(self, test, simulator: Simulator, client: GatewayClient, pool_id: str) -> None:
        super().__init__(test)
        self.simulator = simulator
        self.client = client
        self.pool_id = pool_id
        #: The mapping changes Cinder made, by volume id: how many "map" and "unmap".
        self.changes: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )

    # -- what Cinder's volume API does --------------------------------------------------

    def create_volume(self, size_gb: int = 8) -> str:
        """A new, detached PowerFlex volume; its Cinder id."""
        volume_id = str(uuid.uuid4())
        created = self.client.create_volume(
            cinder_volume_name(volume_id), self.pool_id, size_gb, thin=True
        )
        self.volumes[volume_id] = {
            "id": volume_id,
            "display_name": f"cinder-{size_gb}g",
            "size": size_gb,
            "multiattach": False,
            "availability_zone": self.az,
            "status": "available",
            "attach_status": "detached",
            "provider_id": created.id,
        }
        return volume_id

    def delete_volume(self, volume_id: str) -> None:
        """Cinder's delete: refused while attached, as Cinder refuses it."""
        if self.volume_to_attachment[volume_id]:
            raise exception.InvalidInput(f"Cinder volume {volume_id} is still attached")
        self.client.remove_volume(self.volumes.pop(volume_id)["provider_id"])

    def powerflex_volume(self, volume_id: str) -> Volume:
        """The PowerFlex volume holding the Cinder volume, read from the gateway now."""
        return self.client.get_volume(self.volumes[volume_id]["provider_id"])

    # -- attachments: Cinder's attachment API and its PowerFlex driver --------------------

    def fake_attachment_create(
        self, context, volume_id, instance_uuid, connector=None, mountpoint=None
    ):
        if volume_id not in self.volumes:
            return super().fake_attachment_create(
                context, volume_id, instance_uuid, connector, mountpoint
            )
        attachment_id = str(uuid.uuid4())
        self.volume_to_attachment[volume_id][attachment_id] = {
            "id": attachment_id,
            "instance_uuid": instance_uuid,
            "connector": None,
        }
        attachment = {"id": attachment_id}
        if connector:
            attachment["connection_info"] = self._connect(volume_id, attachment_id, connector)
        return attachment

    def fake_attachment_update(self, context, attachment_id, connector, mountpoint=None):
        volume_id, _attachment, _attachments = self._find_attachment(attachment_id)
        if volume_id not in self.volumes:
            return super().fake_attachment_update(context, attachment_id, connector, mountpoint)
        if mountpoint:
            connector["device"] = mountpoint
        return {
            "id": attachment_id,
            "connection_info": self._connect(volume_id, attachment_id, connector),
        }

    def fake_attachment_delete(self, context, attachment_id):
        volume_id, attachment, attachments = self._find_attachment(attachment_id)
        super().fake_attachment_delete(context, attachment_id)
        guid = (attachment.get("connector") or {}).get("sdc_guid")
        if volume_id not in self.volumes or guid is None:
            return
        still_connected = {
            (other.get("connector") or {}).get("sdc_guid", "").lower()
            for other in attachments.values()
        }
        if guid.lower() not in still_connected:
            self.client.unmap_volume(
                self.volumes[volume_id]["provider_id"], self.client.sdc_by_guid(guid).id
            )
            self.changes[volume_id]["unmap"] += 1

    def _find_connection_info(self, volume_id, attachment_id):
        if volume_id not in self.volumes:
            return super()._find_connection_info(volume_id, attachment_id)
        connector = self.volume_to_attachment[volume_id][attachment_id]["connector"]
        if connector is None:
            return {}  # Cinder has no connection for an attachment not connected yet
        return self._connection_info(volume_id, attachment_id, connector["sdc_guid"])

    def _connect(self, volume_id: str, attachment_id: str, connector: dict) -> dict:
        """Cinder's initialize_connection: map the volume to the connector's SDC."""
        attachments = self.volume_to_attachment[volume_id]
        instance_uuid = attachments[attachment_id]["instance_uuid"]
        for other in attachments.values():
            # One instance at a time (not multiattach); the same instance's second
            # attachment is a move's destination.
            if other["connector"] is not None and other["instance_uuid"] != instance_uuid:
                raise exception.InvalidInput(
                    f"Volume {volume_id} is already connected with attachment {other['id']}"
                )
        guid = connector.get("sdc_guid")
        if not guid:
            raise exception.InvalidInput(
                f"The connector of host {connector.get('host')} names no SDC (no sdc_guid): "
                "is the PowerFlex SDC installed there?"
            )
        attachments[attachment_id]["connector"] = connector
        sdc_id = self.client.sdc_by_guid(guid).id
        volume = self.powerflex_volume(volume_id)
        if sdc_id not in volume.mapped_sdc_ids:
            self.client.map_volume(volume.id, sdc_id, allow_multiple=True)
            self.changes[volume_id]["map"] += 1
        return self._connection_info(volume_id, attachment_id, guid)

    def _connection_info(self, volume_id: str, attachment_id: str, sdc_guid: str) -> dict:
        """What Cinder's PowerFlex driver returns for a connection through ``sdc_guid``."""
        return {
            "driver_volume_type": "scaleio",
            "data": {
                "scaleIO_volname": cinder_volume_name(volume_id),
                "scaleIO_volume_id": self.volumes[volume_id]["provider_id"],
                "hostIP": None,
                "serverIP": self.simulator.host,
                "serverPort": self.simulator.port,
                "serverUsername": self.simulator.username,
                "iopsLimit": None,
                "bandwidthLimit": None,
                "verify_certificate": True,
                "certificate_path": str(self.simulator.ca_path),
                "config_group": CONFIG_GROUP,
                "failed_over": False,
                "sdc_guid": sdc_guid,
                "volume_id": volume_id,
                "attachment_id": attachment_id,
            },
        }


class ComputeSdcsFixture(fixtures.Fixture):
    """What os-brick finds on each compute: its simulated SDC, and nothing else."""

    def __init__(self, simulator: Simulator, hosts: ComputeHostsFixture, conf_dir: Path) -> None:
        super().__init__()
        self.simulator = simulator
        self.hosts = hosts
        self.conf_dir = conf_dir

    def _setUp(self) -> None:
        # The computes have an SDC and no iSCSI, FC or NVMe initiator.
        self.useFixture(
            fixtures.MockPatchObject(
                brick_connector,
                "_get_connector_list",
                lambda: ["os_brick.initiator.connectors.scaleio.ScaleIOConnector"],
            )
        )
        self.useFixture(fixtures.MockPatchObject(priv_scaleio, "get_guid", self._get_guid))
        self.useFixture(
            fixtures.MockPatchObject(
                scaleio.ScaleIOConnector, "get_search_path", self._search_path()
            )
        )
        self.useFixture(
            fixtures.MockPatchObject(scaleio, "CONNECTOR_CONF_PATH", str(self._connector_conf()))
        )
        self.useFixture(
            fixtures.MockPatchObject(
                brick_privileged.brick_privsep_hide_output, "client_mode", False
            )
        )

    def _sdc(self):
        host = self.hosts.current
        if host is None:
            # What the ioctl meets on a host without the scini driver.
            raise FileNotFoundError("/dev/scini: this thread works for no compute")
        return self.simulator.sdcs[host]

    def _get_guid(self, _op_code: int) -> str:
        return self._sdc().guid.lower()  # the ioctl reports GUIDs in lower case

    def _search_path(self):
        fixture = self

        def get_search_path(_connector) -> str:
            try:
                return str(fixture._sdc().by_id_dir)
            except FileNotFoundError as err:
                raise brick_exception.BrickException(message=str(err)) from err

        return get_search_path

    def _connector_conf(self) -> Path:
        """The file the PowerFlex SDC's OpenStack package keeps on each host."""
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        path = self.conf_dir / "connector.conf"
        path.write_text(
            f"[{CONFIG_GROUP}]\n"
            f"san_username = {self.simulator.username}\n"
            f"san_password = {self.simulator.password}\n"
        )
        return path
