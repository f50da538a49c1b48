"""Burn-rate alerts go through the alert pipeline: rules generated from the SLOs, fired by the engine."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest

from alerts.engine import AlertEngine
from alerts.model import Alert, State, Tier
from monitor.core.sections import EventWindow
from monitor.store.sqlite import SqliteStore
from slo.alerting import burn_alerts, slo_alert_rules
from slo.service import SloService
from slo.spec import parse_slos
from tests.support.slo_history import JAN, LA, history, la


def test_one_rule_per_slo_period_and_policy() -> None:
    rules = slo_alert_rules(parse_slos(None), JAN)
    assert len(rules) == 3 * 2 * 3
    by_name = {r.name: r for r in rules}
    fast = by_name["SloBurnAvailability30dPageFast"]
    assert (fast.tier, fast.signal, fast.comparison, fast.threshold, fast.for_) == (
        Tier.CRITICAL, "slo_multiwindow_burn_rate", ">", 14.4, 0.0)
    assert fast.labels == {"slo": "availability", "period": "30d", "windows": "1h/5m"}
    ticket = by_name["SloBurnHealthChecksEventTicket"]
    assert (ticket.tier, ticket.threshold, ticket.labels["windows"]) == (Tier.MEDIUM, 1.0, "7h12m/36m")
    assert by_name["SloBurnLatencyEventPageSlow"].labels == {"slo": "latency", "period": "event", "windows": "36m/3m"}
    # Prometheus's alerting rules carry the same names.
    assert {a.name for a in burn_alerts(parse_slos(None), JAN)} == set(by_name)


def test_tiers_periods_and_opt_outs_follow_the_config() -> None:
    slos = parse_slos({"tiers": {"page": "high", "ticket": "low"}, "objectives": [
        {"name": "latency", "objective": 0.95, "sli": {"kind": "latency"}, "alerting": False},
        {"name": "event-only", "objective": 0.99, "sli": {"kind": "requests"}, "periods": ["event"]}]})
    rules = slo_alert_rules(slos, None)  # no event configured: only the rolling period
    assert {r.tier for r in rules} == {Tier.HIGH, Tier.LOW}
    assert {r.labels["slo"] for r in rules} == {"availability", "health-checks"}
    assert not [r for r in slo_alert_rules(slos, JAN) if r.labels["slo"] == "latency"]
    assert len([r for r in slo_alert_rules(slos, JAN) if r.labels["slo"] == "event-only"]) == 3


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(str(tmp_path / "monitor.sqlite3"), retention=31 * 86400)
    yield s
    s.close()


def test_an_event_outage_pages_then_resolves_through_the_engine(store: SqliteStore) -> None:
    slos = parse_slos(None)
    engine = AlertEngine(slo_alert_rules(slos, JAN))
    svc = SloService(slos, store, event=JAN, api_targets=["api-metrics"])
    store.write(history(la(28, 3)))
    fired: dict[str, float] = {}
    resolved: dict[str, float] = {}
    alerts: dict[str, Alert] = {}
    t = la(28, 1, 50)
    while t <= la(28, 3):
        for tr in engine.evaluate(svc.observations(t), t, in_event=JAN.contains(t)):
            if tr.new_state is State.FIRING:
                fired.setdefault(tr.alert.rule, t)
                alerts.setdefault(tr.alert.rule, tr.alert)
            if tr.new_state is State.RESOLVED:
                resolved.setdefault(tr.alert.rule, t)
        t += 60
    # The outage (30% errors = 60x burn, from 02:00 to 02:20) pages on the event's 6m/1m window after two
    # minutes (2 x 60x / 6 = 20x > 14.4x), but on the 30-day hour only after 15 (15 x 60x / 60 = 15x).
    assert fired["SloBurnAvailabilityEventPageFast"] == la(28, 2, 2)
    assert fired["SloBurnAvailabilityEventPageSlow"] == la(28, 2, 4)  # 4 x 60x / 36 = 6.7x > 6x
    assert fired["SloBurnAvailability30dPageFast"] == la(28, 2, 15)
    assert "SloBurnAvailabilityEventTicket" in fired
    page = alerts["SloBurnAvailabilityEventPageFast"]
    assert page.tier is Tier.CRITICAL
    assert page.labels["slo"] == "availability" and page.labels["period"] == "event"
    assert "SLO availability burns its event error budget at" in page.summary
    # It resolves within one short window (1m) once the errors stop.
    assert resolved["SloBurnAvailabilityEventPageFast"] == la(28, 2, 21)
    assert "SloBurnLatency30dPageFast" not in fired


def test_no_event_alert_outside_the_event(store: SqliteStore) -> None:
    # The same failure rate the day before the event: only the 30-day alerts may fire.
    before = EventWindow(start=date(2026, 1, 29), end=date(2026, 1, 30), timezone="America/Los_Angeles")
    slos = parse_slos(None)
    engine = AlertEngine(slo_alert_rules(slos, before))
    svc = SloService(slos, store, event=before, api_targets=["api-metrics"])
    store.write(history(la(28, 3)))
    rules = set()
    for minute in range(0, 40):
        t = la(28, 2) + 60 * minute
        rules |= {tr.alert.rule for tr in engine.evaluate(svc.observations(t), t, in_event=before.contains(t))
                  if tr.new_state is State.FIRING}
    assert "SloBurnAvailability30dPageFast" in rules
    assert not [r for r in rules if "Event" in r]
    assert datetime.fromtimestamp(la(28, 2), LA).date() < before.start
