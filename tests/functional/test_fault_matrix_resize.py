"""The fault matrix over resize to a bigger flavor (to host2, on host1), confirm and revert.

The harness (what is injected, what each case asserts) is in ``fault_matrix``.
Between a resize and its confirm or revert the root is grown and a
``nova-resize`` snapshot volume (``_r``) holds the root as it was, so the
marker must be intact on both.

What nova's compute manager does after a failure of each step is modelled
in ``recover``: the instance goes to ERROR (the migration to ``error``),
and after a failed ``finish_resize`` its flavor is the old one again while
its host stays the destination.  ``converge`` is the way back:

- resize, failed on the source: the hard reboot there, then the resize again;
- resize, failed in ``finish_resize``: the hard reboot nova's log advises, on
  the destination in the old flavor, which must leave the instance running
  there with its data, fenced from the source, without the revert snapshot
  no revert can use (the end state of those cases);
- confirm and revert: the failed step run again, as an operator does after
  resetting the records (nova's API refuses an errored migration).  The hard
  reboot nova advises instead is covered in ``test_driver_flows_move``.
"""

from __future__ import annotations

import fixtures
from nova.compute import vm_states
from sio_fixtures.cloud import IID, make_flavor
from sio_fixtures.fault_matrix import MARK, MARK_AT, Flow, MatrixTestCase, MiB

from sio_backend import naming

BIG = make_flavor("m1.big", root_gb=16, swap=8192)


