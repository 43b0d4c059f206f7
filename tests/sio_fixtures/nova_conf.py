"""A nova.conf file for operator commands run against a simulator."""

from __future__ import annotations

from pathlib import Path


def write_nova_conf(path: Path, simulator, *, guid: str, **overrides: object) -> Path:
    """A nova.conf-style file for this simulator; ``None`` drops an option.

    Thin disks by default on 5.x, as its operators must set: its Erasure
    Coding pools have no thick volumes, and thick is the option's default.
    """
    ec = simulator.generation.erasure_coding
    scaleio = {
        "rest_server_ip": simulator.host,
        "rest_server_port": simulator.port,
        "rest_server_username": simulator.username,
        "rest_server_password": simulator.password,
        "verify_server_certificate": True,
        "server_certificate_path": simulator.ca_path,
        "default_protection_domain_name": "pd1",
        "default_storage_pool_name": "sp1",
        "installation_identifier": "func",
        "default_sdcguid": guid,
        "default_provisioning_type": "thin" if ec else None,
        **overrides,
    }
    lines = ["[DEFAULT]", "", "[libvirt]", "images_type = sio", "", "[scaleio]"]
    lines += [f"{key} = {value}" for key, value in scaleio.items() if value is not None]
    path.write_text("\n".join(lines) + "\n")
    return path
