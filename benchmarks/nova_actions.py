"""Gateway calls and wall time per server action, as nova's own services drive it.

nova 34's REST API, conductor, scheduler, placement and three computes run
in this process on SioLibvirtDriver with ``images_type = sio`` against the
simulator over HTTPS: the API-level test harness (``tests/sio_fixtures``).
One server with root (qcow2 image), ephemeral and swap, each 8 GiB, goes
through every action in turn; each row counts the gateway calls made from
the API request until nova's waiter reports the action done.

The physical limit is what the gateway must be told for three disks:
create and map each (6); unmap and remove each (6); map each at the
destination and unmap each at the source (6) for a move; a snapshot taken,
mapped, read, unmapped and removed (4).  Wall times include nova's own
polling (its waiters look every 0.1 s) and are for comparing runs on one
machine, not for absolute claims.
"""

from __future__ import annotations

import logging
import time
import unittest
from collections.abc import Callable
from dataclasses import dataclass

from sio_fixtures.servers import SioServersTestBase

DISKS = 3


@dataclass(frozen=True)
class Action:
    name: str
    limit: int
    why: str


ACTIONS = (
    Action("create", 2 * DISKS, "create + map per disk"),
    Action("snapshot (createImage)", 4, "snapshot, map, unmap, remove the snapshot"),
    Action("resize + confirm", 2 * DISKS + 3, "map/unmap per disk, snapshot, grow, remove"),
    Action(
        "resize + revert",
        4 * DISKS + 4,
        "both ways: map/unmap per disk; snapshot, grow, remove the grown root, rename the snapshot",
    ),
    Action("live migration", 2 * DISKS, "map at the destination, unmap at the source"),
    Action("evacuation", 2 * DISKS, "fence (unmap) the failed host, map at the target"),
    Action("evacuated host returns", 0, "nothing: the disks are the instance's elsewhere"),
    Action("shelve (offloaded)", 4 + 2 * DISKS, "the snapshot's 4, then unmap + remove per disk"),
    Action("unshelve", 2 * DISKS, "create + map per disk"),
    Action("rebuild", 4 * DISKS, "unmap + remove + create + map per disk"),
    Action("delete", 2 * DISKS, "unmap + remove per disk"),
)


@dataclass
class Measured:
    calls: int
    logins: int
    seconds: float
    routes: dict[str, int]


class _ServerActions(SioServersTestBase):
    """One server through every action; each measured from request to nova's 'done'."""

    results: dict[str, Measured] = {}  # noqa: RUF012 - filled by the one test run

    def setUp(self) -> None:
        super().setUp()
        # Each compute reads the pool statistics once per interval whatever
        # it does (the fleet model, fleet.py, counts that); an interval
        # longer than this run keeps those reads out of the actions' rows.
        self.flags(update_resources_interval=3600)

    def measure(self, name: str, action: Callable[[], object]):
        self.simulator.reset_log()
        started = time.perf_counter()
        outcome = action()
        seconds = time.perf_counter() - started
        counts = self.simulator.call_counts()
        logins = sum(n for (_verb, path), n in counts.items() if path.endswith("login"))
        refreshes = sum(n for (_verb, path), n in counts.items() if path.startswith("/rest/auth/"))
        routes = {
            f"{verb} {path}": n
            for (verb, path), n in sorted(counts.items())
            if not (path.endswith("login") or path.startswith("/rest/auth/"))
        }
        self.results[name] = Measured(
            sum(counts.values()) - logins - refreshes, logins, seconds, routes
        )
        return outcome

    def snapshot(self, server: dict) -> None:
        self.api.post_server_action(server["id"], {"createImage": {"name": "bench"}})
        self.notifier.wait_for_versioned_notifications("instance.snapshot.end")

    def test_actions(self) -> None:
        flavor = self.flavor(disk=8, ephemeral=8, swap=8192)
        larger = self.flavor(disk=16, ephemeral=8, swap=8192)
        largest = self.flavor(disk=24, ephemeral=8, swap=8192)
        for host in self.HOSTS:  # each compute's caches filled, as on a cloud in use
            self.delete(self.boot(flavor, host=host))

        server = self.measure("create", lambda: self.boot(flavor))
        self.measure("snapshot (createImage)", lambda: self.snapshot(server))
        self.measure(
            "resize + confirm",
            lambda: self._confirm_resize(self._resize_server(server, larger)),
        )
        self.measure(
            "resize + revert",
            lambda: self._revert_resize(self._resize_server(server, largest)),
        )
        self.measure("live migration", lambda: self._live_migrate(server))
        failed = self.host_of(server)
        self.fail_host(failed)
        server = self.measure("evacuation", lambda: self._evacuate_server(server))
        self.measure("evacuated host returns", lambda: self.restore_host(failed))
        server = self._start_server(server)
        self.measure("shelve (offloaded)", lambda: self._shelve_server(server))
        server = self.measure("unshelve", lambda: self._unshelve_server(server))
        image = server["image"]["id"]
        server = self.measure("rebuild", lambda: self._rebuild_server(server, image))
        self.measure("delete", lambda: self._delete_server(server))  # nova's part only
        self.assert_no_disks(server)


def run() -> dict:
    """Every action once; the figures by action name, with the limits."""
    _ServerActions.results = {}
    result = unittest.TestResult()
    root = logging.getLogger()
    level = root.level
    try:
        _ServerActions("test_actions").run(result)
    finally:
        root.setLevel(level)  # nova's logging fixture leaves the root logger at DEBUG
    problems = result.errors + result.failures
    if problems:
        raise RuntimeError(f"the server actions through nova failed:\n{problems[0][1]}")
    return {
        action.name: {
            "calls": _ServerActions.results[action.name].calls,
            "logins": _ServerActions.results[action.name].logins,
            "seconds": round(_ServerActions.results[action.name].seconds, 2),
            "limit": action.limit,
            "limit_is": action.why,
            "routes": _ServerActions.results[action.name].routes,
        }
        for action in ACTIONS
    }


if __name__ == "__main__":
    from benchmarks import report

    print(report.server_actions_table(run()))
