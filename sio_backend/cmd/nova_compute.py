"""``nova-compute-sio``: nova-compute with sio_backend's import hook installed explicitly.

For environments that never run ``sio_backend.pth`` (``python -S``, distro
packages that strip ``.pth`` files, ``SIO_BACKEND_DISABLE_BOOTSTRAP`` set).
Nothing from nova may be imported before ``nova.cmd.compute``: its first line
decides eventlet monkey patching for the whole process.
"""

from __future__ import annotations

from sio_backend import _bootstrap


def main() -> None:
    """Install the hook, then hand over to nova's own nova-compute entry point."""
    _bootstrap.install()
    from nova.cmd.compute import main as nova_compute_main  # noqa: PLC0415 - after the hook

    nova_compute_main()
