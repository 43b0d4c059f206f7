"""Flavor extra specs to DiskPlacement: overrides, legacy keys, defaults, refusals."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oslo_config import cfg

from sio_backend import conf as sio_conf
from sio_backend import exceptions, flavor
from sio_backend.flavor import DiskPlacement

fast = settings(max_examples=200, deadline=None)


@dataclasses.dataclass
class Flavor:
    extra_specs: dict[str, Any]
    name: str = "m1.small"
    flavorid: str = "42"


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deprecation warnings are once per process; give each test its own process."""
    monkeypatch.setattr(flavor, "_warned", set())


def make_conf(**overrides: Any) -> Any:
    conf = cfg.ConfigOpts()
    sio_conf.register_opts(conf)
    conf([], project="sio_backend_test")
    defaults = {
        "default_protection_domain_name": "pd1",
        "default_storage_pool_name": "sp1",
        **overrides,
    }
    for name, value in defaults.items():
        conf.set_override(name, value, group="scaleio")
    return conf.scaleio


@pytest.fixture
def scaleio() -> Any:
    return make_conf()


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


class TestDefaults:
    def test_config_defaults(self, scaleio: Any) -> None:
        assert flavor.placement_for(Flavor({}), scaleio) == DiskPlacement("pd1", "sp1", False)

    def test_no_extra_specs_at_all(self, scaleio: Any) -> None:
        assert flavor.placement_for(Flavor(None), scaleio).storage_pool == "sp1"  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("configured", "thin"),
        [("thin", True), ("thick", False), ("ThinProvisioned", True), ("ThickProvisioned", False)],
    )
    def test_configured_provisioning_including_deprecated_spellings(
        self, configured: str, thin: bool
    ) -> None:
        placement = flavor.placement_for(
            Flavor({}), make_conf(default_provisioning_type=configured)
        )
        assert placement.thin is thin

    @pytest.mark.parametrize(
        ("option", "key"),
        [
            ("default_protection_domain_name", "disk:domain"),
            ("default_storage_pool_name", "disk:pool"),
        ],
    )
    def test_missing_domain_or_pool_names_option_and_key(self, option: str, key: str) -> None:
        with pytest.raises(exceptions.ConfigurationError) as caught:
            flavor.placement_for(Flavor({}), make_conf(**{option: None}))
        message = str(caught.value)
        assert f"[scaleio] {option}" in message
        assert key in message
        assert "'m1.small' (id 42)" in message

    def test_flavor_fills_what_config_lacks(self) -> None:
        scaleio = make_conf(default_protection_domain_name=None, default_storage_pool_name=None)
        placement = flavor.placement_for(
            Flavor({"disk:domain": "pd2", "disk:pool": "fast"}), scaleio
        )
        assert (placement.protection_domain, placement.storage_pool) == ("pd2", "fast")

    def test_config_name_with_a_space_is_a_configuration_error(self) -> None:
        with pytest.raises(exceptions.ConfigurationError, match="default_storage_pool_name"):
            flavor.placement_for(Flavor({}), make_conf(default_storage_pool_name="my pool"))


class TestOverrides:
    def test_every_key(self, scaleio: Any) -> None:
        specs = {
            "disk:domain": "pd2",
            "disk:pool": "sp_fast",
            "disk:provisioning_type": "thin",
            "disk:iops_limit": "11",
            "disk:bandwidth_limit_mbps": "100",
        }
        assert flavor.placement_for(Flavor(specs), scaleio) == DiskPlacement(
            "pd2", "sp_fast", True, iops_limit=11, bandwidth_limit_kbps=102400
        )

    @pytest.mark.parametrize(
        ("value", "thin"),
        [
            ("thin", True),
            ("thick", False),
            ("THIN", True),
            ("ThinProvisioned", True),
            ("thickprovisioned", False),
        ],
    )
    def test_provisioning_spellings(self, scaleio: Any, value: str, thin: bool) -> None:
        specs = {"disk:provisioning_type": value}
        assert flavor.placement_for(Flavor(specs), scaleio).thin is thin

    @pytest.mark.parametrize("key", ["disk:iops_limit", "disk:bandwidth_limit_mbps"])
    def test_zero_means_unlimited(self, scaleio: Any, key: str) -> None:
        placement = flavor.placement_for(Flavor({key: "0"}), scaleio)
        assert (placement.iops_limit, placement.bandwidth_limit_kbps) == (None, None)
        assert not placement.has_qos

    def test_bandwidth_is_sent_in_kbps_multiples_of_1024(self, scaleio: Any) -> None:
        placement = flavor.placement_for(Flavor({"disk:bandwidth_limit_mbps": "3"}), scaleio)
        assert placement.bandwidth_limit_kbps == 3072
        assert placement.has_qos

    def test_as_thin(self) -> None:
        placement = DiskPlacement("pd", "sp", False, iops_limit=20)
        assert placement.as_thin() == DiskPlacement("pd", "sp", True, iops_limit=20)


