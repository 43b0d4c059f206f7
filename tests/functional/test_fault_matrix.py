"""The fault matrix over spawn, delete, live migration and its rollback, hard reboot and rescue.

The harness (what is injected, what each case asserts) is in ``fault_matrix``.
"""

from __future__ import annotations

from nova.compute import task_states, vm_states
from oslo_utils import units
from sio_fixtures.fault_matrix import PATTERN, Flow, MatrixTestCase, MiB
from test_driver_flows_migrate import LiveMigration


class FaultMatrixTestCase(MatrixTestCase):
    def test_spawn(self) -> None:
        cloud = self.cloud

        def run(instance):
            self.phased("spawn", lambda: cloud.spawn(instance))

        def recover(instance, phase):
            # The manager's _shutdown_instance, then the reschedule.
            cloud.delete(instance)
            cloud.assert_state(instance, {})
            cloud.assert_no_leaks()

        def converge(instance, phase):
            instance.vm_state, instance.task_state = vm_states.BUILDING, task_states.SPAWNING
            cloud.spawn(instance)

        def check_end(instance):
            cloud.assert_state(instance, self.expected(instance, {"host1"}))
            cloud.assert_no_leaks(instance)
            if self.data(cloud.volume_name(instance), 4 * MiB, len(PATTERN)) != PATTERN:
                raise AssertionError("the root disk lacks the image")

        self.run_matrix(
            Flow("spawn", self.new_instance, run, recover, converge, check_end, cloud.delete)
        )

    def test_delete(self) -> None:
        cloud = self.cloud

        def recover(instance, phase):
            for name, (size, _hosts) in self.expected(instance, set()).items():
                volume = cloud.volumes().get(name)
                if volume is not None and volume.size_kb // units.Mi != size:
                    raise AssertionError(f"{name} changed size")
            if cloud.volume_name(instance) in cloud.volumes():
                self.assert_marker(instance)

        def check_end(instance):
            cloud.assert_state(instance, {})
            cloud.assert_no_leaks()

        self.run_matrix(
            Flow(
                "delete",
                self.spawned,
                lambda i: self.phased("delete", lambda: cloud.delete(i)),
                recover,
                lambda i, phase: cloud.delete(i),
                check_end,
                lambda i: None,
            )
        )

    def test_live_migration(self) -> None:
        cloud = self.cloud
        migrations: dict[str, LiveMigration] = {}

        def run(instance):
            migration = migrations[instance.uuid] = LiveMigration(cloud, instance)
            self.phased("check", lambda: migration.check(shared_path=False))
            self.phased("pre_live_migration", migration.pre_live_migration)
            migration.migrate_domain()
            self.phased("post_live_migration", migration.post_live_migration)

        def recover(instance, phase):
            migration = migrations[instance.uuid]
            if phase == "pre_live_migration":
                migration.rollback(pre_live_migration_failed=True)
                self.at_rest(instance, {"host1"})
            elif phase == "check":
                instance.task_state = None
                self.at_rest(instance, {"host1"})

        def converge(instance, phase):
            if phase == "post_live_migration":
                migrations[instance.uuid].post_live_migration()
            else:
                run(instance)

        def check_end(instance):
            self.at_rest(instance, {"host2"})
            if not cloud.domain_running(instance, "host2"):
                raise AssertionError("the guest does not run on host2")

        def teardown(instance):
            cloud.delete(instance, host="host2")

        self.run_matrix(
            Flow("live_migration", self.spawned, run, recover, converge, check_end, teardown)
        )

    def test_live_migration_rollback(self) -> None:
        cloud = self.cloud
        migrations: dict[str, LiveMigration] = {}

        def setup():
            instance = self.spawned()
            migration = migrations[instance.uuid] = LiveMigration(cloud, instance)
            migration.check(shared_path=False)
            migration.pre_live_migration()
            return instance

        def run(instance):
            self.phased("rollback", migrations[instance.uuid].rollback)

        def converge(instance, phase):
            migrations[instance.uuid].instance.task_state = task_states.MIGRATING
            migrations[instance.uuid].rollback()

        def check_end(instance):
            self.at_rest(instance, {"host1"})
            if not cloud.domain_running(instance, "host1"):
                raise AssertionError("the guest does not run on host1")

        self.run_matrix(
            Flow(
                "lm_rollback",
                setup,
                run,
                lambda i, phase: None,
                converge,
                check_end,
                cloud.delete,
            )
        )

    def test_hard_reboot(self) -> None:
        cloud = self.cloud

        def converge(instance, phase):
            cloud.reboot_hard(instance)

        def check_end(instance):
            self.at_rest(instance, {"host1"})
            if not cloud.domain_running(instance, "host1"):
                raise AssertionError("the guest does not run")

        self.run_matrix(
            Flow(
                "hard_reboot",
                self.spawned,
                lambda i: self.phased("reboot", lambda: cloud.reboot_hard(i)),
                lambda i, phase: self.at_rest(i, {"host1"}),
                converge,
                check_end,
                cloud.delete,
            )
        )

    def test_rescue_unrescue(self) -> None:
        cloud = self.cloud

        def run(instance):
            self.phased("rescue", lambda: cloud.rescue(instance))
            self.phased("unrescue", lambda: cloud.unrescue(instance))

        def recover(instance, phase):
            # The manager puts the instance back as it was before the failed call.
            instance.vm_state = vm_states.ACTIVE if phase == "rescue" else vm_states.RESCUED
            instance.task_state = None

        def converge(instance, phase):
            if phase == "rescue":
                run(instance)
            else:
                cloud.unrescue(instance)

        def check_end(instance):
            self.at_rest(instance, {"host1"})
            if not cloud.domain_running(instance, "host1"):
                raise AssertionError("the guest does not run")

        self.run_matrix(
            Flow("rescue_unrescue", self.spawned, run, recover, converge, check_end, cloud.delete)
        )
