"""Pool statistics read once per interval per process, lowered by this host's creates."""

from __future__ import annotations

import pytest
from sio_fixtures.fake_clock import FakeClock

from sio_backend import capacity, exceptions
from sio_backend.gateway import PoolCapacity

GIB_KB = 1024 * 1024


class FakeGateway:
    """What PoolStatistics needs of a GatewayClient: its endpoint and one read."""

    def __init__(self, endpoint: str = "https://gw:443") -> None:
        self.endpoint = endpoint
        self.free_gb = 100
        self.reads: list[str] = []
        self.failing = False

    def pool_capacity(self, pool_id: str) -> PoolCapacity:
        self.reads.append(pool_id)
        if self.failing:
            raise exceptions.GatewayUnavailable("the gateway is down")
        return PoolCapacity(total_kb=200 * GIB_KB, free_kb=self.free_gb * GIB_KB, provisioned_kb=0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def stats(clock) -> capacity.PoolStatistics:
    return capacity.PoolStatistics(clock)


def test_one_read_per_interval_whoever_asks(stats, clock):
    gateway = FakeGateway()
    for _caller in range(10):  # the periodic task and every claim of the interval
        assert stats.capacity(gateway, "p1", 60).free_kb == 100 * GIB_KB
    gateway.free_gb = 90
    clock.advance(59.9)
    assert stats.capacity(gateway, "p1", 60).free_kb == 100 * GIB_KB
    clock.advance(0.1)
    assert stats.capacity(gateway, "p1", 60).free_kb == 90 * GIB_KB
    assert gateway.reads == ["p1", "p1"]
    assert stats.reads == 2


def test_each_pool_and_gateway_has_its_own_reading(stats):
    first, second = FakeGateway(), FakeGateway("https://other:443")
    stats.capacity(first, "p1", 60)
    stats.capacity(first, "p2", 60)
    stats.capacity(second, "p1", 60)
    assert (first.reads, second.reads) == (["p1", "p2"], ["p1"])


def test_created_volumes_lower_the_free_figure_until_the_next_read(stats, clock):
    gateway = FakeGateway()
    stats.capacity(gateway, "p1", 60)
    stats.consumed(gateway.endpoint, "p1", 8)
    stats.consumed(gateway.endpoint, "other-pool", 8)  # no reading of it: nothing to lower
    reading = stats.capacity(gateway, "p1", 60)
    assert (reading.total_kb, reading.free_kb) == (200 * GIB_KB, 92 * GIB_KB)
    stats.consumed(gateway.endpoint, "p1", 1000)
    assert stats.capacity(gateway, "p1", 60).free_kb == 0  # never below zero
    assert gateway.reads == ["p1"]
    clock.advance(60)
    assert stats.capacity(gateway, "p1", 60).free_kb == 100 * GIB_KB


def test_a_failed_read_reports_the_last_one_for_another_interval(stats, clock):
    gateway = FakeGateway()
    stats.capacity(gateway, "p1", 60)
    gateway.failing = True
    clock.advance(60)
    assert stats.capacity(gateway, "p1", 60).free_kb == 100 * GIB_KB
    assert stats.capacity(gateway, "p1", 60).free_kb == 100 * GIB_KB  # not asked again
    assert len(gateway.reads) == 2
    clock.advance(60)
    gateway.failing = False
    gateway.free_gb = 50
    assert stats.capacity(gateway, "p1", 60).free_kb == 50 * GIB_KB


def test_a_first_read_that_fails_raises(stats):
    gateway = FakeGateway()
    gateway.failing = True
    with pytest.raises(exceptions.GatewayUnavailable):
        stats.capacity(gateway, "p1", 60)


@pytest.mark.parametrize(("configured", "interval"), [(0, 60.0), (-1, 60.0), (300, 300.0)])
def test_the_interval_is_novas_update_resources_interval(configured, interval):
    class Conf:
        update_resources_interval = configured

    assert capacity.reporting_interval(Conf) == interval
