"""alerts/maintenance: one-off and recurring windows in a time zone, across the 2026 Los Angeles DST changes."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import TypeAdapter, ValidationError

from alerts.maintenance import CHAIN_HORIZON, MaintenanceSchedule, MaintenanceWindow, MaintenanceWindows

LA = ZoneInfo("America/Los_Angeles")
WINDOWS = TypeAdapter(MaintenanceWindows)
API = {"alertname": "api_down", "tier": "critical", "target": "api-health"}
DB = {"alertname": "db_pool_exhausted", "tier": "critical", "target": "postgres"}


def la(*parts: int, fold: int = 0) -> float:
    return datetime(*parts, tzinfo=LA, fold=fold).timestamp()  # type: ignore[misc]


def utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()  # type: ignore[misc]


def window(**fields: Any) -> MaintenanceWindow:
    return MaintenanceWindow.model_validate({"name": "w", "timezone": "America/Los_Angeles", **fields})


SUNDAY_0230 = {"every": "weekly", "weekdays": ["sun"], "at": "02:30", "duration": "1h"}
SUNDAY_0130 = {"every": "weekly", "weekdays": ["sun"], "at": "01:30", "duration": "1h"}
DAILY_0030_2H = {"every": "daily", "at": "00:30", "duration": "2h"}


@pytest.mark.parametrize(("spec", "moment", "expected"), [
    # an ordinary Sunday (PST): 02:30 to 03:30 local, start inclusive, end exclusive
    (SUNDAY_0230, la(2026, 3, 1, 2, 29, 59), False),
    (SUNDAY_0230, la(2026, 3, 1, 2, 30), True),
    (SUNDAY_0230, la(2026, 3, 1, 3, 29, 59), True),
    (SUNDAY_0230, la(2026, 3, 1, 3, 30), False),
    (SUNDAY_0230, la(2026, 3, 2, 2, 45), False),  # Monday
    # spring forward, 2026-03-08: 02:30 does not exist; the window runs 03:30-04:30 PDT (10:30-11:30 UTC)
    (SUNDAY_0230, la(2026, 3, 8, 1, 59, 59), False),
    (SUNDAY_0230, utc(2026, 3, 8, 10, 0), False),  # 03:00 PDT, just after the jump
    (SUNDAY_0230, utc(2026, 3, 8, 10, 30), True),
    (SUNDAY_0230, la(2026, 3, 8, 4, 29), True),
    (SUNDAY_0230, la(2026, 3, 8, 4, 30), False),  # still a full hour, not shortened by the gap
    # the Sunday after: 02:30 PDT, one hour earlier in UTC than before the change
    (SUNDAY_0230, utc(2026, 3, 15, 9, 30), True),
    (SUNDAY_0230, utc(2026, 3, 15, 10, 30), False),
    # fall back, 2026-11-01: 01:30 happens twice; the window runs once, at the first (PDT) one
    (SUNDAY_0130, la(2026, 11, 1, 1, 29, fold=0), False),
    (SUNDAY_0130, la(2026, 11, 1, 1, 45, fold=0), True),
    (SUNDAY_0130, la(2026, 11, 1, 1, 29, fold=1), True),  # 60 elapsed minutes end at 01:30 PST
    (SUNDAY_0130, la(2026, 11, 1, 1, 45, fold=1), False),  # the second 01:45 is outside
    (SUNDAY_0230, la(2026, 11, 1, 2, 30), True),  # 02:30 exists once (PST)
    (SUNDAY_0230, utc(2026, 11, 1, 11, 29), True),
    (SUNDAY_0230, utc(2026, 11, 1, 11, 30), False),
    # daily 00:30 for 2 h of elapsed time, across both changes
    (DAILY_0030_2H, la(2026, 3, 8, 0, 30), True),
    (DAILY_0030_2H, la(2026, 3, 8, 3, 29), True),  # 00:30 PST + 2 h = 03:30 PDT on the wall
    (DAILY_0030_2H, la(2026, 3, 8, 3, 30), False),
    (DAILY_0030_2H, la(2026, 11, 1, 1, 29, fold=1), True),  # 00:30 PDT + 2 h = 01:30 PST
    (DAILY_0030_2H, la(2026, 11, 1, 1, 30, fold=1), False),
    (DAILY_0030_2H, la(2026, 11, 2, 2, 29), True),  # next day, all PST
])
def test_recurring_windows_across_dst(spec: dict[str, Any], moment: float, expected: bool) -> None:
    w = window(**spec)
    assert w.active(moment) is expected
    assert w.active(datetime.fromtimestamp(moment, UTC)) is expected  # aware datetimes mean the same


@pytest.mark.parametrize(("spec", "now", "end"), [
    (SUNDAY_0230, utc(2026, 3, 8, 10, 45), utc(2026, 3, 8, 11, 30)),
    (SUNDAY_0230, la(2026, 3, 1, 2, 30), la(2026, 3, 1, 3, 30)),
    (SUNDAY_0130, la(2026, 11, 1, 1, 40, fold=0), la(2026, 11, 1, 1, 30, fold=1)),
    (DAILY_0030_2H, la(2026, 11, 1, 1, 0, fold=0), la(2026, 11, 1, 1, 30, fold=1)),
    (SUNDAY_0230, la(2026, 3, 1, 4, 0), None),  # not active: nothing to release
    # Saturday and Sunday, all day: back-to-back occurrences chain into one hold
    ({"every": "weekly", "weekdays": ["saturday", "Sun"], "at": "00:00", "duration": "1d"},
     la(2026, 1, 24, 12, 0), la(2026, 1, 26, 0, 0)),
])
def test_next_end_is_when_held_notifications_are_released(spec: dict[str, Any], now: float,
                                                          end: float | None) -> None:
    assert window(**spec).next_end(now) == end


def test_a_window_that_never_ends_still_gives_an_answer() -> None:
    always = window(every="daily", at="00:00", duration="24h")
    now = la(2026, 1, 28, 12, 0)
    assert always.next_end(now) == now + CHAIN_HORIZON


def test_one_off_window_naive_times_are_local_to_its_zone() -> None:
    w = window(start="2026-01-27T22:00", end="2026-01-28T01:00", reason="pre-event migration")
    assert not w.active(la(2026, 1, 27, 21, 59, 59))
    assert w.active(utc(2026, 1, 28, 6, 0))  # 22:00 PST
    assert w.active(la(2026, 1, 28, 0, 59))
    assert not w.active(la(2026, 1, 28, 1, 0))
    assert w.next_end(la(2026, 1, 27, 23, 0)) == la(2026, 1, 28, 1, 0)
    assert w.next_start(la(2026, 1, 27, 12, 0)) == la(2026, 1, 27, 22, 0)
    assert w.ended_between(la(2026, 1, 28, 0, 59), la(2026, 1, 28, 1, 0)) == [la(2026, 1, 28, 1, 0)]
    assert w.ended_between(la(2026, 1, 28, 1, 0), la(2026, 1, 28, 2, 0)) == []


def test_one_off_window_with_offsets_is_taken_as_written() -> None:
    w = window(start="2026-01-28T06:00:00+00:00", end="2026-01-28T07:00:00+00:00", timezone="Europe/Berlin")
    assert w.active(utc(2026, 1, 28, 6, 30)) and not w.active(utc(2026, 1, 28, 7, 0))


def test_next_start_and_first_and_last_day_bounds() -> None:
    w = window(**SUNDAY_0230, first_day="2026-03-08", last_day="2026-03-15")
    assert w.next_start(la(2026, 3, 1, 0, 0)) == utc(2026, 3, 8, 10, 30)  # the skipped-hour Sunday
    assert w.next_start(la(2026, 3, 8, 5, 0)) == la(2026, 3, 15, 2, 30)
    assert w.next_start(la(2026, 3, 15, 5, 0)) is None
    assert not w.active(la(2026, 3, 1, 2, 45)) and not w.active(la(2026, 3, 22, 2, 45))


def test_occurrence_ends_are_reported_once_over_consecutive_ticks() -> None:
    w = window(**DAILY_0030_2H)
    ticks = [la(2026, 3, 7) + k * 600.0 for k in range(0, 6 * 24 * 3)]
    ends = [e for a, b in pairwise(ticks) for e in w.ended_between(a, b)]
    assert ends == [la(2026, 3, 7, 2, 30), la(2026, 3, 8, 3, 30), la(2026, 3, 9, 2, 30)]


def test_matchers_select_alerts_and_default_to_all() -> None:
    everything = window(name="all", **SUNDAY_0230)
    db_only = window(name="db", matchers=['alertname=~"db_.*"'], **SUNDAY_0130)
    assert everything.matches(API) and everything.matches(DB)
    assert db_only.matches(DB) and not db_only.matches(API)
    schedule = MaintenanceSchedule([everything, db_only])
    sunday = la(2026, 2, 1, 1, 45)
    assert schedule.holding(DB, sunday) is db_only and schedule.holding(API, sunday) is None
    assert schedule.holding(API, la(2026, 2, 1, 2, 45)) is everything


def test_release_waits_for_overlapping_windows() -> None:
    schedule = MaintenanceSchedule([
        window(name="db", matchers=['alertname=~"db_.*"'], **SUNDAY_0130),  # 01:30-02:30
        window(name="all", **SUNDAY_0230),  # 02:30-03:30: picks up where the first ends
    ])
    assert schedule.release_at(DB, la(2026, 2, 1, 1, 45)) == la(2026, 2, 1, 3, 30)
    assert schedule.release_at(API, la(2026, 2, 1, 1, 45)) is None
    assert schedule.release_at(API, la(2026, 2, 1, 2, 45)) == la(2026, 2, 1, 3, 30)
    ended = schedule.ended_between(la(2026, 2, 1, 2, 0), la(2026, 2, 1, 2, 30))
    assert [w.name for w in ended] == ["db"]


def test_windows_from_yaml() -> None:
    text = """\
