"""The step-level nova test case: two hosts of ``sio_fixtures.cloud`` in ``self.cloud``."""

from __future__ import annotations

from pathlib import Path

import fixtures

from sio_backend.demo.nova_conf import configure
from sio_fixtures import nova_support
from sio_fixtures.cloud import IID, CloudFixture
from sio_fixtures.generation import API_VERSION


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
