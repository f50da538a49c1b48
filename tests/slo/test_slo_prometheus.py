"""The SLO rules on the real tools: promtool accepts them, and Prometheus's evaluation of the recording
and alerting rules (promtool test rules, the real rule engine) agrees with the monitor's own math on the
same counter series.

Three scenarios:
- aligned: scrapes every minute, rules evaluated every minute, every series present from t=0. Then
  Prometheus's `rate` does not extrapolate and its values equal slo/budget.py's exact counts, for
  every window, budget and burn-rate alert. Eight hours of history are younger than most windows, so
  the alerts judge them by the watched fraction of each window, as slo/burn.py does.
- young: a fresh start off the minute (scrapes every 15 s, rules every 30 s as exported), a blip, then an
  outage: every burn-rate alert at every evaluation agrees with the monitor's, and the watched fraction
  of a window agrees for probe SLIs too.
- unaligned: rules every 45 s, a series born mid-way, a counter reset, probe gauges with unknown gaps.
  Prometheus extrapolates; slo/counts.prometheus_increase (Prometheus's algorithm) must agree exactly.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from monitor.core.api_contract import (
    BUCKET,
    REQUESTS,
    SeriesKey,
    prometheus_increase,
    selector_bucket,
    selector_requests,
)
from monitor.core.sections import EventWindow
from slo.alerting import BurnAlert, burn_alerts
from slo.budget import CountSeries, error_budget
from slo.burn import BurnCheck, check, trailing_burn_rate, watched_fraction
from slo.periods import periods
from slo.prometheus import HISTORY_START, le_matcher, slo_rule_groups
from slo.spec import EVENT, ROLLING, SloSpec, parse_slos
from slo.windows import prom_duration

EVENT_1970 = EventWindow(start=date(1970, 1, 1), end=date(1970, 1, 3), timezone="UTC")  # 0 .. 3 days
SLOS = parse_slos(None)
SPECS = {s.name: s for s in SLOS.effective()}
MINUTES = 480  # eight hours of scrapes
RTOL = 1e-9

Raw = dict[SeriesKey, list[float | None]]  # one value per minute (None: no sample)


def key(name: str, **labels: str) -> SeriesKey:
    return name, tuple(sorted(labels.items()))


def counter(per_step: Callable[[int], float], start: float = 0.0, born: int = 0,
            reset_at: int | None = None, steps: int = MINUTES + 1) -> list[float | None]:
    out: list[float | None] = []
    value = start
    for m in range(steps):
        if m < born:
            out.append(None)
            continue
        if m > born:
            value += per_step(m)
        if reset_at is not None and m == reset_at:
            value = per_step(m)  # the process restarted and counted this step's requests from zero
        out.append(value)
    return out


def series_text(k: SeriesKey) -> str:
    name, labels = k
    return name + "{" + ", ".join(f'{a}="{b}"' for a, b in labels) + "}"


def values_text(values: Sequence[float | None]) -> str:
    return " ".join("_" if v is None else repr(float(v)) for v in values)


def samples_of(values: Sequence[float | None]) -> list[tuple[float, float]]:
    return [(60.0 * m, v) for m, v in enumerate(values) if v is not None]


def run_promtool(promtool: str, tmp_path: Path, groups: list[dict[str, Any]], interval: str, raw: Raw,
                 exprs: list[dict[str, Any]], alerts: list[dict[str, Any]], scrape: str = "1m") -> None:
    for g in groups:
        g["interval"] = interval  # the rules as exported, evaluated at the test's cadence
    (tmp_path / "slo.yml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    check = subprocess.run([promtool, "check", "rules", "slo.yml"], cwd=tmp_path, capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    test = {"rule_files": ["slo.yml"], "evaluation_interval": interval, "tests": [{
        "interval": scrape,
        "input_series": [{"series": series_text(k), "values": values_text(v)} for k, v in raw.items()],
        "promql_expr_test": exprs, "alert_rule_test": alerts}]}
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test, sort_keys=False, width=1 << 20))
    result = subprocess.run([promtool, "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=240)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]


def only(groups: list[dict[str, Any]], keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """The exported groups with just the rules a test looks at (promtool then evaluates far fewer)."""
    return [{**g, "rules": [r for r in g["rules"] if keep(r)]} for g in groups]


def close_to(expr: str, expected: float | None, labels: Mapping[str, str], at: float) -> dict[str, Any]:
    """A promql_expr_test: `expr` equals `expected` within RTOL (or has no sample when expected is None)."""
    when = f"{round(at)}s"
    if expected is None:
        return {"expr": expr, "eval_time": when, "exp_samples": []}
    tolerance = max(abs(expected) * RTOL, 1e-12)
    lab = "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
    return {"expr": f"abs({expr} - ({expected!r})) <= bool {tolerance!r}", "eval_time": when,
            "exp_samples": [{"labels": lab, "value": 1}]}


def expected_alerts(alert: BurnAlert, decision: BurnCheck) -> list[dict[str, Any]]:
    """promtool's exp_alerts for one burn alert at one evaluation: the monitor's own decision, as Prometheus
    must show it (labels, and the summary with the long window's burn rate)."""
    if not decision.firing:
        return []
    assert decision.long_burn is not None
    return [{
        "exp_labels": {**alert.labels, "severity": alert.policy.severity, "tier": str(alert.tier)},
        "exp_annotations": {
            "summary": alert.summary.replace("{value}", f"{decision.long_burn:.1f}"),
            "runbook": alert.runbook,
            "description": f"{alert.slo.title}: objective {alert.slo.objective * 100:g}% over {alert.period.label}"}}]


# ---- the aligned scenario: Prometheus == the monitor's exact counts --------------------------------------

def _errors(m: int) -> float:
    return 40.0 if 180 < m <= 200 else 0.0  # 20 minutes of 25% errors


def _slow(m: int) -> float:
    return 90.0 if 240 < m <= 300 else 10.0  # an hour when 3 in 4 requests take more than 500 ms


def aligned_raw() -> Raw:
    sessions = {"method": "GET", "route": "/v1/sessions"}
    raw: Raw = {
        key(REQUESTS, status_code="200", **sessions): counter(lambda m: 100.0),
        key(REQUESTS, method="POST", route="/v1/auth/login", status_code="200"): counter(lambda m: 20.0),
        key(REQUESTS, status_code="500", **sessions): counter(_errors),
        # Scrapes are not user traffic: neither their volume nor their failures count.
        key(REQUESTS, method="GET", route="/metrics", status_code="200"): counter(lambda m: 1000.0),
        key(REQUESTS, method="GET", route="/metrics", status_code="500"): counter(lambda m: 7.0),
    }
    for le, fast in (("0.5", lambda m: 120.0 - _slow(m)), ("1.0", lambda m: 115.0), ("+Inf", lambda m: 120.0)):
        raw[key(BUCKET, le=le, **sessions, status_code="200")] = counter(fast)
        raw[key(BUCKET, le=le, method="GET", route="/metrics", status_code="200")] = counter(lambda m: 1000.0)
    return raw


def core_series(raw: Raw, spec: SloSpec, step: float = 60.0) -> CountSeries:
    """The monitor's cumulative good/total counts at each scrape, as the RequestTracker would record them
    (from the first scrape that has the API's counters: before it the monitor saw nothing)."""
    steps = len(next(iter(raw.values())))
    api = [v for (n, _), v in raw.items() if n in (REQUESTS, BUCKET)]
    scraped = [m for m in range(steps) if any(v[m] is not None for v in api)]
    ts = [step * m for m in scraped]

    def total_of(select: Callable[[str, dict[str, str]], bool]) -> list[float]:
        return [sum(v[m] or 0.0 for (n, lab), v in raw.items() if select(n, dict(lab))) for m in scraped]

    if spec.sli.kind == "requests":
        total, bad = total_of(selector_requests()), total_of(selector_requests(errors_only=True))
        return CountSeries.from_counters(ts, [t - b for t, b in zip(total, bad, strict=True)], total)
    total = total_of(selector_bucket("+Inf"))
    return CountSeries.from_counters(ts, total_of(selector_bucket(spec.sli.threshold)), total)  # type: ignore[union-attr]


def test_le_matcher_accepts_every_spelling_of_a_bound() -> None:
    assert le_matcher(0.5) == 'le=~"0\\\\.50*"'
    assert le_matcher(1.0) == 'le=~"1(\\\\.0*)?"'
    assert le_matcher(math.inf) == 'le="+Inf"'


def test_promtool_checks_the_generated_rules(promtool: str, tmp_path: Path) -> None:
    groups = slo_rule_groups(SLOS, EventWindow(start=date(2026, 1, 28), end=date(2026, 1, 30)))
    (tmp_path / "slo.yml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    result = subprocess.run([promtool, "check", "rules", "slo.yml"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    names = [r.get("record") or r.get("alert") for g in groups for r in g["rules"]]
    assert "slo:burn_rate:1h" in names and "slo:sli_error:ratio_rate7h12m" in names
    assert "SloBurnAvailabilityEventPageFast" in names
    severities = {r["labels"]["severity"] for g in groups for r in g["rules"] if "alert" in r}
    assert severities == {"page", "ticket"}


def test_recording_and_alerting_rules_agree_with_the_monitors_math(promtool: str, tmp_path: Path) -> None:
    raw = aligned_raw()
    defined = periods(SLOS, EVENT_1970)
    exprs: list[dict[str, Any]] = []
    checked_times = [60 * m for m in (60, 185, 200, 230, 270, 330, 480)]
    for name in ("availability", "latency"):
        spec = SPECS[name]
        series = [core_series(raw, spec)]
        windows = sorted({w for p in defined.values() for c in p.policies for w in (c.long, c.short)})
        for t in checked_times:
            for w in windows:
                burn = trailing_burn_rate(series, spec.objective, t, w)
                assert burn is not None
                err = burn * (1 - spec.objective)
                d = prom_duration(w)
                exprs.append(close_to(f'slo:sli_error:ratio_rate{d}{{slo="{name}"}}', err, {"slo": name}, t))
                exprs.append(close_to(f'slo:burn_rate:{d}{{slo="{name}"}}', burn, {"slo": name}, t))
            for kind in (ROLLING, EVENT):
                p = defined[kind]
                covered = p.covered(t)
                budget = error_budget(spec.objective, series[0].counts(covered.start, covered.end), p.length,
                                      p.elapsed(t))
                labels = {"slo": name, "period": p.label}
                sel = f'{{slo="{name}", period="{p.label}"}}'
                exprs.append(close_to(f"slo:sli:ratio{sel}", budget.sli, labels, t))
                exprs.append(close_to(f"slo:error_budget_remaining:ratio{sel}", budget.remaining_ratio, labels, t))
                exprs.append(close_to(f"slo:error_budget_remaining:seconds{sel}", budget.remaining_seconds,
                                      labels, t))

    # Every burn-rate alert of the request SLOs, at times before, during and after each problem.
    alert_tests: list[dict[str, Any]] = []
    fired: set[str] = set()
    for alert in burn_alerts(SLOS, EVENT_1970):
        if alert.slo.name not in ("availability", "latency"):
            continue
        series = [core_series(raw, alert.slo)]
        for minute in (150, 182, 186, 200, 206, 215, 245, 262, 300, 320, 400):
            t = 60.0 * minute
            decision = check(series, alert.slo.objective, t, alert.policy)
            expected = expected_alerts(alert, decision)
            if decision.firing:
                fired.add(alert.name)
            alert_tests.append({"eval_time": f"{minute}m", "alertname": alert.name, "exp_alerts": expected})
    # The scenario exercises both severities and both periods, and the event pages before the 30-day one.
    assert {"SloBurnAvailabilityEventPageFast", "SloBurnAvailability30dPageFast", "SloBurnLatency30dPageFast",
            "SloBurnLatencyEventTicket"} <= fired
    pages_at_186 = [a["alertname"] for a in alert_tests if a["eval_time"] == "186m" and a["exp_alerts"]
                    and a["alertname"].startswith("SloBurnAvailability") and "Page" in a["alertname"]]
    assert pages_at_186 == ["SloBurnAvailabilityEventPageFast", "SloBurnAvailabilityEventPageSlow"]

    request_slos = only(slo_rule_groups(SLOS, EVENT_1970), lambda r: r["labels"]["slo"] != "health-checks")
    run_promtool(promtool, tmp_path, request_slos, "1m", raw, exprs, alert_tests)


# ---- the young scenario: a fresh start, judged by what was watched ----------------------------------------

YOUNG_STEP = 15  # seconds between scrapes
YOUNG_STEPS = 45 * 4 + 1  # 45 minutes
API_BORN = 7  # the API's counters from 01:45: off the minute, and a whole minute passes before rules run


def _young_errors(i: int) -> float:
    if i == 9:
        return 4.0  # a 15-second blip two minutes in: 10% of that scrape's requests
    return 40.0 if 80 <= i < 120 else 0.0  # from 20 to 30 minutes: every request fails


def _young_slow(i: int) -> float:
    return 36.0 if 32 <= i < 64 else 2.0  # from 8 to 16 minutes: 90% of the requests take more than 500 ms


def young_raw() -> Raw:
    sessions = {"method": "GET", "route": "/v1/sessions"}
    n, born = YOUNG_STEPS, API_BORN
    raw: Raw = {
        key(REQUESTS, status_code="200", **sessions): counter(lambda i: 40.0 - _young_errors(i), born=born, steps=n),
        key(REQUESTS, status_code="500", **sessions): counter(_young_errors, born=born, steps=n),
        key(BUCKET, le="0.5", status_code="200", **sessions): counter(lambda i: 40.0 - _young_slow(i), born=born,
                                                                       steps=n),
        key(BUCKET, le="+Inf", status_code="200", **sessions): counter(lambda i: 40.0, born=born, steps=n),
    }
    # The probes: an unknown run at 01:15 comes first (a failed event: unknown is bad), known ones from 02:00,
    # before a rule evaluation.
    raw[key("converge_http_up", target="api-health")] = [None if i < 8 else 0.0 if i == 20 else 1.0
                                                        for i in range(n)]
    raw[key("converge_signal_unknown", signal="http_up", target="api-health")] = [
        1.0 if i == 5 else None for i in range(n)]
    raw[key("converge_synthetic_success", flow="login")] = [None if i < 9 else 1.0 for i in range(n)]
    return raw


def young_probe_series(raw: Raw) -> list[CountSeries]:
    """The monitor's event series of the probe SLI: one per stored series, its unknown runs in it (failed)."""
    def events(name: str, target: str | None) -> CountSeries:
        runs = {YOUNG_STEP * i: v == 1.0 for (n, _), vals in raw.items() if n == name
                for i, v in enumerate(vals) if v is not None}
        runs |= {YOUNG_STEP * i: False for (n, lab), vals in raw.items()
                 if n == "converge_signal_unknown" and target is not None and dict(lab).get("target") == target
                 for i, v in enumerate(vals) if v is not None}
        ts = sorted(runs)
        return CountSeries.from_events([float(t) for t in ts], [runs[t] for t in ts])
    return [events("converge_http_up", "api-health"), events("converge_synthetic_success", None)]


def test_a_young_history_is_judged_as_the_monitor_judges_it(promtool: str, tmp_path: Path) -> None:
    raw = young_raw()
    defined = periods(SLOS, EVENT_1970)
    windows = sorted({w for p in defined.values() for c in p.policies for w in (c.long, c.short)})
    end = YOUNG_STEP * (YOUNG_STEPS - 1)
    series = {name: [core_series(raw, SPECS[name], YOUNG_STEP)] for name in ("availability", "latency")}
    series["health-checks"] = young_probe_series(raw)

    # Where each SLI's history begins, read as the watched fraction of an hour: the requests' from 01:45
    # (the minute 01:00 on), the probes' from the unknown run at 01:15 (01:00 on, not 02:00); none before.
    exprs = []
    for name, s in series.items():
        first = min(c.first_time() or math.inf for c in s)
        watched = f'clamp_max((time() - {HISTORY_START}{{slo="{name}"}}) / 3600, 1)'
        for t in (30, 60, 90, 120, 150, 300, 1230, end):
            expected = watched_fraction(s, t, 3600.0) if t >= first else None
            exprs.append(close_to(watched, expected, {"slo": name}, t))
        if name != "health-checks":
            for t in (90, 150, 600, 1500, end):  # the recorded burn rates: over the watched part, unscaled
                for w in windows:
                    burn = trailing_burn_rate(s, SPECS[name].objective, t, w)
                    exprs.append(close_to(f'slo:burn_rate:{prom_duration(w)}{{slo="{name}"}}', burn, {"slo": name},
                                          t))

    # Every burn-rate alert of the request SLOs at every evaluation: as the monitor decides (slo.burn.check).
    alert_tests: list[dict[str, Any]] = []
    fired: dict[str, float] = {}
    unscaled_tickets_before_outage = set()
    for alert in burn_alerts(SLOS, EVENT_1970):
        if alert.slo.name == "health-checks":
            continue
        s = series[alert.slo.name]
        for t in range(30, end + 1, 30):
            decision = check(s, alert.slo.objective, t, alert.policy)
            expected = expected_alerts(alert, decision)
            if decision.firing:
                fired.setdefault(alert.name, t)
            alert_tests.append({"eval_time": f"{t}s", "alertname": alert.name, "exp_alerts": expected})
            long = trailing_burn_rate(s, alert.slo.objective, t, alert.policy.long)
            short = trailing_burn_rate(s, alert.slo.objective, t, alert.policy.short)
            if t < 1200 and alert.policy.severity == "ticket" and long and short and min(long, short) > 1:
                unscaled_tickets_before_outage.add(alert.name)
    # The point: the blip and the slow spell would ticket if the first minutes stood for whole windows;
    # spread over them, the blip is nothing and the slow spell pages only the event's short windows.
    assert {"SloBurnAvailabilityEventTicket", "SloBurnLatency30dTicket"} <= unscaled_tickets_before_outage
    assert {a for a, t in fired.items() if t < 1200} == {"SloBurnLatencyEventPageFast"}
    # The outage from 20:00 pages within minutes, the event's fast page first.
    assert fired["SloBurnAvailabilityEventPageFast"] < fired["SloBurnAvailability30dPageFast"] < 1500

    groups = only(slo_rule_groups(SLOS, EVENT_1970),
                  lambda r: r["labels"]["slo"] != "health-checks" or r.get("record") == HISTORY_START)
    run_promtool(promtool, tmp_path, groups, "30s", raw, exprs, alert_tests, scrape=f"{YOUNG_STEP}s")


# ---- the unaligned scenario: Prometheus == Prometheus's algorithm in slo/counts ---------------------------

def unaligned_raw() -> Raw:
    sessions = {"method": "GET", "route": "/v1/sessions"}
    raw: Raw = {
        key(REQUESTS, status_code="200", **sessions): counter(lambda m: 100.0 + m % 7, start=5000.0, reset_at=300),
        key(REQUESTS, status_code="500", **sessions): counter(lambda m: 3.0 if m % 11 == 0 else 0.0, start=4.0),
        # Born at 02:10 with its first 6 errors already counted: Prometheus never sees those 6.
        key(REQUESTS, method="POST", route="/v1/auth/login", status_code="503"): counter(lambda m: 2.0, 6.0, 130),
    }
    raw[key(BUCKET, le="0.5", status_code="200", **sessions)] = counter(lambda m: 80.0 + m % 5, start=100.0)
    raw[key(BUCKET, le="+Inf", status_code="200", **sessions)] = counter(lambda m: 100.0 + m % 7, start=120.0)
    up = [None if 150 <= m < 152 else 0.0 if 100 <= m < 105 else 1.0 for m in range(MINUTES + 1)]
    raw[key("converge_http_up", target="api-health")] = up
    raw[key("converge_signal_unknown", signal="http_up", target="api-health")] = [
        1.0 if v is None else None for v in up]
    raw[key("converge_synthetic_success", flow="login")] = [0.0 if m % 50 == 0 else 1.0 for m in range(MINUTES + 1)]
    return raw


def prom_error_ratio(raw: Raw, spec: SloSpec, t: float, w: float) -> float | None:
    series = {k: samples_of(v) for k, v in raw.items()}
    if spec.sli.kind == "requests":
        total = prometheus_increase(series, selector_requests(), t, w)
        bad = prometheus_increase(series, selector_requests(errors_only=True), t, w) or 0.0
    elif spec.sli.kind == "latency":
        total = prometheus_increase(series, selector_bucket("+Inf"), t, w)
        fast = prometheus_increase(series, selector_bucket(spec.sli.threshold), t, w)  # type: ignore[union-attr]
        bad = None if total is None or fast is None else total - fast
    else:  # probes: samples in [t - w, t], as count_over_time / sum_over_time see them
        def inside(name: str) -> list[float]:
            return [v for (n, _), vals in raw.items() if n == name
                    for ts, v in samples_of(vals) if t - w <= ts <= t]
        up, flows, unknown = inside("converge_http_up"), inside("converge_synthetic_success"), \
            inside("converge_signal_unknown")
        total = float(len(up) + len(flows) + len(unknown))
        bad = total - sum(up) - sum(flows)
    if not total or bad is None:
        return None
    return bad / total


def test_rules_agree_with_prometheus_semantics_when_unaligned(promtool: str, tmp_path: Path) -> None:
    raw = unaligned_raw()
    exprs = []
    windows = (60.0, 300.0, 360.0, 1800.0, 3600.0, 6 * 3600.0)
    for name in ("availability", "latency", "health-checks"):
        spec = SPECS[name]
        for t in (45 * n for n in (80, 175, 200, 289, 401, 455, 620)):  # rule evaluations between scrapes
            for w in windows:
                expected = prom_error_ratio(raw, spec, t, w)
                d = prom_duration(w)
                exprs.append(close_to(f'slo:sli_error:ratio_rate{d}{{slo="{name}"}}', expected, {"slo": name}, t))
    error_ratios = {f"slo:sli_error:ratio_rate{prom_duration(w)}" for w in windows}
    groups = only(slo_rule_groups(SLOS, EVENT_1970), lambda r: r.get("record") in error_ratios)
    run_promtool(promtool, tmp_path, groups, "45s", raw, exprs, [])
