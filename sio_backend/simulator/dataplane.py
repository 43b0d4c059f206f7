"""The data side of the simulator as the model sees it.

The model (:mod:`~sio_backend.simulator.state`) decides; the data plane keeps
the bytes and the SDC devices (:class:`~sio_backend.simulator.devices.DeviceManager`
in the running simulator, :class:`NoDataPlane` when the model is tested alone).
"""

from __future__ import annotations

from typing import Protocol


class PendingCopies(Protocol):
    """Snapshot data begun under the model lock and copied after it."""

    def finish(self) -> None:
        """Copy the data; raises OSError, and then the snapshots must be removed."""
        ...


class DataPlane(Protocol):
    """What the model asks of the data side (volume files and SDC devices).

    A call may wait for a copy begun earlier, but never needs the model lock:
    the model calls these holding its lock, and finishes copies without it.
    """

    def create(self, volume_id: str, size_kb: int) -> None: ...
    def extend(self, volume_id: str, size_kb: int) -> None: ...
    def remove(self, volume_id: str) -> None: ...
    def begin_snapshots(self, pairs: list[tuple[str, str]]) -> PendingCopies: ...
    def overwrite(self, target_id: str, source_id: str) -> None: ...
    def allocated_kb(self, volume_id: str) -> int: ...
    def add_sdc(self, sdc_id: str, name: str) -> None: ...
    def attach(self, sdc_id: str, volume_id: str) -> None: ...
    def detach(self, sdc_id: str, volume_id: str) -> None: ...


class NoDataPlane:
    """A data side that keeps nothing: the model alone, nothing ever written."""

    def create(self, volume_id: str, size_kb: int) -> None:
        pass

    def extend(self, volume_id: str, size_kb: int) -> None:
        pass

    def remove(self, volume_id: str) -> None:
        pass

    def begin_snapshots(self, pairs: list[tuple[str, str]]) -> PendingCopies:
        return self

    def finish(self) -> None:
        pass

    def overwrite(self, target_id: str, source_id: str) -> None:
        pass

    def allocated_kb(self, volume_id: str) -> int:
        return 0

    def add_sdc(self, sdc_id: str, name: str) -> None:
        pass

    def attach(self, sdc_id: str, volume_id: str) -> None:
        pass

    def detach(self, sdc_id: str, volume_id: str) -> None:
        pass
