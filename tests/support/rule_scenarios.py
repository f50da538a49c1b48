"""Alert scenarios run by both engines: the embedded AlertEngine and Prometheus (promtool test rules).

One Scenario is one rule, one mode (event or not) and one series whose value changes every STEP seconds. It
yields both the engine's observations and promtool's input series (as the monitor's exporter would show them:
`converge_<signal>`, `converge_signal_unknown` while unknown, `converge_monitor_event_mode`), and, for every
evaluation, whether each engine has the alert firing. The two agree at every evaluation except where
alerts/promrules.py documents a difference (`Step.engine != Step.prometheus`).

The values come from the engine's table tests (tests/alerts/test_alert_engine.py: fire / quiet / band / clear).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from alerts.engine import AlertEngine
from alerts.model import State
from alerts.promrules import (
    DEPLOY_WINDOW_METRIC,
    EVENT_MODE_METRIC,
    LAST_RUN_METRIC,
    UNKNOWN_METRIC,
    mode_name,
    rule_modes,
)
from alerts.rules import DEFAULT_RULES, Guard, Rule, format_value
from alerts.rules.model import PLACEHOLDER, Params
from monitor.core.observation import Observation
from monitor.core.signals import CATALOG


def series_labels(rule: Rule) -> dict[str, str]:
    """Labels of a series the rule selects: its matchers, and made-up values for the signal's other labels."""
    return {name: rule.labels.get(name, f"{name}-1") for name in CATALOG[rule.signal].labels}


def threshold_values(rule: Rule, in_event: bool, in_deploy: bool = False) -> dict[str, float]:
    """Values on each side of the thresholds: fires, just does not fire, inside the band, past clear."""
    p = rule.params(in_event, in_deploy)
    t, c = p.threshold, p.clear_threshold
    assert t is not None and c is not None
    d = max(abs(t) * 0.01, 0.01)
    return {
        ">": {"fire": t + d, "quiet": t, "band": (t + c) / 2, "clear": c},
        ">=": {"fire": t, "quiet": t - d, "band": (t + c) / 2, "clear": c - d},
        "<": {"fire": t - d, "quiet": t, "band": (t + c) / 2, "clear": c},
        "<=": {"fire": t, "quiet": t + d, "band": (t + c) / 2, "clear": c + d},
        "==": {"fire": t, "quiet": t + 1, "band": t, "clear": t + 1},
        "!=": {"fire": t + 1, "quiet": t, "band": t + 1, "clear": t},
    }[rule.comparison]

STEP = 5  # seconds between samples and between evaluations, in both engines
T0 = 1_769_600_000.0  # the engine's clock at step 0
START = 2  # steps of the quiet value before the condition starts to hold
RULES = {r.name: r for r in DEFAULT_RULES}


@dataclass(frozen=True)
class Step:
    value: float | None  # the series' value (None: unknown)
    engine: bool  # the embedded engine has the alert firing after this evaluation
    prometheus: bool  # Prometheus has it firing
    shown: float | None = None  # the value Prometheus's annotations show (NaN: held while unknown)
    guard: float | None = None  # the value of the rule's guard series (only_if), if it has one


@dataclass(frozen=True)
class Scenario:
    name: str
    rule: Rule
    in_event: bool
    labels: dict[str, str]
    steps: list[Step] = field(default_factory=list)
    in_deploy: bool = False

    @property
    def mode(self) -> str | None:
        """The `mode` label of the exported rule that applies (None: the rule is not split by mode)."""
        return next(mode_name(e, d) for e, d in rule_modes(self.rule)
                    if e in (None, self.in_event) and d in (None, self.in_deploy))

    @property
    def params(self) -> Params:
        return self.rule.params(self.in_event, self.in_deploy)

    def divergent(self) -> list[int]:
        return [i for i, s in enumerate(self.steps) if s.engine != s.prometheus]


