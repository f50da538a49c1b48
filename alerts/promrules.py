"""Prometheus rule files generated from the alert rule catalog. Pure: rules in, YAML text out.

    files = rule_files(config.effective_rules())      # {"converge-alerts.yml": "...", ...}
    # converge-monitor export-rules --out DIR writes them (monitor/cli/export.py)

The files:

    converge-alerts.yml     one alerting rule per catalog rule (more when its event or deploy override changes
                            anything),
                            and ConvergeMonitorDown (Prometheus watches the watcher)
    converge-recording.yml  request rate, error ratio and p50/p95/p99 latency per route and per job, from the
                            API's raw http_requests_total and http_request_duration_seconds_bucket
    converge-slo.yml        the SLO recording and burn-rate groups slo/ hands over (`slo_groups`), when any

How the embedded engine (alerts/engine.py) maps onto Prometheus, rule by rule:

- The condition compares `converge_<signal>{matchers}` (the monitor's /metrics, monitor/exporter.py) with the
  threshold. Labels: the series labels, `severity` and `tier` (the tier), `mode` (below); annotations: the
  summary and runbook, their {placeholders} turned into Go templates ({value} formatted by the signal's unit).
- Hysteresis (clear_threshold) has no PromQL equivalent; the usual emulation is a self-reference: a series past
  the clear threshold also matches while its own alert is firing
      x > T or (x > C and ignoring(<alert labels>) ALERTS{alertname="R", alertstate="firing"})
  ALERTS is written at each evaluation, so the band applies from the evaluation after the alert fired, as in
  the engine.
- `for` and `keep_firing_for` are Prometheus's own (keep_firing_for needs Prometheus >= 2.42). One difference:
  Prometheus counts keep_firing_for from the first evaluation where the condition failed, the engine from the
  last one where it held, so Prometheus resolves one evaluation interval later.
- Event mode: a rule whose event override changes its numbers becomes two rules with the same alertname, one
  in group converge-alerts gated by `converge_monitor_event_mode == 0` (label mode="normal"), one in
  converge-alerts-event gated by `== 1` (mode="event"), so Prometheus follows the monitor's own event switch.
  The `mode` label keeps the two apart (their ALERTS series and Alertmanager fingerprints); at a switch the
  old mode's alert resolves after its keep_firing_for and the new mode's alert goes through its own `for`,
  where the engine keeps one alert and changes its numbers. Rules the override does not change are one rule
  without a mode label.
- Deploy window: the same for a rule whose deploy override changes its numbers, gated by the monitor's
  `converge_deploy_window` (1 for deploys.window after a deploy): its outside-the-window rules get
  `and on() (converge_deploy_window == 0)` on top, its inside ones (mode="deploy", or "event_deploy" when the
  event numbers still differ inside the window) go to group converge-alerts-deploy with `== 1`.
- Unknown is never healthy. The exporter drops an unknown series and sets
  `converge_signal_unknown{signal, target} 1` instead; a firing alert whose series is gone and whose target
  reports the signal unknown keeps firing (its value is then NaN, the summary says "unknown"). Differences:
  a pending alert restarts its `for` after an unknown stretch (the engine holds the timer), and after an
  unknown stretch keep_firing_for runs from the first healthy value (the engine may resolve at once).
- A guard (`only_if`, e.g. room to scale) is `and on(<the guard signal's labels>) (converge_<guard> > 0)` around
  the whole condition, the hysteresis and unknown-hold terms included: a guard that stops holding (or whose
  series is gone: unknown) ends the condition, and the alert resolves after keep_firing_for, as in the engine.
- Comparison "unknown" (ProbeUnknown) reads `converge_signal_unknown{signal="probe_success"} == 1`; its `kind`
  label is joined from converge_monitor_probe_last_run_timestamp_seconds{target, kind}.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from alerts.rules.model import PLACEHOLDER, Params, Rule, format_value
from monitor.core.api_contract import BUCKET, DURATION, EXCLUDED_ROUTES, REQUESTS
from monitor.core.signals import CATALOG
from monitor.core.timeutil import prom_duration

RuleGroup = dict[str, Any]  # one Prometheus rule group, YAML-ready: {"name": ..., "rules": [...]}

ALERTS_FILE = "converge-alerts.yml"
RECORDING_FILE = "converge-recording.yml"
SLO_FILE = "converge-slo.yml"
ALERT_GROUP = "converge-alerts"
EVENT_GROUP = "converge-alerts-event"
RECORDING_GROUP = "converge-api-recording"
MONITOR_JOB = "converge-monitor"  # the monitor's job name in prometheus.yml
EVENT_MODE_METRIC = "converge_monitor_event_mode"
DEPLOY_GROUP = "converge-alerts-deploy"
DEPLOY_WINDOW_METRIC = "converge_deploy_window"  # a signal the monitor exports (monitor/deploys.py)
UNKNOWN_METRIC = "converge_signal_unknown"
LAST_RUN_METRIC = "converge_monitor_probe_last_run_timestamp_seconds"
# Labels an alert has on top of its series labels; ALERTS adds alertname and alertstate.
RULE_LABELS = ("mode", "severity", "tier")
NORMAL, EVENT, DEPLOY, EVENT_DEPLOY = "normal", "event", "deploy", "event_deploy"

HEADER = """\
# Generated by `converge-monitor export-rules` from the alert rule catalog (alerts/rules/catalog.py) and the
# config's overrides: do not edit, regenerate. How the embedded engine's semantics map onto these rules
# (hysteresis, event mode, unknown values): alerts/promrules.py.
"""
RECORDING_HEADER = """\
# Generated by `converge-monitor export-rules` (alerts/promrules.py recording_groups): request rate, error
# ratio and latency quantiles from the API's raw metrics. Do not edit, regenerate.
"""
SLO_HEADER = """\
# Generated by `converge-monitor export-rules` from the config's SLOs (slo/prometheus.py): SLI ratios, burn
# rates, budgets and burn-rate alerts. Do not edit, regenerate.
"""


# -- small PromQL and YAML pieces -------------------------------------------------------------------

def prom_number(value: float) -> str:
    """A float literal PromQL reads back exactly: 2.0 -> "2", 0.05 -> "0.05"."""
    if not math.isfinite(value):
        raise ValueError(f"threshold must be finite, got {value!r}")
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def selector(metric: str, labels: Mapping[str, str]) -> str:
    """`metric{a="x", b="y"}`; label values quoted as PromQL strings."""
    if not labels:
        return metric
    inner = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in labels.items())
    return f"{metric}{{{inner}}}"


def selector_text(metric: str, matchers: str) -> str:
    return f"{metric}{{{matchers}}}" if matchers else metric


def _names(labels: Sequence[str]) -> str:
    return ", ".join(labels)


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None  # multi-line expressions stay readable
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_groups(groups: Sequence[RuleGroup], header: str = HEADER) -> str:
    """A rule file: the header comment and {"groups": [...]} as YAML, stable for golden files."""
    body = yaml.dump({"groups": list(groups)}, Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True)
    return header + body


# -- templates --------------------------------------------------------------------------------------

_GO_BRACES = re.compile(r"\{\{|\}\}")
_VALUE_FORMATS = {  # by the signal's unit; close to alerts.rules.format_value within Go templates' means
    "ratio": "{{ $value | humanizePercentage }}",
    "seconds": "{{ $value | humanizeDuration }}",
    "days": '{{ printf "%.1f" $value }} days',
    "per_minute": '{{ printf "%.0f" $value }}/min',
    "per_second": '{{ printf "%.1f" $value }}/s',
    "bytes": "{{ $value | humanize1024 }}B",
}


def value_template(unit: str) -> str:
    """Go template text for an alert's value; NaN (a firing alert held while its series is unknown) reads
    "unknown"."""
    shown = _VALUE_FORMATS.get(unit, "{{ $value }}")
    return "{{ if ne $value $value }}unknown{{ else }}" + shown + "{{ end }}"


def _literal(text: str) -> str:
    return _GO_BRACES.sub(lambda m: '{{ "' + m.group(0) + '" }}', text)


def annotation_template(text: str, rule: Rule, threshold: float | None) -> str:
    """A summary or runbook with its {placeholders} as Go templates: {value} -> the alert's value, {threshold} ->
    this mode's threshold (fixed text), {label} -> {{ $labels.label }}."""
    labels = _alert_labels(rule)
    out, pos = [], 0
    for m in PLACEHOLDER.finditer(text):
        out.append(_literal(text[pos:m.start()]))
        key = m.group(1)
        if key == "value":
            out.append(value_template(CATALOG[rule.signal].unit))
        elif key == "threshold":
            out.append(_literal(format_value(rule.signal, threshold)))
        elif key in labels:
            out.append("{{ $labels." + key + " }}")
        # else: a label this signal's alerts do not have ({target} of a flow signal): empty, as the engine
        pos = m.end()
    out.append(_literal(text[pos:]))
    return "".join(out)


