"""Reading and writing a (simulated) device at an offset: what a guest writes, read back."""

from __future__ import annotations

import os


def write(path: str | os.PathLike, offset: int, data: bytes) -> None:
    with open(path, "r+b") as device:
        device.seek(offset)
        device.write(data)


def read(path: str | os.PathLike, offset: int, length: int) -> bytes:
    with open(path, "rb") as device:
        device.seek(offset)
        return device.read(length)
