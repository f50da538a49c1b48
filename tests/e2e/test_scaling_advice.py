"""Scaling advice with the shipped rules and monitor.yml: the real api_metrics probe scrapes a simulated fleet
(devstack/simulated.py) on a simulated clock in event mode, and the real engine judges. Spec 11.2: 2..5
replicas; no advice below the floor, and advice resolves when its condition clears."""

from __future__ import annotations

import pytest

from devstack.simulated import Fleet, Load
from monitor.core.targets import ApiMetricsTarget
from probes import api_metrics
from probes.base import ProbeContext
from tests.support.shipped import ShippedRules, shipped_config

T0 = 1_769_600_000.0  # 2026-01-28 03:33 in the event's time zone
SCALE_DOWN = {"ScaleDownCpu", "ScaleDownMemory", "ScaleDownRequestRate", "ScaleDownLatency"}
QUIET = Load(requests_per_minute=100)  # a calm hour: every scale-down condition of spec 9.3 holds
BUSY = Load(requests_per_minute=900)  # 300/min per instance of three (450 of two): no scale-down condition, no scale-up


class World:
    def __init__(self, instances: int, load: Load) -> None:
        self.now = T0
        self.load = load
        self.rules = ShippedRules(in_event=True)
        self.fleet = Fleet(instances, clock=lambda: self.now, load=lambda _t: self.load)
        self.ctx = ProbeContext(clock=lambda: self.now, http=self.fleet.client())
        self.target = self.shipped_target(instances)
        self.interval = self.target.effective_interval(True)

    def shipped_target(self, instances: int) -> ApiMetricsTarget:
        [shipped] = shipped_config().targets.api_metrics
        return shipped.model_copy(update={"urls": self.fleet.urls[:instances]})

    async def run(self, minutes: float) -> set[str]:
        """Probe and evaluate every event interval for `minutes`; the rules firing at the end."""
        end = self.now + minutes * 60
        firing: set[str] = set()
        while self.now < end:
            self.now += self.interval
            firing = self.rules.evaluate(await api_metrics.run(self.target, self.ctx), self.now)
        return firing


async def test_a_healthy_event_at_the_floor_gets_no_scale_down_advice() -> None:
    world = World(instances=2, load=QUIET)
    assert world.target.min_replicas == 2 and world.target.max_replicas == 5  # shipped: spec 11.2
    firing = await world.run(60)
    assert world.rules.ever_fired == set(), firing


async def test_above_the_floor_advice_fires_then_resolves_when_load_rises_or_a_replica_goes() -> None:
    world = World(instances=3, load=QUIET)
    firing = await world.run(25)  # the longest scale-down `for` is 20 min
    assert firing >= SCALE_DOWN
    world.load = BUSY
    firing = await world.run(15)  # a 5-minute window, then keep_firing_for 5 min
    assert not firing & {"ScaleDownCpu", "ScaleDownMemory", "ScaleDownRequestRate"}, firing
    # p95 stays below 500 ms at this load: that advice holds until the replica is removed
    assert "ScaleDownLatency" in firing
    world.fleet.members.pop()  # a replica removed: the fleet and the target both have two
    world.target = world.shipped_target(2)
    firing = await world.run(10)
    assert not firing, firing
    assert not world.rules.ever_fired - SCALE_DOWN  # nothing but the advice


@pytest.mark.parametrize("instances,expected", [(4, True), (5, False)])
async def test_scale_up_advice_stops_at_the_ceiling(instances: int, expected: bool) -> None:
    busy = Load(requests_per_minute=instances * 700)  # 700/min per instance: over 500 and CPU over 70%
    world = World(instances=instances, load=busy)
    firing = await world.run(10)
    assert ({"ScaleUpCpu", "ScaleUpRequestRate"} <= firing) is expected, firing