# -- alerting rules ---------------------------------------------------------------------------------

def _alert_labels(rule: Rule) -> tuple[str, ...]:
    """The series labels an alert of this rule carries (as in the engine, whose alerts have the series labels)."""
    if rule.comparison == "unknown":
        return tuple(n for n in CATALOG[rule.signal].labels if n in _unknown_labels(rule.signal))
    return CATALOG[rule.signal].labels


def _unknown_labels(signal: str) -> tuple[str, ...]:
    """The labels an unknown of this signal can be told apart by: the exporter keys converge_signal_unknown by
    (signal, target-or-flow); probe_success gets its kind back from the probe-run gauge."""
    labels = CATALOG[signal].labels
    if signal == "probe_success":
        return ("target", "kind")
    if "target" in labels:
        return ("target",)
    if "flow" in labels:
        return ("flow",)
    return ()


def _unknown_side(signal: str, matchers: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """`converge_signal_unknown{signal=...} == 1` with its target label named as the signal names it, and the
    label to join on; None when the signal has neither target nor flow."""
    keys = _unknown_labels(signal)
    if not keys:
        return None
    key = keys[0]
    match = {"signal": signal}
    if matchers and key in matchers:
        match["target"] = matchers[key]
    expr = f"({selector(UNKNOWN_METRIC, match)} == 1)"
    if key == "flow":  # the exporter puts the flow name in `target`
        expr = f'(label_replace({expr}, "flow", "$1", "target", "(.*)"))'
    return expr, key


def _unknown_condition(rule: Rule) -> str:
    """Comparison "unknown": the series the exporter reports unknown, with the rule's series labels."""
    labels = CATALOG[rule.signal].labels
    keys = _unknown_labels(rule.signal)
    extra = sorted(set(rule.labels) - set(keys))
    if not keys or extra:
        raise ValueError(f"rule {rule.name}: comparison 'unknown' on {rule.signal} cannot be exported to Prometheus "
                         f"with labels {extra or list(labels)}: the monitor exports unknowns by target only "
                         "(converge_signal_unknown{signal, target})")
    side = _unknown_side(rule.signal, rule.labels)
    assert side is not None
    drop = "signal" if side[1] == "target" else "signal, target"
    expr = f"max without({drop}) {side[0]}"
    if rule.signal == "probe_success":
        kind = {"kind": rule.labels["kind"]} if "kind" in rule.labels else {}
        expr = (f"{expr}\n  * on(target) group_left(kind)\n"
                f"  group by(target, kind) ({selector(LAST_RUN_METRIC, kind)})")
    return expr


def _threshold_condition(rule: Rule, p: Params, mode: str | None) -> str:
    assert p.threshold is not None and p.clear_threshold is not None
    series = selector(CATALOG[rule.signal].metric_name, rule.labels)
    alerts_match = {"alertname": rule.name, "alertstate": "firing", **({"mode": mode} if mode else {})}
    firing = selector("ALERTS", alerts_match)
    terms = [f"{series} {rule.comparison} {prom_number(p.threshold)}"]
    if p.clear_threshold != p.threshold:
        terms.append(f"({series} {rule.comparison} {prom_number(p.clear_threshold)}"
                     f" and ignoring(alertname, alertstate, {_names(RULE_LABELS)}) {firing})")
    side = _unknown_side(rule.signal)
    if side is not None:
        unknown, key = side
        # `and`/`unless` associate left: (held alerts and unknown target) unless the series is still exported
        terms.append(f"(\n  max without(alertstate) ({firing})\n  and on({key}) {unknown}\n"
                     f"  unless ignoring(alertname, {_names(RULE_LABELS)}) {series}\n) * NaN")
    return "\n".join(t if i == 0 else f"or {t}" for i, t in enumerate(terms))


def _condition(rule: Rule, p: Params, mode: str | None) -> str:
    if rule.comparison == "unknown":
        return _unknown_condition(rule)
    cond = _threshold_condition(rule, p, mode)
    guard = rule.only_if
    if guard is None:
        return cond
    inner = "\n".join("  " + line for line in cond.splitlines())
    on = _names(CATALOG[guard.signal].labels)
    return (f"(\n{inner}\n)\nand on({on}) "
            f"({CATALOG[guard.signal].metric_name} {guard.comparison} {prom_number(guard.threshold)})")


def mode_name(in_event: bool | None, in_deploy: bool | None = None) -> str | None:
    """The `mode` label of a rule gated by the event switch and/or the deploy window (None: not gated)."""
    if in_deploy:
        return EVENT_DEPLOY if in_event else DEPLOY
    if in_event is None and in_deploy is None:
        return None
    return EVENT if in_event else NORMAL


def alert_expr(rule: Rule, in_event: bool | None, in_deploy: bool | None = None) -> str:
    """The PromQL of one rule: for every mode (None) or gated to one by the monitor's event switch and deploy
    window (True/False)."""
    mode = mode_name(in_event, in_deploy)
    cond = _condition(rule, rule.params(bool(in_event), bool(in_deploy)), mode)
    gates = [f"({metric} == {1 if on else 0})" for metric, on in
             ((EVENT_MODE_METRIC, in_event), (DEPLOY_WINDOW_METRIC, in_deploy)) if on is not None]
    if not gates:
        return cond
    inner = "\n".join("  " + line for line in cond.splitlines())
    return f"(\n{inner}\n)\n" + "\n".join(f"and on() {gate}" for gate in gates)


def alerting_rule(rule: Rule, in_event: bool | None, in_deploy: bool | None = None) -> dict[str, Any]:
    """One Prometheus alerting rule for the catalog rule, in one mode (or every mode when both are None)."""
    p = rule.params(bool(in_event), bool(in_deploy))
    out: dict[str, Any] = {"alert": rule.name, "expr": alert_expr(rule, in_event, in_deploy)}
    if p.for_ > 0:
        out["for"] = prom_duration(p.for_)
    if p.keep_firing_for > 0:
        out["keep_firing_for"] = prom_duration(p.keep_firing_for)
    labels = {"severity": rule.tier.value, "tier": rule.tier.value}
    mode = mode_name(in_event, in_deploy)
    if mode is not None:
        labels["mode"] = mode
    out["labels"] = labels
    annotations = {"summary": annotation_template(rule.summary, rule, p.threshold)}
    if rule.runbook:
        annotations["runbook"] = annotation_template(rule.runbook, rule, p.threshold)
    out["annotations"] = annotations
    return out


def split_by_mode(rule: Rule) -> bool:
    """True when the event override changes any of the rule's numbers: then it is two rules."""
    return rule.params(True) != rule.params(False)


def rule_modes(rule: Rule) -> list[tuple[bool | None, bool | None]]:
    """(in_event, in_deploy) of each Prometheus rule a catalog rule becomes: one per set of numbers that differ.
    A rule whose deploy override changes nothing keeps the event split alone (and its exported form)."""
    by_event: list[bool | None] = [False, True] if split_by_mode(rule) else [None]
    has_deploy = any(rule.params(e, True) != rule.params(e, False) for e in (False, True))
    if not has_deploy:
        return [(e, None) for e in by_event]
    inside: list[bool | None] = [False, True] if rule.params(True, True) != rule.params(False, True) else [None]
    return [*((e, False) for e in by_event), *((e, True) for e in inside)]


def monitor_down_rule(job: str = MONITOR_JOB) -> dict[str, Any]:
    """Prometheus-only: when the monitor is not scraped every converge_* series and every alert above vanish."""
    up = selector("up", {"job": job})
    return {
        "alert": "ConvergeMonitorDown",
        "expr": f"{up} == 0 or absent({up})",
        "for": "1m",
        "labels": {"severity": "critical", "tier": "critical"},
        "annotations": {
            "summary": "The converge monitor is down or not scraped (job {{ $labels.job }}"
                       "{{ with $labels.instance }}, instance {{ . }}{{ end }}): "
                       "its signals and alerts are gone",
            "runbook": "Check the monitor process (`converge-monitor run`) and its /health; until it is back, "
                       "nothing watches the API. Its dead-man heartbeat should page as well.",
        },
    }


def alert_groups(rules: Sequence[Rule], *, monitor_job: str | None = MONITOR_JOB) -> list[RuleGroup]:
    """The alerting groups: converge-alerts (rules the event mode does not change, and the normal-mode half of
    the others) and converge-alerts-event; monitor_job None leaves out ConvergeMonitorDown."""
    groups: dict[str, list[dict[str, Any]]] = {ALERT_GROUP: [], EVENT_GROUP: [], DEPLOY_GROUP: []}
    for rule in rules:
        # SLO burn-rate rules have native Prometheus versions in the SLO groups (slo/prometheus.py).
        if not rule.enabled or rule.signal == "slo_multiwindow_burn_rate":
            continue
        for in_event, in_deploy in rule_modes(rule):
            group = DEPLOY_GROUP if in_deploy else EVENT_GROUP if in_event else ALERT_GROUP
            groups[group].append(alerting_rule(rule, in_event, in_deploy))
    if monitor_job is not None:
        groups[ALERT_GROUP].append(monitor_down_rule(monitor_job))
    return [{"name": name, "rules": items} for name, items in groups.items() if items or name == ALERT_GROUP]


# -- recording rules --------------------------------------------------------------------------------

def recording_groups(window: str = "5m", quantiles: Sequence[float] = (0.5, 0.95, 0.99),
                     excluded_routes: Sequence[str] = EXCLUDED_ROUTES) -> list[RuleGroup]:
    """Request rate, error ratio (5xx / all) and latency quantiles over `window`, per (job, route) and per job,
    from the API's raw metrics (app/metrics.py). Names follow Prometheus's level:metric:operations. The per-job
    series leave out `excluded_routes` (Prometheus's own scrapes are not user traffic), as the SLOs do."""
    rules: list[dict[str, str]] = []
    skip = "|".join(re.escape(r) for r in excluded_routes)
    for level, by, where in (("job_route", "job, route", ""),
                             ("job", "job", f"route!~{json.dumps(skip)}" if skip else "")):
        requests = selector_text(REQUESTS, where)
        failed = selector_text(REQUESTS, ", ".join(filter(None, (where, 'status_code=~"5.."'))))
        buckets = selector_text(BUCKET, where)
        rate = f"{level}:http_requests:rate{window}"
        errors = f"{level}:http_request_errors:rate{window}"
        rules += [
            {"record": rate, "expr": f"sum by({by}) (rate({requests}[{window}]))"},
            # `or ... * 0`: no 5xx series yet is 0 errors, not a missing ratio
            {"record": errors, "expr": f"sum by({by}) (rate({failed}[{window}]))\nor {rate} * 0"},
            {"record": f"{level}:http_request_error_ratio:rate{window}", "expr": f"{errors} / {rate}"},
        ]
        for q in quantiles:
            rules.append({"record": f"{level}:{DURATION}:p{_percentile(q)}_{window}",
                          "expr": f"histogram_quantile({q}, sum by({by}, le) (rate({buckets}[{window}])))"})
    return [{"name": RECORDING_GROUP, "rules": rules}]


def _percentile(q: float) -> str:
    return f"{q * 100:g}".replace(".", "_")


# -- files ------------------------------------------------------------------------------------------

def rule_files(rules: Sequence[Rule], *, slo_groups: Sequence[RuleGroup] = (),
               monitor_job: str | None = MONITOR_JOB) -> dict[str, str]:
    """Every rule file by name. `slo_groups` is the hook for slo/: its recording and burn-rate groups go to
    converge-slo.yml unchanged."""
    files = {
        ALERTS_FILE: dump_groups(alert_groups(rules, monitor_job=monitor_job)),
        RECORDING_FILE: dump_groups(recording_groups(), RECORDING_HEADER),
    }
    if slo_groups:
        files[SLO_FILE] = dump_groups(slo_groups, SLO_HEADER)
    return files
