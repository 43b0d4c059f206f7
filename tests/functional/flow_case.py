"""The test case the driver flow tests share: two nova hosts in ``self.cloud``."""

from __future__ import annotations

from pathlib import Path

import fixtures
import nova_support
from nova_hosts import IID, CloudFixture


class FlowTestCase(nova_support.NovaTestCase):
    """A nova test case with both hosts running, configured for ``images_type = sio``."""

    def setUp(self) -> None:
        super().setUp()
        tmp = Path(self.useFixture(fixtures.TempDir()).path)
        self.flags(images_type="sio", group="libvirt")
        self.flags(lock_path=str(tmp / "locks"), group="oslo_concurrency")
        self.flags(
            installation_identifier=IID,
            default_protection_domain_name="pd1",
            default_storage_pool_name="sp1",
            default_provisioning_type="thin",
            group="scaleio",
        )
        self.cloud = self.useFixture(CloudFixture(tmp)).cloud
