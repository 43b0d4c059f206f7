"""The image model nova's disk helpers receive for a PowerFlex disk.

File injection (guestfs), LXC mounting and resize2fs all dispatch on
``isinstance(..., LocalBlockImage)``; subclassing it keeps them working on
the mapped device while telling our own code which volume it is.
"""

from __future__ import annotations

from nova.virt.image import model


class ScaleIOVolumeImage(model.LocalBlockImage):
    """A PowerFlex volume seen through its device on this host."""

    def __init__(self, path: str, volume_id: str, volume_name: str) -> None:
        super().__init__(path)
        self.volume_id = volume_id
        self.volume_name = volume_name
