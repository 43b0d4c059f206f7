"""Build the sdist and the wheel as a release would, and check what a user gets.

Run by ``tox -e package``.  ``python -m build`` makes the sdist and then the
wheel from that sdist alone (so the sdist is complete); ``twine check``
judges both for PyPI; the wheel must carry the license, the .pth hook and
the data files; installed into a fresh venv with nova, its commands must
work and name the extra a command needs when it is missing; and with the
demo extra, the demo must run.
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys
import tempfile
import venv
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
WHEEL_MUST_HOLD = (
    "sio_backend.pth",
    "sio_backend/__init__.py",
    "sio_backend/cmd/main.py",
    ".dist-info/licenses/LICENSE",
    ".data/data/etc/nova/nova-scaleio.conf.sample",
    ".data/data/etc/nova/rootwrap.d/sio_backend.filters",
)
WHEEL_MUST_NOT_HOLD = ("tests/", "toxfile.py", "tools/")


def run(*command: str | pathlib.Path, expect: int = 0) -> str:
    print("+", " ".join(map(str, command)), flush=True)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    if result.returncode != expect:
        sys.exit(f"{command[0]} exited {result.returncode}, not {expect}:\n{output}")
    return output


def check_wheel_contents(wheel: pathlib.Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for wanted in WHEEL_MUST_HOLD:
        if not any(name.endswith(wanted) for name in names):
            sys.exit(f"{wheel.name} lacks {wanted}")
    for unwanted in WHEEL_MUST_NOT_HOLD:
        if any(name.startswith(unwanted) for name in names):
            sys.exit(f"{wheel.name} holds {unwanted}, which is not for users")
    print(f"{wheel.name}: {len(names)} files, license, .pth hook and data files present")


def check_installed(wheel: pathlib.Path, constraints: str, scratch: pathlib.Path) -> None:
    """The wheel with nova in a new venv: the hook registers sio, the commands run."""
    env_dir = scratch / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    run(bin_dir / "pip", "install", "--quiet", "-c", constraints, f"{wheel}[nova]")
    choices = run(
        bin_dir / "python",
        "-c",
        "import nova.conf.libvirt as c; "
        "print(next(o for o in c.libvirt_imagebackend_opts if o.name == 'images_type')"
        ".type.choices)",
    )
    if "'sio'" not in choices:
        sys.exit(f"images_type does not accept sio in the installed wheel: {choices}")
    for command in ("check", "volumes", "audit", "simulator", "demo"):
        run(bin_dir / "sio-backend", command, "--help")
    # Without their extras, the developer commands say which extra to install.
    for command in ("simulator", "demo"):  # each needs the extra of its name
        arguments = ["--state-dir", scratch / "sim"] if command == "simulator" else []
        missing = run(bin_dir / "sio-backend", command, *arguments, expect=2)
        if f"pip install 'sio_backend[{command}]'" not in missing:
            sys.exit(f"sio-backend {command} does not name its extra:\n{missing}")
    # With it, the demo runs from the wheel alone (the extra lists all it needs).
    run(bin_dir / "pip", "install", "--quiet", "-c", constraints, f"{wheel}[demo]")
    demo = run(bin_dir / "sio-backend", "demo")
    if "demo complete" not in demo:
        sys.exit(f"sio-backend demo did not complete:\n{demo}")
    print("installed wheel: images_type = sio accepted, commands work, the demo completes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--constraints", default=str(ROOT / "upper-constraints.txt"))
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sio-package-") as tmp:
        scratch = pathlib.Path(tmp)
        dist = scratch / "dist"
        run(sys.executable, "-m", "build", "--outdir", dist, ROOT)
        print(run(sys.executable, "-m", "twine", "check", "--strict", *sorted(dist.iterdir())))
        (wheel,) = dist.glob("*.whl")
        check_wheel_contents(wheel)
        check_installed(wheel, arguments.constraints, scratch)


if __name__ == "__main__":
    main()
