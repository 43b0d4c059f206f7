"""Pool statistics as capacity reporting reads them: once per interval per process.

nova asks the driver for ``DISK_GB`` on every resource-tracker update: the
``update_available_resource`` periodic task, and every instance claim, move
and abort (``update_provider_tree``).  Each answer used to cost one
``querySelectedStatistics``; on a cloud every compute host asks the same
gateway about the same pool.  A reading is reused by every driver and
thread of the process for one ``[DEFAULT] update_resources_interval`` (60 s,
oslo.service's spacing, when it is 0 or negative).

The free figure never stays higher than the pool's for long: a volume this
process creates or grows lowers it by the volume's full size at once (a
thin volume takes at most that), and the next reading replaces it.  A
removal leaves the figure lower than the pool's until then, the safe side.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from oslo_log import log as logging
from oslo_utils import units

from sio_backend import exceptions
from sio_backend.flavor import DiskPlacement
from sio_backend.gateway import GatewayClient, PoolCapacity

if TYPE_CHECKING:
    from sio_backend.storage import Storage

LOG = logging.getLogger(__name__)

# oslo.service runs a periodic task every 60 s unless told a spacing.
DEFAULT_INTERVAL_S = 60.0
_KiB_PER_GiB = 1024 * 1024


def reporting_interval(conf) -> float:
    """Seconds between nova's resource updates: ``[DEFAULT] update_resources_interval``."""
    configured = conf.update_resources_interval
    return float(configured) if configured > 0 else DEFAULT_INTERVAL_S


def local_gb_info(storage: Storage, conf) -> dict[str, float]:
    """nova's ``local_gb`` figures (GiB): the default pool's net capacity times
    ``[scaleio] capacity_fraction``, from a reading at most one interval old."""
    options = conf.scaleio
    placement = DiskPlacement(
        options.default_protection_domain_name, options.default_storage_pool_name, thin=True
    )
    reading = storage.pool_capacity(placement, reporting_interval(conf))
    share = options.capacity_fraction
    total = reading.total_kb * units.Ki * share / units.Gi
    free = reading.free_kb * units.Ki * share / units.Gi
    return {"total": total, "free": free, "used": total - free}


@dataclasses.dataclass
class _Reading:
    capacity: PoolCapacity
    read_at: float


class PoolStatistics:
    """The latest capacity reading of each pool, shared by whoever holds this object."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._readings: dict[tuple[str, str], _Reading] = {}
        self.reads = 0  # gateway reads made, for the fleet model and tests

    def capacity(self, client: GatewayClient, pool_id: str, max_age: float) -> PoolCapacity:
        """The pool's capacity, read from the gateway only when the last reading
        is ``max_age`` seconds old; a failed read reports the last one for
        another ``max_age`` (the gateway is not asked again on every claim)."""
        key = (client.endpoint, pool_id)
        with self._lock:  # one read at a time: concurrent callers share it
            now = self._clock()
            last = self._readings.get(key)
            if last is not None and now - last.read_at < max_age:
                return last.capacity
            self.reads += 1
            try:
                fresh = client.pool_capacity(pool_id)
            except exceptions.ScaleIOError as err:
                if last is None:
                    raise
                LOG.warning("Reporting the last known capacity of pool %s: %s", pool_id, err)
                last.read_at = now
                return last.capacity
            self._readings[key] = _Reading(fresh, now)
            return fresh

    def consumed(self, endpoint: str, pool_id: str, size_gb: int) -> None:
        """A volume of ``size_gb`` created or grown by that much in the pool:
        lower the free figure now rather than at the next reading."""
        with self._lock:
            last = self._readings.get((endpoint, pool_id))
            if last is not None:
                free = max(0, last.capacity.free_kb - size_gb * _KiB_PER_GiB)
                last.capacity = dataclasses.replace(last.capacity, free_kb=free)

    def forget(self) -> None:
        """Drop every reading (tests that start a new gateway in this process)."""
        with self._lock:
            self._readings.clear()


# The one instance of the process, shared by every Storage that is not given another.
SHARED = PoolStatistics()
