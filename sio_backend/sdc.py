"""This host's SDC: its identity and the devices of volumes mapped to it.

The privileged work (GUID ioctl, rescan ioctl, ``blockdev``) is os-brick's
``ScaleIOConnector``; this module only decides what to wait for and for how
long, so a device that never shows up fails with the volume's name instead
of hanging a spawn.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from os_brick import exception as brick_exception
from os_brick.initiator.connectors import scaleio
from oslo_log import log as logging

from sio_backend import exceptions

LOG = logging.getLogger(__name__)

BY_ID_DIR = "/dev/disk/by-id"
_POLL_INTERVAL = 0.2


def device_name(system_id: str, volume_id: str) -> str:
    """The udev by-id name the SDC gives a mapped volume."""
    return f"emc-vol-{system_id}-{volume_id}"


def parse_device_path(path: str) -> tuple[str, str] | None:
    """Return (system_id, volume_id) from a by-id path, or None if it is not one."""
    base = os.path.basename(path)
    prefix = "emc-vol-"
    if not base.startswith(prefix):
        return None
    system_id, sep, volume_id = base[len(prefix) :].partition("-")
    if not sep or not system_id or not volume_id or "-" in volume_id:
        return None
    return system_id, volume_id


class Connector(scaleio.ScaleIOConnector):
    """os-brick's connector, looking for devices in a chosen directory."""

    def __init__(self, device_dir: str = BY_ID_DIR, **kwargs) -> None:
        kwargs.setdefault("root_helper", None)
        super().__init__(**kwargs)
        self.device_dir = device_dir

    def get_search_path(self) -> str:
        return self.device_dir


class LocalSdc:
    """The SDC of the host this process runs on."""

    def __init__(
        self,
        guid: str,
        *,
        connector: Connector | None = None,
        wait_timeout: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.guid = guid
        self.connector = connector or Connector()
        self.wait_timeout = wait_timeout
        self._clock = clock
        self._sleep = sleep

    @property
    def device_dir(self) -> str:
        return self.connector.device_dir

    @classmethod
    def from_config(cls, conf, connector: Connector | None = None) -> LocalSdc:
        """Use ``[scaleio] default_sdcguid`` or ask the SDC kernel driver."""
        connector = connector or Connector()
        guid = conf.scaleio.default_sdcguid or connector.get_connector_properties(None).get(
            "sdc_guid"
        )
        if not guid:
            raise exceptions.ConfigurationError(
                "Cannot tell this host's SDC GUID: [scaleio] default_sdcguid is not set and "
                "the SDC driver did not answer (is the scini module loaded and /dev/scini "
                "present?). Install and start the PowerFlex SDC, or set default_sdcguid."
            )
        return cls(guid, connector=connector, wait_timeout=conf.scaleio.disk_wait_timeout)

    def device_path(self, system_id: str, volume_id: str) -> str:
        return os.path.join(self.device_dir, device_name(system_id, volume_id))

    def _connection_properties(self, volume_id: str, volume_name: str | None) -> dict:
        # "sdc_guid" selects os-brick's driver-side mode: no REST, only the wait.
        return {
            "scaleIO_volname": volume_name or volume_id,
            "scaleIO_volume_id": volume_id,
            "sdc_guid": self.guid,
        }

    def _poll(self, done: Callable[[], bool]) -> bool:
        deadline = self._clock() + self.wait_timeout
        while True:
            if done():
                return True
            if self._clock() >= deadline:
                return False
            self._sleep(_POLL_INTERVAL)

    def wait_for_device(self, system_id: str, volume_id: str, volume_name: str | None) -> str:
        """Wait until the mapped volume's device exists; return its path."""
        path = self.device_path(system_id, volume_id)
        if not self._poll(lambda: os.path.exists(path)):
            raise exceptions.DeviceNotFound(
                f"Volume {volume_name or volume_id} (id {volume_id}) is mapped to SDC "
                f"{self.guid} but {path} did not appear within {self.wait_timeout:g} s "
                "([scaleio] disk_wait_timeout). Check that the SDC is connected to the MDM "
                "(drv_cfg --query_mdms) and that multipathd does not claim emc-vol devices."
            )
        try:
            info = self.connector.connect_volume(
                self._connection_properties(volume_id, volume_name)
            )
        except brick_exception.BrickException as err:
            raise exceptions.DeviceNotFound(
                f"os-brick could not find volume {volume_name or volume_id} (id {volume_id}) "
                f"in {self.device_dir}: {err}"
            ) from err
        LOG.debug("Volume %s is at %s", volume_id, info["path"])
        return path

    def wait_for_removal(self, system_id: str, volume_id: str) -> bool:
        """Wait until an unmapped volume's device is gone; False if it lingers."""
        path = self.device_path(system_id, volume_id)
        gone = self._poll(lambda: not os.path.lexists(path))
        if not gone:
            LOG.warning(
                "Device %s is still present %g s after its volume was unmapped.",
                path,
                self.wait_timeout,
            )
        return gone

    def refresh_size(self, volume_id: str, volume_name: str | None, expected_bytes: int) -> int:
        """Rescan so the kernel sees a grown volume; return the size it reports.

        libvirt hands the guest whatever size the host sees, so this waits
        until the host reports at least ``expected_bytes``.
        """
        props = self._connection_properties(volume_id, volume_name)
        seen = 0

        def grown() -> bool:
            nonlocal seen
            seen = self.connector.extend_volume(props) or 0
            return seen >= expected_bytes

        if not self._poll(grown):
            raise exceptions.DeviceNotFound(
                f"Volume {volume_name or volume_id} (id {volume_id}) was extended to "
                f"{expected_bytes} bytes but this host still sees {seen} bytes after "
                f"{self.wait_timeout:g} s."
            )
        return seen
