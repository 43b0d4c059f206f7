"""One version everywhere, and commands that name the extra they need."""

from __future__ import annotations

import importlib.util
import pathlib
from importlib import metadata

import pytest

import sio_backend
from sio_backend.cmd import extras
from sio_backend.cmd.main import main

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_installed_distribution_has_the_package_version():
    """pyproject takes the version from sio_backend/__init__.py (the docs read the distribution)."""
    assert metadata.version("sio_backend") == sio_backend.__version__


def test_the_release_notes_have_the_package_version():
    spec = importlib.util.spec_from_file_location(
        "relnotes_conf", ROOT / "releasenotes/source/conf.py"
    )
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    assert conf.version == sio_backend.__version__


def without(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    """Pretend ``module`` is not installed."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a)
    )


def test_an_installed_extra_needs_nothing():
    assert extras.missing("simulator") is None


def test_the_simulator_command_names_its_extra(monkeypatch, capsys, tmp_path):
    without(monkeypatch, "trustme")
    assert main(["simulator", "--state-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "trustme" in err
    assert "pip install 'sio_backend[simulator]'" in err


def test_the_demo_command_names_its_extra(monkeypatch, capsys):
    without(monkeypatch, "fixtures")
    assert main(["demo"]) == 2
    assert "pip install 'sio_backend[demo]'" in capsys.readouterr().err
