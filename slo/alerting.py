"""Burn-rate alerts as ordinary alert rules, so they go through the one alert pipeline.

One rule per (SLO, period, alert policy) on `slo_multiwindow_burn_rate{slo, period, windows}`, which
the evaluator sets to min(long-window burn, short-window burn): the rule's `>` factor is then exactly
the multiwindow condition. Pages use the `tiers.page` tier (critical by default: SMS during the event),
tickets `tiers.ticket` (medium: Slack, low priority). No `for`: the short window already confirms, and
the alert resolves within one short window of the burn stopping, as in the Workbook.

The same names, thresholds and labels are used by the Prometheus alerting rules (slo/prometheus.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts.model import Tier
from alerts.rules import Rule
from monitor.core.sections import EventWindow
from monitor.core.signals import MULTIWINDOW_BURN_RATE
from slo.periods import PeriodDef, periods
from slo.spec import SlosConfig, SloSpec
from slo.windows import AlertWindows, prom_duration


@dataclass(frozen=True)
class BurnAlert:
    """One burn-rate alert, engine- and Prometheus-neutral."""

    name: str
    slo: SloSpec
    period: PeriodDef
    policy: AlertWindows
    tier: Tier

    @property
    def labels(self) -> dict[str, str]:
        return {"slo": self.slo.name, "period": self.period.label, "windows": self.policy.label}

    @property
    def summary(self) -> str:
        return (f"SLO {self.slo.name} burns its {self.period.label} error budget at {{value}}x over "
                f"{self.policy.label} ({self.policy.severity} above {self.policy.factor:g}x: "
                f"{self.policy.budget_fraction(self.period.length):.0%} of the budget in "
                f"{prom_duration(self.policy.long)})")

    @property
    def runbook(self) -> str:
        base = ("Find what fails: the SLO's SLI and the error-rate, latency and health alerts. "
                "Pages mean the budget goes within hours at this rate; tickets within days.")
        return f"{self.slo.runbook} {base}".strip()


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("_", "-").split("-") if part)


def rule_name(slo: SloSpec, period: PeriodDef, policy: AlertWindows) -> str:
    """SloBurnAvailability30dPageFast, SloBurnHealthChecksEventTicket."""
    return f"SloBurn{_camel(slo.name)}{_camel(period.label)}{_camel(policy.name)}"


def burn_alerts(slos: SlosConfig, event: EventWindow | None) -> list[BurnAlert]:
    out = []
    tiers = {"page": slos.tiers.page, "ticket": slos.tiers.ticket}
    defined = periods(slos, event)
    for spec in slos.effective():
        if not spec.alerting:
            continue
        for kind in spec.periods:
            p = defined.get(kind)
            if p is None:
                continue  # an event SLO without an `event:` section has nothing to watch
            for policy in p.policies:
                out.append(BurnAlert(rule_name(spec, p, policy), spec, p, policy, tiers[policy.severity]))
    return out


def slo_alert_rules(slos: SlosConfig, event: EventWindow | None) -> list[Rule]:
    """The embedded engine's rules for every SLO burn-rate alert (append them to config.effective_rules())."""
    return [Rule(name=a.name, tier=a.tier, signal=MULTIWINDOW_BURN_RATE, labels=a.labels, comparison=">",
                 threshold=a.policy.factor, summary=a.summary, runbook=a.runbook)
            for a in burn_alerts(slos, event)]
