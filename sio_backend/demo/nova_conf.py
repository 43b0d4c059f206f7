"""The nova options of a compute whose instance disks live on a simulator: one writer.

The demo's computes, the tests' computes and the operator commands run
against a simulator all take their ``[libvirt]`` and ``[scaleio]`` options
from :func:`scaleio_options`, set in this process (:func:`configure`) or
written to a nova.conf file (:func:`write_nova_conf`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sio_backend.simulator import Simulator


def scaleio_options(
    simulator: Simulator | None, *, installation_id: str, **overrides: object
) -> dict[str, object]:
    """``[scaleio]`` for the simulator's pd1/sp1 (and its gateway, when given);
    ``None`` drops an option.

    Thin disks by default on 5.x, as its operators must set: its Erasure
    Coding pools have no thick volumes, and thick is the option's default.
    """
    options: dict[str, object] = {}
    if simulator is not None:
        options.update(
            rest_server_ip=simulator.host,
            rest_server_port=simulator.port,
            rest_server_username=simulator.username,
            rest_server_password=simulator.password,
            verify_server_certificate=True,
            server_certificate_path=simulator.ca_path,
            default_provisioning_type="thin" if simulator.generation.erasure_coding else None,
        )
    options.update(
        default_protection_domain_name="pd1",
        default_storage_pool_name="sp1",
        installation_identifier=installation_id,
    )
    options.update(overrides)
    return {key: value for key, value in options.items() if value is not None}


def configure(
    config: Callable[..., None],
    simulator: Simulator | None = None,
    *,
    installation_id: str,
    lock_path: Path | None = None,
    **overrides: object,
) -> None:
    """Set the options in this process; ``config`` is an oslo config fixture's
    ``config`` or a nova test case's ``flags`` (same signature)."""
    config(images_type="sio", group="libvirt")
    if lock_path is not None:
        config(lock_path=str(lock_path), group="oslo_concurrency")
    options = scaleio_options(simulator, installation_id=installation_id, **overrides)
    config(group="scaleio", **{key: _value(value) for key, value in options.items()})


def write_nova_conf(
    path: Path,
    simulator: Simulator,
    *,
    guid: str | None = None,
    installation_id: str = "func",
    **overrides: object,
) -> Path:
    """A nova.conf file for operator commands (``--config-file``) against the simulator;
    ``guid``: the SDC of the host the commands run on."""
    overrides = {"default_sdcguid": guid, **overrides}
    options = scaleio_options(simulator, installation_id=installation_id, **overrides)
    lines = ["[DEFAULT]", "", "[libvirt]", "images_type = sio", "", "[scaleio]"]
    lines += [f"{key} = {value}" for key, value in options.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _value(value: object) -> object:
    return str(value) if isinstance(value, Path) else value
