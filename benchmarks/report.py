"""The results as text tables for a terminal."""

from __future__ import annotations

from benchmarks.scenarios import DISKS_PER_OPERATION, OPERATIONS

OURS = "sio_backend"
PEERS = ("siolib 2.0.3", "PyPowerFlex")


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        first, *rest = cells
        return "  ".join(
            [str(first).ljust(widths[0])]
            + [str(c).rjust(w) for c, w in zip(rest, widths[1:], strict=True)]
        )

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def _ratio(theirs: float | None, ours: float | None) -> str:
    if theirs is None or not ours:
        return "n/a"
    return f"{theirs / ours:.1f}x"


def _counts(levels: dict, way: str, operation: str) -> list[dict | None]:
    ordered = sorted(levels, key=int)
    return [levels[level].get(way, {}).get(operation) for level in ordered]


def _cell(counts: list[dict | None]) -> str:
    """``calls`` per level, ``calls+logins`` where the operation logged in."""
    return "/".join(
        "-"
        if count is None
        else f"{count['calls']}+{count['logins']}"
        if count["logins"]
        else str(count["calls"])
        for count in counts
    )


def _total(count: dict | None) -> int | None:
    return None if count is None else count["calls"] + count["logins"]


def call_count_table(counts: dict) -> str:
    levels = counts["levels"]
    names = sorted(levels, key=int)
    largest = names[-1]
    header = [
        "operation",
        f"{OURS} @ {'/'.join(names)} vols",
        "per disk",
        *(f"{peer} @ {'/'.join(names)}" for peer in PEERS),
        *(f"{peer} / ours @{largest}" for peer in PEERS),
    ]
    rows = []
    for operation in ("spawn_cold", *OPERATIONS[:1], "spawn_qos", *OPERATIONS[1:]):
        ours = _counts(levels, OURS, operation)
        disks = DISKS_PER_OPERATION.get(operation.removesuffix("_cold"))
        per_disk = f"{ours[-1]['calls'] / disks:.2f}" if disks and ours[-1] else ""
        row = [operation.replace("_", " "), _cell(ours), per_disk]
        row += [_cell(_counts(levels, peer, operation)) for peer in PEERS]
        row += [
            _ratio(_total(_counts(levels, peer, operation)[-1]), _total(ours[-1])) for peer in PEERS
        ]
        rows.append(row)
    note = (
        "Cells are gateway calls, +logins where the operation logged in; ratios compare "
        "totals.\n'spawn cold' is the first instance of a fresh process; every other row is "
        "warm (an earlier instance filled the caches). Spawn: root (qcow2 image) + 8 GiB "
        "ephemeral + 8 GiB swap; snapshot, resize: root disk; delete, live migrate: all three."
    )
    return _table(header, rows) + "\n" + note


def latency_table(latency: dict) -> str:
    header = ["operation (wall ms)"]
    columns = []
    for delay, per_way in latency["delays"].items():
        for way in (OURS, *PEERS):
            if way in per_way:
                header.append(f"{way} @{delay}")
                columns.append((delay, way))
    rows = []
    for operation in OPERATIONS:
        row = [operation.replace("_", " ")]
        for delay, way in columns:
            seconds = latency["delays"][delay][way][operation]["seconds"]
            ours = latency["delays"][delay][OURS][operation]["seconds"]
            cell = f"{seconds * 1000:.0f}"
            if way != OURS:
                cell += f" ({_ratio(seconds, ours)})"
            row.append(cell)
        rows.append(row)
    return _table(header, rows)


def concurrency_text(result: dict) -> str:
    return (
        f"{result['spawns']} concurrent spawns (image_cache {result['image_cache']}, "
        f"simulator snapshot data {result['snapshot_data']}) "
        f"on {result['hosts']} hosts, one gateway client: "
        f"errors {result['errors']}, logins {result['logins']} "
        f"(per client: {result['logins'] / result['gateway_clients']:.0f}), "
        f"peak open connections {result['peak_connections']} "
        f"(rest_max_connections {result['max_connections']}), "
        f"p50 {result['p50_s']:.2f} s, p95 {result['p95_s']:.2f} s, "
        f"all done in {result['total_s']:.1f} s, {result['calls']} gateway calls"
    )


