"""nova.conf for operator commands: ``--config-file`` and ``--config-dir`` as nova's.

The commands read the same files nova-compute does, into their own
``ConfigOpts``: ``[scaleio]`` with its real options, and from ``[libvirt]``
only ``images_type`` (declared here as a plain string, so reading it needs
no nova).  Without ``--config-file`` oslo.config looks where nova does
(``/etc/nova/nova.conf`` and ``/etc/nova/nova.conf.d``, among others).
"""

from __future__ import annotations

import argparse

from oslo_config import cfg

from sio_backend import conf as sio_conf
from sio_backend.exceptions import ConfigurationError
from sio_backend.gateway import GatewayClient

PROJECT = "nova"

_images_type = cfg.StrOpt("images_type", help="nova's [libvirt] images_type, read as written.")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config-file",
        action="append",
        default=[],
        metavar="PATH",
        help="nova configuration file; repeatable, later files override earlier ones "
        "(default: nova's usual locations, e.g. /etc/nova/nova.conf)",
    )
    parser.add_argument(
        "--config-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="directory of *.conf files read after the config files, as nova's "
        "--config-dir (default: /etc/nova/nova.conf.d when it exists)",
    )


def load_config(arguments: argparse.Namespace) -> cfg.ConfigOpts:
    """The nova configuration named on the command line, with our options registered.

    Raises oslo.config's errors (missing or unparsable file) unchanged: their
    messages name the file.
    """
    conf = cfg.ConfigOpts()
    sio_conf.register_opts(conf)
    conf.register_opt(_images_type, group="libvirt")
    conf(
        args=[],
        project=PROJECT,
        default_config_files=arguments.config_file or None,
        default_config_dirs=arguments.config_dir or None,
    )
    return conf


def gateway(conf: cfg.ConfigOpts) -> tuple[GatewayClient, str]:
    """The gateway client and installation identifier operator commands work with."""
    installation_id = conf.scaleio.installation_identifier
    if not installation_id:
        raise ConfigurationError(
            "[scaleio] installation_identifier is not set, so no volume can be told to "
            "belong to this cloud; set it to the value nova-compute uses"
        )
    return GatewayClient.from_config(conf), installation_id
