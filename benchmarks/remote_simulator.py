"""A simulator in a process of its own, for the concurrent spawns.

In the benchmark's own process the simulator's request threads share one
GIL with fifty spawning threads: a request then waits behind spawn code
for the interpreter, and the wait shows as gateway time that a real
gateway would not add.  Served from here, the simulator has its own
interpreter, and its CPU seconds (``getrusage``) and time per request
(its request log) say whether it kept up.

A PowerFlex snapshot is metadata; the simulator's copies every byte of
data, which on this machine's two cores competes with the spawns it
serves.  ``copy_snapshot_data=False`` leaves a snapshot's data unwritten
(it reads zeros), to show what the spawns cost when the gateway's
snapshots cost what PowerFlex's do.  Nothing in the benchmark reads it.
"""

from __future__ import annotations

import logging
import multiprocessing
import resource
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sio_backend.simulator import Simulator

_PROCESS_START = "spawn"  # no fork of a process running threads


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _serve(connection, state_dir: str, hosts: tuple[str, ...], copy_snapshot_data: bool) -> None:
    logging.basicConfig(level=logging.ERROR)
    sim = Simulator(Path(state_dir), tls=True, max_sessions=1_000_000)
    sim.start()
    for host in hosts:
        sim.add_sdc(host)
    copying = [0.0]
    snapshot = sim.devices.snapshot

    def timed_snapshot(source_id: str, snapshot_id: str) -> None:
        began = time.perf_counter()
        try:
            if copy_snapshot_data:
                snapshot(source_id, snapshot_id)
        finally:
            copying[0] += time.perf_counter() - began

    sim.devices.snapshot = timed_snapshot
    connection.send(
        {
            "host": sim.host,
            "port": sim.port,
            "username": sim.username,
            "password": sim.password,
            "ca_path": str(sim.ca_path),
            "sdcs": {h: (sim.sdcs[h].guid, str(sim.sdcs[h].by_id_dir)) for h in hosts},
        }
    )
    cpu = _cpu_seconds()
    while True:
        command = connection.recv()
        if command == "reset":
            sim.reset_log()
            sim.reset_peak_connections()
            copying[0], cpu = 0.0, _cpu_seconds()
            connection.send(None)
        elif command == "report":
            connection.send(
                {
                    "counts": dict(sim.call_counts()),
                    "durations": [entry.duration for entry in sim.request_log],
                    "peak_connections": sim.peak_connections,
                    "cpu_s": _cpu_seconds() - cpu,
                    "snapshot_copy_s": copying[0],
                }
            )
        else:
            sim.stop()
            connection.send(None)
            return


class RemoteSimulator:
    """The simulator process, seen as much like a Simulator as the hosts need."""

    tls = True

    def __init__(self, connection, details: dict) -> None:
        self._connection = connection
        self.host, self.port = details["host"], details["port"]
        self.username, self.password = details["username"], details["password"]
        self.ca_path = Path(details["ca_path"])
        self.sdcs = {
            name: types.SimpleNamespace(guid=guid, by_id_dir=Path(by_id))
            for name, (guid, by_id) in details["sdcs"].items()
        }

    def reset(self) -> None:
        self._connection.send("reset")
        self._connection.recv()

    def report(self) -> dict:
        self._connection.send("report")
        return self._connection.recv()


def _answer(connection, process, step: str, timeout_s: float = 120) -> object:
    """The simulator process's reply, or an error naming the step it did not answer."""
    if not connection.poll(timeout_s):
        raise RuntimeError(
            f"the simulator process did not answer {step} within {timeout_s:.0f} s "
            f"(alive: {process.is_alive()}, exit code {process.exitcode})"
        )
    return connection.recv()


@contextmanager
def remote_simulator(
    state_dir: Path, hosts: tuple[str, ...], *, copy_snapshot_data: bool = True
) -> Iterator[RemoteSimulator]:
    context = multiprocessing.get_context(_PROCESS_START)
    ours, theirs = context.Pipe()
    process = context.Process(
        target=_serve, args=(theirs, str(state_dir), hosts, copy_snapshot_data), daemon=True
    )
    process.start()
    try:
        yield RemoteSimulator(ours, _answer(ours, process, "start"))
        ours.send("stop")
        _answer(ours, process, "stop")
    finally:
        process.join(timeout=30)
        if process.is_alive():
            process.kill()
