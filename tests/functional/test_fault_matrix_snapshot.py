"""The fault matrix over a snapshot to Glance.

The harness (what is injected, what each case asserts) is in ``fault_matrix``.
Whatever call fails, the PowerFlex snapshot the upload reads from (``_g``)
is gone afterwards, the guest runs on with its disks unchanged, and the
snapshot taken again uploads the root disk's content.
"""

from __future__ import annotations

from oslo_utils import units
from sio_fixtures.fault_matrix import MARK, MARK_AT, PATTERN, Flow, MatrixTestCase, MiB

from sio_backend.demo.device_io import read
from sio_backend.instance_volumes import InstanceVolumes


class SnapshotMatrixTestCase(MatrixTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.flags(snapshots_directory=str(self.cloud.tmp / "snapshots"), group="libvirt")

    def latest_image(self) -> str:
        return list(self.cloud.glance.images)[-1]

    def leftover(self, instance) -> str:
        with self.cloud.on("host1"):
            return InstanceVolumes(self.cloud.storage(), instance).glance_snapshot_name()

    def running_unchanged(self, instance) -> None:
        """Only the instance's disks (no ``_g`` snapshot left), its data intact, the guest up."""
        self.at_rest(instance, {"host1"})
        if not self.cloud.domain_running(instance, "host1"):
            raise AssertionError("the guest stopped")

    def running_unchanged_but_for_the_leftover(self, instance) -> None:
        """A snapshot whose removal failed stays until the next snapshot or the delete."""
        disks = {n for n in self.cloud.state_of(instance) if n != self.leftover(instance)}
        if disks != set(self.expected(instance, set())):
            raise AssertionError(f"the disks changed: {sorted(disks)}")
        self.assert_marker(instance)
        if not self.cloud.domain_running(instance, "host1"):
            raise AssertionError("the guest stopped")

    def test_snapshot(self) -> None:
        cloud = self.cloud

        def recover(instance, phase):
            # _snapshot_instance: delete_image_on_error, reverts_task_state.
            cloud.glance.delete(cloud.context, self.latest_image())
            instance.task_state = None
            self.running_unchanged_but_for_the_leftover(instance)

        def check_end(instance):
            self.running_unchanged(instance)
            uploaded = str(cloud.glance.path(self.latest_image()))
            if read(uploaded, 4 * MiB, len(PATTERN)) != PATTERN:
                raise AssertionError("the uploaded image lacks the image's content")
            if read(uploaded, MARK_AT, len(MARK)) != MARK:
                raise AssertionError("the uploaded image lacks the marker")
            size = cloud.glance.path(self.latest_image()).stat().st_size
            if size != 8 * units.Gi:
                raise AssertionError(f"the uploaded image has {size} bytes, not the root's 8 GiB")

        def teardown(instance):
            for image_id in list(cloud.glance.images):
                cloud.glance.delete(cloud.context, image_id)
            cloud.delete(instance)

        self.run_matrix(
            Flow(
                "snapshot",
                self.spawned,
                lambda i: self.phased("snapshot", lambda: cloud.snapshot(i)),
                recover,
                lambda i, phase: cloud.snapshot(i),
                check_end,
                teardown,
            )
        )

    def test_delete_removes_the_snapshot_a_failed_cleanup_left(self) -> None:
        """The upload succeeded: a snapshot that cannot be removed (twice) fails nothing."""
        cloud = self.cloud
        instance = self.spawned()
        cloud.simulator.faults.fail_next(2, method="POST", path=r".*/action/removeVolume")
        cloud.snapshot(instance)
        self.assertIn(self.leftover(instance), cloud.volumes())
        self.running_unchanged_but_for_the_leftover(instance)

        cloud.delete(instance)
        cloud.assert_state(instance, {})
        cloud.assert_no_leaks()
