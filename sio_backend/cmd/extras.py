"""Commands that need one of the package's optional extras say which one.

nova-compute hosts install only ``sio_backend`` (and nova); the simulator's
certificate authority and the demo's in-process cloud come from extras, so a
command that needs them names the ``pip install`` line instead of failing on
an import deep inside.
"""

from __future__ import annotations

import importlib.util

# What each extra brings that the commands import (module names).
MODULES = {
    "simulator": ("trustme",),
    "demo": (
        "nova",
        "trustme",
        "libvirt",
        "fixtures",
        "testtools",
        "oslotest",
        "wsgi_intercept",
        "placement",
    ),
}


def missing(extra: str) -> str | None:
    """Why the ``extra`` is needed and how to install it, or None when it is installed."""
    absent = [name for name in MODULES[extra] if importlib.util.find_spec(name) is None]
    if not absent:
        return None
    return (
        f"needs the Python module(s) {', '.join(absent)} of the '{extra}' extra; "
        f"install it into this environment with: pip install 'sio_backend[{extra}]'"
    )
