"""Sphinx configuration for the sio_backend release notes (built by reno from git)."""

import pathlib
import re

# The one version source is sio_backend/__init__.py (pyproject and the docs
# read it too); this environment does not install the package, so it is
# read as text.
_INIT = pathlib.Path(__file__).resolve().parents[2] / "sio_backend" / "__init__.py"
version = release = re.search(r'^__version__ = "([^"]+)"$', _INIT.read_text(), re.M)[1]

project = "sio_backend release notes"
copyright = "sio_backend developers"
extensions = ["reno.sphinxext"]
root_doc = "index"
exclude_patterns = ["_build"]
html_theme = "alabaster"

# reno titles notes after the last release tag "<tag>-<commits>", and all
# notes "0.0.0" while the repository has no tag yet: both are the coming release.
_UNRELEASED = re.compile(r"^(0\.0\.0|.+-\d+)$")


def _title_unreleased(app, doctree):
    # Imported here, from Sphinx's own dependency: tests read this file's version without it.
    from docutils import nodes  # noqa: PLC0415

    for title in doctree.findall(nodes.title):
        if _UNRELEASED.match(title.astext()):
            title[:] = [nodes.Text(f"{version} (unreleased)")]


def setup(app):
    app.connect("doctree-read", _title_unreleased)
