"""SSH between computes that share one process: nova's remote file calls and copies.

nova's libvirt driver reaches another host over SSH (``RemoteFilesystem``,
``libvirt_utils.copy_image``) to make the instance directory on a resize's
destination or copy files to it.  Here every host is a directory: a path
the calling host names is the same path under the other host's instances
path (the same directory when the instances path is shared).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import nova.conf

CONF = nova.conf.CONF


class RemoteHosts:
    """nova's remote filesystem and ``copy_image``, between the hosts' directories.

    What is copied to another host is recorded (``copied``: file names), so
    tests can tell that no disk was.
    """

    def __init__(self, instances_path: Callable[[str], Path]) -> None:
        """``instances_path`` gives each host's instances path."""
        self.instances_path = instances_path
        self.copied: list[str] = []

    def _there(self, host: str, path: str) -> Path:
        return self.instances_path(host) / Path(path).relative_to(CONF.instances_path)

    def create_file(self, host: str, path: str, **_kwargs) -> None:
        self._there(host, path).touch()

    def remove_file(self, host: str, path: str, **_kwargs) -> None:
        self._there(host, path).unlink(missing_ok=True)

    def create_dir(self, host: str, path: str, **_kwargs) -> None:
        self._there(host, path).mkdir(parents=True, exist_ok=True)

    def remove_dir(self, host: str, path: str, **_kwargs) -> None:
        shutil.rmtree(self._there(host, path), ignore_errors=True)

    def copy_image(
        self, src: str, dest: str, host: str | None = None, receive: bool = False, **_kwargs
    ) -> None:
        """nova's libvirt_utils.copy_image: a local copy, or one to or from ``host``."""
        if host and receive:
            src = str(self._there(host, src))
        elif host:
            dest = str(self._there(host, dest))
            self.copied.append(Path(src).name)
        shutil.copyfile(src, dest)
