"""``sio-backend demo`` end to end, in this process: every step runs and nothing leaks."""

from __future__ import annotations

import functools
import json

import pytest
from sio_fixtures.generation import API_VERSION

from sio_backend.cmd import main
from sio_backend.demo import domain_xml, scenario

STEPS = (
    "start the simulator",
    "spawn on host1",
    "write and read the root disk",
    "hard reboot",
    "resize to a 16 GiB root on host2 and confirm",
    "snapshot to Glance",
    "live migrate to host1",
    "rescue",
    "unrescue",
    "delete",
    "sio-backend audit",
)


@pytest.fixture(autouse=True)
def at_the_suites_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo against a simulator of the generation the suite runs at."""
    monkeypatch.setattr(scenario, "run", functools.partial(scenario.run, api_version=API_VERSION))


def test_demo_runs_every_step_and_leaks_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main.main(["demo", "--image-size-mb", "16"]) == 0
    out = capsys.readouterr().out
    for step in STEPS:
        assert f"==> {step} ..." in out
    assert "sio-backend audit: nothing leaked" in out
    assert "demo complete: 11 steps, 4 domain XMLs valid, nothing leaked" in out


def test_demo_json_reports_calls_and_volumes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main.main(["demo", "--format", "json", "--image-size-mb", "16"]) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["ok"] and document["leaked"] == []
    assert [step["step"] for step in document["steps"]] == list(STEPS)
    spawn = document["steps"][1]
    assert spawn["calls_by_route"]["POST /api/types/Volume/instances"] == 3
    assert {tuple(v["mapped_to"]) for v in spawn["volumes"]} == {("host1",)}
    assert document["steps"][-2]["volumes"] == []
    assert "==> spawn on host1 ..." in captured.err  # progress goes to stderr with JSON


def test_a_refused_domain_xml_fails_the_demo_naming_the_step(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(xml: str) -> str:
        raise domain_xml.InvalidDomainXml("libvirt refuses the domain XML: test")

    monkeypatch.setattr(domain_xml, "validate", refuse)
    assert main.main(["demo", "--image-size-mb", "16"]) == 2
    assert "step 'spawn on host1' failed" in capsys.readouterr().err


def test_libvirt_refuses_broken_domain_xml() -> None:
    """The validation the demo relies on can fail."""
    broken = (
        "<domain type='kvm'><name>x</name><memory>1024</memory><os><type>hvm</type></os>"
        "<devices><disk type='block' device='disk'><bogus/></disk></devices></domain>"
    )
    with pytest.raises(domain_xml.InvalidDomainXml, match="refuses"):
        domain_xml.validate(broken)
