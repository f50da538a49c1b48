"""SLO time windows: rolling (the last N seconds) and calendar-bounded (the event days), and burn-rate
alert windows scaled to a period.

Pure: every function takes the instant it is asked about; nothing reads a clock.

Why the event window gets its own, scaled alert windows
-------------------------------------------------------
The SRE Workbook's multiwindow multi-burn-rate alerts are tuned for a 30-day period:

    severity  long  short  factor  = budget spent when it fires
    page      1h    5m     14.4      2%   (14.4 x 1h / 720h)
    page      6h    30m    6         5%   (6 x 6h / 720h)
    ticket    3d    6h     1        10%   (1 x 72h / 720h)

The event (Jan 28-30) is a 3-day period with a 0.5% budget of 72h = 21.6 minutes of full outage, ten
times smaller than 30 days' 216 minutes. With the 30-day windows, the fast page would fire only after
20% of the event's budget was gone, and the ticket's 3-day window is the whole event: it would arrive
when the event is over. So for a period P every long window is scaled by P / 30d (1h -> 6m, 6h -> 36m,
3d -> 7h12m), which keeps each alert's *budget fraction* (2% / 5% / 10% of this period's budget) and
therefore its precision/recall trade-off. The factor is recomputed from that fraction (factor =
fraction x P / long window), which leaves 14.4 / 6 / 1 unchanged when nothing is rounded. Short windows
keep their 1/12 of the long window (5m of 1h) but never drop below `min_short` (default 1m): a short
window must hold several probe scrapes (15 s in event mode) or a single late scrape would decide it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Literal

from monitor.core import timeutil

DAY = 86400.0
HOUR = 3600.0
MINUTE = 60.0
BASE_PERIOD = 30 * DAY  # the period the Workbook's windows and factors were tuned for

Severity = Literal["page", "ticket"]


@dataclass(frozen=True, slots=True)
class Window:
    """[start, end) in epoch seconds. For counts from cumulative samples the SLO math reads (start, end]."""

    start: float
    end: float

    def __post_init__(self) -> None:
        if not self.end >= self.start:
            raise ValueError(f"window end {self.end} is before its start {self.start}")

    @property
    def length(self) -> float:
        return self.end - self.start

    def contains(self, when: float) -> bool:
        return self.start <= when < self.end

    def elapsed(self, now: float) -> float:
        """How much of the window lies before `now` (0 before it starts, its length after it ends)."""
        return min(max(now - self.start, 0.0), self.length)

    def so_far(self, now: float) -> Window:
        """The part of the window before `now` (empty at its start when `now` is before it)."""
        return Window(self.start, self.start + self.elapsed(now))


def trailing(now: float, length: float) -> Window:
    """The rolling window of `length` seconds ending at `now`."""
    if length <= 0:
        raise ValueError(f"window length must be positive, got {length!r}")
    return Window(now - length, now)


def calendar_window(first: date, last: date, zone: tzinfo) -> Window:
    """Whole local days first..last inclusive: local midnight to the midnight after `last` (DST-aware)."""
    if last < first:
        raise ValueError(f"last day {last} is before the first {first}")
    start = datetime.combine(first, time(0), zone)
    end = datetime.combine(last + timedelta(days=1), time(0), zone)
    return Window(start.timestamp(), end.timestamp())


def local_day(day: date, zone: tzinfo) -> Window:
    """One calendar day in a time zone (23 or 25 hours on DST change days)."""
    return calendar_window(day, day, zone)


def day_of(when: float, zone: tzinfo) -> date:
    return datetime.fromtimestamp(when, zone).date()


@dataclass(frozen=True, slots=True)
class AlertWindows:
    """One multiwindow burn-rate alert: it fires while the burn rate over *both* windows exceeds `factor`."""

    name: str  # "page-fast", "page-slow", "ticket": stable across scaling
    severity: Severity
    long: float
    short: float
    factor: float

    def budget_fraction(self, period: float) -> float:
        """Share of a `period`-second budget spent by the time it fires: factor x long / period."""
        return self.factor * self.long / period

    @property
    def label(self) -> str:
        """"1h/5m": the windows as an alert label and in messages."""
        return f"{prom_duration(self.long)}/{prom_duration(self.short)}"


def workbook_policies() -> tuple[AlertWindows, ...]:
    """The SRE Workbook's recommended 30-day alerts (chapter 5, 'multiwindow, multi-burn-rate')."""
    return (
        AlertWindows("page-fast", "page", HOUR, 5 * MINUTE, 14.4),
        AlertWindows("page-slow", "page", 6 * HOUR, 30 * MINUTE, 6.0),
        AlertWindows("ticket", "ticket", 3 * DAY, 6 * HOUR, 1.0),
    )


def scale_policies(policies: Sequence[AlertWindows], period: float, *, base_period: float = BASE_PERIOD,
                   min_short: float = MINUTE) -> tuple[AlertWindows, ...]:
    """The alert windows for a period of `period` seconds (see the module doc for why and how).

    Long windows scale by period / base_period, rounded to whole seconds; short windows keep their
    ratio to the long one but are at least `min_short` (and never longer than the long window); the
    factor keeps each alert's budget fraction: fraction x period / long.
    """
    if period <= 0 or base_period <= 0:
        raise ValueError("periods must be positive")
    ratio = period / base_period
    out = []
    for p in policies:
        long = max(1.0, float(round(p.long * ratio)))
        short = min(long, max(min_short, float(round(p.short * ratio))))
        fraction = p.factor * p.long / base_period
        out.append(AlertWindows(p.name, p.severity, long, short, fraction * period / long))
    return tuple(out)




@functools.lru_cache(maxsize=1024)  # the same few windows label every burn-rate observation (bench/backtest)
def prom_duration(seconds: float) -> str:
    """A window as Prometheus writes it: 3600 -> "1h", 25920 -> "7h12m", 129600 -> "1d12h"; whole seconds only."""
    return timeutil.prom_duration(seconds, whole_seconds=True)
