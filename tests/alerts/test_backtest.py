"""The backtest replays recorded history through the live alert pipeline: with the shipped config it reproduces
what the live monitor notified for an incident; a changed threshold or `for` moves or removes those alerts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.backtest import Replay, ReplayResult, ReplayStore, compare
from alerts.service import AlertService
from monitor.config import Config, load_config
from monitor.core.observation import Observation
from slo.backtest import BurnInputs
from tests.support.backtest_history import Fired, Incident, as_fired, close_enough, probe_history, record_live
from tests.support.paths import REPO

SHIPPED = REPO / "monitor.yml"
BEFORE_EVENT = datetime(2026, 1, 20, 12, tzinfo=UTC).timestamp()
IN_EVENT = datetime(2026, 1, 29, 18, tzinfo=UTC).timestamp()  # 10:00 in Los Angeles, the event's second day


def shipped(tmp_path: Path, extra: str = "") -> Config:
    path = tmp_path / "monitor.yml"
    path.write_text(SHIPPED.read_text() + extra)
    return load_config(path, environ={})


def replay(config: Config, history: list[Observation], start: float, end: float) -> ReplayResult:
    store = ReplayStore()
    service = AlertService(config, store, set(config.channels.root), clock=lambda: 0.0)
    inputs = BurnInputs(config.slos, config.event, [t.name for t in config.targets.api_metrics])
    return Replay(service, store, interval=config.alerting.evaluation_interval,
                  event_interval=config.alerting.event_evaluation_interval, derived=[inputs]).run(history, start, end)


def paged(result: ReplayResult) -> list[Fired]:
    """What the replay says was notified: the alerts that caused a firing notification (held ones did not)."""
    return as_fired(a for a in result.alerts if any(p.kind == "firing" for p in a.pages))


def assert_same(live: list[Fired], replayed: list[Fired], interval: float) -> None:
    assert [(f.rule, f.labels) for f in replayed] == [(f.rule, f.labels) for f in live]
    for a, b in zip(live, replayed, strict=True):
        assert close_enough(a.fired_at, b.fired_at, interval), (a, b)
        assert close_enough(a.resolved_at, b.resolved_at, interval), (a, b)


@pytest.mark.parametrize(("start", "interval"), [(BEFORE_EVENT, 5.0), (IN_EVENT, 2.0)], ids=["normal", "event"])
def test_a_recorded_incident_replays_to_exactly_what_the_live_monitor_notified(
        tmp_path: Path, start: float, interval: float) -> None:
    config = shipped(tmp_path)
    end = start + 2 * 3600
    # the API is down for 10 minutes with 30% of requests failing: ApiDown, the error-rate and SLO burn alerts
    incident = Incident(start + 1800, start + 2400, down=True, error_ratio=0.3)
    history = probe_history(config, start, end, [incident])
    live, store = record_live(config, history, start, end, tmp_path / "live.sqlite3")
    store.close()
    assert {"ApiDown", "SloBurnAvailability30dPageSlow"} <= {f.rule for f in live}
    assert any(f.rule.startswith("SloBurn") for f in live)  # the burn-rate pages are replayed too
    result = replay(config, history, start, end)
    assert_same(live, paged(result), interval)
    api_down = next(a for a in result.alerts if a.rule == "ApiDown")
    assert api_down.fired_at >= incident.start and api_down.resolved_at is not None
    assert result.evaluations < result.ticks  # the quiet hours were skipped, and the answer is still the live one


def test_a_longer_for_fires_later_and_a_higher_threshold_removes_the_alert(tmp_path: Path) -> None:
    start, end = BEFORE_EVENT, BEFORE_EVENT + 3600
    incident = Incident(start + 600, start + 1200, down=True, error_ratio=0.3)
    old_config = shipped(tmp_path)
    history = probe_history(old_config, start, end, [incident])
    old = replay(old_config, history, start, end)
    (tmp_path / "new").mkdir()
    new_config = shipped(tmp_path / "new", "rules:\n  overrides:\n    ApiDown: {for: 2m}\n"
                                           "    ErrorRateCritical: {threshold: 0.5, clear_threshold: 0.4}\n")
    new = replay(new_config, history, start, end)

    def one(result: ReplayResult, rule: str) -> list[float]:
        return [a.fired_at for a in result.alerts if a.rule == rule]

    assert len(one(old, "ApiDown")) == 1 and len(one(new, "ApiDown")) == 1
    delay = one(new, "ApiDown")[0] - one(old, "ApiDown")[0]
    assert 90 - 5 <= delay <= 90 + 30  # `for` 30s -> 2m: 90 s later, to the evaluation and probe interval
    assert one(old, "ErrorRateCritical") and not one(new, "ErrorRateCritical")

    changes = compare(new.alerts, old.alerts, end, tolerance=2.5)
    kinds = {(c.kind, c.rule) for c in changes}
    assert ("later", "ApiDown") in kinds and ("shorter", "ApiDown") in kinds
    assert ("removed", "ErrorRateCritical") in kinds
    later = next(c for c in changes if c.kind == "later" and c.rule == "ApiDown")
    assert later.by == pytest.approx(delay)


def test_a_silence_of_the_new_config_holds_the_alert_and_its_pages(tmp_path: Path) -> None:
    start, end = BEFORE_EVENT, BEFORE_EVENT + 3600
    incident = Incident(start + 600, start + 1200, down=True)
    config = shipped(tmp_path, "maintenance:\n  - {name: deploy, timezone: UTC, start: '2026-01-20T12:05:00', "
                               "end: '2026-01-20T12:35:00', matchers: ['alertname=ApiDown']}\n")
    history = probe_history(config, start, end, [incident])
    result = replay(config, history, start, end)
    api_down = next(a for a in result.alerts if a.rule == "ApiDown")
    assert api_down.held == "maintenance deploy"
    assert not any(p.kind == "firing" for p in api_down.pages)
