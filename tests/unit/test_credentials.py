"""The gateway password from a file only nova-compute may read."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from oslo_config import cfg

from sio_backend import conf as sio_conf
from sio_backend import credentials, exceptions
from sio_backend.gateway import GatewayClient

PASSWORD = "S3cret-from-a-file"


def password_file(tmp_path: Path, content: str = PASSWORD + "\n", mode: int = 0o600) -> Path:
    path = tmp_path / "gateway-password"
    path.write_text(content)
    path.chmod(mode)
    return path


def configured(**values) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    sio_conf.register_opts(conf)
    conf([], default_config_files=[])
    settings = {"rest_server_ip": "gateway.example", "rest_server_username": "admin", **values}
    for name, value in settings.items():
        conf.set_override(name, value, group="scaleio")
    return conf


@pytest.mark.parametrize(
    "content", [PASSWORD, PASSWORD + "\n", PASSWORD + "\r\n", PASSWORD + "\nsecond line\n"]
)
def test_the_first_line_is_the_password(tmp_path, content):
    assert credentials.read_password_file(str(password_file(tmp_path, content))) == PASSWORD


def test_spaces_inside_and_around_the_password_are_kept(tmp_path):
    path = password_file(tmp_path, " pass word \n")
    assert credentials.read_password_file(str(path)) == " pass word "


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o610, 0o666, 0o700 | 0o004])
def test_a_file_group_or_others_may_use_is_refused(tmp_path, mode):
    path = password_file(tmp_path, mode=mode)

    with pytest.raises(exceptions.ConfigurationError) as info:
        credentials.read_password_file(str(path))

    message = str(info.value)
    assert "[scaleio] rest_server_password_file" in message
    assert str(path) in message
    assert f"chmod 600 {path}" in message
    assert f"{mode:04o}" in message
    assert PASSWORD not in message


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_owner_only_modes_are_accepted(tmp_path, mode):
    assert credentials.read_password_file(str(password_file(tmp_path, mode=mode))) == PASSWORD


def test_a_missing_file_is_refused_naming_it(tmp_path):
    path = tmp_path / "absent"

    with pytest.raises(exceptions.ConfigurationError) as info:
        credentials.read_password_file(str(path))

    assert "[scaleio] rest_server_password_file" in str(info.value)
    assert str(path) in str(info.value)
    assert "chmod 600" in str(info.value)


@pytest.mark.parametrize("content", ["", "\n", "\nsecond line\n"])
def test_an_empty_first_line_is_refused(tmp_path, content):
    with pytest.raises(exceptions.ConfigurationError, match="is empty"):
        credentials.read_password_file(str(password_file(tmp_path, content)))


def test_a_directory_is_refused(tmp_path):
    directory = tmp_path / "dir"
    directory.mkdir(mode=0o700)

    with pytest.raises(exceptions.ConfigurationError, match="Is a directory"):
        credentials.read_password_file(str(directory))


def test_binary_content_is_refused(tmp_path):
    path = tmp_path / "binary"
    path.write_bytes(b"\xff\xfe\x00password\n")
    path.chmod(0o600)

    with pytest.raises(exceptions.ConfigurationError, match="not UTF-8"):
        credentials.read_password_file(str(path))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_refused(tmp_path):
    path = password_file(tmp_path, mode=0o200)

    with pytest.raises(exceptions.ConfigurationError, match="cannot be read"):
        credentials.read_password_file(str(path))


def test_the_two_options_are_mutually_exclusive(tmp_path):
    path = password_file(tmp_path)

    with pytest.raises(exceptions.ConfigurationError) as info:
        credentials.gateway_password("from-nova-conf", str(path))

    assert "rest_server_password and [scaleio] rest_server_password_file" in str(info.value)


def test_one_of_the_two_options_is_needed():
    with pytest.raises(exceptions.ConfigurationError) as info:
        credentials.gateway_password(None, None)

    assert "[scaleio] rest_server_password is not set" in str(info.value)
    assert "rest_server_password_file" in str(info.value)


def test_the_client_logs_in_with_the_password_from_the_file(gateway, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    sdcs = gateway.url("/api/types/Sdc/instances")
    gateway.get(sdcs, json=[])
    conf = configured(rest_server_password_file=str(password_file(tmp_path)))

    gateway_client = GatewayClient.from_config(conf)
    try:
        gateway_client.list_sdcs()
    finally:
        gateway_client.close()

    (login,) = [r for r in gateway.request_history if r.path == "/api/login"]
    assert gateway.token_of(login) == PASSWORD
    assert gateway.token_of(gateway.last_request) == gateway.TOKEN
    assert any("gateway-password" in r.getMessage() for r in caplog.records)
    assert PASSWORD not in caplog.text


def test_the_client_refuses_a_world_readable_file_before_any_request(gateway, tmp_path):
    conf = configured(rest_server_password_file=str(password_file(tmp_path, mode=0o644)))

    with pytest.raises(exceptions.ConfigurationError, match="chmod 600"):
        GatewayClient.from_config(conf)

    assert gateway.request_history == []


def test_password_source_names_the_file(tmp_path):
    path = password_file(tmp_path)
    conf = configured(rest_server_password_file=str(path))
    assert credentials.password_source(conf) == (
        f"the file {path} ([scaleio] rest_server_password_file)"
    )
