"""``sio-backend demo`` end to end, in this process, through nova's own services."""

from __future__ import annotations

import json

import pytest
from sio_fixtures.generation import API_VERSION

from sio_backend.cmd import main
from sio_backend.demo import domain_xml

STEPS = (
    "start nova's services and the simulator",
    "create a server with root, ephemeral and swap disks",
    "write and read the root disk in the guest",
    "hard reboot",
    "resize to a 16 GiB root (on the other host)",
    "confirm the resize",
    "snapshot to Glance",
    "live migrate back",
    "rescue",
    "unrescue",
    "shelve (offloaded)",
    "unshelve",
    "delete",
    "audit",
)
DEMO = ["demo", "--image-size-mb", "16", "--api-version", API_VERSION]


def test_demo_runs_every_step_and_leaks_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main.main(DEMO) == 0
    out = capsys.readouterr().out
    for step in STEPS:
        assert f"==> {step} ..." in out
    for command in (
        "$ openstack server create --flavor demo.small --image pattern-qcow2",
        "$ openstack server resize --flavor demo.large --wait demo",
        "$ openstack server resize confirm demo",
        "$ openstack server migrate --live-migration --host host",
        "$ openstack server delete --wait demo",
    ):
        assert command in out
    assert "VERIFY_RESIZE on host" in out
    assert "the audit, with nova's list of servers: nothing leaked" in out
    assert f"demo complete: {len(STEPS)} steps, 5 domain XMLs valid, nothing leaked" in out


def test_demo_json_reports_nova_and_the_gateway(capsys: pytest.CaptureFixture[str]) -> None:
    assert main.main([*DEMO, "--format", "json"]) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["ok"] and document["leaked"] == []
    steps = {step["step"]: step for step in document["steps"]}
    assert list(steps) == list(STEPS)
    create = steps[STEPS[1]]
    assert create["calls_by_route"]["POST /api/types/Volume/instances"] == 3
    host = create["server"]["host"]
    assert create["server"]["status"] == "ACTIVE"
    assert {v["disk"]: (v["size_gb"], v["mapped_to"]) for v in create["volumes"]} == {
        "disk": (8, [host]),
        "disk.eph0": (8, [host]),
        "disk.swap": (8, [host]),
    }
    confirmed = steps["confirm the resize"]
    assert confirmed["server"]["host"] != host
    assert steps["delete"]["volumes"] == [] and steps["delete"]["server"]["status"] == "DELETED"
    assert "==> hard reboot ..." in captured.err  # progress goes to stderr with JSON


def test_a_refused_domain_xml_fails_the_demo_naming_the_step(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(xml: str) -> str:
        raise domain_xml.InvalidDomainXml("libvirt refuses the domain XML: test")

    monkeypatch.setattr(domain_xml, "validate", refuse)
    assert main.main(DEMO) == 2
    assert f"step '{STEPS[1]}' failed" in capsys.readouterr().err


def test_libvirt_refuses_broken_domain_xml() -> None:
    """The validation the demo relies on can fail."""
    broken = (
        "<domain type='kvm'><name>x</name><memory>1024</memory><os><type>hvm</type></os>"
        "<devices><disk type='block' device='disk'><bogus/></disk></devices></domain>"
    )
    with pytest.raises(domain_xml.InvalidDomainXml, match="refuses"):
        domain_xml.validate(broken)
