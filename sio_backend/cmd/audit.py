"""``sio-backend audit``: volumes and mappings of this installation that should not exist.

Reports volumes of deleted instances, leftover resize, rescue and snapshot
volumes, unused image-cache volumes, disks mapped to several hosts, and
mappings to disconnected SDCs.  Which instances exist comes from one
source: --instance/--instances-file, --libvirt-uri (this host's domains;
only volumes mapped to this host alone are judged) or --nova-auth-section.
Without one, no volume is called deleted.

Read-only unless --fix: then it removes the volumes and mappings it listed
in this run (re-reading each first, only volumes carrying this
installation's identifier), after asking unless --yes.  Disks mapped to
several hosts are never changed: only an operator knows which host runs the
instance.

Exit status: 0 nothing found, or everything fixed; 1 findings left (always
without --fix); 2 errors.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from oslo_config import cfg

from sio_backend import audit, exceptions, instance_sources, inventory
from sio_backend.cmd import output
from sio_backend.cmd.config import add_config_arguments, gateway, load_config
from sio_backend.gateway import GatewayClient
from sio_backend.sdc import LocalSdc

COLUMNS = (
    ("name", "Name"),
    ("kind", "Kind"),
    ("instance", "Instance"),
    ("problem", "Problem"),
    ("action", "--fix will"),
    ("hosts", "Mapped to"),
    ("reason", "Why"),
)
FINDINGS = 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="find leaked volumes and bad mappings of this installation (read-only unless --fix)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_arguments(parser)
    output.add_format_argument(parser)
    source = parser.add_argument_group("which instances exist (pick one kind)")
    source.add_argument(
        "--instance",
        action="append",
        default=[],
        metavar="UUID",
        help="an instance that exists; repeatable",
    )
    source.add_argument(
        "--instances-file",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="file of instance UUIDs, one per line (e.g. from "
        "'openstack server list --all-projects -f value -c ID'); repeatable",
    )
    source.add_argument(
        "--libvirt-uri",
        metavar="URI",
        help="the instances are this host's libvirt domains (e.g. qemu:///system); only "
        "volumes mapped to this host alone are judged",
    )
    source.add_argument(
        "--nova-auth-section",
        metavar="SECTION",
        help="list every project's instances from nova's API with the keystone "
        "credentials of this nova.conf section (e.g. placement, whose service user "
        "nova-compute already has; it needs the admin role)",
    )
    parser.add_argument(
        "--fix",
        action="store_true",
        help="remove the volumes and mappings listed (asks first unless --yes)",
    )
    parser.add_argument("--yes", action="store_true", help="with --fix, do not ask")
    parser.set_defaults(handler=run)


def _known_instances(
    arguments: argparse.Namespace, conf: cfg.ConfigOpts, client: GatewayClient
) -> audit.KnownInstances | None:
    kinds = [
        bool(arguments.instance or arguments.instances_file),
        bool(arguments.libvirt_uri),
        bool(arguments.nova_auth_section),
    ]
    if sum(kinds) > 1:
        raise instance_sources.SourceError(
            "give one source of instances: --instance/--instances-file, --libvirt-uri or "
            "--nova-auth-section"
        )
    if arguments.libvirt_uri:
        local_sdc = client.sdc_by_guid(LocalSdc.from_config(conf).guid)
        return instance_sources.from_libvirt(arguments.libvirt_uri, local_sdc.id)
    if arguments.nova_auth_section:
        return instance_sources.from_nova_api(conf, arguments.nova_auth_section)
    if kinds[0]:
        return instance_sources.from_list(arguments.instance, arguments.instances_file)
    return None


def _confirmed(removals: int, unmaps: int) -> bool:
    sys.stderr.write(f"Remove {removals} volumes and {unmaps} mappings? [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _fix_lines(report: audit.FixReport, found: inventory.Inventory) -> list[str]:
    return [
        *(f"removed volume {name}" for name in report.removed),
        *(f"unmapped {name} from {found.host(sdc_id)}" for name, sdc_id in report.unmapped),
        *(f"refused {item}" for item in report.refused),
        *(f"error: {item}" for item in report.errors),
    ]


def _fix(
    arguments: argparse.Namespace,
    client: GatewayClient,
    installation_id: str,
    findings: list[audit.Finding],
) -> audit.FixReport | None:
    """Carry out the fix; None when the operator declined."""
    removals, unmaps = audit.planned(findings)
    if not (removals or unmaps):
        sys.stderr.write("Nothing here --fix may change; the findings need a decision.\n")
        return audit.FixReport()
    if not (arguments.yes or _confirmed(removals, unmaps)):
        sys.stderr.write("Nothing changed.\n")
        return None
    return audit.fix(client, installation_id, findings)


def _status(findings: list[audit.Finding], report: audit.FixReport | None) -> int:
    if report is None:
        return FINDINGS
    if report.errors:
        return output.ERROR
    left = report.refused or any(f.action is audit.Action.REPORT for f in findings)
    return FINDINGS if left else 0


def run(arguments: argparse.Namespace) -> int:
    if arguments.yes and not arguments.fix:
        return output.error("audit", "--yes only applies with --fix")
    try:
        conf = load_config(arguments)
        client, installation_id = gateway(conf)
    except (cfg.Error, exceptions.ScaleIOError) as error:
        return output.error("audit", error)
    try:
        known = _known_instances(arguments, conf, client)
        found = inventory.collect(client, installation_id)
        findings = audit.classify(found, known)
        rows = [finding.row(found) for finding in findings]
        if known is None:
            sys.stderr.write(
                "No source of instances given, so no volume is reported as belonging to "
                "a deleted instance; only leftovers and bad mappings are.\n"
            )
        if arguments.format == "table":
            output.emit("table", rows, COLUMNS)
        fixing = bool(findings) and arguments.fix
        report = _fix(arguments, client, installation_id, findings) if fixing else None
    except exceptions.ScaleIOError as error:
        return output.error("audit", error)
    finally:
        client.close()
    lines = _fix_lines(report, found) if report else []
    if arguments.format == "json":
        document = {
            "instance_source": known.source if known else None,
            "findings": rows,
            "fix": lines if report else None,
        }
        output.emit("json", rows, COLUMNS, document=document)
    else:
        sys.stdout.write("".join(line + "\n" for line in lines))
    if not findings:
        return 0
    return _status(findings, report) if fixing else FINDINGS
