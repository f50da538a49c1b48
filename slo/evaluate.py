"""One SLO at one instant: budgets per period, burn rates per window, alert decisions. Pure.

    status = evaluate_slo(spec, series, now, periods(slos, config.event))
    store.write(status.observations())

`series` are the SLI's cumulative (good, total) counts (slo/sources.py reads them from the store).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.core import signals
from monitor.core.observation import Observation, unknown
from slo.budget import Budget, Countable, Counts, error_budget, window_counts
from slo.burn import BurnCheck, check, trailing_burn_rate
from slo.periods import PeriodDef
from slo.spec import EVENT, Period, SloSpec
from slo.windows import prom_duration


@dataclass(frozen=True)
class PeriodStatus:
    period: PeriodDef
    budget: Budget
    checks: tuple[BurnCheck, ...]
    alerting: bool  # the period's alerts may fire now (the event's only inside the event)

    @property
    def label(self) -> str:
        return self.period.label

    def alert_value(self, c: BurnCheck) -> float | None:
        """What `slo_multiwindow_burn_rate` shows: the check's value, or 0 outside the event (nothing of
        the event's budget can burn then; 0 also resolves an alert still firing when the event ends)."""
        return c.value if self.alerting else 0.0


@dataclass(frozen=True)
class SloStatus:
    spec: SloSpec
    now: float
    periods: dict[Period, PeriodStatus] = field(default_factory=dict)
    burn_rates: dict[float, float | None] = field(default_factory=dict)  # window seconds -> burn rate
    error: str | None = None  # why the SLI could not be read (then everything is unknown)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def has_data(self) -> bool:
        """Whether any period's SLI could be computed (False before the first samples arrive)."""
        return self.error is None and any(p.budget.sli is not None for p in self.periods.values())

    def headline(self) -> PeriodStatus | None:
        """The period that matters now: the event while it runs, else the rolling one."""
        event = self.periods.get(EVENT)
        if event is not None and event.alerting:
            return event
        return next((p for k, p in self.periods.items() if k != EVENT), event)

    def observations(self) -> list[Observation]:
        out: list[Observation] = []
        why = self.error or NO_DATA

        def emit(signal: str, value: float | None, **labels: str) -> None:
            out.append(_observation(self.name, signal, value, self.now, why, labels))

        for window, burn in sorted(self.burn_rates.items()):
            emit(signals.BURN_RATE, burn, window=prom_duration(window))
        for p in self.periods.values():
            b = p.budget
            emit(signals.SLI, b.sli, period=p.label)
            emit(signals.BUDGET_REMAINING, b.remaining_ratio, period=p.label)
            emit(signals.BUDGET_REMAINING_SECONDS, b.remaining_seconds, period=p.label)
            for c in p.checks:
                emit(signals.MULTIWINDOW_BURN_RATE, p.alert_value(c), period=p.label, windows=c.policy.label)
        return out

    def board_item(self) -> dict[str, Any]:
        """What monitor/board.py's SLO provider returns per SLO."""
        head = self.headline()
        fast = head.checks[0].long_burn if head is not None and head.checks else None
        return {
            "name": self.name, "objective": self.spec.objective, "description": self.spec.description,
            "period": head.label if head is not None else None,
            "sli": head.budget.sli if head is not None else None,
            "budget_remaining_ratio": head.budget.remaining_ratio if head is not None else None,
            "budget_remaining_minutes": head.budget.remaining_minutes if head is not None else None,
            "burn_rate": fast,
            "burn_window": prom_duration(head.checks[0].policy.long) if head is not None and head.checks else None,
            "error": self.error is not None, "reason": self.error,
        }


NO_DATA = "no SLI data in the window"


def _observation(slo: str, signal: str, value: float | None, now: float, why: str,
                 labels: Mapping[str, str]) -> Observation:
    labels = {"slo": slo, **labels}
    return Observation(signal, value, now, labels) if value is not None else unknown(signal, now, why, labels)


def burn_alert_observations(spec: SloSpec, series: Sequence[Countable], now: float,
                            periods: Mapping[Period, PeriodDef], error: str | None = None) -> list[Observation]:
    """Only what the burn-rate alert rules read (slo_multiwindow_burn_rate), exactly as SloStatus.observations()
    writes it, without the periods' budgets (which need the whole period's history): for the backtest."""
    if not spec.alerting:
        return []
    if error is not None:
        series = ()
    out = []
    for kind, p in periods.items():
        if kind not in spec.periods:
            continue
        alerting = p.alerting(now)
        for policy in p.policies:
            c = check(series, spec.objective, now, policy)
            out.append(_observation(spec.name, signals.MULTIWINDOW_BURN_RATE, c.value if alerting else 0.0, now,
                                    error or NO_DATA, {"period": p.label, "windows": policy.label}))
    return out


def _period_budget(spec: SloSpec, series: Sequence[Countable], p: PeriodDef, now: float) -> Budget:
    elapsed = p.elapsed(now)
    covered = p.covered(now)
    counts: Counts | None = Counts(0.0, 0.0) if elapsed == 0 else window_counts(series, covered.start, covered.end)
    return error_budget(spec.objective, counts, p.length, elapsed)


def evaluate_slo(spec: SloSpec, series: Sequence[Countable], now: float,
                 periods: Mapping[Period, PeriodDef], error: str | None = None) -> SloStatus:
    """Budgets of the SLO's periods, its burn rates over every alert window, and the alert checks at `now`."""
    chosen = {k: p for k, p in periods.items() if k in spec.periods}
    if error is not None:
        series = ()
    windows = sorted({w for p in chosen.values() for c in p.policies for w in (c.long, c.short)})
    burn_rates = {w: trailing_burn_rate(series, spec.objective, now, w) for w in windows}
    out: dict[Period, PeriodStatus] = {}
    for kind, p in chosen.items():
        checks = tuple(check(series, spec.objective, now, policy) for policy in p.policies) if spec.alerting else ()
        out[kind] = PeriodStatus(p, _period_budget(spec, series, p, now), checks, p.alerting(now))
    return SloStatus(spec, now, out, burn_rates, error)
