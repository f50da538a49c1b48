"""When targets run: on their grid with jitter that does not drift, at ticks shared by every target."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

from monitor.trigger import TICK, TickedIntervalTrigger

T0 = datetime(2026, 1, 28, 8, 0, tzinfo=UTC)


def fire_times(trigger: TickedIntervalTrigger, count: int) -> list[float]:
    out: list[datetime] = []
    previous = None
    for _ in range(count):
        previous = trigger.get_next_fire_time(previous, previous or T0)
        assert previous is not None
        out.append(previous)
    return [t.timestamp() for t in out]


def test_the_mean_interval_is_the_configured_one_despite_jitter() -> None:
    random.seed(3)
    trigger = TickedIntervalTrigger(seconds=5, jitter=0.5, start_date=T0)
    times = fire_times(trigger, 1000)
    mean = (times[-1] - times[0]) / (len(times) - 1)
    assert abs(mean - 5.0) < 0.002  # APScheduler's own IntervalTrigger drifts to ~5.25 s here
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) > 5.0 - 0.5 - TICK and max(gaps) < 5.0 + 0.5 + TICK  # jittered, never a skipped slot
    assert len({round(g, 3) for g in gaps}) > 3  # and the jitter does spread them


def test_fire_times_land_on_shared_ticks() -> None:
    random.seed(4)
    a = TickedIntervalTrigger(seconds=1, jitter=0.1, start_date=T0 + timedelta(seconds=0.0371))
    b = TickedIntervalTrigger(seconds=7, jitter=0.7, start_date=T0 + timedelta(seconds=0.4432))
    for t in fire_times(a, 50) + fire_times(b, 50):
        assert abs(t / TICK - round(t / TICK)) < 1e-4  # datetimes hold microseconds: 1e-5 of a tick


def test_a_late_scheduler_gets_the_next_slot_not_a_backlog() -> None:
    trigger = TickedIntervalTrigger(seconds=10, start_date=T0)
    late = T0 + timedelta(seconds=95)  # first call long after the start: the next slot from now
    first = trigger.get_next_fire_time(None, late)
    assert first == T0 + timedelta(seconds=100)


def test_short_intervals_are_not_rounded_out_of_shape() -> None:
    trigger = TickedIntervalTrigger(seconds=0.2, jitter=0.02, start_date=T0)
    assert trigger.tick == 0  # a tick of 0.1 s would be half the interval: no rounding then
    times = fire_times(trigger, 100)
    assert abs((times[-1] - times[0]) / 99 - 0.2) < 0.001


def test_without_jitter_every_call_moves_one_interval_on() -> None:
    """A fire time returned twice would make APScheduler loop for ever computing run times."""
    rnd = random.Random(5)
    for interval in (0.3, 1.1, 7.3, 30.0):
        for _ in range(50):
            start = T0 + timedelta(microseconds=rnd.randrange(10**6))
            times = fire_times(TickedIntervalTrigger(seconds=interval, start_date=start), 200)
            gaps = [b - a for a, b in itertools.pairwise(times)]
            assert min(gaps) > interval - TICK - 1e-6 and max(gaps) < interval + TICK + 1e-6, (interval, start)