def guard_values(guard: Guard) -> tuple[float, float]:
    """A value of the guard series that holds, and one that does not."""
    t = guard.threshold
    return {">": (t + 1, t), ">=": (t, t - 1), "<": (t - 1, t), "<=": (t, t + 1), "==": (t, t + 1),
            "!=": (t + 1, t)}[guard.comparison]


def _n(seconds: float) -> int:
    """Evaluation steps until a duration has passed: both engines only look at each step, so a `for` shorter
    than a step (ApiDown's 1 s in the event) is met at the next one."""
    return math.ceil(seconds / STEP)


def _resolving(fire_at: int, last_true: int, kff_steps: int, held_until: int | None = None) -> tuple[range, range]:
    """Firing steps of each engine. The engine resolves once keep_firing_for has passed since the condition
    last held (`last_true`); Prometheus counts it from the first evaluation without a result (`held_until`
    + 1: one step later, or, when the alert was held through unknowns, from the first healthy value)."""
    first_false = (held_until if held_until is not None else last_true) + 1
    engine_end = max(last_true + kff_steps, first_false) if kff_steps else first_false
    return range(fire_at, engine_end), range(fire_at, first_false + kff_steps)


def threshold_scenario(rule: Rule, in_event: bool, in_deploy: bool = False) -> Scenario:
    """Quiet at the threshold, past it for `for` (fires), in the hysteresis band, then past the clear threshold
    until keep_firing_for has elapsed (resolves)."""
    p = rule.params(in_event, in_deploy)
    v = threshold_values(rule, in_event, in_deploy)
    fire_at = START + _n(p.for_)
    band = v["band"] if p.clear_threshold != p.threshold else v["fire"]
    values: list[float | None] = [v["quiet"]] * START + [v["fire"]] * (fire_at - START + 1) + [band] * 2
    last_true = len(values) - 1
    kff = _n(p.keep_firing_for)
    engine, prom = _resolving(fire_at, last_true, kff)
    values += [v["clear"]] * (prom.stop - last_true + 2)
    mode = ("event" if in_event else "normal") + ("-deploy" if in_deploy else "")
    return _build(f"{rule.name}-{mode}", rule, in_event, values, engine, prom, held=range(START, last_true + 1),
                  in_deploy=in_deploy)


def sustained_scenario(rule: Rule, in_event: bool) -> Scenario:
    """The condition holds for longer than either mode's `for`, with a value past both modes' thresholds: only
    the current mode's rule may fire (the other mode's twin is gated off by converge_monitor_event_mode)."""
    p = rule.params(in_event)
    longest = max(_n(rule.params(False).for_), _n(rule.params(True).for_))
    fire_at = START + _n(p.for_)
    if rule.comparison == "unknown":
        quiet, fire, clear = 1.0, None, 1.0
    else:
        # past both modes' thresholds (fire) or short of both (quiet, clear); == and != have one value each
        both = [threshold_values(rule, False), threshold_values(rule, True)]
        deeper, shallower = (min, max) if rule.comparison in ("<", "<=") else (max, min)
        quiet, fire, clear = (shallower(b["quiet"] for b in both), deeper(b["fire"] for b in both),
                              shallower(b["clear"] for b in both))
    values: list[float | None] = [quiet] * START + [fire] * (longest + 4)
    last_true = len(values) - 1
    engine, prom = _resolving(fire_at, last_true, _n(p.keep_firing_for))
    values += [clear] * (prom.stop - last_true + 2)
    return _build(f"{rule.name}-sustained-{'event' if in_event else 'normal'}", rule, in_event, values, engine,
                  prom, held=range(START, last_true + 1), shown_value=1.0 if rule.comparison == "unknown" else None)


