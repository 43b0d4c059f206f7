"""``sio-backend check`` against the HTTPS simulator, from a real nova.conf file.

Each broken piece of a good setup must turn exactly its own check (and the
checks that build on it) into a Failure, with details naming what to fix.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import trustme
from sio_fixtures.generation import GENERATION, size_step_gb

from sio_backend.cmd.main import main
from sio_backend.demo.nova_conf import write_nova_conf
from sio_backend.preflight import Preflight


@pytest.fixture
def host1(simulator):
    return simulator.sdcs["host1"]


@pytest.fixture
def run_check(tmp_path, simulator, host1, capsys):
    """Run ``check -f json`` in-process; return (exit status, {check: (result, details)})."""

    def run(*, device_dir: Path | None = None, **overrides: object):
        conf = write_nova_conf(tmp_path / "nova.conf", simulator, guid=host1.guid, **overrides)
        status = main(
            [
                "check",
                "--config-file",
                str(conf),
                "--device-dir",
                str(device_dir or host1.by_id_dir),
                "-f",
                "json",
            ]
        )
        document = json.loads(capsys.readouterr().out)
        names = {0: "Success", 1: "Warning", 2: "Failure"}
        checks = {c["check"]: (names[c["result"]], c["details"]) for c in document["checks"]}
        return status, checks

    return run


def results(checks):
    return {name: result for name, (result, _) in checks.items()}


def failures(checks):
    return {name for name, (result, _) in checks.items() if result == "Failure"}


def test_good_setup_succeeds_on_every_check(run_check):
    status, checks = run_check()

    assert status == 0
    assert set(results(checks).values()) == {"Success"}
    assert len(checks) == 15


def test_tls_verification_off_is_a_warning(run_check):
    status, checks = run_check(verify_server_certificate=False, server_certificate_path=None)

    assert status == 1
    assert checks["TLS verification"][0] == "Warning"
    assert "verify_server_certificate" in checks["TLS verification"][1]
    assert {r for n, r in results(checks).items() if n != "TLS verification"} == {"Success"}


def test_untrusted_certificate_fails_tls_verification(run_check, tmp_path):
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))

    status, checks = run_check(server_certificate_path=other_ca)

    assert status == 2
    assert checks["TLS verification"][0] == "Failure"
    assert "server_certificate_path" in checks["TLS verification"][1]


def test_wrong_password_fails_login_and_what_needs_it(run_check):
    status, checks = run_check(rest_server_password="wrong")

    assert status == 2
    result, details = checks["Gateway login"]
    assert result == "Failure"
    assert "rest_server_password" in details
    assert "wrong" not in details
    assert checks["Storage pool"] == (
        "Failure",
        "Not checked: the gateway login failed (see Gateway login).",
    )
    assert {"Configuration", "Gateway reachable", "TLS verification", "SDC GUID"}.isdisjoint(
        failures(checks)
    )


def test_missing_pool_fails_naming_the_pool(run_check):
    # Thick, so that the thick provisioning check needs the pool (thin is the 5.x default here).
    status, checks = run_check(
        default_storage_pool_name="nosuchpool", default_provisioning_type="thick"
    )

    assert status == 2
    result, details = checks["Storage pool"]
    assert result == "Failure"
    assert "'nosuchpool'" in details and "default_storage_pool_name" in details
    assert failures(checks) == {"Storage pool", "Zero padding", "Thick provisioning", "Capacity"}


def test_missing_protection_domain_fails_naming_it(run_check):
    status, checks = run_check(default_protection_domain_name="nopd")

    assert status == 2
    assert "'nopd'" in checks["Storage pool"][1]


def test_unpadded_pool_fails_unless_allowed(run_check, simulator):
    simulator.add_storage_pool("pd1", "raw", zero_padding=False)

    status, checks = run_check(default_storage_pool_name="raw")
    assert status == 2
    assert failures(checks) == {"Zero padding"}
    assert "allow_non_padded_pools" in checks["Zero padding"][1]

    status, checks = run_check(default_storage_pool_name="raw", allow_non_padded_pools=True)
    assert status == 1
    assert checks["Zero padding"][0] == "Warning"


def test_a_pool_without_thick_volumes_fails_thick_but_not_thin(run_check, simulator):
    # Fine Granularity on 3.x and 4.x; on 5.x, Erasure Coding (its only layout).
    layout = "ErasureCoding" if GENERATION.erasure_coding else "FineGranularity"
    simulator.add_storage_pool("pd1", "fine", data_layout=layout)

    status, checks = run_check(default_storage_pool_name="fine", default_provisioning_type="thick")
    assert status == 2
    assert failures(checks) == {"Thick provisioning"}
    assert "Set it to thin" in checks["Thick provisioning"][1]

    status, checks = run_check(default_storage_pool_name="fine", default_provisioning_type="thin")
    assert status == 0


def test_full_pool_fails_capacity(run_check, simulator):
    # Less than one volume of the pool's size step: 8 GiB, or 1 GiB on 5.x.
    simulator.add_storage_pool("pd1", "tiny", capacity_gb=size_step_gb() // 2)

    status, checks = run_check(default_storage_pool_name="tiny")

    assert status == 2
    assert failures(checks) == {"Capacity"}


def test_disconnected_sdc_fails(run_check, simulator, host1):
    simulator.faults.disconnect_sdc(host1)

    status, checks = run_check()

    assert status == 2
    assert failures(checks) == {"SDC connected"}
    assert "drv_cfg --query_mdms" in checks["SDC connected"][1]


def test_unknown_sdc_guid_fails(run_check):
    status, checks = run_check(default_sdcguid="01234567-89AB-CDEF-0123-456789ABCDEF")

    assert status == 2
    assert failures(checks) == {"SDC registered", "SDC connected"}
    assert "default_sdcguid" in checks["SDC registered"][1]
    assert checks["SDC connected"][1].startswith("Not checked")


def test_missing_device_dir_fails(run_check, tmp_path):
    status, checks = run_check(device_dir=tmp_path / "no-by-id")

    assert status == 2
    assert failures(checks) == {"Device directory"}


def test_missing_options_fail_configuration_and_identifier(run_check):
    status, checks = run_check(rest_server_username=None, installation_identifier=None)

    assert status == 2
    assert "rest_server_username" in checks["Configuration"][1]
    assert checks["Installation identifier"][0] == "Failure"
    assert checks["Gateway login"][1].startswith("Not checked: the configuration is incomplete")
    assert checks["Gateway reachable"][0] == "Success"


def test_invalid_value_fails_configuration(run_check):
    status, checks = run_check(installation_identifier="toolong")

    assert status == 2
    assert "installation_identifier" in checks["Configuration"][1]


def test_unreachable_gateway_fails(run_check):
    status, checks = run_check(rest_server_port=1)

    assert status == 2
    assert "rest_server_port" in checks["Gateway reachable"][1]


def test_images_type_other_than_sio_is_a_warning(tmp_path, simulator, host1, capsys):
    conf = write_nova_conf(tmp_path / "nova.conf", simulator, guid=host1.guid)
    conf.write_text(conf.read_text().replace("images_type = sio", "images_type = qcow2"))

    status = main(["check", "--config-file", str(conf), "--device-dir", str(host1.by_id_dir)])

    table = capsys.readouterr().out
    assert status == 1
    line = next(line for line in table.splitlines() if line.startswith("nova images_type"))
    assert "Warning" in line and "qcow2" in line


def test_config_dir_overrides_the_file(tmp_path, simulator, host1, capsys):
    conf = write_nova_conf(tmp_path / "nova.conf", simulator, guid=host1.guid)
    conf_d = tmp_path / "nova.conf.d"
    conf_d.mkdir()
    (conf_d / "50-sio.conf").write_text("[scaleio]\nrest_server_password = wrong\n")

    status = main(
        [
            *("check", "--config-file", str(conf), "--config-dir", str(conf_d)),
            *("-f", "json", "--device-dir", str(host1.by_id_dir)),
        ]
    )

    checks = {c["check"]: c["result"] for c in json.loads(capsys.readouterr().out)["checks"]}
    assert status == 2
    assert checks["Gateway login"] == 2


def test_missing_config_file_is_an_error(tmp_path, capsys):
    status = main(["check", "--config-file", str(tmp_path / "absent.conf")])

    assert status == 2
    assert "absent.conf" in capsys.readouterr().err


def test_console_script_in_a_subprocess(tmp_path, simulator, host1):
    conf = write_nova_conf(tmp_path / "nova.conf", simulator, guid=host1.guid)
    script = shutil.which("sio-backend", path=str(Path(sys.executable).parent))
    assert script, "the sio-backend console script is not installed next to this Python"

    done = subprocess.run(
        [script, "check", "--config-file", str(conf), "--device-dir", str(host1.by_id_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OS_NOVA_DISABLE_EVENTLET_PATCHING": "1"},
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0].split() == ["Check", "Result", "Details"]
    assert sum("Success" in line for line in done.stdout.splitlines()) == 15


def test_a_check_that_breaks_exits_255_as_nova_status(
    tmp_path, simulator, host1, capsys, monkeypatch
):
    """An unexpected error is no verdict on the host: 255 with the traceback, as nova-status."""

    def broken(self):
        raise RuntimeError("a bug in a check")

    monkeypatch.setattr(Preflight, "run", broken)
    conf = write_nova_conf(tmp_path / "nova.conf", simulator, guid=host1.guid)
    status = main(["check", "--config-file", str(conf), "--device-dir", str(host1.by_id_dir)])
    assert status == 255
    err = capsys.readouterr().err
    assert "Error:" in err
    assert "RuntimeError: a bug in a check" in err


def configuration_check(conf, host1, capsys):
    """The Configuration check's details, and everything ``check`` printed."""
    argv = ["check", "--config-file", str(conf), "--device-dir", str(host1.by_id_dir)]
    status = main([*argv, "-f", "json"])
    out = capsys.readouterr().out
    details = {c["check"]: c["details"] for c in json.loads(out)["checks"]}
    assert status == 0, details
    return details["Configuration"], out


