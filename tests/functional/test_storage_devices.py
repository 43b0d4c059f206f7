"""Waiting for a mapped volume's device, bounded by [scaleio] disk_wait_timeout.

The image backend's tests (test_imagebackend_create.py) cover a late and a
missing device while a disk is created; these cover the option itself and
attaching a volume that already exists, which must be kept while only the
mapping this attach made is undone.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from oslo_config import cfg

from sio_backend import conf as sio_conf
from sio_backend import exceptions, naming
from sio_backend.flavor import DiskPlacement
from sio_backend.gateway import GatewayClient
from sio_backend.sdc import LocalSdc
from sio_backend.simulator import Simulator
from sio_backend.simulator.host import SimulatedConnector
from sio_backend.storage import GiB, Storage

IID = "func"
PLACEMENT = DiskPlacement("pd1", "sp1", thin=True)


pytestmark = pytest.mark.usefixtures("lock_path")


@pytest.fixture
def configured_host(
    simulator: Simulator, make_client: Callable[..., GatewayClient]
) -> Callable[[int], Storage]:
    """host1's Storage with its SDC built from [scaleio] options, as nova-compute does."""

    def make(disk_wait_timeout: int) -> Storage:
        sdc = simulator.sdcs["host1"]
        conf = cfg.ConfigOpts()
        sio_conf.register_opts(conf)
        conf([], default_config_files=[])
        conf.set_override("default_sdcguid", sdc.guid, group="scaleio")
        conf.set_override("disk_wait_timeout", disk_wait_timeout, group="scaleio")
        connector = SimulatedConnector(sdc.guid, str(sdc.by_id_dir))
        local = LocalSdc.from_config(conf, connector=connector)
        return Storage(make_client(simulator), local, installation_id=IID)

    return make


def new_volume(host: Storage):
    name = naming.disk_volume_name(IID, str(uuid.uuid4()), "disk")
    return host.create(name, PLACEMENT, 8 * GiB)


def mapped_hosts(simulator: Simulator, volume_id: str) -> set[str]:
    by_id = {sdc.id: name for name, sdc in simulator.sdcs.items()}
    return {by_id[sdc_id] for sdc_id in simulator.state.volume(volume_id).mappings}


def test_late_device_is_waited_for_within_disk_wait_timeout(
    simulator: Simulator, configured_host: Callable[[int], Storage]
) -> None:
    host = configured_host(3)
    assert host.sdc.wait_timeout == 3
    volume = new_volume(host)
    simulator.faults.delay_devices(1.0, sdc="host1")

    started = time.monotonic()
    path = host.attach(volume)

    assert time.monotonic() - started >= 1.0
    assert path == str(simulator.sdcs["host1"].device_path(volume.id))
    assert mapped_hosts(simulator, volume.id) == {"host1"}


def test_missing_device_fails_after_disk_wait_timeout_and_unmaps(
    simulator: Simulator, configured_host: Callable[[int], Storage]
) -> None:
    host = configured_host(1)
    volume = new_volume(host)
    # Mapped to host2 as well (a live migration's source): not this attach's to undo.
    simulator.state.map_volume(volume.id, simulator.sdcs["host2"].id, allow_multiple=True)
    simulator.faults.suppress_devices("host1")

    started = time.monotonic()
    with pytest.raises(exceptions.DeviceNotFound) as info:
        host.attach(host.get(volume.id))
    waited = time.monotonic() - started

    assert 1.0 <= waited < 5.0
    message = str(info.value)
    assert volume.name in message
    assert "within 1 s ([scaleio] disk_wait_timeout)" in message
    assert "drv_cfg --query_mdms" in message
    # The mapping this attach made is gone; the volume and other mappings stay.
    assert mapped_hosts(simulator, volume.id) == {"host2"}


def test_a_mapping_that_existed_before_the_attach_is_kept(
    simulator: Simulator, configured_host: Callable[[int], Storage]
) -> None:
    host = configured_host(1)
    volume = new_volume(host)
    simulator.faults.suppress_devices("host1")
    simulator.state.map_volume(volume.id, simulator.sdcs["host1"].id)

    with pytest.raises(exceptions.DeviceNotFound):
        host.attach(host.get(volume.id))

    assert mapped_hosts(simulator, volume.id) == {"host1"}
