"""The [scaleio] options: registration, validation, deprecated names, the sample."""

from __future__ import annotations

import importlib.metadata
import pathlib

import pytest
from oslo_config import cfg, generator

from sio_backend import conf as sio_conf

SAMPLE = pathlib.Path(__file__).resolve().parents[2] / "etc" / "nova-scaleio.conf.sample"

DEFAULTS = {
    "rest_server_ip": None,
    "rest_server_port": 443,
    "rest_server_username": None,
    "rest_server_password": None,
    "rest_server_password_file": None,
    "rest_auth_method": "auto",
    "verify_server_certificate": False,
    "server_certificate_path": None,
    "rest_request_timeout": 60,
    "rest_max_connections": 100,
    "default_protection_domain_name": None,
    "default_storage_pool_name": None,
    "default_provisioning_type": "thick",
    "installation_identifier": None,
    "disk_size_policy": "reject",
    "allow_non_padded_pools": False,
    "default_sdcguid": None,
    "disk_wait_timeout": 60,
    "capacity_fraction": 1.0,
    "image_cache": "none",
    "image_cache_max_clones": 100,
    "image_cache_import_timeout": 1800,
}


def load(tmp_path: pathlib.Path, body: str = "") -> cfg.ConfigOpts:
    """A fresh ConfigOpts with [scaleio] registered and ``body`` as its file."""
    config_file = tmp_path / "nova.conf"
    config_file.write_text(f"[scaleio]\n{body}\n")
    conf = cfg.ConfigOpts()
    sio_conf.register_opts(conf)
    conf([], default_config_files=[str(config_file)])
    return conf


def test_options_register_on_a_fresh_configopts_with_their_defaults(tmp_path):
    conf = load(tmp_path)

    assert {name: conf.scaleio[name] for name in DEFAULTS} == DEFAULTS


def test_registering_twice_is_harmless(tmp_path):
    conf = load(tmp_path, "rest_server_ip = 192.0.2.1")

    sio_conf.register_opts(conf)

    assert conf.scaleio.rest_server_ip == "192.0.2.1"


def test_overrides_stay_within_their_configopts(tmp_path):
    first = load(tmp_path)
    first.set_override("rest_server_ip", "192.0.2.1", group="scaleio")

    second = load(tmp_path)

    assert second.scaleio.rest_server_ip is None


def test_the_password_is_secret():
    (group, opts), *_ = sio_conf.list_opts()
    by_name = {opt.name: opt for opt in opts}

    assert by_name["rest_server_password"].secret is True
    assert group.name == "scaleio"


@pytest.mark.parametrize(
    ("option", "value", "reason"),
    [
        ("default_provisioning_type", "fat", "Valid values are"),
        ("installation_identifier", "toolong", "doesn't match regex"),
        ("installation_identifier", "ab-1", "doesn't match regex"),
        ("default_sdcguid", "not-a-guid", "doesn't match regex"),
        ("default_sdcguid", "028888FA-502A-4FAC-A888-1FA3B256358", "doesn't match regex"),
        ("disk_size_policy", "round_down", "Valid values are"),
        ("rest_request_timeout", "0", "greater than or equal to 1"),
        ("rest_max_connections", "0", "greater than or equal to 1"),
        ("disk_wait_timeout", "-5", "greater than or equal to 1"),
        ("rest_server_port", "70000", "less than or equal to 65535"),
        ("verify_server_certificate", "maybe", "Unexpected boolean value"),
        ("rest_server_ip", "not a host!", "not a valid host"),
        ("image_cache", "glance", "Valid values are"),
        ("image_cache_max_clones", "0", "greater than or equal to 1"),
        ("rest_auth_method", "basic", "Valid values are"),
    ],
)
def test_bad_values_fail_naming_the_option(tmp_path, option, value, reason):
    conf = load(tmp_path, f"{option} = {value}")

    with pytest.raises(cfg.ConfigFileValueError) as info:
        getattr(conf.scaleio, option)

    assert f"option {option} " in str(info.value)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("default_provisioning_type", "thin", "thin"),
        ("default_provisioning_type", "ThinProvisioned", "ThinProvisioned"),
        ("installation_identifier", "Ab12", "Ab12"),
        ("default_sdcguid", "028888fa-502a-4fac-a888-1fa3b256358c", None),
        ("default_sdcguid", "028888FA-502A-4FAC-A888-1FA3B256358C", None),
        ("rest_server_ip", "2001:db8::5", None),
        ("disk_size_policy", "round_up", None),
        ("rest_auth_method", "oauth", None),
        ("rest_auth_method", "legacy", None),
    ],
)
def test_good_values_are_accepted(tmp_path, option, value, expected):
    conf = load(tmp_path, f"{option} = {value}")

    assert getattr(conf.scaleio, option) == (expected or value)


@pytest.mark.parametrize(
    ("old", "new", "value"),
    [
        ("protection_domain_name", "default_protection_domain_name", "pd-old"),
        ("storage_pool_name", "default_storage_pool_name", "sp-old"),
        ("provisioning_type", "default_provisioning_type", "ThinProvisioned"),
    ],
)
def test_historical_option_names_are_still_read(tmp_path, old, new, value):
    conf = load(tmp_path, f"{old} = {value}")

    assert getattr(conf.scaleio, new) == value


def test_list_opts_is_reachable_through_the_entry_point():
    (entry_point,) = [
        ep
        for ep in importlib.metadata.entry_points(group="oslo.config.opts")
        if ep.name == "sio_backend"
    ]

    listed = entry_point.load()()

    ((group, opts),) = listed
    assert group.name == "scaleio"
    assert {opt.name for opt in opts} == set(DEFAULTS)


def test_committed_sample_matches_the_options(tmp_path):
    generated = tmp_path / "nova-scaleio.conf.sample"
    generator_conf = cfg.ConfigOpts()
    generator.register_cli_opts(generator_conf)
    generator_conf(["--namespace", "sio_backend", "--output-file", str(generated)])

    generator.generate(generator_conf)

    assert SAMPLE.exists(), f"{SAMPLE} is missing: run `tox -e genconfig` and commit it"
    assert generated.read_bytes() == SAMPLE.read_bytes(), (
        f"{SAMPLE} is stale: run `tox -e genconfig` and commit the result"
    )
