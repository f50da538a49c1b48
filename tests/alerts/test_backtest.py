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
    # 10 minutes of 30% errors spend 1.4% of the 30-day availability budget: no availability page (a fast page
    # claims 2%); the health checks, all failed for 10 minutes in a history 30 minutes old, page fast.
    assert {"ApiDown", "SloBurnHealthChecks30dPageFast"} <= {f.rule for f in live}
    assert "SloBurnAvailability30dPageSlow" not in {f.rule for f in live}
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


# -- the fast replay equals the plain one ---------------------------------------------------------------------

# A flapping history of the series the shipped rules read: values at and around every threshold (normal and
# event, clear thresholds), unknown values (failed probes, "nothing to measure"), probes that stop for a while
# (stale), the guards of the scaling rules, and the SLO counters with bursts of errors.
FLAPPING: dict[str, tuple[float, list[float | None]]] = {  # signal -> (interval, values to pick from)
    "http_up": (10.0, [1.0, 1.0, 1.0, 0.0, None]),
    "probe_success": (10.0, [1.0, 1.0, 1.0, 0.0, None]),
    "api_error_ratio": (15.0, [0.0, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.12, None]),
    "api_latency_p95_seconds": (15.0, [0.3, 0.5, 0.6, 0.8, 0.9, 1.0, 1.2, 1.5, 1.8, 2.0, 2.5, None]),
    "api_cpu_ratio": (15.0, [0.2, 0.3, 0.5, 0.7, 0.75, 0.8, 0.85]),
    "api_scale_up_room": (15.0, [0.0, 1.0, None]),
    "api_scale_down_room": (15.0, [0.0, 1.0]),
    "synthetic_success": (30.0, [1.0, 1.0, 0.0, None]),
}
FILL = {"target": "api-metrics", "flow": "login-and-sessions", "route": "*", "kind": "api_metrics", "step": "login"}


def flapping_history(seed: int, start: float, end: float) -> list[Observation]:
    import random

    from monitor.core.observation import NOTHING_TO_MEASURE
    from monitor.core.signals import CATALOG

    rng = random.Random(seed)
    out: list[Observation] = []
    series = [(s, {k: FILL[k] for k in CATALOG[s].labels}) for s in FLAPPING]
    series += [("http_up", {"target": "api-health"}), ("probe_success", {"target": "api-health", "kind": "http"}),
               ("http_up", {"target": "frontend"})]
    for signal, labels in series:
        every, values = FLAPPING[signal]
        t, value = start + rng.uniform(0, every), values[0]
        while t <= end:
            if rng.random() < 0.01:
                t += rng.choice([60.0, 120.0, 300.0])  # the probe stops: its last value goes stale
            if rng.random() < 0.03:
                value = rng.choice(values)
            error = (NOTHING_TO_MEASURE if rng.random() < 0.5 else "timeout") if value is None else None
            out.append(Observation(signal, value, round(t, 3), labels, error))
            t += every
    t, requests, errors, slow = start + 3.0, 0.0, 0.0, 0.0
    while t <= end:  # the SLO counters: bursts of 5xx and slow requests
        burst = 0.5 if (t - start) % 3600 < rng.choice([0, 300, 900]) else 0.0
        requests, errors, slow = requests + 500, errors + 500 * burst, slow + 500 * burst * rng.random()
        base = {"target": "api-metrics"}
        out += [Observation("api_requests_counted", requests, t, base),
                Observation("api_requests_5xx_counted", errors, t, base),
                Observation("api_requests_le_counted", requests, t, {**base, "le": "+Inf"}),
                Observation("api_requests_le_counted", requests - slow, t, {**base, "le": "0.5"})]
        t += 15.0
    return sorted(out, key=lambda o: (o.timestamp, o.signal, sorted(o.labels.items())))


def replay_with(config: Config, history: list[Observation], start: float, end: float, every: bool) -> ReplayResult:
    store = ReplayStore()
    service = AlertService(config, store, set(config.channels.root), clock=lambda: 0.0)
    inputs = BurnInputs(config.slos, config.event, [t.name for t in config.targets.api_metrics])
    return Replay(service, store, interval=config.alerting.evaluation_interval,
                  event_interval=config.alerting.event_evaluation_interval, derived=[inputs],
                  every_cycle=every).run(history, start, end)


@pytest.mark.parametrize("seed", [1, 2])
def test_skipping_quiet_cycles_gives_exactly_the_alerts_of_evaluating_every_cycle(tmp_path: Path, seed: int) -> None:
    start = datetime(2026, 1, 28, 6, tzinfo=UTC).timestamp()  # the event window opens at 08:00 UTC
    end = start + 4 * 3600
    config = shipped(tmp_path, "silences:\n  declared:\n    - {matchers: ['alertname=ApiDown'], "
                               "starts_at: '2026-01-28T06:05:00Z', ends_at: '2026-01-28T07:40:00Z', "
                               "author: ops, reason: drill}\n"
                               "    - {matchers: ['alertname=ProbeUnknown'], starts_at: '2026-01-28T06:20:00Z', "
                               "ends_at: '2026-01-28T07:40:00Z', author: ops, reason: drill}\n"
                               "maintenance:\n  - {name: deploy, timezone: UTC, start: '2026-01-28T08:10:00', "
                               "end: '2026-01-28T09:30:00', matchers: ['alertname=FrontendDown']}\n")
    history = flapping_history(seed, start - 600, end)
    fast = replay_with(config, history, start, end, every=False)
    plain = replay_with(config, history, start, end, every=True)
    assert [a.to_dict(end) for a in fast.alerts] == [a.to_dict(end) for a in plain.alerts]
    assert plain.evaluations == plain.ticks and fast.evaluations < plain.ticks
    # the history exercised what the fast path reasons about
    rules = {a.rule for a in plain.alerts}
    assert {"ApiDown", "FrontendDown", "ProbeUnknown", "ErrorRateHigh", "LatencyP95High"} <= rules
    assert any(r.startswith("Scale") for r in rules) and any(r.startswith("SloBurn") for r in rules)
    assert {a.held.split()[0] for a in plain.alerts if a.held} >= {"silenced", "maintenance"}
    kinds = {p.kind for a in plain.alerts for p in a.pages}
    assert {"firing", "resolved"} <= kinds and kinds & {"reminder", "escalation"}