- name: weekly-vacuum
  timezone: America/Los_Angeles
  every: weekly
  weekdays: [sun]
  at: "02:30"
  duration: 1h
  matchers: ['target="postgres"']
- name: migration
  timezone: America/Los_Angeles
  start: 2026-01-27 22:00:00
  end: 2026-01-28 01:00:00
"""
    vacuum, migration = WINDOWS.validate_python(yaml.safe_load(text))
    assert vacuum.recurring and not migration.recurring
    assert vacuum.active(utc(2026, 3, 8, 10, 45)) and migration.active(la(2026, 1, 27, 23, 0))



@pytest.mark.parametrize(("yaml_text", "loc", "words"), [
    ("[{name: w, timezone: America/Los_Angeles, every: daily, at: 2:30, duration: 1h}]", "0.at",
     'a quoted string like'),
    ("[{name: w, timezone: Mars/Olympus, start: 2026-01-27 22:00:00, end: 2026-01-28 01:00:00}]", "0.timezone",
     "unknown time zone"),
    ("[{name: w, every: daily, at: '02:30', duration: 1h}]", "0.timezone", "Field required"),
    ("[{name: w, timezone: UTC, every: weekly, at: '02:30', duration: 1h}]", "0", "weekdays is required"),
    ("[{name: w, timezone: UTC, every: daily, weekdays: [mon], at: '02:30', duration: 1h}]", "0",
     "weekdays is only for every: weekly"),
    ("[{name: w, timezone: UTC, every: daily, duration: 1h}]", "0", "at is required"),
    ("[{name: w, timezone: UTC, every: daily, at: '02:30', duration: 25h}]", "0", "must not exceed the daily"),
    ("[{name: w, timezone: UTC, every: weekly, weekdays: [funday], at: '02:30', duration: 1h}]", "0.weekdays.0",
     "'mon'"),
    ("[{name: w, timezone: UTC, every: hourly, at: '02:30', duration: 1h}]", "0.every", "'daily' or 'weekly'"),
    ("[{name: w, timezone: UTC, start: 2026-01-28 01:00:00, end: 2026-01-27 22:00:00}]", "0",
     "end must be after start"),
    ("[{name: w, timezone: UTC, start: 2026-01-28 01:00:00}]", "0", "end is required"),
    ("[{name: w, timezone: UTC, start: 2026-01-28 01:00:00, end: 2026-01-28 02:00:00, every: daily}]", "0",
     "not both"),
    ("[{name: w, timezone: UTC}]", "0", "needs start and end"),
    ("[{name: w, timezone: UTC, every: daily, at: '02:30', duration: 1h, first_day: 2026-02-01,"
     " last_day: 2026-01-01}]", "0", "last_day is before first_day"),
    ("[{name: w, timezone: UTC, every: daily, at: '02:30', duration: 1h, matchers: ['a=~\"(\"']}]",
     "0.matchers.0", "not a valid regular expression"),
    ("[{name: w, timezone: UTC, every: daily, at: '02:30', duration: 1h, colour: red}]", "0.colour", "Extra"),
    ("[{name: w, timezone: UTC, every: daily, at: '02:30', duration: 1h},"
     " {name: w, timezone: UTC, every: daily, at: '03:30', duration: 1h}]", "", "'w' is used twice"),
])
def test_window_errors_name_the_field(yaml_text: str, loc: str, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        WINDOWS.validate_python(yaml.safe_load(yaml_text))
    errors = {".".join(map(str, e["loc"])): e["msg"] for e in info.value.errors()}
    assert loc in errors and words in errors[loc], errors
