"""The event days on a simulated clock, judged by the shipped configuration (devstack/event_days.py): traffic
that follows a day, a deploy restarting both API instances, a Redis restart with its cache refilling. Healthy
throughout, so: no page of any tier, no alert left firing. And the same run is not blind: a fault on the
simulated clock (an API instance refusing its /metrics for 10 minutes) does page.

The suite runs the first two days (a whole ordinary day, then the day of the deploy and the Redis restart);
`python -m bench.soak_simulated` runs all three into bench/results/soak_simulated.* (a minute more)."""

from __future__ import annotations

import pytest

from devstack import event_days
from tests.support.shipped import shipped_config

DAYS = 2


@pytest.fixture(scope="module")
def event_run() -> event_days.Result:
    import asyncio

    return asyncio.run(event_days.simulate(shipped_config(), days=DAYS))


def test_healthy_event_days_page_nobody_and_leave_nothing_firing(event_run: event_days.Result) -> None:
    assert event_run.pages == {}, event_run.firings
    assert event_run.firing_at_end == []
    assert all(f["resolved"] is not None for f in event_run.firings), event_run.firings


def test_the_days_are_the_days_the_spec_describes(event_run: event_days.Result) -> None:
    assert event_run.evaluations == DAYS * 86400 / event_days.TICK
    assert event_days.at(*event_days.DEPLOY) < event_days.at(DAYS, 0)  # the deploy and the Redis restart are in
    assert event_days.at(*event_days.REDIS_RESTART) < event_days.at(DAYS, 0)
    assert event_run.peak_requests_per_minute >= 800
    assert event_days.requests_per_minute(event_days.at(0, 3)) < 10  # nights near zero
    assert event_run.redis_memory_min_after_restart < 0.05  # the cache was empty after the restart
    assert event_run.api_p95_max_s > 0  # the probe measured the fleet all along


async def test_the_simulation_is_not_blind_an_instance_whose_metrics_fail_pages() -> None:
    def down(t: float) -> bool:
        return event_days.at(0, 2) <= t < event_days.at(0, 2.2)

    result = await event_days.simulate(shipped_config(), days=0.125, metrics_down=down)  # 00:00-03:00
    assert result.pages == {"ApiMetricsDown": "high"}, result.firings
    assert result.firing_at_end == []  # and it resolved once the instance answered again
