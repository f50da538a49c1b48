"""Inhibition: a firing cause mutes the alerts it causes; the muted alerts keep their state."""

from __future__ import annotations

from alerts.engine import AlertEngine
from alerts.inhibition import InhibitRule, inhibited
from alerts.model import Alert, State, Tier
from alerts.rules import DEFAULT_RULES
from monitor.core.observation import Observation

T0 = 1_769_600_000.0


def alert(rule: str, state: State = State.FIRING, tier: Tier = Tier.HIGH, **labels: str) -> Alert:
    return Alert(rule=rule, tier=tier, labels={**labels, "alertname": rule, "tier": tier.value}, state=state)


def test_api_down_mutes_latency_error_and_pool_alerts_of_any_target() -> None:
    down = alert("ApiDown", tier=Tier.CRITICAL, target="api-health")
    effects = [alert(name, target="api-metrics") for name in (
        "LatencyP95High", "LatencyP95Elevated", "ErrorRateCritical", "ErrorRateHigh", "ErrorSpike",
        "DbPoolExhausted", "DbPoolRequestsWaiting", "DbPoolHigh")]
    unrelated = [alert("RedisDown", target="redis"), alert("TlsCertExpiring", target="api-health"),
                 alert("DiskUsageHigh", target="host", path="/")]
    muted = inhibited([down, *effects, *unrelated])
    assert muted == {a.id for a in effects}
    assert down.id not in muted


def test_only_a_firing_cause_mutes() -> None:
    effect = alert("ErrorRateHigh", target="api-metrics")
    assert inhibited([alert("ApiDown", State.PENDING, target="api-health"), effect]) == set()
    assert inhibited([alert("ApiDown", State.RESOLVED, target="api-health"), effect]) == set()
    assert inhibited([effect]) == set()


def test_database_down_mutes_pool_and_slow_query_alerts() -> None:
    db_down = alert("PostgresDown", target="db")
    pool = alert("DbPoolExhausted", tier=Tier.CRITICAL, target="api-metrics")
    slow = alert("SlowQueries", tier=Tier.MEDIUM, target="db")
    errors = alert("ErrorRateCritical", tier=Tier.CRITICAL, target="api-metrics")
    assert inhibited([db_down, pool, slow, errors]) == {pool.id, slow.id}  # errors still page


def test_equal_labels_limit_the_scope() -> None:
    rule = InhibitRule("same-target", frozenset({"ApiDown"}), frozenset({"ErrorRateHigh"}), equal=("target",))
    down = alert("ApiDown", target="a")
    same, other = alert("ErrorRateHigh", target="a"), alert("ErrorRateHigh", target="b")
    assert inhibited([down, same, other], [rule]) == {same.id}


def test_an_alert_never_mutes_itself() -> None:
    rule = InhibitRule("self", frozenset({"ErrorRateHigh"}), frozenset({"ErrorRateHigh"}))
    one = alert("ErrorRateHigh", target="a")
    assert inhibited([one], [rule]) == set()


def test_inhibited_alerts_keep_their_state_in_the_engine() -> None:
    """The engine's real alerts: the pool alert still fires while muted, and is unmuted when the API is back."""
    engine = AlertEngine(DEFAULT_RULES)

    def cycle(t: float, health: float, pool: float) -> None:
        engine.evaluate([Observation("http_up", health, T0 + t, {"target": "api-health"}),
                         Observation("api_db_pool_utilization", pool, T0 + t, {"target": "api-metrics"})],
                        now=T0 + t, in_event=True)

    for t in range(0, 121, 5):
        cycle(t, 0.0, 1.0)
    firing = {a.rule: a for a in engine.alerts([State.FIRING])}
    assert {"ApiDown", "DbPoolExhausted", "DbPoolHigh"} <= set(firing)
    assert inhibited(engine.alerts()) == {firing["DbPoolExhausted"].id, firing["DbPoolHigh"].id}
    for t in range(125, 150, 5):
        cycle(t, 1.0, 1.0)  # the API answers again, the pool is still exhausted
    assert firing["DbPoolExhausted"].id in {a.id for a in engine.alerts([State.FIRING])}
    assert inhibited(engine.alerts()) == set()
