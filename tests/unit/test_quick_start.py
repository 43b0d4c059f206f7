"""The README's two commands install what they need, in the right order.

A fresh machine has no tox and no libvirt-dev; libvirt-python fails to
build without libvirt-dev, so the Debian packages must come before anything
is installed.  Fake ``dpkg-query``, ``apt-get`` and ``tox`` on the PATH
record the order in which the commands reach them.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import shlex
import stat
import subprocess
import sys
import types

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHECK = ROOT / "tools" / "check_system_packages.py"

# Each fake appends its command line to $FAKE_LOG; dpkg-query lists every
# package as installed once apt-get install has run (the marker file).
DPKG_QUERY = """#!/bin/sh
echo "dpkg-query" >> "$FAKE_LOG"
[ -e "$FAKE_STATE/installed" ] || exit 1
shift 2
for package in "$@"; do echo "$package install ok installed"; done
"""
APT_GET = """#!/bin/sh
echo "apt-get $*" >> "$FAKE_LOG"
[ "$1" = install ] && touch "$FAKE_STATE/installed"
exit ${FAKE_APT_STATUS:-0}
"""
TOX = """#!/bin/sh
[ "$1" = --version ] && { echo "4.99.0 from fake"; exit 0; }
set -- tox "$@"
echo "$*" >> "$FAKE_LOG"
"""


def readme_command(marker: str) -> str:
    """The command on the line after ``marker``'s code-block opening, as .ci/run reads it."""
    lines = (ROOT / "README.md").read_text().splitlines()
    index = lines.index(f"<!-- {marker} -->")
    assert lines[index + 1] == "```sh", f"{marker}: no sh code block after the marker"
    return lines[index + 2]


def load_check() -> types.ModuleType:
    """tools/check_system_packages.py, which is a script, not part of the package."""
    spec = importlib.util.spec_from_file_location("check_system_packages", CHECK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wanted_packages() -> list[str]:
    return load_check().wanted_packages()


@pytest.fixture
def fake_machine(tmp_path: pathlib.Path) -> dict[str, str]:
    """A PATH whose dpkg-query, apt-get and tox are the fakes above."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("dpkg-query", DPKG_QUERY), ("apt-get", APT_GET), ("tox", TOX)):
        path = bin_dir / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return dict(
        os.environ,
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        PYTHON=sys.executable,
        FAKE_LOG=str(tmp_path / "log"),
        FAKE_STATE=str(tmp_path),
    )


def log_of(env: dict[str, str]) -> list[str]:
    path = pathlib.Path(env["FAKE_LOG"])
    return path.read_text().splitlines() if path.exists() else []


def run_readme_command(marker: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        shlex.split(readme_command(marker)),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("marker", "tox_call"), [("demo-command", "tox -e demo"), ("test-command", "tox")]
)
def test_readme_command_installs_debian_packages_before_tox(
    marker: str, tox_call: str, fake_machine: dict[str, str]
) -> None:
    result = run_readme_command(marker, fake_machine)
    packages = " ".join(wanted_packages())
    if os.geteuid() == 0:
        assert result.returncode == 0, result.stderr
        assert log_of(fake_machine) == [
            "dpkg-query",
            "apt-get update -q",
            f"apt-get install -y -q {packages}",
            tox_call,
        ]
    else:
        # Without root it stops before tox and says what to run as root.
        assert result.returncode == 1
        assert log_of(fake_machine) == ["dpkg-query"]
        assert f"apt-get install -y {packages}" in result.stderr


def test_readme_command_stops_when_apt_get_fails(fake_machine: dict[str, str]) -> None:
    if os.geteuid() != 0:
        pytest.skip("apt-get runs only as root")
    fake_machine["FAKE_APT_STATUS"] = "100"
    result = run_readme_command("test-command", fake_machine)
    assert result.returncode == 1
    assert not any(line.startswith("tox") for line in log_of(fake_machine))
    assert "'apt-get update -q' failed" in result.stderr


def test_without_root_the_apt_get_line_is_named(
    fake_machine: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    check_system_packages = load_check()
    for name in ("PATH", "FAKE_LOG", "FAKE_STATE"):
        monkeypatch.setenv(name, fake_machine[name])
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert check_system_packages.main() == 1
    assert log_of(fake_machine) == ["dpkg-query"]  # apt-get never ran
    packages = " ".join(check_system_packages.wanted_packages())
    assert f"apt-get update && apt-get install -y {packages}" in capsys.readouterr().err


def test_plain_tox_checks_packages_before_installing_anything(
    fake_machine: dict[str, str], tmp_path: pathlib.Path
) -> None:
    """toxfile.py: real tox stops before its first installation when packages are missing."""
    fake_machine["FAKE_APT_STATUS"] = "100"
    work = tmp_path / "work"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tox",
            "-c",
            str(ROOT),
            "-e",
            "py3",
            "--notest",
            "--workdir",
            str(work),
        ],
        env=fake_machine,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "the Debian packages of bindep.txt are missing" in output
    assert log_of(fake_machine)[0] == "dpkg-query"
    # Nothing was installed into the environment: no dependency, no project.
    installed = {path.name.lower() for path in work.glob("py3/lib/python*/site-packages/*")}
    assert not {name for name in installed if name.startswith(("nova", "libvirt", "sio_backend"))}
