"""``sio-backend simulator``: run the gateway and SDC simulator in the foreground.

It prints what a client needs (URL, credentials, system id, CA file) and
where each simulated host's devices appear, then serves until SIGINT or
SIGTERM, after which it stops cleanly and exits 0.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sio_backend.cmd import extras, output

if TYPE_CHECKING:
    from sio_backend.simulator import Simulator


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "simulator",
        help="run a PowerFlex gateway and SDC simulator on 127.0.0.1",
        description=__doc__,
    )
    parser.add_argument(
        "--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: any free port)"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        required=True,
        help="directory for volume data files, SDC by-id directories and the TLS CA",
    )
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a throwaway CA")
    parser.add_argument(
        "--api-version",
        default="3.5",
        help="PowerFlex API version whose dialect to serve: 3.5, 4.5 or 5.0 (default: 3.5)",
    )
    parser.add_argument("--username", default="admin", help="gateway user (default: admin)")
    parser.add_argument(
        "--password", default="Scaleio123", help="gateway password (default: Scaleio123)"
    )
    parser.add_argument(
        "--sdc",
        action="append",
        default=[],
        metavar="NAME",
        help="create a simulated host (SDC) with this name; repeatable",
    )
    parser.add_argument(
        "--device-delay",
        type=float,
        default=0.0,
        help="seconds before a mapped volume's device appears (default: 0)",
    )
    parser.add_argument(
        "--migration-delay",
        type=float,
        default=0.5,
        help="seconds a V-Tree migration takes (default: 0.5)",
    )
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    problem = extras.missing("simulator")
    if problem:
        return output.error("simulator", problem)
    from sio_backend.simulator import Simulator  # noqa: PLC0415 - needs the simulator extra

    stop = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        stop.set()

    try:
        simulator = Simulator(
            arguments.state_dir,
            tls=arguments.tls,
            api_version=arguments.api_version,
            username=arguments.username,
            password=arguments.password,
            port=arguments.port,
            device_delay=arguments.device_delay,
            migration_delay=arguments.migration_delay,
        )
    except ValueError as error:  # an API version of no generation it serves
        return output.error("simulator", error)
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    for name in arguments.sdc:
        simulator.add_sdc(name)
    with simulator:
        _describe(simulator)
        while not stop.wait(0.5):
            pass
    print("simulator stopped", flush=True)
    return 0


def _describe(simulator: Simulator) -> None:
    lines = [
        f"url: {simulator.url}",
        f"username: {simulator.username}",
        f"password: {simulator.password}",
        f"system id: {simulator.system_id}",
        f"api version: {simulator.api_version}",
        f"ca certificate: {simulator.ca_path or '(none, plain HTTP)'}",
        "storage: protection domain pd1, storage pool sp1",
    ]
    lines += [
        f"sdc {sdc.name}: id={sdc.id} guid={sdc.guid} ip={sdc.ip} by-id dir={sdc.by_id_dir}"
        for sdc in simulator.sdcs.values()
    ]
    lines.append("fault injection: POST /__simulator__/faults/<name>; stop with Ctrl-C")
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
