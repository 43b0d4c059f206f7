"""ScaleIOFlavorFilter: hosts in a scaleio=true aggregate pass only flavors the backend takes."""

from __future__ import annotations

from nova import objects
from nova.tests.unit.scheduler import fakes
from sio_fixtures import nova_support

from sio_backend.scheduler import ScaleIOFlavorFilter


def make_spec(root_gb: int = 16, ephemeral_gb: int = 0, swap: int = 0, **extra_specs):
    flavor = objects.Flavor(
        flavorid="f1",
        name="m1.test",
        root_gb=root_gb,
        ephemeral_gb=ephemeral_gb,
        swap=swap,
        extra_specs=dict(extra_specs),
    )
    return objects.RequestSpec(flavor=flavor)


def make_host(*metadata: dict) -> fakes.FakeHostState:
    aggregates = [
        objects.Aggregate(id=index, name=f"agg{index}", metadata=meta)
        for index, meta in enumerate(metadata)
    ]
    return fakes.FakeHostState("host1", "node1", {"aggregates": aggregates})


class ScaleIOFlavorFilterTestCase(nova_support.NovaTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.flags(
            default_protection_domain_name="pd1",
            default_storage_pool_name="sp1",
            disk_size_policy="reject",
            group="scaleio",
        )
        self.filter = ScaleIOFlavorFilter()
        self.scaleio_host = make_host({"scaleio": "true"})

    def test_reject_policy_refuses_sizes_off_the_8_gib_grid(self) -> None:
        self.assertFalse(self.filter.host_passes(self.scaleio_host, make_spec(root_gb=10)))
        self.assertFalse(
            self.filter.host_passes(self.scaleio_host, make_spec(root_gb=16, ephemeral_gb=4))
        )
        self.assertFalse(
            self.filter.host_passes(self.scaleio_host, make_spec(root_gb=16, swap=512))
        )

    def test_sizes_on_the_grid_pass(self) -> None:
        self.assertTrue(self.filter.host_passes(self.scaleio_host, make_spec(root_gb=16)))
        self.assertTrue(
            self.filter.host_passes(
                self.scaleio_host, make_spec(root_gb=8, ephemeral_gb=16, swap=8192)
            )
        )

    def test_round_up_policy_accepts_any_size(self) -> None:
        self.flags(disk_size_policy="round_up", group="scaleio")
        self.assertTrue(self.filter.host_passes(self.scaleio_host, make_spec(root_gb=10)))

    def test_bad_extra_spec_refused(self) -> None:
        spec = make_spec(root_gb=16, **{"disk:provisioning_type": "sparkly"})
        self.assertFalse(self.filter.host_passes(self.scaleio_host, spec))
        spec = make_spec(root_gb=16, **{"disk:iops_limit": "lots"})
        self.assertFalse(self.filter.host_passes(self.scaleio_host, spec))

    def test_hosts_outside_a_scaleio_aggregate_always_pass(self) -> None:
        bad = make_spec(root_gb=10, **{"disk:provisioning_type": "sparkly"})
        for host in (
            make_host(),
            make_host({"scaleio": "false"}),
            make_host({"ssd": "true"}),
        ):
            self.assertTrue(self.filter.host_passes(host, bad), host.aggregates)

    def test_any_scaleio_aggregate_of_the_host_counts(self) -> None:
        host = make_host({"ssd": "true"}, {"scaleio": "True"})
        self.assertFalse(self.filter.host_passes(host, make_spec(root_gb=10)))

    # Hosts whose pools are 5.x Erasure Coding pools take 1 GiB steps.

    def test_a_10_gib_root_goes_to_an_ec_host_and_not_to_a_mirroring_one(self) -> None:
        ec_host = make_host({"scaleio": "true", "scaleio_size_granularity_gb": "1"})
        mirroring_host = make_host({"scaleio": "true"})
        spec = make_spec(root_gb=10, swap=1024)

        self.assertTrue(self.filter.host_passes(ec_host, spec))
        self.assertFalse(self.filter.host_passes(mirroring_host, spec))

    def test_the_strictest_of_several_scaleio_aggregates_wins(self) -> None:
        host = make_host(
            {"scaleio": "true", "scaleio_size_granularity_gb": "1"},
            {"scaleio": "true", "scaleio_size_granularity_gb": "8"},
        )
        self.assertFalse(self.filter.host_passes(host, make_spec(root_gb=10)))

    def test_a_bad_value_falls_back_to_8_gib(self) -> None:
        host = make_host({"scaleio": "true", "scaleio_size_granularity_gb": "2"})
        self.assertFalse(self.filter.host_passes(host, make_spec(root_gb=10)))
        self.assertTrue(self.filter.host_passes(host, make_spec(root_gb=16)))
