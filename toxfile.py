"""tox plugin, loaded by tox 4 from the project root.

libvirt-python builds against Debian's libvirt-dev: the packages of
bindep.txt must be present before tox installs an environment's
dependencies, not after (``commands_pre`` runs too late).  So the check runs
from ``tox_on_install``, once per tox run, before the first installation
into an environment that installs this project.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
from typing import Any

from tox.plugin import impl
from tox.tox_env.api import ToxEnv
from tox.tox_env.errors import Fail

CHECK = pathlib.Path(__file__).resolve().parent / "tools" / "check_system_packages.py"
_checked = False


def _installs_project(tox_env: ToxEnv) -> bool:
    """Lint and release-note environments (skip_install) and build environments need no libvirt."""
    try:
        return not tox_env.conf["skip_install"]
    except KeyError:
        return False


@impl
def tox_on_install(tox_env: ToxEnv, arguments: Any, section: str, of_type: str) -> None:
    global _checked  # noqa: PLW0603 - one check per tox run, whatever the number of environments
    if _checked or not _installs_project(tox_env):
        return
    if subprocess.run([sys.executable, str(CHECK)], check=False).returncode != 0:
        raise Fail("the Debian packages of bindep.txt are missing (see above)")
    _checked = True
