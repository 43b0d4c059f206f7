"""os-brick's real ScaleIOConnector, legacy REST flow, against the simulator.

Only what needs a real SDC is replaced: the privileged GUID ioctl, the
search directory (the simulated host's by-id dir) and os-brick's retry
sleep.  Everything else, including the HTTPS requests with certificate
verification, is os-brick 7.1.1's own code.  The connector speaks the legacy
dialect every generation still serves (``/api/login``, ``addMappedSdc``,
81/4037 and 84/4039, a re-login on 401 or 403 without reading the body), so
the tests run against 3.5, 4.5 and 5.0 alike.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from os_brick import exception as brick_exception
from os_brick import utils as brick_utils
from os_brick.initiator.connectors import scaleio
from oslo_config import cfg

from sio_backend.simulator import SimSdc, Simulator

GIB_KB = 1024 * 1024


@pytest.fixture(params=["3.5", "4.5", "5.0"])
def simulator(
    request: pytest.FixtureRequest, make_simulator: Callable[..., Simulator]
) -> Simulator:
    """The functional ``simulator``, at each generation os-brick supports."""
    return make_simulator(api_version=request.param)


@pytest.fixture(autouse=True)
def brick_lock_path(tmp_path: Path) -> Iterator[None]:
    """connect/disconnect take an external file lock under os-brick's lock_path."""
    cfg.CONF.set_override("lock_path", str(tmp_path / "locks"), group="os_brick")
    yield
    cfg.CONF.clear_override("lock_path", group="os_brick")


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """os-brick waits 1 s between device polls; poll every 20 ms instead."""
    monkeypatch.setattr(brick_utils, "_time_sleep", lambda seconds: threading.Event().wait(0.02))


@pytest.fixture
def on_host(monkeypatch: pytest.MonkeyPatch) -> Callable[[SimSdc], None]:
    """Make os-brick believe it runs on this simulated host."""

    def use(sdc: SimSdc) -> None:
        monkeypatch.setattr(scaleio.priv_scaleio, "get_guid", lambda op_code: sdc.guid.lower())
        monkeypatch.setattr(
            scaleio.ScaleIOConnector, "get_search_path", lambda self: str(sdc.by_id_dir)
        )

    return use


def create_volume(sim: Simulator, name: str) -> str:
    pool_id = sim.state.storage_pool_id_by_name(
        sim.state.protection_domain_id_by_name("pd1"), "sp1"
    )
    return sim.state.create_volume(pool_id, 8 * GIB_KB, name=name, volume_type="ThinProvisioned").id


def legacy_properties(sim: Simulator, sdc: SimSdc, name: str, volume_id: str | None) -> dict:
    properties: dict[str, Any] = {
        "scaleIO_volname": name,
        "hostIP": sdc.ip,
        "serverIP": sim.host,
        "serverPort": sim.port,
        "serverUsername": sim.username,
        "serverPassword": sim.password,
        "serverToken": None,
        "iopsLimit": "1000",
        "bandwidthLimit": "4096",
        "verify_certificate": True,
        "certificate_path": str(sim.ca_path),
    }
    if volume_id is not None:
        properties["scaleIO_volume_id"] = volume_id
    return properties


def mappings(sim: Simulator, volume_id: str) -> dict[str, tuple[int, int]]:
    volume = sim.state.volume(volume_id)
    return {sdc_id: (m.iops_limit, m.bandwidth_limit_kbps) for sdc_id, m in volume.mappings.items()}


def test_attach_and_detach_with_password_in_properties(
    simulator: Simulator, on_host: Callable[[SimSdc], None]
) -> None:
    host1 = simulator.sdcs["host1"]
    on_host(host1)
    volume_id = create_volume(simulator, "brick-volume")
    connector = scaleio.ScaleIOConnector("sudo")
    properties = legacy_properties(simulator, host1, "brick-volume", volume_id)

    device = connector.connect_volume(properties)

    assert device == {"type": "block", "path": str(host1.device_path(volume_id))}
    assert mappings(simulator, volume_id) == {host1.id: (1000, 4096)}
    with open(device["path"], "r+b") as block:
        block.write(b"written by os-brick's host")
    calls = [(e.route.rsplit("/", 1)[-1], e.status) for e in simulator.request_log]
    assert calls == [
        ("addMappedSdc", 401),
        ("login", 200),
        ("addMappedSdc", 200),
        ("setMappedSdcLimits", 200),
    ]

    connector.disconnect_volume({**properties, "device_path": device["path"]}, device)

    assert mappings(simulator, volume_id) == {}
    assert not host1.device_path(volume_id).exists()
    with open(simulator.devices.data_path(volume_id), "rb") as data:
        assert data.read(26) == b"written by os-brick's host"


