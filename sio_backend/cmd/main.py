"""``sio-backend``: one console script, one module per subcommand.

Each subcommand module in this package offers ``register(subparsers)``,
which adds its parser and sets ``handler`` (a function taking the parsed
arguments and returning the exit status); adding a command means adding
its module to ``COMMANDS``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from sio_backend.cmd import audit, check, demo, simulator, volumes

COMMANDS = (check, volumes, audit, simulator, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sio-backend",
        description="Tools for the Dell PowerFlex (ScaleIO) backend of OpenStack Nova.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    return int(arguments.handler(arguments))


if __name__ == "__main__":
    raise SystemExit(main())
