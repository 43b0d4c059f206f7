"""Make sure the Debian packages in bindep.txt are present before anything builds.

Run by tools/tox (before tox is even installed) and by toxfile.py (before
tox installs an environment): libvirt-python cannot build without
libvirt-dev and pkg-config.  As root the missing packages are installed with
apt-get; otherwise the script names them, prints the apt-get line, and stops.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

BINDEP = pathlib.Path(__file__).resolve().parent.parent / "bindep.txt"


def wanted_packages() -> list[str]:
    packages = []
    for raw in BINDEP.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and "platform:dpkg" in line:
            packages.append(line.split()[0])
    return packages


def missing_packages(packages: list[str]) -> list[str]:
    """The packages dpkg does not list as installed (none off Debian: nothing to check)."""
    if shutil.which("dpkg-query") is None:
        return []
    listed = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${Status}\\n", *packages],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    installed = {
        line.split()[0].split(":")[0]
        for line in listed.splitlines()
        if line.endswith("install ok installed")
    }
    return [pkg for pkg in packages if pkg not in installed]


def main() -> int:
    missing = missing_packages(wanted_packages())
    if not missing:
        return 0
    command = "apt-get update && apt-get install -y " + " ".join(missing)
    if os.geteuid() != 0:
        print(
            f"Missing Debian packages: {', '.join(missing)}.\n"
            f"Install them as root, then run this command again:\n    {command}",
            file=sys.stderr,
        )
        return 1
    print(f"Installing the missing Debian packages: {' '.join(missing)}", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for step in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *missing]):
        if subprocess.run(step, env=env, check=False).returncode != 0:
            print(f"'{' '.join(step)}' failed; fix apt, then run: {command}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
