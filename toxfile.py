"""tox plugin, loaded by tox 4 from the project root.

libvirt-python builds against Debian's libvirt-dev: the packages of
bindep.txt must be present before tox installs an environment's
dependencies, not after (``commands_pre`` runs too late).  So the check runs
from ``tox_on_install``, once per tox run, before the first installation
into an environment that needs them: by default one that installs this
project; ``system_packages = true`` or ``false`` in an environment's
section says otherwise.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
from typing import Any

from tox.config.sets import EnvConfigSet
from tox.plugin import impl
from tox.session.state import State
from tox.tox_env.api import ToxEnv
from tox.tox_env.errors import Fail

CHECK = pathlib.Path(__file__).resolve().parent / "tools" / "check_system_packages.py"
_checked = False


def _installs_project(conf: Any, env_name: str | None) -> bool:
    """Lint and release-note environments (skip_install) and build environments need no libvirt."""
    try:
        return not conf.get_env(env_name)["skip_install"]
    except KeyError:
        return False


@impl
def tox_add_env_config(env_conf: EnvConfigSet, state: State) -> None:
    env_conf.add_config(
        keys=["system_packages"],
        of_type=bool,
        default=_installs_project,
        desc="check (as root: install) the Debian packages of bindep.txt before installing",
    )


@impl
def tox_on_install(tox_env: ToxEnv, arguments: Any, section: str, of_type: str) -> None:
    global _checked  # noqa: PLW0603 - one check per tox run, whatever the number of environments
    if _checked or not tox_env.conf["system_packages"]:
        return
    if subprocess.run([sys.executable, str(CHECK)], check=False).returncode != 0:
        raise Fail("the Debian packages of bindep.txt are missing (see above)")
    _checked = True