class ResizeFaultMatrixTestCase(MatrixTestCase):
    def setUp(self) -> None:
        super().setUp()
        # Roots cloned from an image-cache volume: a boot writes no image,
        # which keeps the hundreds of setups affordable.
        self.flags(image_cache="volume", group="scaleio")
        # A read is still retried after a restart, without half a second's wait.
        self.useFixture(fixtures.MockPatch("sio_backend.gateway.api.READ_RETRY_DELAY_S", 0.01))
        self.migrations: dict[str, object] = {}
        self.disk_infos: dict[str, str] = {}

    # -- states ----------------------------------------------------------------

    def snapshot_name(self, instance) -> str:
        return naming.derived_volume_name(
            IID, instance.uuid, "disk", naming.VolumeKind.RESIZE_SNAPSHOT
        )

    def assert_snapshot_marker(self, instance) -> None:
        if self.data(self.snapshot_name(instance), MARK_AT, len(MARK)) != MARK:
            raise AssertionError("the marker on the resize snapshot was lost")

    def resized(self, instance) -> None:
        """Waiting for confirm or revert: grown root seen by both hosts, the old root kept."""
        cloud = self.cloud
        migration = self.migrations[instance.uuid]
        source, dest = migration.source_compute, migration.dest_compute
        cloud.assert_state(
            instance,
            {
                cloud.volume_name(instance): (16, {source, dest}),
                cloud.volume_name(instance, "disk.swap"): (8, {source, dest}),
                self.snapshot_name(instance): (8, set()),
            },
        )
        cloud.assert_no_leaks(instance)
        self.assert_marker(instance)
        self.assert_snapshot_marker(instance)
        self.assert_running(instance, dest)

    def assert_running(self, instance, host: str) -> None:
        if not self.cloud.domain_running(instance, host):
            raise AssertionError(f"the guest does not run on {host}")
        other = {"host1": "host2", "host2": "host1"}[host]
        if self.cloud.domain_running(instance, other):
            raise AssertionError(f"the guest still runs on {other}")

    def confirmed(self, instance) -> None:
        cloud = self.cloud
        cloud.assert_state(
            instance,
            {
                cloud.volume_name(instance): (16, {"host2"}),
                cloud.volume_name(instance, "disk.swap"): (8, {"host2"}),
            },
        )
        cloud.assert_no_leaks(instance)
        self.assert_marker(instance)
        self.assert_running(instance, "host2")

    def reverted(self, instance) -> None:
        self.at_rest(instance, {"host1"})
        self.assert_running(instance, "host1")

    # -- steps -----------------------------------------------------------------

    def resize(self, instance, dest: str = "host2") -> None:
        cloud = self.cloud
        migration = self.migrations[instance.uuid] = cloud.migration("host1", dest)
        self.phased(
            "resize_instance",
            lambda: self.disk_infos.__setitem__(
                instance.uuid, cloud.resize_instance(instance, BIG, migration)
            ),
        )
        self.phased(
            "finish_resize",
            lambda: cloud.finish_resize(instance, migration, self.disk_infos[instance.uuid]),
        )

    def resized_instance(self):
        instance = self.spawned()
        self.migrations[instance.uuid] = self.cloud.resize(instance, BIG, "host1", "host2")
        return instance

    def failed(self, instance) -> None:
        """What the manager does to the records after a failed step."""
        instance.vm_state, instance.task_state = vm_states.ERROR, None
        self.migrations[instance.uuid].status = "error"

    def delete(self, instance) -> None:
        """nova's delete: a resize still waiting is confirmed first."""
        if instance.vm_state == vm_states.RESIZED:
            self.cloud.confirm_resize(instance, self.migrations[instance.uuid], "host1")
        self.cloud.delete(instance, host=instance.host)

    # -- the flows ---------------------------------------------------------------

    def test_resize(self) -> None:
        self.run_matrix(self.resize_flow("resize", "host2"))

    def test_resize_on_the_same_host(self) -> None:
        self.run_matrix(self.resize_flow("resize_same_host", "host1"))

    def resize_flow(self, name: str, dest: str) -> Flow:
        cloud = self.cloud
        recovered: set[str] = set()

        def recover(instance, phase):
            self.failed(instance)
            if phase == "finish_resize":
                # finish_resize puts the old flavor back; the host stays the destination.
                instance.flavor = instance.old_flavor
                instance.root_gb = instance.flavor.root_gb
            self.assert_marker(instance)

        def converge(instance, phase):
            if phase == "resize_instance":
                # The guest is still the source's: hard reboot there, resize again.
                cloud.reboot_hard(instance, host="host1")
                instance.vm_state = vm_states.ACTIVE
                self.resize(instance, dest)
            else:
                # "You may be able to recover the instance by hard rebooting it":
                # on the destination, in the old flavor.
                cloud.reboot_hard(instance, host=dest)
                instance.vm_state = vm_states.ACTIVE
                recovered.add(instance.uuid)

        def check_end(instance):
            if instance.uuid in recovered:
                self.recovered_on(instance, dest)
            else:
                self.resized(instance)

        def run(instance):
            self.resize(instance, dest)

        return Flow(name, self.spawned, run, recover, converge, check_end, self.delete)

    def recovered_on(self, instance, host: str) -> None:
        """After a failed finish_resize and a hard reboot there: running, old flavor."""
        cloud = self.cloud
        volumes = cloud.volumes()
        root = volumes[cloud.volume_name(instance)]
        expected = {
            # Grown already, or not yet: either fits the old flavor.
            root.name: (root.size_kb // MiB, {host}),
            cloud.volume_name(instance, "disk.swap"): (8, {host}),
        }
        # A snapshot taken before the failure is gone: the hard reboot
        # removes it, since nova reverts no errored migration.
        cloud.assert_state(instance, expected)
        cloud.assert_no_leaks(instance)
        self.assert_marker(instance)
        self.assert_running(instance, host)

    def test_confirm_resize(self) -> None:
        cloud = self.cloud

        def confirm(instance):
            cloud.confirm_resize(instance, self.migrations[instance.uuid], "host1")

        def recover(instance, phase):
            self.failed(instance)
            self.assert_marker(instance)

        self.run_matrix(
            Flow(
                "confirm_resize",
                self.resized_instance,
                lambda i: self.phased("confirm", lambda: confirm(i)),
                recover,
                lambda i, phase: confirm(i),
                self.confirmed,
                self.delete,
            )
        )

    def test_revert_resize(self) -> None:
        cloud = self.cloud

        def run(instance):
            migration = self.migrations[instance.uuid]
            self.phased("revert_resize", lambda: cloud.revert_resize_at_dest(instance, migration))
            self.phased(
                "finish_revert_resize", lambda: cloud.finish_revert_resize(instance, migration)
            )

        def recover(instance, phase):
            self.failed(instance)
            if cloud.volume_name(instance) in cloud.volumes():
                self.assert_marker(instance)
            else:  # the grown root removed, the snapshot not renamed into its place yet
                self.assert_snapshot_marker(instance)

        def converge(instance, phase):
            migration = self.migrations[instance.uuid]
            if phase == "revert_resize":
                run(instance)
            else:
                cloud.finish_revert_resize(instance, migration)

        self.run_matrix(
            Flow(
                "revert_resize",
                self.resized_instance,
                run,
                recover,
                converge,
                self.reverted,
                self.delete,
            )
        )
