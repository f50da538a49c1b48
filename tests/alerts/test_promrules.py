"""Prometheus rules generated from the rule catalog: promtool checks them, promtool's unit tests and the embedded
engine agree on the same scenarios, and the committed files equal the generator's output."""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts.promrules import (
    ALERTS_FILE,
    EVENT_MODE_METRIC,
    LAST_RUN_METRIC,
    RECORDING_FILE,
    SLO_FILE,
    UNKNOWN_METRIC,
    alert_groups,
    annotation_template,
    dump_groups,
    prom_number,
    recording_groups,
    rule_files,
    rule_modes,
)
from alerts.rules import DEFAULT_RULES, Rule, load_rules
from monitor.cli import export as cli_export
from monitor.config import load_config
from monitor.core.promql import histogram_quantile, rate
from monitor.core.signals import CATALOG
from monitor.core.timeutil import prom_duration
from tests.support import rule_scenarios
from tests.support.paths import REPO
from tests.support.rule_scenarios import Scenario, default_scenarios, go_float, humanize_duration, run_engine

COMMITTED = REPO / "prometheus" / "rules"
SCENARIOS = default_scenarios()


def run_promtool(promtool: str, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120)


def write_files(files: dict[str, str], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return [directory / name for name in files]


# -- the export passes promtool check ---------------------------------------------------------------

def test_promtool_check_rules_passes_on_the_export(promtool: str, tmp_path: Path) -> None:
    paths = write_files(rule_files(DEFAULT_RULES), tmp_path)
    result = run_promtool(promtool, "check", "rules", *paths, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    alerting = sum(len(rule_modes(r)) for r in DEFAULT_RULES) + 1  # + ConvergeMonitorDown
    assert f"SUCCESS: {alerting} rules found" in result.stdout
    assert f"SUCCESS: {len(recording_groups()[0]['rules'])} rules found" in result.stdout


def test_promtool_check_rules_passes_with_overrides_and_custom_rules(promtool: str, tmp_path: Path) -> None:
    rules = load_rules({
        "overrides": {"ApiDown": {"labels": {"target": 'we"ird\\name'}}, "ErrorRateHigh": {"threshold": 0.03}},
        "disabled": ["ScaleDownCpu"],
        "custom": [
            {"name": "SyntheticLoginFailing", "tier": "high", "signal": "synthetic_success", "comparison": "==",
             "threshold": 0, "for": 90, "summary": "Flow {flow} fails at {value}; {{ is literal"},
            {"name": "SyntheticUnknown", "tier": "low", "signal": "synthetic_success", "comparison": "unknown",
             "labels": {"flow": "login"}, "for": "500ms"},
            {"name": "HttpProbeUnknown", "tier": "low", "signal": "probe_success", "comparison": "unknown",
             "labels": {"kind": "http"}},
        ],
    })
    paths = write_files(rule_files(rules), tmp_path)
    result = run_promtool(promtool, "check", "rules", *paths, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    text = paths[0].read_text()
    assert "ScaleDownCpu" not in text
    assert 'converge_http_up{target="we\\"ird\\\\name"} == 0' in text
    assert "for: 1m30s" in text and "for: 500ms" in text
    assert '; {{ "{{" }} is literal' in text  # literal braces survive Go templating


def test_every_metric_the_alerts_read_exists() -> None:
    """The contract: rules name only catalog signals (and the monitor's own metrics)."""
    text = rule_files(DEFAULT_RULES)[ALERTS_FILE]
    known = {s.metric_name for s in CATALOG.values()} | {EVENT_MODE_METRIC, UNKNOWN_METRIC, LAST_RUN_METRIC}
    used = set(re.findall(r"\bconverge_[a-z0-9_]+", text))
    assert used and used <= known, used - known
    for signal in re.findall(r'signal="([a-z0-9_]+)"', text):
        assert signal in CATALOG


def test_rules_carry_tier_severity_for_and_keep_firing_for() -> None:
    groups = {g["name"]: g["rules"] for g in alert_groups(DEFAULT_RULES)}
    normal = {r["alert"]: r for r in groups["converge-alerts"]}
    event = {r["alert"]: r for r in groups["converge-alerts-event"]}
    api_down = normal["ApiDown"]
    assert api_down["labels"] == {"severity": "critical", "tier": "critical", "mode": "normal"}
    assert (api_down["for"], api_down["keep_firing_for"]) == ("30s", "30s")
    assert (event["ApiDown"]["for"], event["ApiDown"]["keep_firing_for"]) == ("1s", "10s")
    assert "converge_monitor_event_mode == 0" in api_down["expr"]
    assert "converge_monitor_event_mode == 1" in event["ApiDown"]["expr"]
    assert event["LatencyP95High"]["annotations"]["summary"].endswith("(threshold 1.50s)")
    # rules the event override does not change are one rule for both modes, without a mode label
    vuln = normal["DependencyVulnerability"]
    assert "DependencyVulnerability" not in event and "mode" not in vuln["labels"] and "for" not in vuln
    assert "event_mode" not in vuln["expr"]
    assert normal["ConvergeMonitorDown"]["labels"]["severity"] == "critical"


def test_each_rule_exports_the_same_whatever_else_is_exported() -> None:
    """The scenario tests export one rule at a time; the full file holds exactly those rules."""
    full = {(g["name"], r["alert"]): r for g in alert_groups(DEFAULT_RULES) for r in g["rules"]}
    for rule in DEFAULT_RULES:
        for group in alert_groups([rule], monitor_job=None):
            for exported in group["rules"]:
                assert full[(group["name"], exported["alert"])] == exported


def test_small_pieces() -> None:
    assert [prom_duration(s) for s in (0, 0.5, 5, 90, 300, 3600, 86400 + 61)] == \
        ["0s", "500ms", "5s", "1m30s", "5m", "1h", "1d1m1s"]
    assert [prom_number(v) for v in (2.0, 0.05, -1.0, 1e-5, 10000.0)] == ["2", "0.05", "-1", "1e-05", "10000"]
    rule = Rule.model_validate({"name": "R", "tier": "low", "signal": "synthetic_success", "comparison": "==",
                                "threshold": 0, "summary": "{flow} on {target}: {value} / {threshold}"})
    assert annotation_template(rule.summary, rule, 0.0) == \
        "{{ $labels.flow }} on : {{ if ne $value $value }}unknown{{ else }}{{ $value }}{{ end }} / 0"
    with pytest.raises(ValueError, match="duration must be"):
        prom_duration(-1)


def test_an_unknown_rule_prometheus_cannot_tell_apart_is_refused_by_name() -> None:
    rule = Rule.model_validate({"name": "SlowRouteUnknown", "tier": "low", "signal": "api_latency_p95_seconds",
                                "comparison": "unknown", "labels": {"route": "/v1/x"}})
    with pytest.raises(ValueError, match=r"rule SlowRouteUnknown: .*\['route'\]"):
        alert_groups([rule])


def test_go_formatting_helpers() -> None:
    assert [go_float(v) for v in (0.01, 505.0, 12000.0, 1e6, 0.00001, 1.5)] == \
        ["0.01", "505", "12000", "1e+06", "1e-05", "1.5"]
    assert [humanize_duration(v) for v in (2.02, 0.81, 90.0, 0.0)] == ["2.02s", "810ms", "1m 30s", "0s"]


# -- the same scenarios in both engines -------------------------------------------------------------

@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_engine_follows_the_scenario(scenario: Scenario) -> None:
    """The embedded engine fires and resolves exactly when the scenario says, at every evaluation."""
    flags = [s.engine for s in scenario.steps]
    assert not flags[0] and any(flags) and not flags[-1]  # quiet, fires, resolves
    assert list(run_engine(scenario)) == flags


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_engines_differ_only_where_documented(scenario: Scenario) -> None:
    """Prometheus counts keep_firing_for from the first evaluation without a result (one step later than the
    engine), and after an unknown stretch from the first healthy value: nowhere else do they differ."""
    p = scenario.params
    kff = round(p.keep_firing_for / rule_scenarios.STEP)
    diverging = scenario.divergent()
    if "-unknown-" in scenario.name:
        assert len(diverging) == kff
    else:
        assert len(diverging) == (1 if kff else 0)
    assert all(scenario.steps[i].prometheus and not scenario.steps[i].engine for i in diverging)


def test_promtool_test_rules_agrees_with_the_scenarios(promtool: str, tmp_path: Path) -> None:
    """Each scenario as a promtool unit test on that rule's exported rules, checked at every evaluation."""
    tests = []
    for rule in {s.rule.name: s.rule for s in SCENARIOS}.values():
        (tmp_path / f"{rule.name}.rules.yml").write_text(dump_groups(alert_groups([rule], monitor_job=None)))
    for scenario in SCENARIOS:
        path = tmp_path / f"{scenario.name}.test.yml"
        body = rule_scenarios.promtool_test(scenario, f"{scenario.rule.name}.rules.yml")
        path.write_text(yaml.safe_dump(body, sort_keys=False, width=1000))
        tests.append(path.name)
    result = run_promtool(promtool, "test", "rules", *tests, cwd=tmp_path)
    assert result.returncode == 0, _failures(result.stdout + result.stderr)
    assert result.stdout.count("SUCCESS") == len(tests)


def _failures(output: str, limit: int = 6000) -> str:
    start = output.find("FAILED")
    return output[max(start - 200, 0):][:limit] if start >= 0 else output[:limit]


# -- hand-written checks of what the scenarios do not cover -----------------------------------------

def _promtool_suite(promtool: str, tmp_path: Path, groups: list[dict[str, Any]], tests: list[dict[str, Any]]) -> None:
    (tmp_path / "rules.yml").write_text(dump_groups(groups))
    (tmp_path / "test.yml").write_text(yaml.safe_dump({"rule_files": ["rules.yml"], "evaluation_interval": "1m",
                                                       "tests": tests}, sort_keys=False))
    result = run_promtool(promtool, "test", "rules", "test.yml", cwd=tmp_path)
    assert result.returncode == 0, _failures(result.stdout + result.stderr)


def test_recording_rules_compute_rate_error_ratio_and_p95(promtool: str, tmp_path: Path) -> None:
    """Per minute, /v1/x: 54 OK + 6 errors, latencies 30 <= 0.1 s, 24 in (0.1, 0.5], 6 in (0.5, 1];
    /v1/y: 60 OK; /metrics (scrapes, left out of the per-job series): 600 errors. Over 5 minutes: 1 req/s,
    10% errors, p50 0.1 s on /v1/x; 0% errors on /v1/y; 5% for the job; p95 as the api_metrics probe's
    Prometheus-exact histogram_quantile computes it (0.75 s up to float rounding)."""
    buckets = (("0.1", 30), ("0.5", 54), ("1.0", 60), ("+Inf", 60))
    rates = [(le, rate([(60.0 * i, float(n * i)) for i in range(11)], 600.0, 300.0)) for le, n in buckets]
    p95 = histogram_quantile(0.95, rates)  # type: ignore[arg-type]
    assert abs(p95 - 0.75) < 1e-9

    def counter(labels: str, per_minute: int) -> dict[str, str]:
        return {"series": labels, "values": f"0+{per_minute}x10"}

    x = 'job="api", route="/v1/x"'
    y = 'job="api", route="/v1/y"'
    series = [
        counter(f'http_requests_total{{{x}, method="GET", status_code="200"}}', 54),
        counter(f'http_requests_total{{{x}, method="GET", status_code="503"}}', 6),
        counter(f'http_requests_total{{{y}, method="GET", status_code="200"}}', 60),
        counter('http_requests_total{job="api", route="/metrics", method="GET", status_code="500"}', 600),
        *[counter(f'http_request_duration_seconds_bucket{{{x}, method="GET", status_code="200", le="{le}"}}', n)
          for le, n in buckets],
    ]
    expected = {
        "job_route:http_requests:rate5m": [('job="api", route="/metrics"', 10), (x, 1), (y, 1)],
        "job_route:http_request_error_ratio:rate5m": [('job="api", route="/metrics"', 1), (x, 0.1), (y, 0)],
        "job:http_requests:rate5m": [('job="api"', 2)],
        "job:http_request_error_ratio:rate5m": [('job="api"', 0.05)],
        "job_route:http_request_duration_seconds:p50_5m": [(x, 0.1)],
        "job_route:http_request_duration_seconds:p95_5m": [(x, p95)],
    }
    tests = [{"interval": "1m", "input_series": series, "promql_expr_test": [
        {"expr": name, "eval_time": "10m", "exp_samples": [{"labels": f"{name}{{{labels}}}", "value": value}
                                                            for labels, value in samples]}
        for name, samples in expected.items()]}]
    _promtool_suite(promtool, tmp_path, recording_groups(), tests)


def test_monitor_down_fires_when_the_monitor_is_not_scraped(promtool: str, tmp_path: Path) -> None:
    groups = alert_groups([])
    labels = {"severity": "critical", "tier": "critical"}
    notes = groups[0]["rules"][0]["annotations"]
    runbook = notes["runbook"]

    def summary(where: str) -> dict[str, str]:
        return {"runbook": runbook,
                "summary": f"The converge monitor is down or not scraped ({where}): its signals and alerts are gone"}

    down = {"series": 'up{job="converge-monitor", instance="m:9464"}', "values": "1 1 0 0 0"}
    _promtool_suite(promtool, tmp_path, groups, [
        {"interval": "1m", "input_series": [down], "alert_rule_test": [
            {"eval_time": "2m", "alertname": "ConvergeMonitorDown", "exp_alerts": []},
            {"eval_time": "3m", "alertname": "ConvergeMonitorDown", "exp_alerts": [
                {"exp_labels": {**labels, "job": "converge-monitor", "instance": "m:9464"},
                 "exp_annotations": summary("job converge-monitor, instance m:9464")}]}]},
        {"interval": "1m", "input_series": [{"series": 'up{job="other"}', "values": "1 1 1"}], "alert_rule_test": [
            {"eval_time": "1m", "alertname": "ConvergeMonitorDown", "exp_alerts": [
                {"exp_labels": {**labels, "job": "converge-monitor"},
                 "exp_annotations": summary("job converge-monitor")}]}]},
    ])


# -- golden files and the command ---------------------------------------------------------------------

def test_committed_rules_equal_the_generator_output() -> None:
    """prometheus/rules is `converge-monitor export-rules --out prometheus/rules` of the repository's monitor.yml
    (the default rule catalog, its event window and SLOs)."""
    config = load_config(REPO / "monitor.yml", environ={})
    assert [r for r in config.effective_rules() if r.signal != "slo_multiwindow_burn_rate"] == DEFAULT_RULES
    expected = rule_files(config.effective_rules(), slo_groups=cli_export.slo_groups(config))
    committed = {p.name: p.read_text() for p in COMMITTED.glob("*.yml")}
    assert sorted(committed) == sorted(expected), "run `converge-monitor export-rules --out prometheus/rules`"
    for name, text in expected.items():
        assert committed[name] == text, f"prometheus/rules/{name} is stale: run " \
                                        "`converge-monitor export-rules --out prometheus/rules`"


def _args(tmp_path: Path, out: Path, check: bool = False, rules: dict[str, Any] | None = None) -> argparse.Namespace:
    config = tmp_path / "monitor.yml"
    config.write_text(yaml.safe_dump({"rules": rules or {}}))
    return argparse.Namespace(config=str(config), out=out, check=check)


def test_export_rules_command_writes_the_config_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rules"
    overrides = {"overrides": {"ErrorRateHigh": {"threshold": 0.03}}, "disabled": ["CpuHigh"]}
    assert cli_export.export_rules(_args(tmp_path, out, rules=overrides)) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted([ALERTS_FILE, RECORDING_FILE, SLO_FILE])  # the config's default SLOs
    assert str(out / ALERTS_FILE) in capsys.readouterr().out
    text = (out / ALERTS_FILE).read_text()
    assert "converge_api_error_ratio > 0.03" in text and "alert: CpuHigh" not in text
    assert cli_export.export_rules(_args(tmp_path, out, check=True, rules=overrides)) == 0
    assert cli_export.export_rules(_args(tmp_path, out, check=True)) == 1  # the defaults differ
    assert "converge-alerts.yml: missing or out of date" in capsys.readouterr().err


def test_export_rules_refuses_a_file_as_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "rules"
    blocker.write_text("")
    assert cli_export.export_rules(_args(tmp_path, blocker)) == 2
    assert "--out" in capsys.readouterr().err


def test_export_rules_is_a_cli_command() -> None:
    commands = {c.name: c for c in cli_export.COMMANDS}
    parser = argparse.ArgumentParser()
    add = commands["export-rules"].add_arguments
    assert add is not None
    add(parser)
    assert parser.parse_args(["--out", "x"]).out == Path("x")
