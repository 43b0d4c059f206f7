"""``sio-backend check``: preflight of this host, in the style of ``nova-status upgrade check``.

Exit status as nova-status's: 0 when every check succeeds, 1 when the worst
is a warning, 2 when any check fails (oslo.upgradecheck's codes), and 255
when a check itself broke (a bug to report, not a verdict on the host).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from typing import Any

from oslo_config import cfg
from oslo_upgradecheck.upgradecheck import UPGRADE_CHECK_MSG_MAP, Code

from sio_backend import preflight
from sio_backend.cmd import output
from sio_backend.cmd.config import add_config_arguments, load_config
from sio_backend.sdc import BY_ID_DIR

COLUMNS = (("check", "Check"), ("result", "Result"), ("details", "Details"))
# oslo.upgradecheck's main() (nova-status) answers an unexpected error with 255,
# out of the range of the check codes.
UNEXPECTED_ERROR = 255


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="check that this host is ready to keep instance disks on PowerFlex",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_arguments(parser)
    output.add_format_argument(parser)
    parser.add_argument(
        "--device-dir",
        default=BY_ID_DIR,
        metavar="DIR",
        help=f"where the SDC's volume devices appear (default: {BY_ID_DIR}; the "
        "simulator prints each simulated host's directory)",
    )
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    try:
        conf = load_config(arguments)
    except cfg.Error as error:
        sys.stderr.write(f"sio-backend check: cannot read the configuration: {error}\n")
        return int(Code.FAILURE)
    checks = preflight.Preflight(conf, device_dir=arguments.device_dir)
    try:
        results = checks.run()
    except Exception:
        sys.stderr.write(f"sio-backend check: Error:\n{traceback.format_exc()}")
        return UNEXPECTED_ERROR
    finally:
        checks.close()
    rows = [
        {
            "check": name,
            "result": str(UPGRADE_CHECK_MSG_MAP[result.code]),
            "details": result.details,
        }
        for name, result in results
    ]
    document = {
        "name": checks.display_title,
        "checks": [
            {"check": name, "result": int(result.code), "details": result.details}
            for name, result in results
        ],
    }
    output.emit(arguments.format, rows, COLUMNS, document=document)
    return int(preflight.worst(results))
