"""Flavor extra specs: where and how a flavor's disks are placed.

The ``disk:*`` keys override the ``[scaleio]`` defaults per flavor.  The keys
of the historical nova ScaleIO patches (``sio:pd_name``, ``sio:sp_name``,
``sio:provisioning_type``) still work, with a deprecation warning, so flavors
made for those clouds keep their placement.  Every value rule lives here
once: nova's API validators (:mod:`sio_backend.extra_specs`) and the build
path both call :func:`parse_spec`.

Provisioning values are accepted case-insensitively as ``thin`` / ``thick``
or the REST API's ``ThinProvisioned`` / ``ThickProvisioned`` (the spelling of
``[scaleio] default_provisioning_type``'s deprecated choices): none of them
is ambiguous, so refusing a spelling would only break old flavors.

Whether a named domain or pool exists needs the gateway; that is checked
when the volume is created (:meth:`sio_backend.storage.Storage.pool_id`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from oslo_log import log as logging

from sio_backend import exceptions

LOG = logging.getLogger(__name__)

KEY_DOMAIN = "disk:domain"
KEY_POOL = "disk:pool"
KEY_PROVISIONING = "disk:provisioning_type"
KEY_IOPS_LIMIT = "disk:iops_limit"
KEY_BANDWIDTH_LIMIT = "disk:bandwidth_limit_mbps"
NAMESPACES = ("disk", "sio")

MIN_IOPS_LIMIT = 11  # PowerFlex: 0 (unlimited) or more than 10
# The gateway keeps limits in 32-bit integers; larger values cannot be sent.
MAX_LIMIT = 2**31 - 1
KBPS_PER_MBPS = 1024  # also PowerFlex's bandwidth granularity

_NAME_RE = re.compile(r"[!-~]{1,31}", re.ASCII)  # printable ASCII, no spaces
_INTEGER_RE = re.compile(r"[0-9]{1,12}", re.ASCII)
_THIN = {"thin": True, "thinprovisioned": True, "thick": False, "thickprovisioned": False}


class FlavorLike(Protocol):
    name: str
    flavorid: str
    extra_specs: Mapping[str, str]


def _parse_name(value: str) -> str:
    if not _NAME_RE.fullmatch(value):
        raise ValueError(value)
    return value


def _parse_thin(value: str) -> bool:
    try:
        return _THIN[value.lower()]
    except KeyError:
        raise ValueError(value) from None


def _parse_integer(value: str, minimum: int, maximum: int) -> int | None:
    """A limit; 0 means unlimited and is returned as None."""
    if not _INTEGER_RE.fullmatch(value):
        raise ValueError(value)
    number = int(value)
    if number == 0:
        return None
    if not minimum <= number <= maximum:
        raise ValueError(value)
    return number


def _parse_iops(value: str) -> int | None:
    return _parse_integer(value, MIN_IOPS_LIMIT, MAX_LIMIT)


def _parse_bandwidth_kbps(value: str) -> int | None:
    mbps = _parse_integer(value, 1, MAX_LIMIT // KBPS_PER_MBPS)
    return None if mbps is None else mbps * KBPS_PER_MBPS


@dataclasses.dataclass(frozen=True)
class SpecRule:
    """One extra spec: its key, the historical key it replaces, its values."""

    key: str
    legacy_key: str | None
    description: str
    allowed: str
    parse: Callable[[str], Any]


RULES = (
    SpecRule(
        KEY_DOMAIN,
        "sio:pd_name",
        "PowerFlex protection domain of the flavor's disks, instead of "
        "[scaleio] default_protection_domain_name.",
        "a PowerFlex name: 1 to 31 letters, digits or punctuation, no spaces",
        _parse_name,
    ),
    SpecRule(
        KEY_POOL,
        "sio:sp_name",
        "PowerFlex storage pool (in the protection domain) of the flavor's disks, "
        "instead of [scaleio] default_storage_pool_name.",
        "a PowerFlex name: 1 to 31 letters, digits or punctuation, no spaces",
        _parse_name,
    ),
    SpecRule(
        KEY_PROVISIONING,
        "sio:provisioning_type",
        "Thin or thick volumes for the flavor's disks, instead of "
        "[scaleio] default_provisioning_type.",
        "thin or thick (ThinProvisioned and ThickProvisioned are accepted too; any case)",
        _parse_thin,
    ),
    SpecRule(
        KEY_IOPS_LIMIT,
        None,
        "Per-volume IOPS limit PowerFlex enforces on each disk of the flavor; 0 means unlimited.",
        f"0 (unlimited) or a whole number from {MIN_IOPS_LIMIT} to {MAX_LIMIT}",
        _parse_iops,
    ),
    SpecRule(
        KEY_BANDWIDTH_LIMIT,
        None,
        "Per-volume bandwidth limit in MB/s PowerFlex enforces on each disk of the "
        "flavor; 0 means unlimited.",
        f"0 (unlimited) or a whole number of MB/s from 1 to {MAX_LIMIT // KBPS_PER_MBPS}",
        _parse_bandwidth_kbps,
    ),
)
_RULES_BY_KEY = {
    key: rule for rule in RULES for key in (rule.key, rule.legacy_key) if key is not None
}


def flavor_label(flavor: FlavorLike) -> str:
    """How messages name a flavor: both the name people use and the id the API uses."""
    return f"{flavor.name!r} (id {flavor.flavorid})"


def parse_spec(key: str, value: object, *, flavor: str | None = None) -> Any:
    """The meaning of one of our extra specs; None means unlimited for the limits.

    Raises :class:`~sio_backend.exceptions.InvalidExtraSpec` naming the flavor
    (when given), the key and the allowed values.
    """
    rule = _RULES_BY_KEY.get(key)
    if rule is None:
        raise exceptions.InvalidExtraSpec(
            f"{_where(flavor)}extra spec {key!r} is not one sio_backend knows; known keys: "
            f"{', '.join(sorted(_RULES_BY_KEY))}."
        )
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return rule.parse(value)
    except ValueError:
        raise exceptions.InvalidExtraSpec(
            f"{_where(flavor)}extra spec {key}={value!r} is invalid: it must be "
            f"{rule.allowed}. Fix it with 'openstack flavor set --property {key}=<value>' "
            f"or remove it with 'openstack flavor unset --property {key}'."
        ) from None


def _where(flavor: str | None) -> str:
    return f"Flavor {flavor}: " if flavor else ""


@dataclasses.dataclass(frozen=True)
class DiskPlacement:
    """Where a flavor's volumes go and the limits PowerFlex applies to them."""

    protection_domain: str
    storage_pool: str
    thin: bool
    iops_limit: int | None = None  # None: unlimited
    bandwidth_limit_kbps: int | None = None  # None: unlimited; a multiple of 1024

    @property
    def pool(self) -> tuple[str, str]:
        """(protection domain, storage pool): where the volumes live, limits aside."""
        return self.protection_domain, self.storage_pool

    @property
    def has_qos(self) -> bool:
        return self.iops_limit is not None or self.bandwidth_limit_kbps is not None

    def as_thin(self) -> DiskPlacement:
        """The same placement, thin: for disks rounded up beyond what nova accounts."""
        return dataclasses.replace(self, thin=True)


