"""The two-host nova harness the functional tests use.

The hosts themselves are the step-level harness (``sio_fixtures.cloud``); the
tests import them from here under the names they have always used, with
:class:`FlowTestCase` on top.
"""

from __future__ import annotations

from pathlib import Path

import fixtures
from sio_fixtures import nova_support
from sio_fixtures.cloud import (
    CONF,
    HOSTS,
    IID,
    IMAGE_ID,
    PATTERN,
    Cloud,
    CloudFixture,
    FileGlance,
    make_flavor,
    make_image,
)
from sio_fixtures.generation import API_VERSION

from sio_backend.demo.nova_conf import configure

__all__ = [
    "CONF",
    "HOSTS",
    "IID",
    "IMAGE_ID",
    "PATTERN",
    "Cloud",
    "CloudFixture",
    "FileGlance",
    "FlowTestCase",
    "make_flavor",
    "make_image",
]


class FlowTestCase(nova_support.NovaTestCase):
    """A nova test case with the two hosts in ``self.cloud``, configured for ``images_type=sio``,
    on a simulator of the generation the suite runs at (``tests/sio_fixtures/generation.py``)."""

    IMAGE_SIZE_MB = 1024
    API_VERSION = API_VERSION  # the simulator's generation; a subclass may pin its own

    def setUp(self) -> None:
        super().setUp()
        tmp = Path(self.useFixture(fixtures.TempDir()).path)
        configure(
            self.flags,
            installation_id=IID,
            lock_path=tmp / "locks",
            default_provisioning_type="thin",
        )
        self.cloud = self.useFixture(
            CloudFixture(tmp, image_size_mb=self.IMAGE_SIZE_MB, api_version=self.API_VERSION)
        ).cloud
