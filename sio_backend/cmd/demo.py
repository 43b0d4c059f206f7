"""``sio-backend demo``: the backend at work on the simulator, through nova's own services.

It starts the gateway and SDC simulator (HTTPS) and nova 34's REST API,
conductor, scheduler, placement and two nova-compute services in this
process, each compute running SioLibvirtDriver (over nova's fake libvirt)
with its own simulated SDC.  One server then goes through its life, each
step asked of nova's API as an operator would (the ``openstack`` command is
printed): create with root, ephemeral and swap disks, write and read its
root disk, hard reboot, resize onto the other host and confirm, snapshot to
Glance, live migrate back, rescue, unrescue, shelve, unshelve, delete.
Each step prints what nova reports (status, host), what the gateway holds
(volumes, sizes, mappings), the gateway calls it made and its time; every
domain XML nova defines is validated by libvirt's test driver.  It ends
with the audit finding nothing leaked.

Exit status: 0 when every step succeeds, 2 when one fails (it is named).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sio_backend.cmd import extras, output

COLUMNS = (("disk", "Disk"), ("name", "Volume"), ("size_gb", "GiB"), ("mapped_to", "Mapped to"))
API_VERSIONS = ("3.5", "4.5", "5.0")
_ROUTES_SHOWN = 4


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run an instance's life on the simulator through real nova code",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    output.add_format_argument(parser)
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the simulator's state directory (volume files, CA, images) and print it",
    )
    parser.add_argument(
        "--image-size-mb",
        type=int,
        default=64,
        metavar="MB",
        help="virtual size of the generated qcow2 image (default: 64, at least 8)",
    )
    parser.add_argument(
        "--api-version",
        default="3.5",
        choices=API_VERSIONS,
        help="PowerFlex generation the simulator is, by its API version (default: 3.5)",
    )
    parser.set_defaults(handler=run)


class _Printer:
    """Progress as each step starts; its report as it ends (tables) or at the end (JSON)."""

    def __init__(self, fmt: str) -> None:
        self.table = fmt == "table"
        self.progress = sys.stdout if self.table else sys.stderr

    def started(self, name: str, commands: list[str]) -> None:
        lines = [f"==> {name} ..."]
        lines += [f"    {c}" if c.startswith("#") else f"    $ {c}" for c in commands]
        self.progress.write("\n".join(lines) + "\n")
        self.progress.flush()

    def finished(self, step) -> None:
        if not self.table:
            return
        lines = [f"    {step.note}"] if step.note else []
        if step.server:
            server = step.server
            where = f" on {server['host']}" if server.get("host") else ""
            lines.append(f"    nova: server {server['id']} {server['status']}{where}")
        lines += [
            f"    {step.seconds:.2f} s; {_calls_summary(step)}; "
            f"{step.domain_xmls} domain XMLs valid in libvirt",
        ]
        volumes = output.table(step.volumes, COLUMNS) if step.volumes else "gateway: no volumes"
        lines += ["    " + line for line in volumes.splitlines()]
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()


def _calls_summary(step) -> str:
    routes = [f"{method} {route} x{n}" for (method, route), n in step.calls.most_common()]
    more = f"; +{len(routes) - _ROUTES_SHOWN} more" if len(routes) > _ROUTES_SHOWN else ""
    shown = f": {'; '.join(routes[:_ROUTES_SHOWN])}{more}" if routes else ""
    return f"{sum(step.calls.values())} gateway calls{shown}"


def _summary(report) -> str:
    rows = [
        {
            "step": step.name,
            "seconds": f"{step.seconds:.2f}",
            "calls": sum(step.calls.values()),
            "xmls": step.domain_xmls,
        }
        for step in report.steps
    ]
    columns = (
        ("step", "Step"),
        ("seconds", "Seconds"),
        ("calls", "Gateway calls"),
        ("xmls", "Domain XMLs validated"),
    )
    return output.table(rows, columns)


def run(arguments: argparse.Namespace) -> int:
    if arguments.image_size_mb < 8:
        return output.error("demo", "--image-size-mb must be at least 8")
    problem = extras.missing("demo")
    if problem:
        return output.error("demo", problem)
    from sio_backend.demo import scenario  # noqa: PLC0415 - needs the demo extra

    report = scenario.run(
        arguments.image_size_mb,
        arguments.keep,
        _Printer(arguments.format),
        api_version=arguments.api_version,
    )
    if arguments.format == "json":
        document = {
            "ok": report.ok,
            "failed_step": report.failed_step,
            "error": report.error,
            "leaked": report.leaked,
            "state_dir": report.state_dir if arguments.keep else None,
            "steps": [step.as_dict() for step in report.steps],
        }
        output.emit("json", [], (), document=document)
    else:
        sys.stdout.write("\n" + _summary(report) + "\n")
        if arguments.keep:
            sys.stdout.write(f"state kept in {report.state_dir}\n")
        if report.ok:
            xmls = sum(step.domain_xmls for step in report.steps)
            sys.stdout.write(
                f"demo complete: {len(report.steps)} steps, {xmls} domain XMLs valid, "
                "nothing leaked\n"
            )
        sys.stdout.flush()
    if not report.ok:
        return output.error("demo", f"step {report.failed_step!r} failed: {report.error}")
    return 0