def test_the_password_source_is_named_the_password_never(tmp_path, simulator, host1, capsys):
    conf = write_nova_conf(tmp_path / "nova.conf", simulator, guid=host1.guid)
    details, out = configuration_check(conf, host1, capsys)
    assert f"password comes from [scaleio] rest_server_password in {conf}" in details
    assert simulator.password not in out


def test_a_password_from_the_environment_is_named(tmp_path, simulator, host1, capsys, monkeypatch):
    monkeypatch.setenv("OS_SCALEIO__REST_SERVER_PASSWORD", simulator.password)
    conf = write_nova_conf(
        tmp_path / "nova.conf", simulator, guid=host1.guid, rest_server_password=None
    )
    details, out = configuration_check(conf, host1, capsys)
    assert "comes from the environment variable OS_SCALEIO__REST_SERVER_PASSWORD" in details
    assert simulator.password not in out


@pytest.mark.parametrize(
    ("api_version", "expected"),
    [
        ("3.5", ("PowerFlex 3.x gateway", "the legacy login", "mirroring", 8)),
        ("4.5", ("PowerFlex 4.x (PowerFlex Manager)", "OAuth", "mirroring", 8)),
        ("5.0", ("PowerFlex 5.x", "OAuth", "Erasure Coding", 1)),
    ],
)
def test_the_generation_login_and_pool_kind_are_reported(
    api_version, expected, make_simulator, tmp_path, capsys
):
    generation, login, kind, step_gb = expected
    sim = make_simulator(api_version=api_version)
    host = sim.sdcs["host1"]
    conf = write_nova_conf(
        tmp_path / "nova.conf", sim, guid=host.guid, default_provisioning_type="thin"
    )
    argv = ["check", "--config-file", str(conf), "--device-dir", str(host.by_id_dir)]
    status = main([*argv, "-f", "json"])
    details = {c["check"]: c["details"] for c in json.loads(capsys.readouterr().out)["checks"]}
    assert status == 0, details
    assert f"REST API {api_version}: {generation}; logged in with {login}" in details["API version"]
    assert f"{kind}, disk sizes in {step_gb} GiB steps" in details["Storage pool"]


def test_thick_by_default_fails_on_an_erasure_coding_pool(make_simulator, tmp_path, capsys):
    sim = make_simulator(api_version="5.0")
    host = sim.sdcs["host1"]
    conf = write_nova_conf(
        tmp_path / "nova.conf", sim, guid=host.guid, default_provisioning_type="thick"
    )
    argv = ["check", "--config-file", str(conf), "--device-dir", str(host.by_id_dir)]
    assert main([*argv, "-f", "json"]) == 2
    details = {c["check"]: c["details"] for c in json.loads(capsys.readouterr().out)["checks"]}
    assert "Erasure Coding" in details["Thick provisioning"]
    assert "default_provisioning_type" in details["Thick provisioning"]
