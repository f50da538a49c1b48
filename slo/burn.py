"""Burn rates over trailing windows and the multiwindow multi-burn-rate alert decision. Pure.

An alert of policy (long, short, factor) holds while the burn rate over the long window *and* over the
short window both exceed the factor: the long window makes it significant (enough budget is gone),
the short one makes it current (it resets within `short` of the problem ending). Both exceeding the
factor is the same as their minimum exceeding it, so the monitor records that minimum as one value
(`slo_multiwindow_burn_rate`) and an ordinary threshold rule fires on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from slo.budget import Countable, burn_rate, window_counts
from slo.windows import AlertWindows, trailing


def trailing_burn_rate(series: Sequence[Countable], objective: float, now: float, window: float) -> float | None:
    """The burn rate over (now - window, now]; None without data in it."""
    w = trailing(now, window)
    return burn_rate(objective, window_counts(series, w.start, w.end))


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
    return BurnCheck(policy, trailing_burn_rate(series, objective, now, policy.long),
                     trailing_burn_rate(series, objective, now, policy.short))


def check_all(series: Sequence[Countable], objective: float, now: float,
              policies: Iterable[AlertWindows]) -> list[BurnCheck]:
    return [check(series, objective, now, p) for p in policies]


def windows_of(policies: Iterable[AlertWindows]) -> list[float]:
    """Every distinct window the policies use, shortest first."""
    return sorted({w for p in policies for w in (p.long, p.short)})
