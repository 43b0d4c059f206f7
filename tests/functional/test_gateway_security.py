"""TLS trust and the password file, from nova.conf options to the simulated gateway."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme
from oslo_config import cfg
from sio_fixtures.generation import tokens_per_login

from sio_backend import conf as sio_conf
from sio_backend import exceptions
from sio_backend.gateway import GatewayClient, transport
from sio_backend.simulator import Simulator

FILE_PASSWORD = "0nly-1n-the-f1le"


def from_config(simulator: Simulator, **options) -> GatewayClient:
    conf = cfg.ConfigOpts()
    sio_conf.register_opts(conf)
    conf([], default_config_files=[])
    settings = {
        "rest_server_ip": simulator.host,
        "rest_server_port": simulator.port,
        "rest_server_username": simulator.username,
        "rest_server_password": simulator.password,
        **options,
    }
    for option, value in settings.items():
        conf.set_override(option, value, group="scaleio")
    return GatewayClient.from_config(conf)


@pytest.fixture
def other_ca(tmp_path: Path) -> Path:
    """A CA the simulator's certificate was not signed by."""
    path = tmp_path / "other-ca.pem"
    trustme.CA(organization_name="not the simulator").cert_pem.write_to_path(str(path))
    return path


def test_a_wrong_ca_says_which_options_to_set(simulator: Simulator, other_ca: Path) -> None:
    client = from_config(
        simulator, verify_server_certificate=True, server_certificate_path=str(other_ca)
    )
    try:
        with pytest.raises(exceptions.TLSVerificationFailed) as info:
            client.system_id()
    finally:
        client.close()

    message = str(info.value)
    assert "[scaleio] server_certificate_path" in message
    assert "verify_server_certificate" in message
    assert "certificate verify failed" in message
    assert isinstance(info.value, exceptions.GatewayUnavailable)
    assert simulator.request_log == []  # refused in the handshake: no credentials sent


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verification_off_works_and_warns_once_naming_the_option(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(transport, "unverified_tls_warning", transport.Once())
    caplog.set_level(logging.DEBUG)

    clients = [from_config(simulator, verify_server_certificate=False) for _ in range(2)]
    try:
        assert {client.system_id() for client in clients} == {simulator.system_id}
    finally:
        for client in clients:
            client.close()

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "[scaleio] verify_server_certificate = True" in warnings[0]


def password_file(tmp_path: Path, mode: int = 0o600) -> Path:
    path = tmp_path / "gateway-password"
    path.write_text(FILE_PASSWORD + "\n")
    path.chmod(mode)
    return path


def test_password_file_logs_in(
    make_simulator: Callable[..., Simulator], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    simulator = make_simulator(password=FILE_PASSWORD)
    path = password_file(tmp_path)

    client = from_config(
        simulator,
        rest_server_password=None,
        rest_server_password_file=str(path),
        verify_server_certificate=True,
        server_certificate_path=str(simulator.ca_path),
    )
    try:
        assert client.system_id() == simulator.system_id
    finally:
        client.close()

    assert len(simulator.sessions.issued_tokens()) == tokens_per_login()  # one login
    # The guard of this test also checks FILE_PASSWORD: it is the simulator's.
    assert FILE_PASSWORD not in caplog.text


@pytest.mark.parametrize(
    ("mode", "problem"), [(0o644, "accessible to group or others"), (0o660, "mode 0660")]
)
def test_password_file_open_to_others_is_refused_before_any_request(
    simulator: Simulator, tmp_path: Path, mode: int, problem: str
) -> None:
    path = password_file(tmp_path, mode)

    with pytest.raises(exceptions.ConfigurationError) as info:
        from_config(simulator, rest_server_password=None, rest_server_password_file=str(path))

    assert problem in str(info.value)
    assert f"chmod 600 {path}" in str(info.value)
    assert FILE_PASSWORD not in str(info.value)
    assert simulator.request_log == []


def test_missing_password_file_is_refused(simulator: Simulator, tmp_path: Path) -> None:
    path = tmp_path / "nowhere"

    with pytest.raises(exceptions.ConfigurationError, match=str(path)):
        from_config(simulator, rest_server_password=None, rest_server_password_file=str(path))

    assert simulator.request_log == []
