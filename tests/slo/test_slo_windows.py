"""SLO windows: Prometheus durations, alert windows scaled to a period, and the event's calendar edges."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from monitor.core.sections import EventWindow
from slo.periods import event_calendar, periods
from slo.spec import EVENT, ROLLING, parse_slos
from slo.windows import (
    DAY,
    HOUR,
    MINUTE,
    Window,
    calendar_window,
    day_of,
    local_day,
    prom_duration,
    scale_policies,
    trailing,
    workbook_policies,
)

LA = ZoneInfo("America/Los_Angeles")
JAN = EventWindow(start=date(2026, 1, 28), end=date(2026, 1, 30), timezone="America/Los_Angeles")


@pytest.mark.parametrize(("seconds", "text"), [
    (60, "1m"), (300, "5m"), (3600, "1h"), (6 * HOUR, "6h"), (3 * DAY, "3d"), (30 * DAY, "30d"),
    (25920, "7h12m"), (90, "1m30s"), (1.5 * DAY, "1d12h"), (1, "1s"),
])
def test_prom_duration(seconds: float, text: str) -> None:
    assert prom_duration(seconds) == text


@pytest.mark.parametrize("bad", [0, -5, 1.5, float("inf")])
def test_prom_duration_refuses_what_prometheus_cannot_say(bad: float) -> None:
    with pytest.raises(ValueError, match="duration"):
        prom_duration(bad)


def _table(period: float, **kw: float) -> list[tuple[str, str, str, float]]:
    return [(p.name, prom_duration(p.long), prom_duration(p.short), round(p.factor, 9))
            for p in scale_policies(workbook_policies(), period, **kw)]


@pytest.mark.parametrize(("period", "expected"), [
    # The Workbook's own table for 30 days.
    (30 * DAY, [("page-fast", "1h", "5m", 14.4), ("page-slow", "6h", "30m", 6.0), ("ticket", "3d", "6h", 1.0)]),
    # The 3-day event: long windows x 1/10; 5m x 1/10 = 30s is below the 1-minute floor.
    (3 * DAY, [("page-fast", "6m", "1m", 14.4), ("page-slow", "36m", "3m", 6.0), ("ticket", "7h12m", "36m", 1.0)]),
    # A one-day event: x 1/30.
    (DAY, [("page-fast", "2m", "1m", 14.4), ("page-slow", "12m", "1m", 6.0), ("ticket", "2h24m", "12m", 1.0)]),
    # 7 days.
    (7 * DAY, [("page-fast", "14m", "1m10s", 14.4), ("page-slow", "1h24m", "7m", 6.0),
               ("ticket", "16h48m", "1h24m", 1.0)]),
])
def test_windows_scale_with_the_period_and_keep_the_budget_fractions(
        period: float, expected: list[tuple[str, str, str, float]]) -> None:
    assert _table(period) == expected
    fractions = [round(p.budget_fraction(period), 9) for p in scale_policies(workbook_policies(), period)]
    assert fractions == [0.02, 0.05, 0.1]


def test_rounded_windows_keep_the_fraction_by_adjusting_the_factor() -> None:
    odd = 71 * HOUR + 17  # not a whole number of seconds after scaling
    for p in scale_policies(workbook_policies(), odd):
        assert p.long == round(p.long)
        assert p.budget_fraction(odd) == pytest.approx({"page-fast": 0.02, "page-slow": 0.05, "ticket": 0.1}[p.name])


def test_short_windows_have_a_floor_but_never_exceed_the_long_one() -> None:
    tiny = scale_policies(workbook_policies(), DAY, min_short=5 * MINUTE)
    assert [(prom_duration(p.long), prom_duration(p.short)) for p in tiny] == [
        ("2m", "2m"), ("12m", "5m"), ("2h24m", "12m")]


# ---- the event: whole local days in Los Angeles ----------------------------------------------------------

def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def test_event_window_is_local_midnight_to_midnight() -> None:
    w = event_calendar(JAN)
    assert w.start == utc(2026, 1, 28, 8, 0)  # 00:00 PST = 08:00 UTC
    assert w.end == utc(2026, 1, 31, 8, 0)
    assert w.length == 3 * DAY


@pytest.mark.parametrize(("instant", "inside"), [
    (utc(2026, 1, 28, 7, 59, 59), False),  # 23:59:59 on Jan 27 in LA (already Jan 28 in UTC)
    (utc(2026, 1, 28, 8, 0, 0), True),
    (utc(2026, 1, 31, 7, 59, 59), True),  # 23:59:59 on Jan 30 in LA
    (utc(2026, 1, 31, 8, 0, 0), False),
])
def test_event_edges(instant: float, inside: bool) -> None:
    event = periods(parse_slos(None), JAN)[EVENT]
    assert event.alerting(instant) is inside
    assert JAN.contains(instant) is inside  # the scheduler's event mode agrees


def test_event_elapsed_and_covered_part() -> None:
    p = periods(parse_slos(None), JAN)[EVENT]
    start = utc(2026, 1, 28, 8)
    assert p.elapsed(start - 1) == 0 and p.covered(start - 1).length == 0
    assert p.elapsed(start + HOUR) == HOUR and p.covered(start + HOUR) == Window(start, start + HOUR)
    assert p.elapsed(start + 10 * DAY) == 3 * DAY  # after the event: all of it
    assert p.window(start + 10 * DAY) == Window(start, start + 3 * DAY)


def test_rolling_period_is_always_alerting_and_trailing() -> None:
    p = periods(parse_slos(None), None)
    assert set(p) == {ROLLING}
    assert p[ROLLING].label == "30d"
    assert p[ROLLING].window(1e9) == trailing(1e9, 30 * DAY)
    assert p[ROLLING].alerting(0)


@pytest.mark.parametrize(("day", "hours"), [
    (date(2026, 3, 8), 23),  # spring forward in Los Angeles
    (date(2026, 11, 1), 25),  # fall back
    (date(2026, 1, 28), 24),
])
def test_local_days_follow_dst(day: date, hours: int) -> None:
    assert local_day(day, LA).length == hours * HOUR


def test_an_event_across_dst_is_its_real_length() -> None:
    w = calendar_window(date(2026, 3, 7), date(2026, 3, 9), LA)
    assert w.length == 71 * HOUR
    p = periods(parse_slos(None), EventWindow(start=date(2026, 3, 7), end=date(2026, 3, 9)))[EVENT]
    assert p.length == 71 * HOUR


def test_day_of_uses_the_zone() -> None:
    assert day_of(utc(2026, 1, 29, 7, 30), LA) == date(2026, 1, 28)
    assert day_of(utc(2026, 1, 29, 8, 30), LA) == date(2026, 1, 29)


def test_bad_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="before its start"):
        Window(10, 5)
    with pytest.raises(ValueError, match="before the first"):
        calendar_window(date(2026, 1, 30), date(2026, 1, 28), LA)
    with pytest.raises(ValueError, match="positive"):
        trailing(0, 0)
