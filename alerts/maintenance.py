"""Maintenance windows: planned times when matching alerts' notifications are held (checks keep running).

A window is one-off (start, end) or recurring (`every: daily|weekly`, `weekdays`, `at` a local wall time,
for `duration`), always in an IANA time zone, and applies to the alerts its matchers select (no matchers:
all alerts).

Local time rules (PEP 495 fold=0, the same as zoneinfo's default):
- `at` and naive one-off times are wall-clock times in the window's zone, so a 02:30 window stays at
  02:30 local across the DST change; `duration` is elapsed time, so a 2 h window is 2 h even on the
  night the clocks move.
- A local time that does not exist (spring forward: 02:30 on 2026-03-08 in Los Angeles) starts when the
  wall clock would have shown it had it not jumped: 03:30 PDT, i.e. the same elapsed time after 01:59.
  The window is not skipped.
- A local time that happens twice (fall back: 01:30 on 2026-11-01) means its first occurrence (PDT);
  the window runs once, not twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, field_validator, model_validator

from alerts.silences import Matcher, matches_all
from monitor.core.sections import Section
from monitor.core.targets import Duration
from monitor.core.timeutil import WallTime, ZoneName, epoch

DAY = 86400.0
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAYS = {d: d[:3] for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}
CHAIN_HORIZON = 31 * DAY  # back-to-back windows covering every hour would otherwise never end
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]







class MaintenanceWindow(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    timezone: ZoneName
    matchers: list[Matcher] = Field(default_factory=list)  # empty: every alert
    reason: str = ""
    # one-off
    start: datetime | None = None
    end: datetime | None = None
    # recurring
    every: Literal["daily", "weekly"] | None = None
    weekdays: list[Weekday] = Field(default_factory=list)
    at: WallTime | None = None
    duration: Duration | None = None
    first_day: date | None = None  # inclusive bounds on the local start dates of occurrences
    last_day: date | None = None

    @field_validator("weekdays", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        return [_FULL_DAYS.get(v.lower(), v.lower()) if isinstance(v, str) else v for v in value]

    @model_validator(mode="after")
    def _one_kind(self) -> MaintenanceWindow:
        one_off = {k for k in ("start", "end") if getattr(self, k) is not None}
        recurring = {k for k in ("every", "at", "duration", "first_day", "last_day") if getattr(self, k) is not None}
        recurring |= {"weekdays"} if self.weekdays else set()
        if one_off and recurring:
            raise ValueError(f"a window is one-off (start, end) or recurring (every, at, duration), not both: "
                             f"remove {', '.join(sorted(recurring))} or {', '.join(sorted(one_off))}")
        if one_off:
            if self.start is None or self.end is None:
                raise ValueError(f"{'end' if self.start else 'start'} is required for a one-off window")
            if self._instant(self.end) <= self._instant(self.start):
                raise ValueError("end must be after start")
        elif recurring:
            self._check_recurring()
        else:
            raise ValueError("a window needs start and end (one-off) or every, at and duration (recurring)")
        return self

    def _check_recurring(self) -> None:
        missing = [k for k in ("every", "at", "duration") if getattr(self, k) is None]
        if missing:
            raise ValueError(f"{missing[0]} is required for a recurring window")
        assert self.duration is not None and self.at is not None
        if self.at.tzinfo is not None:
            raise ValueError(f"at is a wall-clock time in {self.timezone}: drop the offset")
        if self.every == "weekly" and not self.weekdays:
            raise ValueError("weekdays is required for a weekly window, e.g. weekdays: [sun]")
        if self.every == "daily" and self.weekdays:
            raise ValueError("weekdays is only for every: weekly")
        period = DAY if self.every == "daily" else 7 * DAY
        if self.duration > period:
            raise ValueError(f"duration ({self.duration:g}s) must not exceed the {self.every} period")
        if self.first_day and self.last_day and self.last_day < self.first_day:
            raise ValueError("last_day is before first_day")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def recurring(self) -> bool:
        return self.every is not None

    def _instant(self, moment: datetime) -> float:
        return (moment if moment.tzinfo else moment.replace(tzinfo=self.zone)).timestamp()  # naive: fold=0

    def matches(self, labels: Mapping[str, str]) -> bool:
        return matches_all(self.matchers, labels)

    def occurrences(self, t0: float | datetime, t1: float | datetime) -> Iterator[tuple[float, float]]:
        """(start, end) epoch pairs of the occurrences overlapping [t0, t1), in start order."""
        a, b = epoch(t0), epoch(t1)
        if not self.recurring:
            assert self.start is not None and self.end is not None
            start, end = self._instant(self.start), self._instant(self.end)
            if start < b and end > a:
                yield start, end
            return
        assert self.at is not None and self.duration is not None
        # An occurrence starting up to `duration` before t0 may still be running; +-1 day covers zone offsets.
        day = datetime.fromtimestamp(a - self.duration, self.zone).date() - timedelta(days=1)
        last = datetime.fromtimestamp(b, self.zone).date() + timedelta(days=1)
        while day <= last:
            if self._runs_on(day):
                start = datetime.combine(day, self.at, self.zone).timestamp()  # fold=0, see module doc
                end = start + self.duration
                if start < b and end > a:
                    yield start, end
            day += timedelta(days=1)

    def _runs_on(self, day: date) -> bool:
        if (self.first_day and day < self.first_day) or (self.last_day and day > self.last_day):
            return False
        return self.every == "daily" or WEEKDAYS[day.weekday()] in self.weekdays

    def active(self, now: float | datetime) -> bool:
        t = epoch(now)
        return any(True for _ in self.occurrences(t, t + 1e-6))

    def next_end(self, now: float | datetime) -> float | None:
        """When the window stops holding notifications, if it is active now (back-to-back occurrences chain,
        up to CHAIN_HORIZON)."""
        t = limit = epoch(now)
        limit += CHAIN_HORIZON
        end: float | None = None
        while t < limit:
            running = [e for s, e in self.occurrences(t, t + 1e-6) if s <= t]
            if not running:
                return end
            end = t = max(running)
        return limit

    def next_start(self, now: float | datetime, horizon: float = 8 * DAY) -> float | None:
        """The start of the next occurrence after now (within `horizon` seconds), for the status board."""
        t = epoch(now)
        return next((s for s, _ in self.occurrences(t, t + horizon) if s > t), None)

    def ended_between(self, t0: float | datetime, t1: float | datetime) -> list[float]:
        """Ends of occurrences in (t0, t1]: the moments held notifications were due for release."""
        a, b = epoch(t0), epoch(t1)
        return [e for _, e in self.occurrences(a, b + 1e-6) if a < e <= b]


def _unique_names(windows: list[MaintenanceWindow]) -> list[MaintenanceWindow]:
    seen: set[str] = set()
    for w in windows:
        if w.name in seen:
            raise ValueError(f"maintenance window name {w.name!r} is used twice")
        seen.add(w.name)
    return windows


# monitor.yml `maintenance:` is a list of windows.
MaintenanceWindows = Annotated[list[MaintenanceWindow], AfterValidator(_unique_names)]


class MaintenanceSchedule:
    """All windows: which one holds an alert now, and when what it holds is released."""

    def __init__(self, windows: Iterable[MaintenanceWindow] = ()) -> None:
        self.windows = list(windows)

    def holding(self, labels: Mapping[str, str], now: float | datetime) -> MaintenanceWindow | None:
        t = epoch(now)
        hits = [w for w in self.windows if w.matches(labels) and w.active(t)]
        return max(hits, key=lambda w: (w.next_end(t) or t, w.name)) if hits else None

    def release_at(self, labels: Mapping[str, str], now: float | datetime) -> float | None:
        """When no window holds these labels any more (overlapping windows chain, up to CHAIN_HORIZON);
        None if none holds them now."""
        t = limit = epoch(now)
        limit += CHAIN_HORIZON
        release: float | None = None
        while t < limit and (window := self.holding(labels, t)) is not None:
            end = window.next_end(t)
            assert end is not None and end > t
            release = t = min(end, limit)
        return release

    def ended_between(self, t0: float | datetime, t1: float | datetime) -> list[MaintenanceWindow]:
        """Windows with an occurrence that ended in (t0, t1]: re-check what they held."""
        return [w for w in self.windows if w.ended_between(t0, t1)]
