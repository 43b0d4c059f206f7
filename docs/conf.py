"""Sphinx configuration for the sio_backend documentation."""

import pathlib
import sys
from importlib import metadata

sys.path.insert(0, str(pathlib.Path(__file__).parent / "_ext"))

project = "sio_backend"
# The installed package's version, which pyproject takes from sio_backend/__init__.py.
version = release = metadata.version("sio_backend")
copyright = "sio_backend developers"
extensions = ["oslo_config.sphinxext", "extra_spec_reference"]
root_doc = "index"
exclude_patterns = ["_build"]
html_theme = "alabaster"
