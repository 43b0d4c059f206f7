"""Make sure the Debian packages in bindep.txt are present before tests run.

As root the missing ones are installed with apt-get; otherwise the script
names them and stops, so nobody debugs a libvirt-python build failure.
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
    if shutil.which("dpkg-query") is None:
        return []
    missing = []
    for pkg in packages:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True, check=False
        )
        if "install ok installed" not in result.stdout:
            missing.append(pkg)
    return missing


def main() -> int:
    missing = missing_packages(wanted_packages())
    if not missing:
        return 0
    if os.geteuid() != 0:
        print(
            "Missing Debian packages: {}. Install them with: sudo apt-get install {}".format(
                ", ".join(missing), " ".join(missing)
            ),
            file=sys.stderr,
        )
        return 1
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True, env=env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
