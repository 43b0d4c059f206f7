"""Our validators on nova's ``nova.api.extra_spec_validators`` entry point."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib import metadata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nova import exception
from nova.api.validation.extra_specs import base

from sio_backend import exceptions, extra_specs, flavor

KEYS = [
    "disk:domain",
    "disk:pool",
    "disk:provisioning_type",
    "disk:iops_limit",
    "disk:bandwidth_limit_mbps",
    "sio:pd_name",
    "sio:sp_name",
    "sio:provisioning_type",
]


@pytest.fixture(scope="module")
def validators() -> dict[str, base.ExtraSpecValidator]:
    return {validator.name: validator for validator in extra_specs.register()}


class TestRegister:
    def test_entry_point_is_installed(self) -> None:
        (entry_point,) = metadata.entry_points(
            group="nova.api.extra_spec_validators", name="sio_backend"
        )
        assert entry_point.load() is extra_specs

    def test_one_validator_per_key(self, validators: dict) -> None:
        assert sorted(validators) == sorted(KEYS)
        assert all(isinstance(v, base.ExtraSpecValidator) for v in validators.values())

    def test_legacy_keys_are_marked_deprecated(self, validators: dict) -> None:
        deprecated = {name for name, v in validators.items() if v.deprecated}
        assert deprecated == {"sio:pd_name", "sio:sp_name", "sio:provisioning_type"}
        assert validators["sio:sp_name"].description.startswith("Deprecated: use disk:pool.")

    def test_descriptions_state_the_allowed_values(self, validators: dict) -> None:
        assert "from 11" in validators["disk:iops_limit"].value["description"]


class TestValidate:
    @pytest.mark.parametrize(
        ("key", "value"),
        [
            ("disk:provisioning_type", "thin"),
            ("disk:provisioning_type", "ThickProvisioned"),
            ("sio:provisioning_type", "thick"),
            ("disk:iops_limit", "0"),
            ("disk:iops_limit", "11"),
            ("disk:bandwidth_limit_mbps", "250"),
            ("disk:pool", "sp_ssd-1"),
            ("sio:pd_name", "pd1"),
        ],
    )
    def test_good_values(self, validators: dict, key: str, value: str) -> None:
        validators[key].validate(key, value)

    @pytest.mark.parametrize(
        ("key", "value"),
        [
            ("disk:provisioning_type", "fat"),
            ("disk:iops_limit", "5"),
            ("disk:iops_limit", "many"),
            ("disk:bandwidth_limit_mbps", "-3"),
            ("disk:pool", "two words"),
            ("sio:sp_name", ""),
        ],
    )
    def test_bad_values_raise_novas_validation_error(
        self, validators: dict, key: str, value: str
    ) -> None:
        with pytest.raises(exception.ValidationError) as caught:
            validators[key].validate(key, value)
        message = caught.value.format_message()
        assert message.startswith("Validation failed; ")
        assert f"{key}={value!r}" in message

    def test_same_rule_as_the_build_path(self, validators: dict) -> None:
        with pytest.raises(exceptions.InvalidExtraSpec) as build:
            flavor.parse_spec("disk:iops_limit", "5")
        with pytest.raises(exception.ValidationError) as api:
            validators["disk:iops_limit"].validate("disk:iops_limit", "5")
        assert api.value.format_message() == f"Validation failed; {build.value}"

    @settings(max_examples=200, deadline=None)
    @given(st.sampled_from(KEYS), st.text(max_size=40))
    def test_only_validation_errors_on_arbitrary_values(self, key: str, value: str) -> None:
        try:
            accepted = True
            flavor.parse_spec(key, value)
        except exceptions.InvalidExtraSpec:
            accepted = False
        validator = {v.name: v for v in extra_specs.register()}[key]
        if accepted:
            validator.validate(key, value)
        else:
            with pytest.raises(exception.ValidationError):
                validator.validate(key, value)


# nova-api loads validators once, at import of its validators module, through
# stevedore over the installed entry points.  A child process does the same
# from scratch (and keeps nova's eventlet import out of the test process).
NOVA_API = textwrap.dedent(
    """
    import json
    import sys

    from nova import exception
    from nova.api.validation.extra_specs import validators

    results = {}
    for key, value in json.loads(sys.argv[1]):
        try:
            validators.validate(key, value)
            results[f"{key}={value}"] = "ok"
        except exception.ValidationError as err:
            results[f"{key}={value}"] = err.format_message()
    print(json.dumps(results))
    """
)


def test_novas_own_loader_uses_our_validators() -> None:
    cases = [
        ("disk:iops_limit", "11"),
        ("disk:iops_limit", "5"),
        ("disk:provisioning_type", "fat"),
        ("disk:provisioning_type", "Thin"),
        ("sio:sp_name", "old pool"),
        ("disk:pol", "typo"),  # unknown key in a namespace nova now knows
        ("hw:cpu_policy", "dedicated"),  # nova's own validators still run
    ]
    run = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", NOVA_API, json.dumps(cases)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    results = json.loads(run.stdout.splitlines()[-1])
    assert results["disk:iops_limit=11"] == "ok"
    assert "0 (unlimited) or a whole number from 11" in results["disk:iops_limit=5"]
    assert "thin or thick" in results["disk:provisioning_type=fat"]
    assert results["disk:provisioning_type=Thin"] == "ok"
    assert "no spaces" in results["sio:sp_name=old pool"]
    assert "does not appear to be a valid extra spec" in results["disk:pol=typo"]
    assert results["hw:cpu_policy=dedicated"] == "ok"
