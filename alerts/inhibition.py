"""Inhibition: a firing cause mutes the alerts it causes. Pure; the dispatcher skips inhibited alerts.

    muted = inhibited(engine.alerts())      # -> set of alert ids not to notify

Inhibited alerts keep their state (they still show on /api/alerts and the board); only their
notifications are held. When the cause resolves, whatever still fires is notified normally.

Scope: the default rules set no `equal` labels, so a firing ApiDown mutes the effects on *any* target.
The cause and its effects are seen by different targets (ApiDown on the http health target, latency and
errors on the api_metrics target, slow queries on the postgres target), and the monitor watches one API;
a rule with `equal: ("target",)` would mute only alerts of the same target, as Alertmanager's `equal` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from alerts.model import Alert, State


@dataclass(frozen=True, slots=True)
class InhibitRule:
    name: str
    source: frozenset[str]  # alertnames that mute while firing
    target: frozenset[str]  # alertnames muted (in any state)
    equal: tuple[str, ...] = ()  # labels that must be equal on source and target; () = any target


# What a dead API causes: latency and error alerts (all tiers), the pool alerts, and the scale-down
# advice that follows when requests stop arriving.
_API_EFFECTS = frozenset({
    "LatencyP95High", "LatencyP95Elevated", "ScaleUpLatency", "ScaleDownLatency",
    "ErrorRateCritical", "ErrorRateHigh", "ErrorSpike",
    "DbPoolExhausted", "DbPoolRequestsWaiting", "DbPoolHigh",
    "ScaleDownCpu", "ScaleDownMemory", "ScaleDownRequestRate",
})
_DB_EFFECTS = frozenset({"DbPoolExhausted", "DbPoolRequestsWaiting", "DbPoolHigh", "SlowQueries"})

DEFAULT_INHIBIT_RULES: tuple[InhibitRule, ...] = (
    InhibitRule("api-down", frozenset({"ApiDown"}), _API_EFFECTS),
    InhibitRule("database-down", frozenset({"PostgresDown"}), _DB_EFFECTS),
)


def inhibited(alerts: Iterable[Alert], rules: Sequence[InhibitRule] = DEFAULT_INHIBIT_RULES) -> set[str]:
    """Ids of the alerts muted by a firing source alert. An alert never mutes itself."""
    alerts = list(alerts)
    firing = [a for a in alerts if a.state is State.FIRING]
    muted: set[str] = set()
    for rule in rules:
        sources = [a for a in firing if a.rule in rule.source]
        if not sources:
            continue
        for alert in alerts:
            if alert.rule not in rule.target:
                continue
            if any(s is not alert and _equal(s, alert, rule.equal) for s in sources):
                muted.add(alert.id)
    return muted


def _equal(source: Alert, target: Alert, names: tuple[str, ...]) -> bool:
    return all(source.labels.get(n, "") == target.labels.get(n, "") for n in names)
