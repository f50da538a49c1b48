"""The alert state machine, driven by an explicit clock: times are epoch seconds passed to evaluate()."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest

from alerts.engine import AlertEngine, Transition, stale_after
from alerts.model import State, Tier, fingerprint
from alerts.rules import DEFAULT_RULES, Rule, load_rules
from monitor.core.observation import Observation
from tests.support.rule_scenarios import guard_labels, guard_values, series_labels, threshold_values

RULES = {r.name: r for r in DEFAULT_RULES}
T0 = 1_769_600_000.0  # 2026-01-28, a round start for the injected clock


class Driver:
    """Feeds one series to an engine at chosen times and records the transitions."""

    def __init__(self, rules: Iterable[Rule], signal: str, labels: dict[str, str], **engine_args: float) -> None:
        self.engine = AlertEngine(rules, **engine_args)
        self.signal, self.labels = signal, labels
        self.log: list[Transition] = []
        # guards (only_if) that hold throughout: the rule judged on its own series
        self.guards = {(r.only_if.signal, guard_values(r.only_if)[0], tuple(guard_labels(r, labels).items()))
                       for r in self.engine.rules if r.only_if is not None and r.signal == signal}

    def at(self, t: float, value: float | None, in_event: bool = False, age: float = 0.0) -> list[Transition]:
        obs = [Observation(self.signal, value, t - age, self.labels)]
        obs += [Observation(g, v, t, dict(labels)) for g, v, labels in self.guards]
        out = self.engine.evaluate(obs, now=t, in_event=in_event)
        self.log += out
        return out

    def states(self) -> list[tuple[State, State]]:
        return [(t.old_state, t.new_state) for t in self.log]


THRESHOLD_RULES = [r.name for r in DEFAULT_RULES if r.comparison != "unknown"]
MODES = [False, True]


@pytest.mark.parametrize("in_event", MODES, ids=["normal", "event"])
@pytest.mark.parametrize("name", THRESHOLD_RULES)
def test_each_default_rule_fires_after_for_and_resolves_past_clear(name: str, in_event: bool) -> None:
    rule = RULES[name]
    p = rule.params(in_event)
    v = threshold_values(rule, in_event)
    d = Driver([rule], rule.signal, series_labels(rule))

    assert d.at(T0, v["quiet"], in_event) == []  # at the threshold but not past it: nothing
    start = T0 + 10
    first = d.at(start, v["fire"], in_event)
    if p.for_ > 0:
        assert [(t.old_state, t.new_state) for t in first] == [(State.INACTIVE, State.PENDING)]
        assert d.at(start + p.for_ - 1, v["fire"], in_event) == []  # one second short of `for`
        fired = d.at(start + p.for_, v["fire"], in_event)
    else:
        fired = first
    assert [(t.new_state, t.at) for t in fired] == [(State.FIRING, start + p.for_)]
    alert = fired[0].alert
    assert alert.tier is rule.tier
    assert alert.labels == {**series_labels(rule), "alertname": name, "tier": rule.tier.value}
    assert alert.id == fingerprint(name, alert.labels)
    assert alert.threshold == p.threshold and alert.value == v["fire"]
    assert alert.summary and "{" not in alert.summary

    now = start + p.for_ + 1
    hysteresis = p.clear_threshold != p.threshold
    # between threshold and clear threshold: still firing (rules without a band: still past the threshold)
    assert d.at(now, v["band"] if hysteresis else v["fire"], in_event) == []
    last_true = now
    now += 1
    if p.keep_firing_for > 0:
        assert d.at(now, v["clear"], in_event) == []  # past clear, but keep_firing_for has not elapsed
        assert d.at(last_true + p.keep_firing_for - 0.5, v["clear"], in_event) == []
        now = last_true + p.keep_firing_for
    resolved = d.at(now, v["clear"], in_event)
    assert [(t.old_state, t.new_state, t.at) for t in resolved] == [(State.FIRING, State.RESOLVED, now)]
    assert resolved[0].alert.resolved_at == now and resolved[0].alert.fired_at == start + p.for_
    assert d.at(now + 1, v["clear"], in_event) == []


@pytest.mark.parametrize("in_event", MODES, ids=["normal", "event"])
def test_probe_unknown_fires_when_the_probe_cannot_run(in_event: bool) -> None:
    rule = RULES["ProbeUnknown"]
    p = rule.params(in_event)
    d = Driver([rule], "probe_success", {"target": "api-health", "kind": "http"})
    assert d.at(T0, 1.0, in_event) == [] and d.at(T0 + 1, 0.0, in_event) == []  # a failed check is not unknown
    d.at(T0 + 10, None, in_event)
    assert d.at(T0 + 10 + p.for_ - 1, None, in_event) == []
    fired = d.at(T0 + 10 + p.for_, None, in_event)
    assert [(t.new_state, t.alert.tier) for t in fired] == [(State.FIRING, Tier.HIGH)]
    assert fired[0].alert.summary == "The http check api-health cannot run: its result is unknown"
    back = T0 + 20 + p.for_
    assert d.at(back, 1.0, in_event) == []  # keep_firing_for
    assert [t.new_state for t in d.at(back + p.keep_firing_for, 1.0, in_event)] == [State.RESOLVED]


def test_event_mode_uses_the_override() -> None:
    rule = RULES["ErrorRateHigh"]  # 5% for 5 min; in the event 3% for 2 min
    normal = Driver([rule], "api_error_ratio", {"target": "api"})
    event = Driver([rule], "api_error_ratio", {"target": "api"})
    for t in range(0, 301, 30):
        normal.at(T0 + t, 0.04, in_event=False)
        event.at(T0 + t, 0.04, in_event=True)
    assert normal.states() == []
    assert event.states() == [(State.INACTIVE, State.PENDING), (State.PENDING, State.FIRING)]
    assert event.log[1].at == T0 + 120 and event.log[1].alert.threshold == 0.03


def test_entering_the_event_window_mid_pending_uses_the_shorter_for() -> None:
    rule = RULES["ApiDown"]  # 30 s normally, 1 s in the event (a failed check and its re-check)
    d = Driver([rule], "http_up", {"target": "api-health"})
    d.at(T0, 0.0, in_event=False)
    assert d.at(T0 + 0.5, 0.0, in_event=False) == []
    assert [t.new_state for t in d.at(T0 + 1, 0.0, in_event=True)] == [State.FIRING]


def test_api_down_detected_within_15_s_in_event_mode_with_5_s_probes() -> None:
    d = Driver([RULES["ApiDown"]], "http_up", {"target": "api-health"})
    fault = T0 + 2.5  # just after a passing probe at T0
    fired_at = None
    for i in range(1, 10):
        t = T0 + 5 * i
        out = d.at(t, 0.0 if t > fault else 1.0, in_event=True)
        if any(x.new_state is State.FIRING for x in out):
            fired_at = t
            break
    assert fired_at is not None and fired_at - fault <= 15


def test_api_down_only_watches_the_health_target() -> None:
    rule = RULES["ApiDown"]
    engine = AlertEngine([rule])
    out = engine.evaluate([Observation("http_up", 0.0, T0, {"target": "frontend"}),
                           Observation("http_up", 0.0, T0, {"target": "api-health"})], now=T0, in_event=False)
    assert [t.alert.labels["target"] for t in out] == ["api-health"]


def test_latency_rules_watch_all_routes_series_only() -> None:
    rule = RULES["LatencyP95Elevated"]
    engine = AlertEngine([rule])
    out = engine.evaluate([Observation("api_latency_p95_seconds", 5.0, T0, {"target": "api", "route": "/v1/slow"}),
                           Observation("api_latency_p95_seconds", 1.5, T0, {"target": "api", "route": "*"})],
                          now=T0, in_event=False)
    assert [t.alert.labels["route"] for t in out] == ["*"]


def test_one_alert_per_series() -> None:
    rule = RULES["DiskUsageHigh"].model_validate({**RULES["DiskUsageHigh"].model_dump(by_alias=True), "for": 0})
    engine = AlertEngine([rule])
    out = engine.evaluate([Observation("disk_used_ratio", 0.9, T0, {"target": "h", "path": p}) for p in ("/", "/var")],
                          now=T0, in_event=False)
    assert len({t.alert.id for t in out}) == 2
    assert {a.labels["path"] for a in engine.alerts([State.FIRING])} == {"/", "/var"}


def test_pending_that_stops_holding_goes_back_to_inactive_silently() -> None:
    d = Driver([RULES["CpuHigh"]], "api_cpu_ratio", {"target": "api"})
    d.at(T0, 0.95)
    d.at(T0 + 200, 0.5)
    d.at(T0 + 300, 0.95)  # a new pending cycle: the 5 minutes start again
    assert d.at(T0 + 500, 0.95) == []
    assert d.states() == [(State.INACTIVE, State.PENDING), (State.PENDING, State.INACTIVE),
                          (State.INACTIVE, State.PENDING)]
    assert [t.new_state for t in d.at(T0 + 600, 0.95)] == [State.FIRING]


# -- flapping ---------------------------------------------------------------------------------------

def test_flapping_across_the_threshold_is_one_alert() -> None:
    rule = RULES["ErrorRateHigh"]  # > 5%, clear 4%, for 5 min, keep firing 5 min
    d = Driver([rule], "api_error_ratio", {"target": "api"})
    t = T0
    for _ in range(11):  # 5 minutes above the threshold
        d.at(t, 0.07)
        t += 30
    for i in range(40):  # then 20 minutes crossing the threshold every interval, and below clear every other
        d.at(t, 0.07 if i % 2 == 0 else (0.045 if i % 4 == 1 else 0.01))
        t += 30
    assert d.states() == [(State.INACTIVE, State.PENDING), (State.PENDING, State.FIRING)]
    for _ in range(11):  # steady below clear for keep_firing_for: one resolve
        d.at(t, 0.01)
        t += 30
    assert d.states()[2:] == [(State.FIRING, State.RESOLVED)]


def test_flapping_signal_with_immediate_rule_is_one_alert() -> None:
    rule = RULES["DdosSuspected"]  # in the event: fires at once; keep firing 5 min
    d = Driver([rule], "redis_top_client_requests_per_minute", {"target": "redis"})
    t = T0
    for i in range(60):  # 10 minutes, crossing 10,000/min every 10 s
        d.at(t, 12000.0 if i % 2 == 0 else 100.0, in_event=True)
        t += 10
    assert d.states() == [(State.INACTIVE, State.FIRING)]
    for _ in range(31):
        d.at(t, 100.0, in_event=True)
        t += 10
    assert d.states() == [(State.INACTIVE, State.FIRING), (State.FIRING, State.RESOLVED)]


# -- unknown ---------------------------------------------------------------------------------------

def test_unknown_does_not_start_an_alert() -> None:
    for rule in DEFAULT_RULES:
        if rule.comparison == "unknown":
            continue
        d = Driver([rule], rule.signal, series_labels(rule))
        for i in range(10):
            d.at(T0 + 600 * i, None)
        assert d.states() == [], rule.name


def test_no_requests_clears_a_latency_alert_but_a_failed_scrape_holds_it() -> None:
    """Traffic that stops (at night, after the event) leaves nothing to measure: the quantile is NaN in
    Prometheus and compares false, so the alert resolves. A scrape that failed says nothing: it holds."""
    from monitor.core.observation import NOTHING_TO_MEASURE

    rule = RULES["LatencyP95High"]
    for error, resolves in ((NOTHING_TO_MEASURE, True), ("connect: connection refused", False)):
        engine = AlertEngine([rule])
        labels = series_labels(rule)
        t = T0
        while not engine.alerts((State.FIRING,)):
            engine.evaluate([Observation(rule.signal, 10.0, t, labels)], t, in_event=False)
            t += 10
        for _ in range(int(rule.keep_firing_for / 10) + 3):
            engine.evaluate([Observation(rule.signal, None, t, labels, error=error)], t, in_event=False)
            t += 10
        assert (engine.alerts((State.FIRING,)) == []) is resolves, error
        pending = AlertEngine([rule])
        pending.evaluate([Observation(rule.signal, 10.0, t, labels)], t, in_event=False)
        pending.evaluate([Observation(rule.signal, None, t + 10, labels, error=error)], t + 10, in_event=False)
        assert (pending.alerts((State.PENDING,)) == []) is resolves, error  # nothing to measure ends it too


def test_a_pending_timer_restored_after_a_long_stop_starts_over() -> None:
    """`for: 15m` means held for 15 minutes as observed: a monitor stopped for 50 minutes with the alert
    pending must not page on its first evaluation after the restart (Prometheus: for-outage-tolerance)."""
    rule = RULES["ScaleDownCpu"].model_copy(update={"only_if": None})  # the timer, not the replica guard
    labels = series_labels(rule)
    low = rule.params(False).threshold / 2
    before = AlertEngine([rule])
    for t in range(0, 120, 30):
        before.evaluate([Observation(rule.signal, low, T0 + t, labels)], T0 + t, in_event=False)
    after = AlertEngine([rule])
    after.restore(json.loads(json.dumps(before.snapshot())))
    restart = T0 + 90 + 50 * 60
    assert after.evaluate([Observation(rule.signal, low, restart, labels)], restart, in_event=False) == []
    t = restart
    while not after.alerts((State.FIRING,)):
        t += 30
        after.evaluate([Observation(rule.signal, low, t, labels)], t, in_event=False)
    assert t - restart >= rule.params(False).for_
    short = AlertEngine([rule])  # a restart of two minutes keeps the timer
    short.restore(json.loads(json.dumps(before.snapshot())))
    t = T0 + 90 + 120
    while not short.alerts((State.FIRING,)):
        t += 30
        short.evaluate([Observation(rule.signal, low, t, labels)], t, in_event=False)
    assert t - T0 < rule.params(False).for_ + 150


def test_pending_holds_while_unknown_and_fires_on_the_next_known_value() -> None:
    d = Driver([RULES["ApiDown"]], "http_up", {"target": "api-health"})
    d.at(T0, 0.0)
    assert d.at(T0 + 40, None) == []  # `for` has elapsed, but unknown does not confirm
    assert d.engine.alerts()[0].state is State.PENDING and d.engine.alerts()[0].value is None
    assert [(t.new_state, t.alert.active_since) for t in d.at(T0 + 50, 0.0)] == [(State.FIRING, T0)]


def test_pending_then_unknown_then_healthy_is_inactive() -> None:
    d = Driver([RULES["ApiDown"]], "http_up", {"target": "api-health"})
    d.at(T0, 0.0)
    d.at(T0 + 10, None)
    assert [t.new_state for t in d.at(T0 + 20, 1.0)] == [State.INACTIVE]


def test_firing_stays_firing_while_unknown() -> None:
    d = Driver([RULES["RedisDown"]], "redis_up", {"target": "redis"})
    d.at(T0, 0.0)
    d.at(T0 + 60, 0.0)
    assert d.states()[-1] == (State.PENDING, State.FIRING)
    for i in range(1, 100):  # an hour of unknown: never read as healthy
        assert d.at(T0 + 60 + 30 * i, None) == []
    assert d.engine.alerts()[0].state is State.FIRING and d.engine.alerts()[0].value is None
    assert [t.new_state for t in d.at(T0 + 4000, 1.0)] == [State.RESOLVED]  # last held long ago


def test_nan_is_unknown() -> None:
    d = Driver([RULES["ErrorRateCritical"]], "api_error_ratio", {"target": "api"})
    assert d.at(T0, float("nan")) == []


def test_series_not_passed_hold_their_alerts() -> None:
    engine = AlertEngine([RULES["RedisDown"]])
    down = Observation("redis_up", 0.0, T0, {"target": "redis"})
    engine.evaluate([down], now=T0, in_event=False)
    engine.evaluate([Observation("redis_up", 0.0, T0 + 60, {"target": "redis"})], now=T0 + 60, in_event=False)
    assert engine.evaluate([], now=T0 + 3600, in_event=False) == []
    assert engine.alerts()[0].state is State.FIRING


# -- stale data ------------------------------------------------------------------------------------

def test_stale_observation_is_unknown() -> None:
    rule = RULES["ApiDown"]
    d = Driver([rule], "http_up", {"target": "api-health"}, max_age=90.0)
    assert d.at(T0, 0.0, age=91) == []  # a stale failure does not start an alert
    d.at(T0 + 10, 0.0)
    assert d.at(T0 + 40, 0.0, age=100) == []  # nor confirm one
    assert [t.new_state for t in d.at(T0 + 41, 0.0, age=5)] == [State.FIRING]
    assert d.at(T0 + 200, 1.0, age=120) == []  # a stale success does not resolve it
    assert d.engine.alerts()[0].state is State.FIRING


def test_stale_probe_result_fires_probe_unknown() -> None:
    rule = RULES["ProbeUnknown"]
    ages = stale_after({"api-health": 90.0, "deps": 3 * 86400.0})
    engine = AlertEngine([rule], max_age=ages)
    last_run = T0
    health = Observation("probe_success", 1.0, last_run, {"target": "api-health", "kind": "http"})
    deps = Observation("probe_success", 1.0, last_run, {"target": "deps", "kind": "deps"})
    fired = []
    for minute in range(0, 15):  # the scheduler stopped: the store keeps returning the last results
        fired += [t for t in engine.evaluate([health, deps], now=T0 + 60 * minute, in_event=False)
                  if t.new_state is State.FIRING]
    assert [t.alert.labels["target"] for t in fired] == ["api-health"]  # the daily deps check is not stale yet
    assert fired[0].at == T0 + 120 + 300  # stale after 90 s (seen at the 2-minute evaluation), then `for`


# -- resolved retention and restarts -----------------------------------------------------------------

def test_resolved_alerts_are_forgotten_after_retention_and_can_fire_again() -> None:
    rule = Rule.model_validate({"name": "Down", "tier": "high", "signal": "redis_up", "comparison": "==",
                                "threshold": 0})
    d = Driver([rule], "redis_up", {"target": "r"}, resolved_retention=600.0)
    d.at(T0, 0.0)
    d.at(T0 + 10, 1.0)
    assert [a.state for a in d.engine.alerts()] == [State.RESOLVED]
    d.at(T0 + 300, 0.0)  # again within retention: a new cycle on the same alert id
    assert d.states()[-1] == (State.RESOLVED, State.FIRING)
    d.at(T0 + 310, 1.0)
    d.at(T0 + 910, 1.0)
    assert d.engine.alerts() == []


def _roundtrip(engine: AlertEngine, rules: Iterable[Rule]) -> AlertEngine:
    restored = AlertEngine(rules)
    restored.restore(json.loads(json.dumps(engine.snapshot())))
    return restored


def test_restart_mid_pending_keeps_the_timer() -> None:
    rule = RULES["ErrorRateCritical"]  # 10% for 2 minutes
    engine = AlertEngine([rule])
    high = Observation("api_error_ratio", 0.2, T0, {"target": "api"})
    engine.evaluate([high], now=T0, in_event=False)
    engine.evaluate([high], now=T0 + 60, in_event=False)
    restarted = _roundtrip(engine, [rule])
    assert [(a.state, a.active_since) for a in restarted.alerts()] == [(State.PENDING, T0)]
    out = restarted.evaluate([Observation("api_error_ratio", 0.2, T0 + 120, {"target": "api"})],
                             now=T0 + 120, in_event=False)
    assert [(t.old_state, t.new_state) for t in out] == [(State.PENDING, State.FIRING)]


def test_restart_mid_firing_keeps_state_and_keep_firing_for() -> None:
    rule = RULES["ErrorRateCritical"]  # clear 8%, keep firing 5 minutes
    engine = AlertEngine([rule])
    for t in (0, 120, 130):
        engine.evaluate([Observation("api_error_ratio", 0.2, T0 + t, {"target": "api"})], now=T0 + t, in_event=False)
    before = engine.alerts()[0]
    restarted = _roundtrip(engine, [rule])
    after = restarted.alerts()[0]
    assert (after.id, after.state, after.fired_at, after.last_true, after.summary) == \
        (before.id, State.FIRING, T0 + 120, T0 + 130, before.summary)
    ok = lambda t: Observation("api_error_ratio", 0.01, T0 + t, {"target": "api"})  # noqa: E731
    assert restarted.evaluate([ok(140)], now=T0 + 140, in_event=False) == []  # no re-notification on restart
    assert restarted.evaluate([ok(400)], now=T0 + 400, in_event=False) == []
    assert [t.new_state for t in restarted.evaluate([ok(430)], now=T0 + 430, in_event=False)] == [State.RESOLVED]


def test_restore_drops_alerts_of_removed_or_disabled_rules() -> None:
    engine = AlertEngine([RULES["RedisDown"], RULES["PostgresDown"]])
    engine.evaluate([Observation("redis_up", 0.0, T0, {"target": "r"}), Observation("postgres_up", 0.0, T0,
                                                                                      {"target": "p"})],
                    now=T0, in_event=False)
    rules = load_rules({"disabled": ["PostgresDown"]})
    restarted = _roundtrip(engine, rules)
    assert [a.rule for a in restarted.alerts()] == ["RedisDown"]
    with pytest.raises(ValueError, match="version"):
        restarted.restore({"version": 99, "alerts": []})


def test_disabled_rules_are_not_evaluated() -> None:
    rules = load_rules({"disabled": ["RedisDown"]})
    engine = AlertEngine(rules)
    assert engine.evaluate([Observation("redis_up", 0.0, T0, {"target": "r"})], now=T0, in_event=False) == []
    with pytest.raises(ValueError, match="duplicate rule names: ApiDown"):
        AlertEngine([RULES["ApiDown"], RULES["ApiDown"]])


def test_transitions_are_copies() -> None:
    d = Driver([RULES["BackupFailed"]], "backup_success", {"target": "b"})
    fired = d.at(T0, 0.0)[0]
    d.at(T0 + 1000, 1.0)
    assert fired.alert.state is State.FIRING and fired.alert.resolved_at is None


def test_full_catalog_over_many_series() -> None:
    """Every default rule at once, over a few targets: only the breached ones fire."""
    engine = AlertEngine(DEFAULT_RULES)
    obs = []
    for i in range(3):
        target = f"api-{i}"
        obs += [Observation("api_error_ratio", 0.2 if i == 0 else 0.0, T0, {"target": target}),
                Observation("api_cpu_ratio", 0.5, T0, {"target": target}),
                Observation("probe_success", 1.0, T0, {"target": target, "kind": "api_metrics"})]
    out = []
    for t in range(0, 601, 30):  # evaluated every 30 s for 10 minutes
        out += engine.evaluate([Observation(o.signal, o.value, T0 + t, o.labels) for o in obs], now=T0 + t,
                               in_event=False)
    assert sorted(t.alert.rule for t in out if t.new_state is State.FIRING) == ["ErrorRateCritical", "ErrorRateHigh"]


@pytest.mark.parametrize("comparison", [">", ">=", "<", "<=", "==", "!="])
@pytest.mark.parametrize("size", [12, 60], ids=["scan", "sorted"])
def test_big_and_small_groups_select_the_same_series(comparison: str, size: int) -> None:
    """Big groups are searched on sorted values, small ones scanned: both pick exactly the series past the threshold."""
    rule = Rule.model_validate({"name": "R", "tier": "low", "signal": "api_cpu_ratio", "comparison": comparison,
                                "threshold": 0.5})
    values = [None if i % 7 == 0 else round((i % 11) / 10, 1) for i in range(size)]  # repeats, 0.5 itself, unknowns
    engine = AlertEngine([rule])
    out = engine.evaluate([Observation("api_cpu_ratio", v, T0, {"target": f"t{i}"}) for i, v in enumerate(values)],
                          now=T0, in_event=False)
    op = {">": float.__gt__, ">=": float.__ge__, "<": float.__lt__, "<=": float.__le__, "==": float.__eq__,
          "!=": float.__ne__}[comparison]
    expected = {f"t{i}" for i, v in enumerate(values) if v is not None and op(v, 0.5)}
    assert expected and {t.alert.labels["target"] for t in out} == expected


def test_restore_drops_series_the_rule_no_longer_selects() -> None:
    engine = AlertEngine([RULES["ApiDown"]])
    engine.evaluate([Observation("http_up", 0.0, T0, {"target": "api-health"})], now=T0, in_event=False)
    moved = load_rules({"overrides": {"ApiDown": {"labels": {"target": "prod-health"}}}})
    assert _roundtrip(engine, moved).alerts() == []
    assert len(_roundtrip(engine, DEFAULT_RULES).alerts()) == 1


def test_a_held_alert_keeps_the_value_that_fired_it_in_its_summary() -> None:
    # The real-time soak's escalation read "ErrorSpike: 0/min unhandled exceptions": sent while keep_firing_for
    # held the alert after the errors stopped. The summary says what fired it; `value` says what it is now.
    rule = RULES["ErrorSpike"]
    d = Driver([rule], rule.signal, series_labels(rule))
    for step in range(0, 90, 5):
        d.at(T0 + step, 13.0)
    d.at(T0 + 95, 0.0)
    d.at(T0 + 100, None)
    alert = d.engine.alerts()[0]
    assert alert.state is State.FIRING
    assert alert.summary.startswith("13/min unhandled exceptions"), alert.summary
    assert alert.value is None
    d.at(T0 + 105, 30.0)  # firing again on a new value: the summary follows it
    assert d.engine.alerts()[0].summary.startswith("30/min")
