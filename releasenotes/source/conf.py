"""Sphinx configuration for the sio_backend release notes (built by reno from git)."""

project = "sio_backend release notes"
copyright = "sio_backend developers"
extensions = ["reno.sphinxext"]
root_doc = "index"
exclude_patterns = ["_build"]
html_theme = "alabaster"
