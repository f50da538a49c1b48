"""The rules' deploy values (deployment-day checklist: error rate < 1%, p95 < 500 ms) with the shipped catalog."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alerts.engine import AlertEngine
from alerts.model import State
from alerts.rules import DEFAULT_RULES, Rule, load_rules
from monitor.core.observation import Observation

T0 = 1_769_600_000.0
RULES = {r.name: r for r in DEFAULT_RULES}


def run(signal: str, labels: dict[str, str], value: float, minutes: float, in_deploy: bool,
        in_event: bool = False) -> set[str]:
    """The shipped rules over `minutes` of a steady value, every 10 s: the rules firing at the end."""
    engine = AlertEngine(DEFAULT_RULES)
    for i in range(int(minutes * 6) + 1):
        now = T0 + 10 * i
        engine.evaluate([Observation(signal, value, now, labels)], now, in_event, in_deploy)
    return {a.rule for a in engine.alerts((State.FIRING,))}


def test_a_2_percent_error_rate_after_a_deploy_alerts_and_not_without_one() -> None:
    labels = {"target": "api-metrics"}
    assert "ErrorRateHigh" in run("api_error_ratio", labels, 0.02, 3, in_deploy=True)
    assert "ErrorRateHigh" not in run("api_error_ratio", labels, 0.02, 30, in_deploy=False)
    assert "ErrorRateHigh" not in run("api_error_ratio", labels, 0.009, 30, in_deploy=True)  # under 1%


def test_a_600ms_p95_after_a_deploy_alerts_and_not_without_one() -> None:
    labels = {"target": "api-metrics", "route": "*"}
    assert "LatencyP95Elevated" in run("api_latency_p95_seconds", labels, 0.6, 3, in_deploy=True)
    assert "LatencyP95Elevated" not in run("api_latency_p95_seconds", labels, 0.6, 30, in_deploy=False)
    assert "LatencyP95Elevated" in run("api_latency_p95_seconds", labels, 0.6, 3, in_deploy=True, in_event=True)


def test_deploy_values_go_on_top_of_the_event_values() -> None:
    rule = RULES["ErrorRateHigh"]
    assert rule.params(True).threshold == 0.03 and rule.params(True, True).threshold == 0.01
    assert rule.params(False, False).threshold == 0.05


def test_deploy_overrides_merge_and_are_checked_like_event_ones() -> None:
    [rule] = [r for r in load_rules({"overrides": {"ErrorRateHigh": {"deploy": {"threshold": 0.02}}}})
              if r.name == "ErrorRateHigh"]
    assert rule.params(False, True).threshold == 0.02 and rule.params(False, True).for_ == 120  # `for` kept
    with pytest.raises(ValidationError, match=r"deploy\.clear_threshold"):
        Rule.model_validate({"name": "X", "tier": "high", "signal": "api_error_ratio", "comparison": ">",
                             "threshold": 0.05, "deploy": {"threshold": 0.01, "clear_threshold": 0.02}})
