"""SLI counts and error budgets: pure functions over cumulative (timestamps, good, total) series.

A request-based SLI is good events / all events. The monitor stores both as cumulative counters
sampled over time; the events of a window (start, end] are the increase between the last sample at or
before `start` and the last sample at or before `end` (the samples at the two ends, when the window is
aligned with them, as Prometheus's `increase` without extrapolation). A counter that goes down was
restarted from zero (the monitor or the API restarted): the samples after it count from zero, as
Prometheus's reset handling does.

Error budget of a period P with objective O (e.g. 99.5%): the budget is (1 - O) x P, read as minutes
of full outage (30 days at 99.5% = 216 minutes; the 3-day event = 21.6 minutes). What the window has
spent so far is (1 - SLI) x elapsed, where elapsed is the part of the period already behind us (all of
it for a rolling window, the days so far for the event window); what remains is the difference, also
as a ratio of the budget (1 = untouched, 0 = spent, below 0 = overspent). For a rolling window that is
the textbook 1 - (1 - SLI) / (1 - O); for the event window it is relative to the *whole* event's
budget, so a bad first hour does not show as "budget gone" merely because little traffic has been
seen yet. The minutes treat traffic as uniform over the window: they are "minutes of full outage" at
the window's average traffic.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Counts:
    good: float
    total: float

    @property
    def bad(self) -> float:
        return self.total - self.good

    @property
    def ratio(self) -> float | None:
        """The SLI: good / total; None when there were no events."""
        return self.good / self.total if self.total > 0 else None

    @property
    def error_ratio(self) -> float | None:
        return self.bad / self.total if self.total > 0 else None

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.good + other.good, self.total + other.total)


def sum_counts(counts: Iterable[Counts | None]) -> Counts | None:
    """The sum of the known counts; None when none is known."""
    out: Counts | None = None
    for c in counts:
        if c is not None:
            out = c if out is None else out + c
    return out


def _corrected(values: Sequence[float]) -> list[float]:
    """A counter made monotonic: after a decrease (a restart from zero) the earlier total is carried on."""
    out: list[float] = []
    offset = 0.0
    prev: float | None = None
    for v in values:
        if prev is not None and v < prev:
            offset += prev
        out.append(v + offset)
        prev = v
    return out


@dataclass(frozen=True)
class CountSeries:
    """Cumulative good and total event counts at increasing timestamps (already made monotonic).

    Build it with `from_counters` from raw counter samples (which may reset); `counts(start, end)`
    then gives the events of any window in O(log n).
    """

    timestamps: Sequence[float]
    good: Sequence[float]
    total: Sequence[float]
    events: bool = False  # one event per sample (from_events): nothing happened before the first one

    def __post_init__(self) -> None:
        if not len(self.timestamps) == len(self.good) == len(self.total):
            raise ValueError("timestamps, good and total must have the same length")
        if any(b <= a for a, b in zip(self.timestamps, self.timestamps[1:], strict=False)):
            raise ValueError("timestamps must be strictly increasing")

    @classmethod
    def from_counters(cls, timestamps: Sequence[float], good: Sequence[float], total: Sequence[float]) -> CountSeries:
        """From raw cumulative counters sampled together; each counter's resets are corrected on its own."""
        order = sorted(range(len(timestamps)), key=lambda i: timestamps[i])
        ts, g, t = [timestamps[i] for i in order], [good[i] for i in order], [total[i] for i in order]
        keep = [i for i in range(len(ts)) if i == 0 or ts[i] != ts[i - 1]]  # one sample per instant
        ts, g, t = [ts[i] for i in keep], [g[i] for i in keep], [t[i] for i in keep]
        for name, values in (("good", g), ("total", t)):
            bad = next((v for v in values if not math.isfinite(v) or v < 0), None)
            if bad is not None:
                raise ValueError(f"{name} counts must be finite and >= 0, got {bad!r}")
        return cls(ts, _corrected(g), _corrected(t))

    @classmethod
    def from_events(cls, timestamps: Sequence[float], good: Sequence[bool]) -> CountSeries:
        """One event per sample (a probe run): good or not. Cumulative counts of them."""
        order = sorted(range(len(timestamps)), key=lambda i: timestamps[i])
        ts: list[float] = []
        g: list[float] = []
        t: list[float] = []
        ng = nt = 0.0
        for i in order:
            if ts and timestamps[i] == ts[-1]:
                continue
            nt += 1
            ng += 1 if good[i] else 0
            ts.append(timestamps[i])
            g.append(ng)
            t.append(nt)
        return cls(ts, g, t, events=True)

    def __len__(self) -> int:
        return len(self.timestamps)

    def counts(self, start: float, end: float) -> Counts | None:
        """Events in (start, end]; None when no sample lies in it (no data: unknown, not zero).

        The baseline is the last sample at or before `start`. When history begins inside the window, a
        counter's first sample is the baseline (what it counted before is unknown, not zero); an event
        series' first sample is itself an event of the window.
        """
        return counts_between(self.timestamps, self.good, self.total, self.events, start, end)

    def first_time(self) -> float | None:
        return self.timestamps[0] if len(self.timestamps) else None


