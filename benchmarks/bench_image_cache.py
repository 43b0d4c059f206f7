"""Time to root disk ready versus image size, with ``[scaleio] image_cache`` none and volume.

``python -m benchmarks.bench_image_cache [--sizes-mib 256 1024 2048] [--boots 3]``
prints a table and writes JSON; :func:`root_disk_ready` is what the bench
runner calls.

Each image is a qcow2 of the given virtual size with 1 MiB of data every
8 MiB (mostly empty, as cloud images are).  A boot is nova's ``cache`` and
``libvirt_info`` for the root disk alone.  The first boot of an image pays
the fetch into ``_base`` in both modes; later boots find ``_base`` filled.

The simulator makes a snapshot by copying the source's data (PowerFlex
only writes metadata), so the time it spends copying is measured apart
and subtracted in ``host_seconds``: what a real system would show.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

from oslo_utils import units
from sio_fixtures import nova_disks

from benchmarks.environment import Bench, make_qcow2
from sio_backend.imagebackend import ScaleIOImage

MiB = units.Mi
DATA_EVERY = 8 * MiB
MODES = ("none", "volume")


class _SnapshotCopyTimer:
    """Wraps the simulator's snapshot data copy and adds up its time."""

    def __init__(self, devices) -> None:
        self.seconds = 0.0
        self._snapshot = devices.snapshot
        devices.snapshot = self

    def __call__(self, source_id: str, snapshot_id: str) -> None:
        started = time.perf_counter()
        try:
            self._snapshot(source_id, snapshot_id)
        finally:
            self.seconds += time.perf_counter() - started


def _timed_boot(bench: Bench, timer: _SnapshotCopyTimer, image: Path, image_id: str) -> dict:
    copying = timer.seconds
    roots: list[ScaleIOImage] = []
    instance = nova_disks.new_instance(root_gb=16)
    host = bench.hosts["host1"]
    measured = bench.measure(
        lambda: roots.append(nova_disks.spawn_disk(host, instance, "disk", image, image_id))
    )
    simulated = timer.seconds - copying
    return {
        "seconds": round(measured.seconds, 4),
        "host_seconds": round(measured.seconds - simulated, 4),
        "calls": measured.calls,
        "root": roots[0],
    }


def root_disk_ready(bench: Bench, sizes_mib: list[int], boots: int = 3) -> dict:
    """Per mode and image size: the first boot, and the median of ``boots`` later ones."""
    timer = _SnapshotCopyTimer(bench.sim.devices)
    results: dict = {}
    try:
        for mode in MODES:
            bench.set_scaleio(image_cache=mode, default_provisioning_type="thin")
            per_size: dict = {}
            for size in sizes_mib:
                image = make_qcow2(
                    bench.workdir / f"image-{size}.qcow2",
                    f"{size}M",
                    [(offset, MiB) for offset in range(0, size * MiB, DATA_EVERY)],
                )
                image_id = str(uuid.uuid4())
                first = _timed_boot(bench, timer, image, image_id)
                later = [_timed_boot(bench, timer, image, image_id) for _ in range(boots)]
                for boot in (first, *later):
                    root = boot.pop("root")
                    root.storage.remove(root.storage.find(root.volume_name))
                per_size[str(size)] = {
                    "first": first,
                    "later_median": {
                        key: round(statistics.median(boot[key] for boot in later), 4)
                        for key in ("seconds", "host_seconds", "calls")
                    },
                }
                image.unlink()
            results[mode] = per_size
    finally:
        bench.sim.devices.snapshot = timer._snapshot
        bench.set_scaleio(image_cache="none", default_provisioning_type="thick")
    return results


def _table(results: dict) -> str:
    lines = [
        f"{'image':>8}  {'mode':<7} {'first boot s':>13} {'later boot s':>13} "
        f"{'later, host s':>14} {'later calls':>12}"
    ]
    for mode, per_size in results.items():
        for size, row in per_size.items():
            later = row["later_median"]
            lines.append(
                f"{size + ' MiB':>8}  {mode:<7} {row['first']['seconds']:>13.3f} "
                f"{later['seconds']:>13.3f} {later['host_seconds']:>14.3f} {later['calls']:>12}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_image_cache")
    parser.add_argument("--sizes-mib", type=int, nargs="+", default=[256, 1024, 2048])
    parser.add_argument("--boots", type=int, default=3, help="later boots per size (median)")
    parser.add_argument("--output", type=Path, help="write the results as JSON here")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    with Bench() as bench:
        results = root_disk_ready(bench, args.sizes_mib, args.boots)
    print(_table(results))
    if args.output:
        args.output.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