# (flavorid, key, reason) already warned about: once per process is enough.
_warned: set[tuple[str, str, str]] = set()


def _warn_once(flavor: FlavorLike, key: str, reason: str, message: str, *args: object) -> None:
    marker = (str(flavor.flavorid), key, reason)
    if marker not in _warned:
        _warned.add(marker)
        LOG.warning(message, *args)


def _spec(flavor: FlavorLike, specs: Mapping[str, str], rule: SpecRule) -> Any:
    """The flavor's value for ``rule``, from its key or its legacy key; None if unset."""
    label = flavor_label(flavor)
    legacy = rule.legacy_key
    if rule.key in specs:
        if legacy and legacy in specs:
            _warn_once(
                flavor,
                legacy,
                "shadowed",
                "Flavor %s sets both %s and the deprecated %s; %s is ignored. "
                "Remove it from the flavor.",
                label,
                rule.key,
                legacy,
                legacy,
            )
        return parse_spec(rule.key, specs[rule.key], flavor=label)
    if legacy and legacy in specs:
        _warn_once(
            flavor,
            legacy,
            "deprecated",
            "Flavor %s uses the deprecated extra spec %s; set %s instead.",
            label,
            legacy,
            rule.key,
        )
        return parse_spec(legacy, specs[legacy], flavor=label)
    return None


def _warn_unknown_keys(flavor: FlavorLike, specs: Mapping[str, str]) -> None:
    for key in specs:
        namespace = key.split(":", 1)[0] if ":" in key else None
        if namespace in NAMESPACES and key not in _RULES_BY_KEY:
            _warn_once(
                flavor,
                key,
                "unknown",
                "Flavor %s has extra spec %s, which sio_backend does not know; it is "
                "ignored. Known keys: %s.",
                flavor_label(flavor),
                key,
                ", ".join(sorted(_RULES_BY_KEY)),
            )


def _default(conf: Any, option: str, key: str, flavor: FlavorLike, parse: Callable) -> Any:
    value = getattr(conf, option)
    if value is None:
        raise exceptions.ConfigurationError(
            f"Flavor {flavor_label(flavor)} sets no {key} and [scaleio] {option} is not "
            f"set: set [scaleio] {option} in nova.conf or {key} on the flavor."
        )
    try:
        return parse(value)
    except ValueError:
        raise exceptions.ConfigurationError(
            f"[scaleio] {option} = {value!r} is not valid: it must be {_RULES_BY_KEY[key].allowed}."
        ) from None


def placement_for(flavor: FlavorLike, conf: Any) -> DiskPlacement:
    """The placement of ``flavor``'s disks; ``conf`` is the ``[scaleio]`` group.

    Raises :class:`~sio_backend.exceptions.InvalidExtraSpec` for a bad value
    and :class:`~sio_backend.exceptions.ConfigurationError` when neither the
    flavor nor the configuration names a protection domain or pool.
    """
    specs = flavor.extra_specs or {}
    _warn_unknown_keys(flavor, specs)
    values = {rule.key: _spec(flavor, specs, rule) for rule in RULES}
    placement: dict[str, Any] = {}
    for field, key, option in (
        ("protection_domain", KEY_DOMAIN, "default_protection_domain_name"),
        ("storage_pool", KEY_POOL, "default_storage_pool_name"),
        ("thin", KEY_PROVISIONING, "default_provisioning_type"),
    ):
        placement[field] = values[key]
        if placement[field] is None:
            placement[field] = _default(conf, option, key, flavor, _RULES_BY_KEY[key].parse)
    return DiskPlacement(
        **placement,
        iops_limit=values[KEY_IOPS_LIMIT],
        bandwidth_limit_kbps=values[KEY_BANDWIDTH_LIMIT],
    )