def breakdown_table(results: dict) -> str:
    """Mean seconds of a concurrent spawn by where it waited (breakdown.py), per image_cache."""
    first = next(iter(results.values()))
    categories = list(first["mean_s"])
    header = ["image_cache", "p50 s", "p95 s", *categories, "simulator CPU/core"]
    rows = [
        [
            mode,
            f"{result['p50_s']:.2f}",
            f"{result['p95_s']:.2f}",
            *(f"{result['mean_s'][c]:.2f}" for c in categories),
            f"{result['simulator']['cpu_share_of_one_core']:.2f}",
        ]
        for mode, result in results.items()
    ]
    return _table(header, rows)


def image_import_table(result: dict) -> str:
    image = result["image"]
    header = [
        f"{image['virtual_gib']} GiB qcow2, {image['data_mib']} MiB data",
        "seconds",
        "MiB written",
        "MiB allocated",
    ]
    rows = [
        [
            name,
            f"{run['seconds']:.2f}",
            f"{run['bytes_written'] / 2**20:.0f}",
            f"{run['bytes_allocated'] / 2**20:.0f}",
        ]
        for name, run in result["runs"].items()
    ]
    ratio = result["dd_over_ours"]
    return (
        _table(header, rows)
        + f"\ndd / sio_backend: {ratio['time']}x the time, {ratio['bytes_written']}x the bytes."
        + f"\nsio_backend runs: {' '.join(result['command'])}"
    )


def render(results: dict) -> str:
    unavailable = {**results["call_counts"]["unavailable"], **results["latency"]["unavailable"]}
    sections = [
        "Gateway calls per operation, by number of other volumes in the system",
        call_count_table(results["call_counts"]),
        "",
        "Gateway calls per server action, as nova drives it",
        server_actions_table(results["server_actions"]),
        "",
        "Wall time per operation with injected gateway latency (1,000 other volumes)",
        latency_table(results["latency"]),
        "",
        *(concurrency_text(result) for result in results["concurrency"].values()),
        "Mean seconds of each concurrent spawn by where it waited",
        breakdown_table(results["concurrency"]),
        "",
        "Image import",
        image_import_table(results["image_import"]),
    ]
    sections += [f"\n{peer} unavailable: {reason}" for peer, reason in unavailable.items()]
    sections.append(f"\nBenchmark took {results['seconds']:.0f} s.")
    return "\n".join(sections)


def server_actions_table(figures: dict) -> str:
    """Calls per server action through nova (+ logins), against the physical limit."""
    header = ["server action (through nova)", "calls", "limit", "ratio", "seconds"]
    rows = []
    for name, figure in figures.items():
        calls = f"{figure['calls']}+{figure['logins']}" if figure["logins"] else figure["calls"]
        ratio = f"{figure['calls'] / figure['limit']:.2f}x" if figure["limit"] else "-"
        rows.append([name, str(calls), str(figure["limit"]), ratio, f"{figure['seconds']:.2f}"])
    note = (
        "One server, root (qcow2 image) + 8 GiB ephemeral + 8 GiB swap, through nova's API,\n"
        "conductor, scheduler and three computes in one process; the limits: nova_actions.py."
    )
    return _table(header, rows) + "\n" + note


def fleet_table(figures: dict) -> str:
    """Gateway load of simulated fleets (fleet.py), steady state after the first interval."""
    header = [
        "fleet",
        "req/s",
        "stats reads/host/interval",
        "periodic req/host/interval",
        "req/spawn",
        "req/delete",
        "sessions",
        "busiest endpoint (req/s)",
    ]
    rows = [
        [
            name,
            f"{f['requests_per_s']:.2f}",
            f"{f['statistics_reads_per_host_interval']:.2f}",
            f"{f['periodic_requests_per_host_interval']:.2f}",
            str(f["requests_per_spawn"]),
            str(f["requests_per_delete"]),
            str(f["sessions_opened"]),
            f"{f['busiest_endpoint'].rsplit('/', 1)[-1]} ({f['busiest_per_s']:.2f})",
        ]
        for name, f in figures.items()
    ]
    return _table(header, rows)