class TestLegacyKeys:
    def test_historical_keys_work_with_one_warning_each(
        self, scaleio: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        specs = {"sio:pd_name": "old_pd", "sio:sp_name": "old_sp", "sio:provisioning_type": "thin"}
        caplog.set_level(logging.WARNING, logger="sio_backend.flavor")
        for _ in range(3):
            placement = flavor.placement_for(Flavor(specs), scaleio)
        assert placement == DiskPlacement("old_pd", "old_sp", True)
        warnings = warnings_of(caplog)
        assert len(warnings) == 3
        for legacy, key in (
            ("sio:pd_name", "disk:domain"),
            ("sio:sp_name", "disk:pool"),
            ("sio:provisioning_type", "disk:provisioning_type"),
        ):
            assert [w for w in warnings if f"deprecated extra spec {legacy}; set {key}" in w]

    def test_each_flavor_is_warned_about(
        self, scaleio: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.WARNING, logger="sio_backend.flavor")
        flavor.placement_for(Flavor({"sio:sp_name": "a"}, flavorid="1"), scaleio)
        flavor.placement_for(Flavor({"sio:sp_name": "a"}, flavorid="2"), scaleio)
        assert len(warnings_of(caplog)) == 2

    def test_new_key_wins_with_a_warning(
        self, scaleio: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.WARNING, logger="sio_backend.flavor")
        specs = {"disk:pool": "new", "sio:sp_name": "old"}
        assert flavor.placement_for(Flavor(specs), scaleio).storage_pool == "new"
        (warning,) = warnings_of(caplog)
        assert "sets both disk:pool and the deprecated sio:sp_name" in warning
        assert "'m1.small' (id 42)" in warning

    def test_ignored_legacy_value_is_not_parsed(self, scaleio: Any) -> None:
        specs = {"disk:provisioning_type": "thin", "sio:provisioning_type": "fat"}
        assert flavor.placement_for(Flavor(specs), scaleio).thin

    def test_legacy_values_follow_the_same_rules(self, scaleio: Any) -> None:
        with pytest.raises(exceptions.InvalidExtraSpec, match="sio:provisioning_type='fat'"):
            flavor.placement_for(Flavor({"sio:provisioning_type": "fat"}), scaleio)

    def test_unknown_keys_in_our_namespaces_are_warned_about(
        self, scaleio: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.WARNING, logger="sio_backend.flavor")
        specs = {"disk:pol": "x", "sio:provisioning": "thin", "hw:cpu_policy": "dedicated"}
        flavor.placement_for(Flavor(specs), scaleio)
        warnings = warnings_of(caplog)
        assert len(warnings) == 2
        assert any("disk:pol" in w for w in warnings)
        assert any("sio:provisioning," in w for w in warnings)


class TestRefusals:
    @pytest.mark.parametrize(
        ("key", "value", "allowed"),
        [
            ("disk:provisioning_type", "fat", "thin or thick"),
            ("disk:provisioning_type", "", "thin or thick"),
            ("disk:provisioning_type", " thin", "thin or thick"),
            ("disk:iops_limit", "5", "0 (unlimited) or a whole number from 11"),
            ("disk:iops_limit", "10", "from 11"),
            ("disk:iops_limit", "-20", "from 11"),
            ("disk:iops_limit", "1e3", "from 11"),
            ("disk:iops_limit", "12.5", "from 11"),
            ("disk:iops_limit", "2147483648", "to 2147483647"),
            ("disk:iops_limit", "\u0661\u0662", "from 11"),  # Arabic-Indic digits
            ("disk:bandwidth_limit_mbps", "fast", "whole number of MB/s"),
            ("disk:bandwidth_limit_mbps", "-1", "whole number of MB/s"),
            ("disk:bandwidth_limit_mbps", "2097152", "to 2097151"),
            ("disk:pool", "my pool", "no spaces"),
            ("disk:pool", "p" * 32, "1 to 31"),
            ("disk:domain", "", "1 to 31"),
            ("sio:pd_name", "caf\u00e9", "letters, digits or punctuation"),
        ],
    )
    def test_invalid_value_names_flavor_key_and_allowed_values(
        self, scaleio: Any, key: str, value: str, allowed: str
    ) -> None:
        with pytest.raises(exceptions.InvalidExtraSpec) as caught:
            flavor.placement_for(Flavor({key: value}), scaleio)
        message = str(caught.value)
        assert message.startswith("Flavor 'm1.small' (id 42): ")
        assert f"{key}={value!r}" in message
        assert allowed in message
        assert "openstack flavor set --property" in message

    def test_non_string_value(self, scaleio: Any) -> None:
        with pytest.raises(exceptions.InvalidExtraSpec, match="disk:iops_limit=20"):
            flavor.placement_for(Flavor({"disk:iops_limit": 20}), scaleio)

    def test_refusal_aborts_builds(self) -> None:
        assert issubclass(exceptions.InvalidExtraSpec, exceptions.FlavorNotSupported)


class TestParseSpec:
    @pytest.mark.parametrize(
        ("key", "value", "parsed"),
        [
            ("disk:domain", "pd-1", "pd-1"),
            ("sio:sp_name", "sp_1", "sp_1"),
            ("disk:provisioning_type", "Thick", False),
            ("disk:iops_limit", "11", 11),
            ("disk:iops_limit", "0", None),
            ("disk:bandwidth_limit_mbps", "1", 1024),
        ],
    )
    def test_values(self, key: str, value: str, parsed: Any) -> None:
        assert flavor.parse_spec(key, value) == parsed

    def test_without_a_flavor_the_message_starts_with_the_key(self) -> None:
        with pytest.raises(exceptions.InvalidExtraSpec, match=r"^extra spec disk:iops_limit='5'"):
            flavor.parse_spec("disk:iops_limit", "5")

    def test_unknown_key(self) -> None:
        with pytest.raises(exceptions.InvalidExtraSpec, match="known keys: disk:bandwidth"):
            flavor.parse_spec("disk:size", "8")

    def test_every_rule_has_a_distinct_key(self) -> None:
        keys = [k for rule in flavor.RULES for k in (rule.key, rule.legacy_key) if k]
        assert len(keys) == len(set(keys)) == 8


our_keys = st.sampled_from(
    [key for rule in flavor.RULES for key in (rule.key, rule.legacy_key) if key]
)


class TestProperties:
    @fast
    @given(
        st.dictionaries(
            our_keys, st.text(max_size=40) | st.from_regex(r"[0-9]{1,14}", fullmatch=True)
        ),
        st.booleans(),
    )
    def test_only_documented_errors_on_arbitrary_values(
        self, specs: dict[str, str], configured: bool
    ) -> None:
        scaleio = (
            make_conf()
            if configured
            else make_conf(default_protection_domain_name=None, default_storage_pool_name=None)
        )
        try:
            placement = flavor.placement_for(Flavor(specs), scaleio)
        except (exceptions.InvalidExtraSpec, exceptions.ConfigurationError) as err:
            assert "'m1.small' (id 42)" in str(err)
            return
        assert placement.iops_limit is None or placement.iops_limit > 10
        kbps = placement.bandwidth_limit_kbps
        assert kbps is None or (kbps > 0 and kbps % 1024 == 0)

    @fast
    @given(our_keys, st.text(max_size=40))
    def test_parse_spec_accepts_or_refuses_with_our_error(self, key: str, value: str) -> None:
        try:
            flavor.parse_spec(key, value)
        except exceptions.InvalidExtraSpec as err:
            assert key in str(err)


class TestParseSpecProperties:
    @fast
    @given(
        st.text(max_size=30) | our_keys,
        st.none() | st.integers() | st.booleans() | st.lists(st.text(max_size=3)) | st.text(),
    )
    def test_any_key_and_value_parse_or_raise_our_error_naming_the_key(
        self, key: str, value: object
    ) -> None:
        try:
            flavor.parse_spec(key, value, flavor="'m1.small' (id 42)")
        except exceptions.InvalidExtraSpec as err:
            assert repr(key) in str(err) or f"{key}=" in str(err)
            assert "'m1.small' (id 42)" in str(err)