def unknown_rule_scenario(rule: Rule, in_event: bool) -> Scenario:
    """Comparison "unknown": a passing and a failing check (known: quiet), then unknown for `for` (fires),
    then known again until keep_firing_for has elapsed."""
    p = rule.params(in_event)
    fire_at = START + _n(p.for_)
    values: list[float | None] = [1.0, 0.0] + [None] * (fire_at - START + 3)
    last_true = len(values) - 1
    engine, prom = _resolving(fire_at, last_true, _n(p.keep_firing_for))
    values += [1.0] * (prom.stop - last_true + 2)
    return _build(f"{rule.name}-{'event' if in_event else 'normal'}", rule, in_event, values, engine, prom,
                  held=range(START, last_true + 1), shown_value=1.0)


def unknown_hold_scenario(rule: Rule, in_event: bool = False) -> Scenario:
    """Firing, then unknown for longer than keep_firing_for (unknown is never healthy: it keeps firing in both),
    then clear. The engine resolves at the first clear value (the condition last held long ago); Prometheus
    runs keep_firing_for from there."""
    p = rule.params(in_event)
    v = threshold_values(rule, in_event)
    fire_at = START + _n(p.for_)
    kff = _n(p.keep_firing_for)
    values: list[float | None] = [v["quiet"]] * START + [v["fire"]] * (fire_at - START + 2)
    last_true = len(values) - 1
    values += [None] * (kff + 3)
    held_until = len(values) - 1
    engine, prom = _resolving(fire_at, last_true, kff, held_until)
    values += [v["clear"]] * (prom.stop - held_until + 2)
    return _build(f"{rule.name}-unknown-{'event' if in_event else 'normal'}", rule, in_event, values, engine, prom,
                  held=range(START, held_until + 1))


def guard_scenario(rule: Rule, in_event: bool) -> Scenario:
    """A rule with a guard (only_if): its condition holds all along, but the alert fires only once the guard holds
    for `for`, and resolves when the guard stops holding (after keep_firing_for), as when the API reaches its
    replica bound."""
    assert rule.only_if is not None
    p = rule.params(in_event)
    v = threshold_values(rule, in_event)
    holds, fails = guard_values(rule.only_if)
    start = START + _n(p.for_) + 2  # longer than `for` with the guard failing: nothing fires
    fire_at = start + _n(p.for_)
    stop = fire_at + 2  # the guard's first failing step after the alert fired
    kff = _n(p.keep_firing_for)
    engine, prom = _resolving(fire_at, stop - 1, kff)
    n = prom.stop + 2
    guard = [fails] * start + [holds] * (stop - start) + [fails] * (n - stop)
    return _build(f"{rule.name}-guard-{'event' if in_event else 'normal'}", rule, in_event, [v["fire"]] * n,
                  engine, prom, held=range(start, stop), guard=guard)


def _build(name: str, rule: Rule, in_event: bool, values: list[float | None], engine: range, prom: range,
           held: range, shown_value: float | None = None, guard: list[float] | None = None,
           in_deploy: bool = False) -> Scenario:
    steps, shown = [], None
    if guard is None and rule.only_if is not None:
        guard = [guard_values(rule.only_if)[0]] * len(values)  # holds throughout: the rule as without a guard
    for i, value in enumerate(values):
        if i in held:  # Prometheus's expression has a result: the annotations take its value
            shown = shown_value if shown_value is not None else (math.nan if value is None else value)
        steps.append(Step(value, i in engine, i in prom, shown, None if guard is None else guard[i]))
    return Scenario(name, rule, in_event, series_labels(rule), steps, in_deploy)


