"""The data side of the simulator: volume contents and each SDC's device links.

Every volume is one sparse file.  Every simulated SDC has its own stand-in for
``/dev/disk/by-id``; mapping a volume to it makes ``emc-vol-<system>-<volume>``
appear there (optionally late, or never) as a symlink to that file, so data
written through one host's "device" reads back on every other host it is
mapped to, exactly as with a shared PowerFlex volume.
"""

from __future__ import annotations

import errno
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

_CHUNK = 1024 * 1024


class DeviceManager:
    """Volume data files under ``root/volumes`` and SDC dirs under ``root/sdc``."""

    def __init__(self, root: Path, system_id: str, *, delay: float = 0.0) -> None:
        self.root = root
        self.system_id = system_id
        self.default_delay = delay
        self._data_dir = root / "volumes"
        self._data_dir.mkdir(parents=True, exist_ok=True)
        self._by_id: dict[str, Path] = {}
        self._delays: dict[str | None, float] = {}
        self._suppressed: set[str | None] = set()
        self._pending: dict[tuple[str, str], threading.Timer] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------ paths
    def data_path(self, volume_id: str) -> Path:
        return self._data_dir / f"{volume_id}.img"

    def device_name(self, volume_id: str) -> str:
        return f"emc-vol-{self.system_id}-{volume_id}"

    def by_id_dir(self, sdc_id: str) -> Path:
        return self._by_id[sdc_id]

    def device_path(self, sdc_id: str, volume_id: str) -> Path:
        return self._by_id[sdc_id] / self.device_name(volume_id)

    # ------------------------------------------------------- volume data
    def create(self, volume_id: str, size_kb: int) -> None:
        with open(self.data_path(volume_id), "xb") as data:
            data.truncate(size_kb * 1024)

    def extend(self, volume_id: str, size_kb: int) -> None:
        os.truncate(self.data_path(volume_id), size_kb * 1024)

    def remove(self, volume_id: str) -> None:
        self.data_path(volume_id).unlink(missing_ok=True)

    def snapshot(self, source_id: str, snapshot_id: str) -> None:
        """An independent copy of the source's data as it is now, holes kept."""
        with (
            open(self.data_path(source_id), "rb") as source,
            open(self.data_path(snapshot_id), "xb") as copy,
        ):
            size = os.fstat(source.fileno()).st_size
            copy.truncate(size)
            _copy_data(source.fileno(), copy.fileno(), size)

    def overwrite(self, target_id: str, source_id: str) -> None:
        """Replace the target's data in place (open devices see the change)."""
        with (
            open(self.data_path(source_id), "rb") as source,
            open(self.data_path(target_id), "r+b") as target,
        ):
            size = os.fstat(target.fileno()).st_size
            target.truncate(0)
            target.truncate(size)
            _copy_data(source.fileno(), target.fileno(), size)

    def allocated_kb(self, volume_id: str) -> int:
        try:
            return self.data_path(volume_id).stat().st_blocks * 512 // 1024
        except FileNotFoundError:
            return 0

    # ------------------------------------------------------- SDC devices
    def add_sdc(self, sdc_id: str, name: str) -> None:
        directory = self.root / "sdc" / name / "by-id"
        directory.mkdir(parents=True, exist_ok=True)
        self._by_id[sdc_id] = directory

    def attach(self, sdc_id: str, volume_id: str) -> None:
        """Make the device appear after the configured delay (or not at all)."""
        with self._lock:
            if sdc_id in self._suppressed or None in self._suppressed:
                return
            delay = self._delays.get(sdc_id, self._delays.get(None, self.default_delay))
            if delay <= 0:
                self._link(sdc_id, volume_id)
                return
            timer = threading.Timer(delay, self._link_later, (sdc_id, volume_id))
            timer.daemon = True
            self._cancel_pending(sdc_id, volume_id)
            self._pending[(sdc_id, volume_id)] = timer
            timer.start()

    def detach(self, sdc_id: str, volume_id: str) -> None:
        with self._lock:
            self._cancel_pending(sdc_id, volume_id)
            self.device_path(sdc_id, volume_id).unlink(missing_ok=True)

    def set_delay(self, seconds: float, sdc_id: str | None = None) -> None:
        """Devices of later mappings appear ``seconds`` late (one SDC or all)."""
        with self._lock:
            self._delays[sdc_id] = seconds

    def suppress(self, sdc_id: str | None = None) -> None:
        """Devices of later mappings never appear (one SDC or all)."""
        with self._lock:
            self._suppressed.add(sdc_id)

    def restore(self) -> None:
        """Back to the configured delay, nothing suppressed."""
        with self._lock:
            self._delays.clear()
            self._suppressed.clear()

    def close(self) -> None:
        """Cancel pending devices and delete every data file and link: the model
        they belong to lives in memory and is gone when the simulator stops."""
        with self._lock:
            for timer in self._pending.values():
                timer.cancel()
            self._pending.clear()
            for directory in self._by_id.values():
                for link in directory.glob("emc-vol-*"):
                    link.unlink(missing_ok=True)
            for data in self._data_dir.glob("*.img"):
                data.unlink(missing_ok=True)

    def _cancel_pending(self, sdc_id: str, volume_id: str) -> None:
        timer = self._pending.pop((sdc_id, volume_id), None)
        if timer is not None:
            timer.cancel()

    def _link_later(self, sdc_id: str, volume_id: str) -> None:
        with self._lock:
            if self._pending.get((sdc_id, volume_id)) is not threading.current_thread():
                return
            del self._pending[(sdc_id, volume_id)]
            self._link(sdc_id, volume_id)

    def _link(self, sdc_id: str, volume_id: str) -> None:
        """Create the link atomically so a poller never sees a half-made one."""
        final = self.device_path(sdc_id, volume_id)
        temporary = final.with_name(f".{final.name}.{secrets.token_hex(4)}")
        temporary.symlink_to(self.data_path(volume_id))
        os.replace(temporary, final)


def _data_ranges(fd: int, limit: int) -> Iterator[tuple[int, int]]:
    """The (start, end) ranges holding data, found with SEEK_DATA/SEEK_HOLE."""
    offset = 0
    while offset < limit:
        try:
            start = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # nothing but holes from here on
                return
            raise
        if start >= limit:
            return
        end = min(os.lseek(fd, start, os.SEEK_HOLE), limit)
        yield start, end
        offset = end


def _copy_data(source_fd: int, target_fd: int, limit: int) -> None:
    for start, end in _data_ranges(source_fd, limit):
        position = start
        while position < end:
            chunk = os.pread(source_fd, min(_CHUNK, end - position), position)
            if not chunk:
                break
            os.pwrite(target_fd, chunk, position)
            position += len(chunk)
