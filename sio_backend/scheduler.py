"""Keep flavors the ScaleIO backend would refuse off ScaleIO hosts.

Enable in nova-scheduler's nova.conf (sio_backend installed there too)::

    [filter_scheduler]
    available_filters = nova.scheduler.filters.all_filters
    available_filters = sio_backend.scheduler.ScaleIOFlavorFilter
    enabled_filters = ...,ScaleIOFlavorFilter

ScaleIO hosts are those in a host aggregate whose metadata has
``scaleio=true``.  A flavor passes when the backend would accept every disk
it asks for: sizes in steps of the pool's unit (or ``[scaleio]
disk_size_policy = round_up``) and valid ``disk:*`` extra specs.

The scheduler does not talk to the gateway, so it takes the unit from the
aggregate: ``scaleio_size_granularity_gb=1`` for hosts whose pools are
PowerFlex 5.x Erasure Coding pools, 8 GiB (every other pool) otherwise.
A host in several ScaleIO aggregates gets the strictest unit among them.
"""

from __future__ import annotations

import nova.conf
from nova.scheduler import filters
from oslo_log import log as logging

from sio_backend import exceptions, flavor, sizing

CONF = nova.conf.CONF
LOG = logging.getLogger(__name__)

AGGREGATE_KEY = "scaleio"
GRANULARITY_KEY = "scaleio_size_granularity_gb"
GRANULARITIES = (1, sizing.GRANULARITY_GB)
MiB = 1024**2
GiB = 1024**3


def refusal(instance_flavor, conf, granularity_gb: int = sizing.GRANULARITY_GB) -> str | None:
    """Why the backend would refuse the flavor's disks, or None if it would not."""
    label = flavor.flavor_label(instance_flavor)
    disks = (
        ("disk", instance_flavor.root_gb * GiB),
        ("disk.local", instance_flavor.ephemeral_gb * GiB),
        ("disk.swap", instance_flavor.swap * MiB),
    )
    try:
        flavor.placement_for(instance_flavor, conf)
        for disk_name, size in disks:
            if size:
                sizing.disk_volume_size(
                    label,
                    disk_name,
                    size,
                    policy=conf.disk_size_policy,
                    granularity_gb=granularity_gb,
                )
    except exceptions.FlavorNotSupported as err:
        return str(err)
    return None


def _scaleio_aggregates(host_state) -> list:
    return [
        aggregate
        for aggregate in host_state.aggregates
        if str(aggregate.metadata.get(AGGREGATE_KEY, "")).lower() == "true"
    ]


def is_scaleio_host(host_state) -> bool:
    return bool(_scaleio_aggregates(host_state))


def size_granularity_gb(host_state) -> int:
    """The host's volume size unit, from its ScaleIO aggregates (8 GiB unless they say 1)."""
    found = []
    for aggregate in _scaleio_aggregates(host_state):
        value = str(aggregate.metadata.get(GRANULARITY_KEY, sizing.GRANULARITY_GB)).strip()
        if not value.isdigit() or int(value) not in GRANULARITIES:
            LOG.warning(
                "Aggregate %s sets %s=%s; valid values are %s. Using %d GiB.",
                aggregate.name,
                GRANULARITY_KEY,
                value,
                " and ".join(str(unit) for unit in GRANULARITIES),
                sizing.GRANULARITY_GB,
            )
            value = str(sizing.GRANULARITY_GB)
        found.append(int(value))
    return max(found, default=sizing.GRANULARITY_GB)


class ScaleIOFlavorFilter(filters.BaseHostFilter):
    """Pass ScaleIO hosts only for flavors whose disks the backend accepts."""

    run_filter_once_per_request = True
    RUN_ON_REBUILD = False

    def host_passes(self, host_state, spec_obj) -> bool:
        if not is_scaleio_host(host_state):
            return True
        reason = refusal(spec_obj.flavor, CONF.scaleio, size_granularity_gb(host_state))
        if reason is not None:
            LOG.debug("%s fails ScaleIOFlavorFilter: %s", host_state, reason)
            return False
        return True
