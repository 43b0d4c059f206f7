"""The data side of the simulator: volume contents and each SDC's device links.

Every volume is one sparse file.  Every simulated SDC has its own stand-in for
``/dev/disk/by-id``; mapping a volume to it makes ``emc-vol-<system>-<volume>``
appear there (optionally late, or never) as a symlink to that file, so data
written through one host's "device" reads back on every other host it is
mapped to, exactly as with a shared PowerFlex volume.

A real snapshot is a metadata operation; here it is a copy of the file, which
takes time.  So the model only *begins* a snapshot under its lock
(:meth:`DeviceManager.begin_snapshots`) and the data is copied after the lock
is released, before the gateway answers.  Meanwhile this module keeps each
volume safe on its own: what changes a volume's file waits until no copy
reads or fills it, and what reads or exposes a volume waits until it is
filled.  Those waits never need the model lock, so waiting while holding it
cannot deadlock.
"""

from __future__ import annotations

import errno
import os
import secrets
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path


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
        self._reading: Counter[str] = Counter()  # volume id: copies reading it
        self._filling: set[str] = set()  # volume ids a copy is writing
        self._failed: set[str] = set()  # snapshots whose copy failed, until removed
        self._lock = threading.Condition()

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
        with self._lock:
            self._wait(unused=(volume_id,))
            os.truncate(self.data_path(volume_id), size_kb * 1024)

    def remove(self, volume_id: str) -> None:
        with self._lock:
            self._wait(unused=(volume_id,))
            self._failed.discard(volume_id)
            self.data_path(volume_id).unlink(missing_ok=True)

    def begin_snapshots(self, pairs: list[tuple[str, str]]) -> SnapshotCopies:
        """Make each (source, snapshot) pair's empty target file at the source's
        size now, all or none; :meth:`SnapshotCopies.finish` copies the data
        later, without the model lock."""
        made: list[str] = []
        with self._lock:
            self._wait(filled=tuple(source_id for source_id, _ in pairs))
            try:
                for source_id, snapshot_id in pairs:
                    size = self.data_path(source_id).stat().st_size
                    with open(self.data_path(snapshot_id), "xb") as target:
                        target.truncate(size)
                    made.append(snapshot_id)
            except OSError:
                for snapshot_id in made:
                    self.data_path(snapshot_id).unlink(missing_ok=True)
                raise
            for source_id, snapshot_id in pairs:
                self._reading[source_id] += 1
                self._filling.add(snapshot_id)
        return SnapshotCopies(self, pairs)

    def snapshot(self, source_id: str, snapshot_id: str) -> None:
        """Copy the data of a snapshot :meth:`begin_snapshots` made, holes kept:
        the slow part, one call per snapshot, run without the model lock (the
        benchmarks time the copies here)."""
        with open(self.data_path(snapshot_id), "r+b") as target:
            size = os.fstat(target.fileno()).st_size
            _copy_file(self.data_path(source_id), target.fileno(), size)

    def overwrite(self, target_id: str, source_id: str) -> None:
        """Replace the target's data in place (open devices see the change)."""
        with self._lock:
            self._wait(unused=(target_id,), filled=(source_id,))
            self._reading[source_id] += 1
            self._filling.add(target_id)
        try:
            with open(self.data_path(target_id), "r+b") as target:
                size = os.fstat(target.fileno()).st_size
                target.truncate(0)
                target.truncate(size)
                _copy_file(self.data_path(source_id), target.fileno(), size)
        finally:
            self._end([(source_id, target_id)], failed=False)

    def _wait(self, *, unused: tuple[str, ...] = (), filled: tuple[str, ...] = ()) -> None:
        """Until no copy reads or fills the ``unused`` volumes (about to be
        changed) and none fills the ``filled`` ones (about to be read or
        exposed); one wait for all, so no condition is lost while waiting for another."""
        self._lock.wait_for(
            lambda: (
                not any(self._reading[v] or v in self._filling for v in unused)
                and not any(v in self._filling for v in filled)
            )
        )
        for volume_id in filled:
            if volume_id in self._failed:
                raise FileNotFoundError(
                    errno.ENOENT,
                    f"the data copy of snapshot {volume_id} failed; the snapshot is being removed",
                )

    def _end(self, pairs: list[tuple[str, str]], *, failed: bool) -> None:
        """The (source, target) copies are over: wake whoever waits on them."""
        with self._lock:
            for source_id, target_id in pairs:
                self._reading[source_id] -= 1
                if not self._reading[source_id]:
                    del self._reading[source_id]
                self._filling.discard(target_id)
                if failed:
                    self._failed.add(target_id)
            self._lock.notify_all()

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
            self._wait(filled=(volume_id,))
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


class SnapshotCopies:
    """The data copies of one snapshot request, begun but not done."""

    def __init__(self, devices: DeviceManager, pairs: list[tuple[str, str]]) -> None:
        self._devices = devices
        self._pairs = pairs

    def finish(self) -> None:
        """Copy every snapshot's data, then let waiters on them go on.  On an
        error the snapshots stay unreadable until removed: the caller removes them."""
        failed = True
        try:
            for source_id, snapshot_id in self._pairs:
                self._devices.snapshot(source_id, snapshot_id)
            failed = False
        finally:
            self._devices._end(self._pairs, failed=failed)


def _copy_file(source: Path, target_fd: int, limit: int) -> None:
    with open(source, "rb") as data:
        _copy_data(data.fileno(), target_fd, limit)


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
    """Copy the data ranges in the kernel: no round trip of every byte through
    Python, which made the simulator's snapshots its busiest work."""
    for start, end in _data_ranges(source_fd, limit):
        position = start
        while position < end:
            copied = os.copy_file_range(source_fd, target_fd, end - position, position, position)
            if not copied:
                break
            position += copied
