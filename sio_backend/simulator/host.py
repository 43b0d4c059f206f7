"""A compute host whose SDC is simulated: the storage stack the demo and tests use.

Only the privileged edge of os-brick's connector is replaced (the GUID and
rescan ioctls on /dev/scini, and ``blockdev``); os-brick's own logic for
finding devices still runs, against the simulated SDC's by-id directory.
"""

from __future__ import annotations

import os

from sio_backend import sdc
from sio_backend.gateway import GatewayClient
from sio_backend.storage import Storage


class SimulatedConnector(sdc.Connector):
    """os-brick's ScaleIOConnector wired to a simulated SDC."""

    def __init__(self, guid: str, device_dir: str) -> None:
        super().__init__(device_dir=device_dir, execute=self._execute)
        self._guid = guid.lower()  # the ioctl reports GUIDs in lower case

    def _get_guid(self, log_error: bool = True) -> str:
        return self._guid

    def _rescan_vols(self) -> None:
        """The simulator grows a volume's backing file at once; nothing to rescan."""

    @staticmethod
    def _execute(*cmd: str, **_kwargs) -> tuple[str, str]:
        if cmd[:2] == ("blockdev", "--getsize64"):
            return str(os.path.getsize(cmd[2])), ""
        raise NotImplementedError(f"the simulated host cannot run {' '.join(cmd)}")


def simulated_storage(
    simulator,
    sdc_name: str,
    *,
    installation_id: str,
    wait_timeout: float = 10.0,
    allow_non_padded_pools: bool = False,
) -> Storage:
    """A Storage for the simulated host whose SDC is ``sdc_name``."""
    sim_sdc = simulator.sdcs[sdc_name]
    connector = SimulatedConnector(sim_sdc.guid, str(sim_sdc.by_id_dir))
    client = GatewayClient(
        simulator.host,
        simulator.port,
        simulator.username,
        simulator.password,
        verify=str(simulator.ca_path) if simulator.tls else False,
        scheme="https" if simulator.tls else "http",
    )
    local = sdc.LocalSdc(sim_sdc.guid, connector=connector, wait_timeout=wait_timeout)
    return Storage(
        client,
        local,
        installation_id=installation_id,
        allow_non_padded_pools=allow_non_padded_pools,
    )
