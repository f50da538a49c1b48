"""The `slos:` section: defaults, user SLOs, and clear errors that name the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from alerts.model import Tier
from monitor.config import load_config
from slo.spec import (
    API_LATENCY_BUCKETS,
    DEFAULT_SLOS,
    LatencySli,
    ProbesSli,
    RequestsSli,
    SlosConfig,
    cross_check,
    parse_objective,
    parse_slos,
)
from slo.windows import DAY
from tests.support.paths import REPO


def test_defaults_are_the_spec_slos() -> None:
    slos = parse_slos(None)
    got = {s.name: (s.objective, s.sli.kind) for s in slos.effective()}
    assert got == {"availability": (0.995, "requests"), "health-checks": (0.995, "probes"),
                   "latency": (0.95, "latency")}
    latency = next(s for s in slos.effective() if s.name == "latency")
    assert isinstance(latency.sli, LatencySli) and latency.sli.threshold == 0.5
    assert slos.rolling_period == 30 * DAY
    assert (slos.tiers.page, slos.tiers.ticket) == (Tier.CRITICAL, Tier.MEDIUM)


def test_user_slos_are_added_and_a_same_name_replaces_a_default() -> None:
    slos = parse_slos({"objectives": [
        {"name": "availability", "objective": "99.9%", "sli": {"kind": "requests"}},
        {"name": "login-fast", "objective": 0.99, "sli": {"kind": "latency", "threshold": "1s"}, "periods": ["event"]},
        {"name": "logins", "objective": "99%", "sli": {"kind": "probes", "sources": [
            {"signal": "synthetic_success", "labels": {"flow": "login-and-sessions"}}], "unknown": "ignore"}},
    ]})
    specs = {s.name: s for s in slos.effective()}
    assert list(specs) == ["availability", "health-checks", "latency", "login-fast", "logins"]
    assert specs["availability"].objective == 0.999
    assert specs["login-fast"].periods == ["event"]
    assert isinstance(specs["logins"].sli, ProbesSli) and specs["logins"].sli.unknown == "ignore"
    only = parse_slos({"include_defaults": False, "objectives": [{"name": "a", "objective": 0.9,
                                                                  "sli": {"kind": "requests"}}]})
    assert [s.name for s in only.effective()] == ["a"]


@pytest.mark.parametrize(("text", "value"), [("99.5%", 0.995), ("99.9 %", 0.999), (0.95, 0.95), ("0.999", 0.999)])
def test_objectives(text: Any, value: float) -> None:
    assert parse_objective(text) == value


def _error(section: dict[str, Any]) -> tuple[tuple[Any, ...], str]:
    with pytest.raises(ValidationError) as info:
        parse_slos(section)
    err = info.value.errors()[0]
    return tuple(err["loc"]), err["msg"]


def _slo(**sli_and_more: Any) -> dict[str, Any]:
    return {"objectives": [{"name": "x", "objective": 0.99, **sli_and_more}]}


@pytest.mark.parametrize(("section", "loc", "message"), [
    (_slo(sli={"kind": "requests"}, objective=99.5), ("objectives", 0, "objective"), 'write "99.5%" or 0.995'),
    (_slo(sli={"kind": "requests"}, objective="100%"), ("objectives", 0, "objective"), "has no error budget"),
    (_slo(sli={"kind": "requests"}, objective="most"), ("objectives", 0, "objective"), "is not a fraction"),
    (_slo(sli={"kind": "nope"}), ("objectives", 0, "sli"), "unknown SLI kind 'nope'"),
    (_slo(sli={}), ("objectives", 0, "sli"), "kind: required"),
    (_slo(sli={"kind": "latency", "threshold": "420ms"}), ("objectives", 0, "sli", "latency", "threshold"),
     "420ms is not a bucket bound"),
    (_slo(sli={"kind": "probes", "sources": [{"signal": "api_error_ratio"}]}),
     ("objectives", 0, "sli", "probes", "sources", 0), "not a pass/fail signal"),
    (_slo(sli={"kind": "probes", "sources": [{"signal": "http_upp"}]}),
     ("objectives", 0, "sli", "probes", "sources", 0), "did you mean 'http_up'"),
    (_slo(sli={"kind": "probes", "sources": [{"signal": "http_up", "labels": {"flow": "a"}}]}),
     ("objectives", 0, "sli", "probes", "sources", 0), "has no label 'flow'"),
    (_slo(sli={"kind": "requests"}, periods=["weekly"]), ("objectives", 0, "periods", 0), "'rolling' or 'event'"),
    (_slo(sli={"kind": "requests"}, colour="red"), ("objectives", 0, "colour"), "Extra inputs"),
    ({"objectives": [{"name": "Bad Name", "objective": 0.9, "sli": {"kind": "requests"}}]},
     ("objectives", 0, "name"), "should match pattern"),
    ({"objectives": [{"name": "a", "objective": 0.9, "sli": {"kind": "requests"}}] * 2}, ("objectives",),
     "SLO name a is used more than once"),
    ({"rolling_period": "2h"}, ("rolling_period",), "at least 1d"),
    ({"tiers": {"page": "urgent"}}, ("tiers", "page"), "Input should be"),
    ({"report": {"time": 1800}}, ("report", "time"), "quoted string"),
])
def test_errors_name_the_field(section: dict[str, Any], loc: tuple[Any, ...], message: str) -> None:
    got_loc, msg = _error(section)
    assert got_loc == loc
    assert message in msg


def test_cross_check_names_unknown_targets_and_short_retention() -> None:
    slos = parse_slos({"objectives": [{"name": "a", "objective": 0.9, "sli": {"kind": "requests", "target": "nope"}}]})
    problems = cross_check(slos, ["api-metrics"], retention=7 * DAY)
    assert (("slos", "objectives", 0, "sli", "target"),
            "no api_metrics target named 'nope' (targets.api_metrics: api-metrics)") in problems
    assert any(loc == ("store", "retention") and "30 days" in msg for loc, msg in problems)
    ambiguous = cross_check(parse_slos(None), ["a", "b"])
    assert len(ambiguous) == 2 and all("name one with sli.target" in m for _, m in ambiguous)
    assert cross_check(parse_slos(None), ["api-metrics"], retention=30 * DAY) == []


def test_the_bucket_list_matches_the_api_contract() -> None:
    from app.metrics import LATENCY_BUCKETS

    assert API_LATENCY_BUCKETS == LATENCY_BUCKETS


def test_the_repository_config_has_valid_slos(tmp_path: Path) -> None:
    config = load_config(REPO / "monitor.yml", environ={})
    slos = parse_slos(config.slos if isinstance(config.slos, SlosConfig | dict) else None)
    assert [s.name for s in slos.effective()][:3] == [s.name for s in DEFAULT_SLOS]
    assert isinstance(DEFAULT_SLOS[0].sli, RequestsSli)