def test_attach_with_config_group_password_and_lookup_by_name(
    simulator: Simulator, on_host: Callable[[SimSdc], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pre-Newton attachments have no volume id: os-brick finds it with a
    double URL-encoded getByName, which must survive base64 names."""
    host2 = simulator.sdcs["host2"]
    on_host(host2)
    name = "oLHC0+T1Smu/fZ6PemtcTQ=="
    volume_id = create_volume(simulator, name)
    asked: list[tuple[str, str, bool]] = []

    def read_connector_conf(filename: str, group: str, failed_over: bool) -> tuple[str, str]:
        asked.append((filename, group, failed_over))
        return simulator.username, simulator.password

    monkeypatch.setattr(
        scaleio.priv_scaleio, "get_connector_username_password", read_connector_conf
    )
    properties = legacy_properties(simulator, host2, name, None)
    del properties["serverPassword"], properties["serverToken"]
    properties.update(config_group="powerflex", iopsLimit=None, bandwidthLimit=None)
    connector = scaleio.ScaleIOConnector("sudo")

    device = connector.connect_volume(properties)

    assert device["path"] == str(host2.device_path(volume_id))
    assert mappings(simulator, volume_id) == {host2.id: (0, 0)}
    assert asked[0][1:] == ("powerflex", False)
    by_name = [e for e in simulator.request_log if "getByName" in e.path]
    assert by_name[0].path.endswith(quote(quote(name, ""), ""))
    assert not any("setMappedSdcLimits" in e.path for e in simulator.request_log)
    connector.disconnect_volume(properties, device)
    assert mappings(simulator, volume_id) == {}


def test_second_host_attaches_while_the_first_keeps_its_mapping(
    simulator: Simulator, on_host: Callable[[SimSdc], None]
) -> None:
    host1, host2 = simulator.sdcs["host1"], simulator.sdcs["host2"]
    volume_id = create_volume(simulator, "migrating")
    devices = {}
    for sdc in (host1, host2):
        on_host(sdc)
        properties = legacy_properties(simulator, sdc, "migrating", volume_id)
        devices[sdc.name] = scaleio.ScaleIOConnector("sudo").connect_volume(properties)
    assert set(mappings(simulator, volume_id)) == {host1.id, host2.id}
    with open(devices["host1"]["path"], "r+b") as source:
        source.write(b"memory pages")
    with open(devices["host2"]["path"], "rb") as destination:
        assert destination.read(12) == b"memory pages"


def test_late_device_is_waited_for(
    make_simulator: Callable[..., Simulator], on_host: Callable[[SimSdc], None]
) -> None:
    sim = make_simulator(device_delay=0.15)
    host1 = sim.sdcs["host1"]
    on_host(host1)
    volume_id = create_volume(sim, "slow-udev")
    device = scaleio.ScaleIOConnector("sudo").connect_volume(
        legacy_properties(sim, host1, "slow-udev", volume_id)
    )
    assert device["path"] == str(host1.device_path(volume_id))


def test_device_that_never_appears_fails_the_attach(
    simulator: Simulator, on_host: Callable[[SimSdc], None]
) -> None:
    host1 = simulator.sdcs["host1"]
    on_host(host1)
    simulator.faults.suppress_devices(host1)
    volume_id = create_volume(simulator, "no-device")
    with pytest.raises(brick_exception.BrickException, match="not found"):
        scaleio.ScaleIOConnector("sudo").connect_volume(
            legacy_properties(simulator, host1, "no-device", volume_id)
        )
    assert set(mappings(simulator, volume_id)) == {host1.id}


@pytest.mark.parametrize("api_version", ["4.5", "5.0"])
def test_4x_already_mapped_and_not_mapped_are_ignored(
    make_simulator: Callable[..., Simulator], on_host: Callable[[SimSdc], None], api_version: str
) -> None:
    sim = make_simulator(api_version=api_version)
    host1 = sim.sdcs["host1"]
    on_host(host1)
    volume_id = create_volume(sim, "four")
    sim.state.map_volume(volume_id, host1.id)
    connector = scaleio.ScaleIOConnector("sudo")
    properties = legacy_properties(sim, host1, "four", volume_id)
    device = connector.connect_volume(properties)
    assert device["path"] == str(host1.device_path(volume_id))
    sim.state.unmap_volume(volume_id, host1.id)
    connector.disconnect_volume(properties, device)
    assert {e.error_code for e in sim.request_log if e.error_code} == {4037, 4039}


def test_wrong_ca_fails_the_attach(
    simulator: Simulator, on_host: Callable[[SimSdc], None], tmp_path: Path
) -> None:
    host1 = simulator.sdcs["host1"]
    on_host(host1)
    volume_id = create_volume(simulator, "untrusted")
    properties = legacy_properties(simulator, host1, "untrusted", volume_id)
    properties["certificate_path"] = None  # the system CA store cannot know the simulator
    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
        scaleio.ScaleIOConnector("sudo").connect_volume(properties)
    assert mappings(simulator, volume_id) == {}
