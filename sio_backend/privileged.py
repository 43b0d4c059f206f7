"""The few operations that must run as root: writing and reading devices.

Kept in one small module with its own privsep context, as os-brick does,
so what runs privileged is easy to audit.  nova-compute starts the daemon
through rootwrap: etc/rootwrap.d/sio_backend.filters is the filter, and
docs/install.rst ("Privileged operations") says where it goes.
"""

from __future__ import annotations

import os

from oslo_concurrency import processutils
from oslo_privsep import capabilities, priv_context

sys_admin_pctxt = priv_context.PrivContext(
    "sio_backend",
    cfg_section="sio_backend_sys_admin",
    pypath=__name__ + ".sys_admin_pctxt",
    capabilities=[
        capabilities.CAP_DAC_OVERRIDE,
        capabilities.CAP_DAC_READ_SEARCH,
        capabilities.CAP_SYS_ADMIN,
    ],
)


def convert_command(
    source: str,
    source_format: str,
    target: str,
    target_format: str,
    *,
    target_exists: bool,
    target_is_zero: bool = False,
    direct_io: bool = True,
) -> list[str]:
    """The qemu-img command line; separate so tests can check the options."""
    cmd = ["qemu-img", "convert", "-f", source_format, "-O", target_format]
    if target_exists:
        # Write into the existing device instead of creating a file.
        cmd.append("-n")
        if target_is_zero:
            # The volume reads back zeros, so zero regions need no writes.
            cmd.append("--target-is-zero")
    # Direct I/O on the target keeps a multi-GiB import out of the page cache.
    cmd += ["-t", "none" if direct_io else "writeback"]
    cmd += [source, target]
    return cmd


def _supports_direct_io(path: str) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
    except OSError:
        return False
    os.close(fd)
    return True


@sys_admin_pctxt.entrypoint
def convert_image(
    source: str,
    source_format: str,
    target: str,
    target_format: str,
    *,
    target_exists: bool,
    target_is_zero: bool,
) -> None:
    direct_io = target_exists and _supports_direct_io(target)
    processutils.execute(
        *convert_command(
            source,
            source_format,
            target,
            target_format,
            target_exists=target_exists,
            target_is_zero=target_is_zero,
            direct_io=direct_io,
        )
    )


@sys_admin_pctxt.entrypoint
def is_blank(path: str, length: int) -> bool:
    """Whether the first ``length`` bytes of a device are all zero (never written)."""
    with open(path, "rb") as device:
        return not any(device.read(length))
