"""Sphinx configuration for the sio_backend documentation."""

project = "sio_backend"
copyright = "sio_backend developers"
extensions = ["oslo_config.sphinxext"]
root_doc = "index"
exclude_patterns = ["_build"]
html_theme = "alabaster"
