"""Burn rates over trailing windows and the multiwindow multi-burn-rate alert decision. Pure.

An alert of policy (long, short, factor) holds while the burn rate over the long window *and* over the
short window both exceed the factor: the long window makes it significant (enough budget is gone),
the short one makes it current (it resets within `short` of the problem ending). Both exceeding the
factor is the same as their minimum exceeding it, so the monitor records that minimum as one value
(`slo_multiwindow_burn_rate`) and an ordinary threshold rule fires on it.

A window the monitor has watched only in part (its history is younger than the window: a fresh install,
a new SLO) is judged by what it saw, spread over the whole window: the burn rate over the watched part
times the watched fraction. Otherwise ten seconds of failed health checks in a monitor's first ten minutes
would read as a 3-day window burning at 9x, and a ticket saying "10% of the budget in 3d" would be sent
when 0.05% was gone. Scaled, each alert still says what it claims: a full outage pages as soon as its
fraction of the budget is really spent (the fast page of a 99.5% SLO after about 4 minutes).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from slo.budget import BUCKET, Countable, burn_rate, window_counts
from slo.windows import AlertWindows, trailing


def trailing_burn_rate(series: Sequence[Countable], objective: float, now: float, window: float) -> float | None:
    """The burn rate over (now - window, now]; None without data in it."""
    w = trailing(now, window)
    return burn_rate(objective, window_counts(series, w.start, w.end))


def watched_fraction(series: Sequence[Countable], now: float, window: float) -> float:
    """How much of (now - window, now] lies after the oldest sample of any series: 1 when history is older."""
    firsts = [t for t in (s.first_time() for s in series) if t is not None]
    if not firsts or window <= 0:
        return 1.0
    # On the minute grid: raw samples and the store's minute buckets then agree on where history begins.
    first = math.floor(min(firsts) / BUCKET) * BUCKET
    return min(1.0, max(0.0, (now - first) / window))


def alert_burn_rate(series: Sequence[Countable], objective: float, now: float, window: float) -> float | None:
    """The burn rate an alert judges: over the watched part of the window, scaled by the watched fraction."""
    burn = trailing_burn_rate(series, objective, now, window)
    return None if burn is None else burn * watched_fraction(series, now, window)


@dataclass(frozen=True, slots=True)
class BurnCheck:
    policy: AlertWindows
    long_burn: float | None
    short_burn: float | None

    @property
    def value(self) -> float | None:
        """min(long, short): above the factor exactly when both are. None when either is unknown."""
        if self.long_burn is None or self.short_burn is None:
            return None
        return min(self.long_burn, self.short_burn)

    @property
    def firing(self) -> bool:
        value = self.value
        return value is not None and value > self.policy.factor


def check(series: Sequence[Countable], objective: float, now: float, policy: AlertWindows) -> BurnCheck:
    return BurnCheck(policy, alert_burn_rate(series, objective, now, policy.long),
                     alert_burn_rate(series, objective, now, policy.short))


def check_all(series: Sequence[Countable], objective: float, now: float,
              policies: Iterable[AlertWindows]) -> list[BurnCheck]:
    return [check(series, objective, now, p) for p in policies]


def windows_of(policies: Iterable[AlertWindows]) -> list[float]:
    """Every distinct window the policies use, shortest first."""
    return sorted({w for p in policies for w in (p.long, p.short)})
