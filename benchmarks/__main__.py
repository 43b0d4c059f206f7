"""``python -m benchmarks [--output FILE] [--quick]``: run, print the table, write JSON."""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import sys
import time
from pathlib import Path

from benchmarks import fleet, nova_actions, report, scenarios
from benchmarks.environment import Bench, make_qcow2

RESULTS = Path(__file__).resolve().parent / "results"
# The cached run again, the simulator's snapshots metadata as PowerFlex's are.
CLONES_AS_METADATA = "volume, snapshot data not copied"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--output", type=Path, help="JSON file (default: benchmarks/results/)")
    parser.add_argument(
        "--quick", action="store_true", help="100 and 1,000 other volumes, 10 concurrent spawns"
    )
    parser.add_argument("--spawns", type=int, default=50, help="concurrent spawns (default 50)")
    parser.add_argument(
        "--max-connections",
        type=int,
        default=16,
        help="[scaleio] rest_max_connections for the concurrent spawns (default 16)",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        nargs="+",
        default=[2.0, 20.0],
        help="injected gateway round-trip latencies (default 2 20)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # Importing nova's test base (for the server actions) gave the root
    # logger a stdout handler at INFO: the tables would drown in every call's log.
    logging.basicConfig(level=logging.ERROR, force=True)
    levels = [100, 1000] if args.quick else [100, 1000, 10000]
    spawns = min(args.spawns, 10) if args.quick else args.spawns
    started = time.perf_counter()
    results: dict = {"started": datetime.datetime.now(datetime.UTC).isoformat()}
    with Bench() as bench:
        # Root disks come from a 1 GiB qcow2 with 16 MiB of data, as a small cloud image.
        image = make_qcow2(
            bench.workdir / "cloud-image.qcow2", "1G", [(i * 64 << 20, 1 << 20) for i in range(16)]
        )
        counts = scenarios.call_counts(bench, image, levels[:2])
        results["latency"] = scenarios.latency(bench, image, [ms / 1000 for ms in args.latency_ms])
        results["call_counts"] = counts
        if len(levels) > 2:
            more = scenarios.call_counts(bench, image, levels[2:])
            counts["levels"].update(more["levels"])
            counts["unavailable"].update(more["unavailable"])
        results["concurrency"] = {
            mode: scenarios.concurrency(
                bench,
                image,
                spawns,
                args.max_connections,
                cached=mode != "none",
                copy_snapshot_data=mode != CLONES_AS_METADATA,
            )
            for mode in ("none", "volume", CLONES_AS_METADATA)
        }
        results["image_import"] = scenarios.image_import(bench.workdir)
    results["server_actions"] = nova_actions.run()
    results["fleet"] = fleet.run()
    results["seconds"] = round(time.perf_counter() - started, 1)
    print(report.render(results))
    print("\nGateway load of a fleet (simulated time, one simulator)")
    print(report.fleet_table(results["fleet"]))
    output = args.output or RESULTS / f"{time.strftime('%Y%m%dT%H%M%S')}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, sort_keys=True))
    print(f"\nJSON written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
