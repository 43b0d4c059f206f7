"""``sio-backend volumes``: this installation's volumes and whose disks they are.

Each volume whose name carries [scaleio] installation_identifier is shown
with the instance and disk (or the image, for the image cache) its name
decodes to, its size, pool, provisioning and the hosts it is mapped to.
Volumes of other installations and volumes made by hand are not shown.
"""

from __future__ import annotations

import argparse
from typing import Any

from oslo_config import cfg

from sio_backend import exceptions, inventory
from sio_backend.cmd import output
from sio_backend.cmd.config import add_config_arguments, gateway, load_config

COLUMNS = (
    ("name", "Name"),
    ("id", "ID"),
    ("owner", "Instance or image"),
    ("disk", "Disk"),
    ("kind", "Kind"),
    ("size_gb", "Size (GiB)"),
    ("pool", "Pool"),
    ("provisioning", "Provisioning"),
    ("hosts", "Mapped to"),
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "volumes",
        help="list this installation's PowerFlex volumes with their instances and hosts",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_arguments(parser)
    output.add_format_argument(parser)
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    try:
        conf = load_config(arguments)
        client, installation_id = gateway(conf)
    except (cfg.Error, exceptions.ScaleIOError) as error:
        return output.error("volumes", error)
    try:
        found = inventory.collect(client, installation_id)
    except exceptions.ScaleIOError as error:
        return output.error("volumes", error)
    finally:
        client.close()
    rows = [found.row(owned) for owned in found.volumes]
    output.emit(arguments.format, rows, COLUMNS)
    return 0