def default_scenarios() -> list[Scenario]:
    out = []
    for rule in DEFAULT_RULES:
        for in_event in (False, True):
            if rule.comparison == "unknown":
                out.append(unknown_rule_scenario(rule, in_event))
            else:
                out.append(threshold_scenario(rule, in_event))
    # held while unknown: one label set per shape of series (target only, a matcher, route, path), both modes
    out += [unknown_hold_scenario(RULES[n]) for n in ("ErrorRateCritical", "ApiDown", "LatencyP95High",
                                                       "DiskUsageHigh")]
    out.append(unknown_hold_scenario(RULES["RedisDown"], in_event=True))
    # mode gating: rules whose event override changes `for`, the threshold or both
    out += [sustained_scenario(RULES[n], e) for n in ("ApiDown", "ErrorRateHigh", "TlsCertExpiring", "ProbeUnknown")
            for e in (False, True)]
    # guards: scaling advice only while there is room to scale (spec 11.2), in both directions
    out += [guard_scenario(RULES[n], e) for n in ("ScaleDownCpu", "ScaleUpRequestRate") for e in (False, True)]
    # the deploy window's numbers (the deployment-day checklist), outside and inside the event window
    out += [threshold_scenario(r, e, in_deploy=True) for r in DEFAULT_RULES if r.deploy is not None
            for e in (False, True)]
    return out


def guard_labels(rule: Rule, labels: dict[str, str]) -> dict[str, str]:
    assert rule.only_if is not None
    return {k: labels[k] for k in CATALOG[rule.only_if.signal].labels}


# -- the embedded engine --------------------------------------------------------------------------------

def run_engine(scenario: Scenario) -> Iterator[bool]:
    """Whether the engine has the scenario's alert firing after each step's evaluation."""
    engine = AlertEngine([scenario.rule])
    signal = scenario.rule.signal
    for i, step in enumerate(scenario.steps):
        now = T0 + i * STEP
        observed = [Observation(signal, step.value, now, scenario.labels)]
        if scenario.rule.only_if is not None:
            guard_series = guard_labels(scenario.rule, scenario.labels)
            observed.append(Observation(scenario.rule.only_if.signal, step.guard, now, guard_series))
        engine.evaluate(observed, now=now, in_event=scenario.in_event, in_deploy=scenario.in_deploy)
        firing = [a for a in engine.alerts([State.FIRING]) if a.labels.items() >= scenario.labels.items()]
        assert len(firing) <= 1
        yield bool(firing)


# -- promtool -------------------------------------------------------------------------------------------

