"""The gateway password: from nova.conf, the environment, or a file only its owner can read.

nova.conf is often readable by more than nova-compute (config management,
support bundles, other OpenStack services' groups), so the password can live
in a separate file instead.  The file is refused unless its mode keeps group
and others out: a password that anyone on the host could read is a leak
that would otherwise go unnoticed.  oslo.config also reads every option
from the environment (``OS_SCALEIO__REST_SERVER_PASSWORD``), which suits
containers whose secrets arrive as variables.
"""

from __future__ import annotations

import os
import stat

from oslo_config import cfg
from oslo_log import log as logging

from sio_backend.exceptions import ConfigurationError

LOG = logging.getLogger(__name__)

_IN_NOVA_CONF = "[scaleio] rest_server_password"  # option names, for messages
_IN_FILE = "[scaleio] rest_server_password_file"
_IN_ENVIRONMENT = "OS_SCALEIO__REST_SERVER_PASSWORD"
_GROUP_OR_OTHERS = stat.S_IRWXG | stat.S_IRWXO  # 0o077


def read_password_file(path: str) -> str:
    """The password on the first line of ``path`` (without its line ending)."""
    try:
        with open(path, encoding="utf-8") as file:
            mode = os.fstat(file.fileno()).st_mode
            if mode & _GROUP_OR_OTHERS:
                raise ConfigurationError(
                    f"{_IN_FILE} {path!r} is accessible to group or others (mode "
                    f"{stat.S_IMODE(mode):04o}); it holds the PowerFlex gateway password, so "
                    f"restrict it with 'chmod 600 {path}' (owned by the user nova-compute "
                    "runs as)"
                )
            password = file.readline().rstrip("\r\n")
    except OSError as error:
        raise ConfigurationError(
            f"{_IN_FILE} {path!r} cannot be read ({error.strerror}); create it with the "
            f"PowerFlex gateway password on one line and 'chmod 600 {path}', or unset it and "
            f"set {_IN_NOVA_CONF}"
        ) from None
    except UnicodeDecodeError:
        raise ConfigurationError(
            f"{_IN_FILE} {path!r} is not UTF-8 text; write the password on one line"
        ) from None
    if not password:
        raise ConfigurationError(
            f"{_IN_FILE} {path!r} is empty; write the PowerFlex gateway password on its first line"
        )
    LOG.debug("Read the PowerFlex gateway password from %s", path)
    return password


def gateway_password(password: str | None, password_file: str | None) -> str:
    """The password from exactly one of the two options."""
    if password and password_file:
        raise ConfigurationError(
            f"both {_IN_NOVA_CONF} and {_IN_FILE} are set; keep the file and remove "
            "the password from nova.conf"
        )
    if password_file:
        return read_password_file(password_file)
    if not password:
        raise ConfigurationError(
            f"{_IN_NOVA_CONF} is not set (nor {_IN_FILE}); the PowerFlex gateway "
            "cannot be used without it"
        )
    return password


def password_source(conf: cfg.ConfigOpts) -> str:
    """Where the password was read from, for operators (never the password itself)."""
    if conf.scaleio.rest_server_password_file:
        return f"the file {conf.scaleio.rest_server_password_file} ({_IN_FILE})"
    location = conf.get_location("rest_server_password", "scaleio")
    if location.location is cfg.Locations.environment:
        return f"the environment variable {_IN_ENVIRONMENT}"
    if location.location is cfg.Locations.user and location.detail:
        return f"{_IN_NOVA_CONF} in {location.detail}"
    return _IN_NOVA_CONF
