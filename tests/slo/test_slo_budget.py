"""SLO math: counts over windows, error budgets, burn rates and multiwindow decisions, as tables."""

from __future__ import annotations

import math

import pytest

from slo.budget import Counts, CountSeries, burn_rate, error_budget, sum_counts, window_counts
from slo.burn import BurnCheck, check, trailing_burn_rate
from slo.windows import DAY, HOUR, MINUTE, AlertWindows

# ---- counts over windows -------------------------------------------------------------------------------

SERIES = CountSeries.from_counters([0, 60, 120, 180, 240], good=[0, 90, 180, 180, 270], total=[0, 100, 200, 300, 400])


@pytest.mark.parametrize(("start", "end", "expected"), [
    (0, 240, Counts(270, 400)),  # samples at both ends: the increase between them
    (60, 180, Counts(90, 200)),
    (30, 150, Counts(180, 200)),  # (start, end]: baseline = last sample at or before start (0)
    (-600, 60, Counts(90, 100)),  # history starts inside the window: its first sample is the baseline
    (240, 600, None),  # no sample after the baseline: no data, not zero
    (300, 600, None),
    (-100, -10, None),
    (-100, 0, Counts(0, 0)),  # one sample, no increase: known to be nothing
])
def test_counts_in_a_window(start: float, end: float, expected: Counts | None) -> None:
    assert SERIES.counts(start, end) == expected


def test_a_counter_reset_counts_what_was_counted_after_it() -> None:
    # The monitor restarted at t=120: its counters start again from zero.
    s = CountSeries.from_counters([0, 60, 120, 180], good=[0, 50, 0, 40], total=[0, 100, 0, 50])
    assert s.counts(0, 180) == Counts(90, 150)
    assert s.counts(60, 180) == Counts(40, 50)


def test_counters_reset_independently_and_duplicates_and_order_are_tolerated() -> None:
    s = CountSeries.from_counters([60, 0, 60, 120], good=[5, 0, 5, 9], total=[10, 0, 10, 1])
    assert list(s.timestamps) == [0, 60, 120]
    assert s.counts(0, 120) == Counts(9, 11)  # total reset (10 -> 1) adds 1; good kept growing


@pytest.mark.parametrize("bad", [[0, -1], [0, math.nan], [0, math.inf]])
def test_bad_counts_are_refused_naming_which(bad: list[float]) -> None:
    with pytest.raises(ValueError, match="good counts must be finite"):
        CountSeries.from_counters([0, 60], good=bad, total=[0, 1])


def test_events_count_one_per_sample() -> None:
    s = CountSeries.from_events([0, 30, 60, 90], [True, False, True, True])
    assert s.counts(0, 90) == Counts(2, 3)  # the sample at the window's start is the baseline
    # History starts inside the window: every probe run in it is an event, the first one included (a
    # failure in an event window's first minutes used to vanish as the "baseline").
    assert s.counts(-1, 90) == Counts(3, 4)
    assert CountSeries.from_events([110, 140, 170], [False, True, True]).counts(100, 200) == Counts(2, 3)
    assert window_counts([s, s], 0, 90) == Counts(4, 6)
    assert sum_counts([None, None]) is None


# ---- error budget ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("objective", "counts", "period", "elapsed", "remaining", "minutes_left", "budget_min"), [
    # 30 days at 99.5%: 216 minutes of full outage.
    (0.995, Counts(1000, 1000), 30 * DAY, None, 1.0, 216.0, 216.0),
    (0.995, Counts(9975, 10000), 30 * DAY, None, 0.5, 108.0, 216.0),  # 0.25% errors: half the budget
    (0.995, Counts(9950, 10000), 30 * DAY, None, 0.0, 0.0, 216.0),
    (0.995, Counts(9900, 10000), 30 * DAY, None, -1.0, -216.0, 216.0),  # overspent twice
    (0.95, Counts(96, 100), 30 * DAY, None, 0.2, 432.0, 2160.0),
    # The event: 3 days at 99.5% = 21.6 minutes. One day in, 0.5% errors so far spent a third of it.
    (0.995, Counts(995, 1000), 3 * DAY, DAY, 2 / 3, 14.4, 21.6),
    (0.995, Counts(990, 1000), 3 * DAY, 1.5 * DAY, 0.0, 0.0, 21.6),
    (0.995, Counts(0, 0), 3 * DAY, HOUR, 1.0, 21.6, 21.6),  # data but no traffic: nothing spent
    (0.995, Counts(0, 0), 3 * DAY, 0.0, 1.0, 21.6, 21.6),  # before the event
    (0.995, Counts(0, 10), 3 * DAY, 3 * DAY, -199.0, -4298.4, 21.6),  # everything failed all event
])
def test_error_budget(objective: float, counts: Counts, period: float, elapsed: float | None, remaining: float,
                      minutes_left: float, budget_min: float) -> None:
    b = error_budget(objective, counts, period, elapsed)
    assert b.remaining_ratio == pytest.approx(remaining, abs=1e-9)
    assert b.remaining_minutes == pytest.approx(minutes_left, abs=1e-6)
    assert b.budget_minutes == pytest.approx(budget_min)
    assert b.consumed_ratio == pytest.approx(1 - remaining, abs=1e-9)