def _series_name(metric: str, labels: dict[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{metric}{{{inner}}}"


def _samples(flags: list[float | None]) -> str:
    """promtool's values: a number, `_` (no sample) or `stale` (a staleness marker: the exporter stopped
    showing the series)."""
    out, shown = [], False
    for f in flags:
        if f is None:
            out.append("stale" if shown else "_")
            shown = False
        else:
            out.append(repr(f))
            shown = True
    return " ".join(out)


def input_series(scenario: Scenario) -> list[dict[str, str]]:
    """The monitor's /metrics over the scenario, as promtool input series."""
    rule, labels, n = scenario.rule, scenario.labels, len(scenario.steps)
    values = [s.value for s in scenario.steps]
    unknown_target = labels.get("target", labels.get("flow", ""))
    series = [
        {"series": _series_name(CATALOG[rule.signal].metric_name, labels), "values": _samples(values)},
        {"series": _series_name(UNKNOWN_METRIC, {"signal": rule.signal, "target": unknown_target}),
         "values": _samples([1.0 if v is None else None for v in values])},
        {"series": EVENT_MODE_METRIC, "values": f"{int(scenario.in_event)}x{n - 1}"},
        {"series": DEPLOY_WINDOW_METRIC, "values": f"{int(scenario.in_deploy)}x{n - 1}"},
    ]
    if rule.only_if is not None:
        guard = CATALOG[rule.only_if.signal].metric_name
        series.append({"series": _series_name(guard, guard_labels(rule, labels)),
                       "values": _samples([s.guard for s in scenario.steps])})
    if rule.signal == "probe_success":
        last_run = {"target": labels["target"], "kind": labels["kind"]}
        series.append({"series": _series_name(LAST_RUN_METRIC, last_run), "values": f"{T0:.0f}+{STEP}x{n - 1}"})
    return series


def expected_alert(scenario: Scenario, shown: float | None) -> dict[str, Any]:
    rule = scenario.rule
    p = scenario.params
    labels = {"severity": rule.tier.value, "tier": rule.tier.value}
    if scenario.mode is not None:
        labels["mode"] = scenario.mode
    series = {k: v for k, v in scenario.labels.items()
              if rule.comparison != "unknown" or k in ("target", "kind", "flow")}
    annotations = {"summary": go_render(rule.summary, rule, series, shown, p.threshold)}
    if rule.runbook:
        annotations["runbook"] = go_render(rule.runbook, rule, series, shown, p.threshold)
    return {"exp_labels": {**series, **labels}, "exp_annotations": annotations}


def promtool_test(scenario: Scenario, rule_file: str) -> dict[str, Any]:
    """A promtool test file checking Prometheus's firing alerts at every step."""
    checks = []
    for i, step in enumerate(scenario.steps):
        alerts = [expected_alert(scenario, step.shown)] if step.prometheus else []
        checks.append({"eval_time": f"{i * STEP}s", "alertname": scenario.rule.name, "exp_alerts": alerts})
    return {
        "rule_files": [rule_file],
        "evaluation_interval": f"{STEP}s",
        "tests": [{"name": scenario.name, "interval": f"{STEP}s", "input_series": input_series(scenario),
                   "alert_rule_test": checks}],
    }


# -- what Prometheus's templates print (Go's fmt and Prometheus's humanize functions) -------------------

def go_float(v: float) -> str:
    """Go's %v of a float64: the shortest digits, exponent form below 1e-4 or from 1e+06 (strconv 'g', -1)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "0"
    d = Decimal(repr(v)).normalize()
    sign, digits, exponent = d.as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    exp = len(digits) + exponent - 1
    prefix = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return prefix + format(abs(d), "f")


def _g4(v: float) -> str:
    return re.sub(r"e([+-])(\d)$", r"e\g<1>0\2", f"{v:.4g}")  # Go prints at least two exponent digits


def humanize_duration(v: float) -> str:
    if math.isnan(v) or math.isinf(v):
        return _g4(v)
    if v == 0:
        return f"{_g4(v)}s"
    if abs(v) >= 1:
        sign = "-" if v < 0 else ""
        v = abs(v)
        whole = int(v)
        s, m, h, d = whole % 60, (whole // 60) % 60, (whole // 3600) % 24, whole // 86400
        if d:
            return f"{sign}{d}d {h}h {m}m {s}s"
        if h:
            return f"{sign}{h}h {m}m {s}s"
        if m:
            return f"{sign}{m}m {s}s"
        return f"{sign}{_g4(v)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return f"{_g4(v)}{prefix}s"


def humanize_1024(v: float) -> str:
    if abs(v) <= 1 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(v) < 1024:
            break
        prefix, v = p, v / 1024
    return f"{_g4(v)}{prefix}"


def go_value(unit: str, v: float | None) -> str:
    """alerts.promrules.value_template, evaluated."""
    if v is None or math.isnan(v):
        return "unknown"
    return {
        "ratio": lambda: f"{_g4(v * 100)}%",
        "seconds": lambda: humanize_duration(v),
        "days": lambda: f"{v:.1f} days",
        "per_minute": lambda: f"{v:.0f}/min",
        "per_second": lambda: f"{v:.1f}/s",
        "bytes": lambda: f"{humanize_1024(v)}B",
    }.get(unit, lambda: go_float(v))()


def go_render(text: str, rule: Rule, labels: dict[str, str], value: float | None, threshold: float | None) -> str:
    """An annotation as Prometheus renders the exported template (alerts.rules.render, Prometheus's formats)."""
    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key == "value":
            return go_value(CATALOG[rule.signal].unit, value)
        if key == "threshold":
            return format_value(rule.signal, threshold)
        return labels.get(key, "")

    return PLACEHOLDER.sub(sub, text)
