"""Where a spawn's wall time goes: gateway, device, image writes, locks, the rest.

:class:`Breakdown` wraps, for the length of a ``with`` block, the places a
spawn waits: the gateway client's transport (each HTTPS round trip, the
wait for a pooled connection included), the SDC device wait (os-brick's
``connect_volume`` too), the privileged image write and nova's mkfs and
mkswap, nova's ``qemu-img info`` of the image (``image_info``), and the
acquisition of every oslo lock (nova's per-file image lock,
os-brick's connector lock, sio_backend's per-volume and image-cache locks).
Time is charged to the innermost wrapped region of the thread, so a lock
os-brick takes inside the device wait counts as lock, not device.  Nothing
is added to the product: this is benchmark instrumentation only.
"""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
from collections.abc import Callable, Iterator

import nova.privsep.fs
from nova.virt import images
from nova.virt.disk import api as disk_api
from oslo_concurrency import lockutils

from sio_backend import privileged, sdc
from sio_backend.gateway import transport
from sio_backend.simulator import server

CATEGORIES = ("gateway", "device", "image_write", "image_info", "lock")


class _Thread(threading.local):
    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.stack: list[str] = []
        self.resumed = 0.0


class Breakdown:
    """Per-thread seconds in each category while installed."""

    def __init__(self) -> None:
        self._local = _Thread()
        self._undo: list[Callable[[], None]] = []
        self._simulator_lock = threading.Lock()
        self.simulator_cpu_s = 0.0

    # -- accounting ----------------------------------------------------------

    @contextlib.contextmanager
    def region(self, category: str) -> Iterator[None]:
        local = self._local
        now = time.perf_counter()
        if local.stack:
            parent = local.stack[-1]
            local.totals[parent] = local.totals.get(parent, 0.0) + now - local.resumed
        local.stack.append(category)
        local.resumed = now
        try:
            yield
        finally:
            now = time.perf_counter()
            local.totals[category] = local.totals.get(category, 0.0) + now - local.resumed
            local.stack.pop()
            local.resumed = now

    def take(self) -> dict[str, float]:
        """This thread's totals since the last take."""
        totals, self._local.totals = self._local.totals, {}
        return {category: totals.get(category, 0.0) for category in CATEGORIES}

    # -- wrapping ------------------------------------------------------------

    def _wrap(self, owner: object, name: str, category: str) -> None:
        original = getattr(owner, name)

        def wrapped(*args, **kwargs):
            with self.region(category):
                return original(*args, **kwargs)

        setattr(owner, name, wrapped)
        self._undo.append(lambda: setattr(owner, name, original))

    def _wrap_lock(self) -> None:
        original = lockutils.lock

        @contextlib.contextmanager
        def timed_lock(*args, **kwargs):
            with contextlib.ExitStack() as stack:
                with self.region("lock"):
                    stack.enter_context(original(*args, **kwargs))
                yield

        lockutils.lock = timed_lock
        self._undo.append(lambda: setattr(lockutils, "lock", original))

    def _time_simulator(self) -> None:
        """CPU seconds of the simulator's request threads (TLS, HTTP, handlers):
        thread CPU time, so waiting for the next request or for a lock is not counted."""
        original = server._Handler.handle_one_request

        def handle_one_request(this) -> None:
            began = time.thread_time()
            try:
                original(this)
            finally:
                with self._simulator_lock:
                    self.simulator_cpu_s += time.thread_time() - began

        server._Handler.handle_one_request = handle_one_request
        self._undo.append(lambda: setattr(server._Handler, "handle_one_request", original))

    def __enter__(self) -> Breakdown:
        self._time_simulator()
        self._wrap(transport.Transport, "send", "gateway")
        self._wrap(sdc.LocalSdc, "wait_for_device", "device")
        self._wrap(privileged, "convert_image", "image_write")
        self._wrap(disk_api, "mkfs", "image_write")
        self._wrap(nova.privsep.fs, "unprivileged_mkfs", "image_write")
        self._wrap(images, "qemu_img_info", "image_info")
        self._wrap_lock()
        return self

    def __exit__(self, *exc_info: object) -> None:
        while self._undo:
            self._undo.pop()()


def summarize(walls: list[float], parts: list[dict[str, float]]) -> dict:
    """Mean seconds per spawn in each category, the rest as ``other``, and p50/p95 wall."""
    count = max(len(walls), 1)
    mean = {c: round(sum(p[c] for p in parts) / count, 3) for c in CATEGORIES}
    mean["other"] = round(sum(walls) / count - sum(mean.values()), 3)
    quantiles = statistics.quantiles(walls, n=20) if len(walls) > 1 else walls * 19
    return {
        "mean_s": mean,
        "wall_mean_s": round(sum(walls) / count, 3),
        "p50_s": round(statistics.median(walls), 3),
        "p95_s": round(quantiles[18], 3),
    }