def test_budget_without_data_is_unknown_not_full() -> None:
    b = error_budget(0.995, None, 30 * DAY)
    assert b.sli is None and b.remaining_ratio is None and b.remaining_minutes is None
    assert b.budget_minutes == pytest.approx(216)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"objective": 1.0}, "objective must be between 0 and 1"),
    ({"objective": 0.0}, "objective must be between 0 and 1"),
    ({"period": 0}, "period must be positive"),
    ({"elapsed": 31 * DAY}, "elapsed must be within"),
])
def test_budget_arguments_are_checked(kwargs: dict[str, float], message: str) -> None:
    args = {"objective": 0.995, "period": 30 * DAY, "elapsed": None, **kwargs}
    with pytest.raises(ValueError, match=message):
        error_budget(args["objective"], Counts(1, 1), args["period"], args["elapsed"])


# ---- burn rates and multiwindow alerts --------------------------------------------------------------------

@pytest.mark.parametrize(("objective", "counts", "expected"), [
    (0.995, Counts(995, 1000), 1.0),  # spends exactly the budget over the period
    (0.995, Counts(928, 1000), 14.4),
    (0.995, Counts(970, 1000), 6.0),
    (0.95, Counts(50, 100), 10.0),
    (0.995, Counts(0, 0), 0.0),  # no traffic: not burning
    (0.995, None, None),  # no data: unknown
])
def test_burn_rate(objective: float, counts: Counts | None, expected: float | None) -> None:
    got = burn_rate(objective, counts)
    assert got == (None if expected is None else pytest.approx(expected))


def steady(errors_from: float, error_ratio: float, until: float = 3 * HOUR, step: float = 15.0) -> CountSeries:
    """10 requests/s; from `errors_from` on, `error_ratio` of them fail. The clock is the sample time."""
    ts, good, total = [], [], []
    g = t = 0.0
    n = 0
    while n * step <= until:
        now = n * step
        if n:
            t += 10 * step
            g += 10 * step * (1 - error_ratio if now > errors_from else 1.0)
        ts.append(now)
        good.append(g)
        total.append(t)
        n += 1
    return CountSeries.from_counters(ts, good, total)


PAGE_FAST = AlertWindows("page-fast", "page", HOUR, 5 * MINUTE, 14.4)


@pytest.mark.parametrize(("now", "long_burn", "short_burn", "firing"), [
    (HOUR, 0.0, 0.0, False),  # healthy
    (HOUR + 5 * MINUTE, 100 * 5 / 60, 100.0, False),  # 50% errors for 5 min: the hour burns at 8.3x only
    (HOUR + 10 * MINUTE, 100 * 10 / 60, 100.0, True),  # 10 min: 16.7x over the hour, 100x over 5m
    (2 * HOUR, 100.0, 100.0, True),
])
def test_multiwindow_decision_with_an_injected_clock(now: float, long_burn: float, short_burn: float,
                                                     firing: bool) -> None:
    # 50% errors (burn 100x) start at 1h.
    series = [steady(HOUR, 0.5)]
    c = check(series, 0.995, now, PAGE_FAST)
    assert c.long_burn == pytest.approx(long_burn)
    assert c.short_burn == pytest.approx(short_burn)
    assert c.firing is (min(long_burn, short_burn) > 14.4)
    assert c.firing is firing


def test_page_fires_once_two_percent_of_the_budget_is_gone_and_resets_within_the_short_window() -> None:
    # 100% errors from 1h to 1h30m: 1h of 1h-window burn at 200x reaches 14.4x after 4.32 minutes.
    ts, good, total = [], [], []
    g = t = 0.0
    for n in range(0, 3 * 240 + 1):
        now = n * 15.0
        if n:
            t += 150
            g += 0 if HOUR < now <= HOUR + 30 * MINUTE else 150
        ts.append(now)
        good.append(g)
        total.append(t)
    series = [CountSeries.from_counters(ts, good, total)]
    firing = [n * 15.0 for n in range(241, 3 * 240 + 1) if check(series, 0.995, n * 15.0, PAGE_FAST).firing]
    assert firing[0] == HOUR + 4 * MINUTE + 30  # the first 15 s step past 4.32 minutes
    # It resets within the short window: once the last 5 minutes burn below 14.4x (< 2 of 20 scrapes failing).
    assert firing[-1] == HOUR + 34 * MINUTE + 30
    assert firing == [n * 15.0 for n in range(258, 379)]  # continuously in between
    assert trailing_burn_rate(series, 0.995, HOUR + 40 * MINUTE, 5 * MINUTE) == 0.0


def test_unknown_windows_never_fire() -> None:
    c = BurnCheck(PAGE_FAST, long_burn=None, short_burn=100.0)
    assert c.value is None and not c.firing
    assert trailing_burn_rate([], 0.995, 1000.0, 300.0) is None