def counts_between(ts: Sequence[float], good: Sequence[float], total: Sequence[float], events: bool,
                   start: float, end: float) -> Counts | None:
    """CountSeries.counts over plain sequences (also slo/backtest.py's growing ones)."""
    last = bisect.bisect_right(ts, end) - 1
    base = bisect.bisect_right(ts, start) - 1
    if last < 0 or last <= base:
        return None
    if base < 0:
        if events:
            return Counts(good[last], total[last])
        base = 0
    return Counts(good[last] - good[base], total[last] - total[base])



class Countable(Protocol):
    def counts(self, start: float, end: float) -> Counts | None: ...

    def first_time(self) -> float | None:
        """Where the series' history begins (None without samples): before it the monitor saw nothing."""
        ...


BUCKET = 60.0  # the narrowest count bucket (monitor/store/rollup.py)


@dataclass(frozen=True)
class BucketSeries:
    """Good and total events per time bucket (end, width, good, total), sorted by end: a bucket holds the
    events of (end - width, end]. `counts(start, end)` sums the buckets that end after `start` and before
    `end + BUCKET` in O(log n): exactly the events of the window when it is aligned with the buckets, at
    most one bucket more or less at an unaligned edge. `fixed` answers given windows outright (a past
    event's, summed once)."""

    buckets: Sequence[tuple[float, float, float, float]]
    fixed: Mapping[tuple[float, float], Counts | None] = field(default_factory=dict)
    _ends: list[float] = field(init=False, repr=False)
    _good: list[float] = field(init=False, repr=False)
    _total: list[float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        good, total = [0.0], [0.0]
        for _, _, g, t in self.buckets:
            good.append(good[-1] + g)
            total.append(total[-1] + t)
        object.__setattr__(self, "_ends", [b[0] for b in self.buckets])
        object.__setattr__(self, "_good", good)
        object.__setattr__(self, "_total", total)

    def __len__(self) -> int:
        return len(self.buckets)

    def counts(self, start: float, end: float) -> Counts | None:
        if (start, end) in self.fixed:
            return self.fixed[(start, end)]
        first = bisect.bisect_right(self._ends, start)
        last = bisect.bisect_left(self._ends, end + BUCKET)
        if last <= first:
            return None
        return Counts(self._good[last] - self._good[first], self._total[last] - self._total[first])

    def first_time(self) -> float | None:
        starts = [end - width for end, width, _, _ in self.buckets[:1]]
        starts += [start for (start, _), c in self.fixed.items() if c is not None]
        return min(starts) if starts else None


def window_counts(series: Iterable[Countable], start: float, end: float) -> Counts | None:
    """Events of (start, end] summed over several series (SLI sources); None when none has data there."""
    return sum_counts(s.counts(start, end) for s in series)


@dataclass(frozen=True, slots=True)
class Budget:
    objective: float
    period: float  # seconds
    elapsed: float  # seconds of the period behind us
    counts: Counts | None

    @property
    def sli(self) -> float | None:
        return None if self.counts is None else self.counts.ratio

    @property
    def budget_seconds(self) -> float:
        """The whole period's budget as seconds of full outage: (1 - objective) x period."""
        return (1 - self.objective) * self.period

    @property
    def spent_seconds(self) -> float | None:
        """(1 - SLI) x elapsed; 0 with data but no events; None without data."""
        if self.counts is None:
            return None
        err = self.counts.error_ratio
        return 0.0 if err is None else err * self.elapsed

    @property
    def remaining_seconds(self) -> float | None:
        spent = self.spent_seconds
        return None if spent is None else self.budget_seconds - spent

    @property
    def remaining_ratio(self) -> float | None:
        """1 = untouched, 0 = spent, < 0 = overspent; None without data."""
        spent = self.spent_seconds
        return None if spent is None else 1 - spent / self.budget_seconds

    @property
    def consumed_ratio(self) -> float | None:
        remaining = self.remaining_ratio
        return None if remaining is None else 1 - remaining

    @property
    def remaining_minutes(self) -> float | None:
        seconds = self.remaining_seconds
        return None if seconds is None else seconds / 60

    @property
    def budget_minutes(self) -> float:
        return self.budget_seconds / 60


def error_budget(objective: float, counts: Counts | None, period: float, elapsed: float | None = None) -> Budget:
    """The budget of a period given the counts of the part of it that is behind us (`elapsed`, default all)."""
    if not 0 < objective < 1:
        raise ValueError(f"objective must be between 0 and 1 (exclusive), got {objective!r}")
    if period <= 0:
        raise ValueError(f"period must be positive, got {period!r}")
    elapsed = period if elapsed is None else elapsed
    if not 0 <= elapsed <= period:
        raise ValueError(f"elapsed must be within 0..period ({period:g}), got {elapsed!r}")
    return Budget(objective, period, elapsed, counts)


def burn_rate(objective: float, counts: Counts | None) -> float | None:
    """How fast the budget burns: error ratio / (1 - objective). 1 spends exactly the budget over the period.

    None without data; 0 with data but no events (nothing failed: the budget is not burning).
    """
    if counts is None:
        return None
    err = counts.error_ratio
    return 0.0 if err is None else err / (1 - objective)
