"""Glance with real image bytes: images to boot from, and the snapshots nova uploads.

nova's GlanceFixture serves empty image data and drops what is uploaded, so
nothing a guest's disk gets from an image, or gives back to one, could be
checked.  This one keeps every image's bytes in a file.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

from nova.tests.fixtures import glance as nova_glance
from oslo_utils import units

PATTERN = b"\x5a" * units.Mi  # in every image made here, at PATTERN_OFFSET
PATTERN_OFFSET = 4 * units.Mi
QCOW2_IMAGE_ID = "0c6f5d3e-5d4c-4c43-a5a6-5c1e0e0d9a01"
RAW_IMAGE_ID = "0c6f5d3e-5d4c-4c43-a5a6-5c1e0e0d9a02"


def make_image(path: Path, disk_format: str, size_mb: int) -> Path:
    """An image of ``size_mb`` MiB holding PATTERN at PATTERN_OFFSET."""
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", disk_format, str(path), f"{size_mb}M"], check=True
    )
    subprocess.run(
        ["qemu-io", "-f", disk_format, "-c", f"write -P 0x5a {PATTERN_OFFSET} 1M", str(path)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return path


def _copy_sparse(source: str | Path, target: str | Path) -> None:
    """Copy only the data extents: a snapshot of an 8 GiB root holding a small image
    would otherwise cost 8 GiB of disk and as many bytes of copying, twice."""
    subprocess.run(["cp", "--sparse=always", str(source), str(target)], check=True)


class ImageFilesGlanceFixture(nova_glance.GlanceFixture):
    """nova's GlanceFixture, with each image's data in a file under ``directory``.

    Besides nova's stock images it holds a qcow2 and a raw image with
    PATTERN at PATTERN_OFFSET (``QCOW2_IMAGE_ID``, ``RAW_IMAGE_ID``).
    """

    def __init__(self, test, directory: Path, image_size_mb: int = 64) -> None:
        super().__init__(test)
        self.directory = directory
        self.image_size_mb = image_size_mb

    def setUp(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        super().setUp()
        for image_id, disk_format in ((QCOW2_IMAGE_ID, "qcow2"), (RAW_IMAGE_ID, "raw")):
            path = make_image(
                self.directory / f"{image_id}.source", disk_format, self.image_size_mb
            )
            image = copy.deepcopy(self.image1)
            image.update(
                id=image_id,
                name=f"pattern-{disk_format}",
                disk_format=disk_format,
                container_format="bare",
                size=path.stat().st_size,
            )
            self.create(None, image)
            shutil.move(path, self.path(image_id))

    def add_variant(self, image_id: str, **properties: str) -> str:
        """A new image with ``image_id``'s data and these extra properties; its id."""
        image = copy.deepcopy(self.show(None, image_id))
        del image["id"]
        image["properties"].update(properties)
        variant = self.create(None, image)["id"]
        _copy_sparse(self.path(image_id), self.path(variant))
        return variant

    def path(self, image_id: str) -> Path:
        return self.directory / image_id

    def download(self, context, image_id, data=None, dst_path=None, trusted_certs=None):
        self.show(context, image_id)
        source = self.path(image_id)
        if not source.exists():
            return super().download(context, image_id, data=data, dst_path=dst_path)
        if dst_path:
            _copy_sparse(source, dst_path)
        elif data:
            with source.open("rb") as image_file:
                shutil.copyfileobj(image_file, data)
        return None

    def create(self, context, metadata, data=None):
        image = super().create(context, metadata)
        if data is not None:
            self._store(image["id"], data)
        return image

    def update(self, context, image_id, metadata, data=None, purge_props=False):
        image = super().update(context, image_id, metadata, purge_props=purge_props)
        if data is not None:
            self._store(image_id, data)
            image.update(status="active", size=self.path(image_id).stat().st_size)
        return image

    def delete(self, context, image_id):
        super().delete(context, image_id)
        self.path(image_id).unlink(missing_ok=True)

    def _store(self, image_id: str, data) -> None:
        _copy_sparse(data.name, self.path(image_id))  # nova uploads an open file

    def detail(self, context, filters=None, sort_key=None, sort_dir="asc", **kwargs):
        """Glance's filtering on image properties and newest-first order, which nova's
        backup rotation relies on (the stock fixture returns every image, oldest first)."""
        images = super().detail(context, **kwargs)
        for key, value in (filters or {}).items():
            name = key.removeprefix("property-")
            images = [i for i in images if i.get("properties", {}).get(name, i.get(name)) == value]
        return images[::-1] if sort_key == "created_at" and sort_dir == "desc" else images
