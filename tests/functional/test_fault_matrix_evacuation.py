"""The fault matrix over evacuation and the evacuated host's return.

The harness (what is injected, what each case asserts) is in ``fault_matrix``.
What evacuation must never do, whatever fails: remove or change the disks of
the instance it rescues, or leave the failed host mapped once the
destination has mapped them (the fence comes first).
"""

from __future__ import annotations

from nova.compute import vm_states
from sio_fixtures.fault_matrix import Flow, MatrixTestCase
from sio_fixtures.generation import map_verb

from sio_backend import exceptions


class EvacuationMatrixTestCase(MatrixTestCase):
    def mappings(self, instance) -> dict[str, int]:
        """How many of the instance's volumes each host maps."""
        hosts = [hosts for _size, hosts in self.cloud.state_of(instance).values()]
        return {host: sum(host in h for h in hosts) for host in ("host1", "host2")}

    def assert_fenced(self, instance) -> None:
        """Once host2 maps any disk, host1 maps none: the fence preceded the mapping."""
        mappings = self.mappings(instance)
        if mappings["host1"] and mappings["host2"]:
            raise AssertionError(f"host1 still mapped beside host2: {mappings}")

    def assert_disks_kept(self, instance) -> None:
        """Every disk still there, of its size, with its data."""
        actual = {name: size for name, (size, _h) in self.cloud.state_of(instance).items()}
        expected = {name: size for name, (size, _h) in self.expected(instance, set()).items()}
        if actual != expected:
            raise AssertionError(f"the disks changed: {actual} != {expected}")
        self.assert_marker(instance)

    def evacuated(self):
        """Running on host2 after host1 failed (host1's guest is still defined there)."""
        return self.cloud.evacuate(self.spawned(), "host1", "host2")

    def check_on_host2(self, instance) -> None:
        self.at_rest(instance, {"host2"})
        if not self.cloud.domain_running(instance, "host2"):
            raise AssertionError("the guest does not run on host2")

    def defined_on(self, instance, host: str) -> bool:
        with self.cloud.on(host) as driver:
            return instance.uuid in driver.list_instance_uuids()

    def test_evacuate(self) -> None:
        cloud = self.cloud

        def run(instance):
            self.phased("evacuate", lambda: cloud.evacuate(instance, "host1", "host2"))

        def recover(instance, phase):
            # rebuild_instance: the migration fails, the instance goes to ERROR
            # and stays on host1 (only finish_evacuation moves it).
            instance.vm_state, instance.task_state = vm_states.ERROR, None
            if instance.host != "host1":
                raise AssertionError(f"the failed evacuation moved the instance to {instance.host}")
            self.assert_disks_kept(instance)
            self.assert_fenced(instance)

        def converge(instance, phase):
            # The user evacuates again (host1 is still down).
            cloud.evacuate(instance, "host1", "host2")

        def teardown(instance):
            cloud.evacuated_host_returns(instance, "host1")
            cloud.delete(instance, host="host2")

        self.run_matrix(
            Flow("evacuate", self.spawned, run, recover, converge, self.check_on_host2, teardown)
        )

    def test_evacuated_host_returns(self) -> None:
        cloud = self.cloud

        def run(instance):
            self.phased("return", lambda: cloud.evacuated_host_returns(instance, "host1"))

        def recover(instance, phase):
            # The exception stops host1's init_host; the service is started again.
            self.check_on_host2(instance)

        def converge(instance, phase):
            # The manager destroys only what host1's libvirt still lists.
            if self.defined_on(instance, "host1"):
                cloud.evacuated_host_returns(instance, "host1")

        def check_end(instance):
            self.check_on_host2(instance)
            if self.defined_on(instance, "host1"):
                raise AssertionError("the guest is still defined on host1")

        self.run_matrix(
            Flow(
                "evacuated_host_returns",
                self.evacuated,
                run,
                recover,
                converge,
                check_end,
                lambda i: cloud.delete(i, host="host2"),
            )
        )

    def test_failed_evacuation_then_host1_returns_and_hard_reboots(self) -> None:
        # The other way out of ERROR: host1 is back before a second evacuation
        # (its init_host leaves the instance alone: the migration record says
        # failed) and the user hard-reboots the instance there.
        cloud = self.cloud
        instance = self.spawned()
        cloud.simulator.faults.fail_next(method="POST", path=rf".*/action/{map_verb()}")
        self.assertRaises(exceptions.GatewayError, cloud.evacuate, instance, "host1", "host2")
        instance.vm_state, instance.task_state = vm_states.ERROR, None
        self.assert_disks_kept(instance)
        self.assertEqual({"host1": 0, "host2": 0}, self.mappings(instance))

        cloud.reboot_hard(instance, host="host1")
        self.at_rest(instance, {"host1"})
        self.assertTrue(cloud.domain_running(instance, "host1"))
        cloud.delete(instance)
        cloud.assert_no_leaks()
