"""What history becomes as it ages, and the event counts kept as samples arrive. Pure.

    raw samples (a few hours) -> per-minute rollups (a few days) -> coarse rollups (the retention)

A rollup keeps, per series and time bucket, how many known samples (n) and unknown ones (n_unknown)
it summarises, their sum, min and max, and the last known value with its timestamp: a counter read
from rollups is still exact at the rollup's end, a gauge keeps its extremes and mean.

Count buckets hold the good and total events of one key (an SLO) per bucket, added to as samples are
written: an SLO reads a fixed number of buckets whatever the history. A bucket is keyed by its *end*
and covers (end - width, end], the same half-open windows the SLO math uses, so a window aligned with
the buckets gets exactly the events the raw samples give.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Literal

MINUTE = 60.0


@dataclass(slots=True)
class Rollup:
    """One bucket of one series: starts at `ts`, `width` seconds long."""

    ts: float
    width: float
    n: int = 0
    n_unknown: int = 0
    vsum: float = 0.0
    vmin: float | None = None
    vmax: float | None = None
    vlast: float | None = None
    last_ts: float = -math.inf  # of vlast; of the newest sample while none is known

    @property
    def mean(self) -> float | None:
        return self.vsum / self.n if self.n else None

    def add(self, ts: float, value: float | None) -> None:
        self.merge(sample_rollup(ts, value, self.width, self.ts))

    def merge(self, other: Rollup) -> None:
        self.n += other.n
        self.n_unknown += other.n_unknown
        self.vsum += other.vsum
        if other.vmin is not None:
            self.vmin = other.vmin if self.vmin is None else min(self.vmin, other.vmin)
        if other.vmax is not None:
            self.vmax = other.vmax if self.vmax is None else max(self.vmax, other.vmax)
        if _newer(other, self):
            self.vlast, self.last_ts = other.vlast, other.last_ts

    def row(self, series_id: int) -> tuple[int, float, float, int, int, float, float | None, float | None,
                                           float | None, float]:
        return (series_id, self.width, self.ts, self.n, self.n_unknown, self.vsum, self.vmin, self.vmax,
                self.vlast, self.last_ts)


def _newer(a: Rollup, b: Rollup) -> bool:
    """Whether a's last value replaces b's: a known value beats none, then the later one wins."""
    if a.vlast is not None:
        return b.vlast is None or a.last_ts >= b.last_ts
    return b.vlast is None and a.last_ts > b.last_ts


def bucket_start(ts: float, width: float) -> float:
    return math.floor(ts / width) * width


def bucket_end(ts: float, width: float) -> float:
    """The end of the (end - width, end] bucket holding `ts`."""
    return math.ceil(ts / width) * width


def sample_rollup(ts: float, value: float | None, width: float, start: float | None = None) -> Rollup:
    known = value is not None
    return Rollup(ts=bucket_start(ts, width) if start is None else start, width=width, n=int(known),
                  n_unknown=int(not known), vsum=value if value is not None else 0.0, vmin=value, vmax=value,
                  vlast=value, last_ts=ts)


def fold(rows: Iterable[tuple[int, Rollup]], width: float) -> dict[tuple[int, float], Rollup]:
    """(series id, rollup) pairs folded into buckets of `width` (a multiple of theirs)."""
    out: dict[tuple[int, float], Rollup] = {}
    for sid, r in rows:
        start = bucket_start(r.ts, width)
        acc = out.get((sid, start))
        if acc is None:
            acc = out[(sid, start)] = Rollup(ts=start, width=width)
        acc.merge(r)
    return out


# ---- count buckets ------------------------------------------------------------------------------

@dataclass(frozen=True)
class CountRule:
    """Which samples add to the buckets of `key`, and how.

    events   one event per sample (a probe run): total += `total`; good += `good` when the value is 1;
             an unknown sample is a failed event unless unknown_is_bad is False (then it is left out)
    counter  a cumulative counter: its increase since the previous known sample (after a reset, the
             value itself) times `good` and `total`; unknown samples are skipped (the next known one
             carries the gap). E.g. requests: total counter (1, 1), 5xx counter (-1, 0).
    """

    key: str
    signal: str
    labels: Mapping[str, str] = field(default_factory=dict)
    kind: Literal["events", "counter"] = "events"
    good: float = 1.0
    total: float = 1.0
    unknown_is_bad: bool = True

    def matches(self, signal: str, labels: Mapping[str, str]) -> bool:
        return signal == self.signal and all(labels.get(k) == v for k, v in self.labels.items())


def fingerprint(rules: Iterable[CountRule]) -> str:
    """What the buckets of a key were counted by: other rules mean counting again."""
    return json.dumps(sorted(json.dumps({**asdict(r), "labels": dict(sorted(r.labels.items()))}, sort_keys=True)
                             for r in rules))


def event_increment(rule: CountRule, value: float | None, weight: float = 1.0,
                    ones: float | None = None) -> tuple[float, float] | None:
    """(good, total) added by `weight` samples of an events rule (`ones` of them equal to 1)."""
    if value is None and not rule.unknown_is_bad:
        return None
    good = (weight if value == 1 else 0.0) if ones is None else ones
    return rule.good * good, rule.total * weight


def counter_increase(previous: float | None, value: float) -> float | None:
    """A counter's increase to `value`; None for the first known sample (no baseline)."""
    if previous is None:
        return None
    return value - previous if value >= previous else value


@dataclass(slots=True)
class CountBucket:
    good: float = 0.0
    total: float = 0.0


def add_count(acc: dict[tuple[str, float, float], CountBucket], key: str, end: float, width: float,
              good: float, total: float) -> None:
    bucket = acc.get((key, width, end))
    if bucket is None:
        bucket = acc[(key, width, end)] = CountBucket()
    bucket.good += good
    bucket.total += total
