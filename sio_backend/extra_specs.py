"""nova API validators for this backend's flavor extra specs.

nova loads every module on the ``nova.api.extra_spec_validators`` entry
point and calls its ``register()`` (``nova/api/validation/extra_specs/
validators.py``, ``load_validators``), so from API microversion 2.86 on a
bad value is refused when the flavor is saved rather than when an instance
is built.  Registering the keys also makes ``disk`` and ``sio`` namespaces
nova knows, so a misspelt key in them (``disk:pol``) is refused too.

nova's generic checks (``enum``, ``min``) cannot say "0 or more than 10" or
compare case-insensitively, so each validator runs the rule of
:mod:`sio_backend.flavor`, the same code the build path runs.

Only nova-api loads this module: importing nova's validator base pulls in
eventlet, which nova-compute refuses before its own start, so nothing on
the compute side may import it.
"""

from __future__ import annotations

from nova import exception
from nova.api.validation.extra_specs import base

from sio_backend import exceptions, flavor


class _FlavorRuleValidator(base.ExtraSpecValidator):
    """nova's validator, with the value checked by :func:`flavor.parse_spec`."""

    def validate(self, name: str, value: str) -> None:
        super().validate(name, value)  # the name check; the value is a plain string
        try:
            flavor.parse_spec(name, value)
        except exceptions.InvalidExtraSpec as err:
            raise exception.ValidationError(detail=f"Validation failed; {err}") from err


def _validator(key: str, rule: flavor.SpecRule) -> base.ExtraSpecValidator:
    deprecated = key != rule.key
    description = rule.description
    if deprecated:
        description = f"Deprecated: use {rule.key}. {description}"
    return _FlavorRuleValidator(
        name=key,
        description=description,
        value={"type": str, "description": f"Must be {rule.allowed}."},
        deprecated=deprecated,
    )


def register() -> list[base.ExtraSpecValidator]:
    """The entry point nova calls; one validator per key, legacy keys included."""
    return [
        _validator(key, rule)
        for rule in flavor.RULES
        for key in (rule.key, rule.legacy_key)
        if key is not None
    ]
