"""Prometheus recording and alerting rules for the SLOs, as rule-group dicts (yaml.safe_dump them).

    groups = slo_rule_groups(parse_slos(config.slos), config.event)
    Path("rules/slo.yml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))

Recording rules, per SLO (label slo) with burn-rate alerts:

    slo:sli_history:start_timestamp   where the SLI's history begins: the minute (epoch seconds) of the
                                      first sample of the series it counts (see "A young history")

per SLO and per window W the SLO needs (every alert window of both periods):

    slo:requests:rate<W>          events per second (requests; probe samples for probe SLIs)
    slo:sli_error:ratio_rate<W>   bad / all events over W (absent without events)
    slo:burn_rate:<W>             slo:sli_error:ratio_rate<W> / (1 - objective)

and per period (label period="30d" or "event"):

    slo:objective:ratio           the objective
    slo:sli:ratio                 the SLI over the period so far
    slo:error_budget_remaining:ratio, slo:error_budget_remaining:seconds   as slo/budget.py defines them

The event period is calendar-bounded: `increase(x[<event length>] @ <event end>)` selects exactly the
event's samples (up to now while it runs). Each SLO is one group, recording rules first, then its
alerting rules: the same names, factors and labels (plus `severity` page/ticket) as the embedded
engine's (slo/alerting.py); the event's only while it runs.

A young history. Like the monitor (slo/burn.py), an alert judges a window it has watched only in part by
the burn rate over the watched part times the watched fraction, clamp_max((time() - start) / W, 1), so its
$value is that scaled burn rate. `start` is slo:sli_history:start_timestamp: the first sample of the
series the SLI counts (the request counters without /metrics; the probe gauges and, when unknown runs are
failed events, their converge_signal_unknown), floored to the minute as the monitor does. It keeps itself:
each evaluation reads its own earlier values (min_over_time over the SLO's longest window, which bridges a
Prometheus restart or a rule reload) and only without them looks at the samples:

- the first sample's minute, exactly, while it lies within the last few minutes (a fresh start): at the
  first whole minute T after it, the newest sample strictly before T (`offset 1ms`) is in that minute;
  before any whole minute has passed, the newest sample is;
- older samples (rules loaded onto a Prometheus that already has history) hour by hour: the start is then
  found up to an hour late (judged a little younger than it is), and exactly enough once the history is
  older than every window (the fraction is 1 then).

Request SLIs read the API's raw metrics (http_requests_total, http_request_duration_seconds_bucket),
excluding the /metrics route, like the monitor's own counts. Probe SLIs read the monitor's exported
gauges (converge_http_up, ...): Prometheus samples them at its scrape interval, so they approximate
the monitor's per-run counts, and a run whose result is unknown (exported as converge_signal_unknown)
counts as failed there too.
"""

from __future__ import annotations

import math
from typing import Any

from monitor.core.api_contract import BUCKET, EXCLUDED_ROUTES, INF, REQUESTS
from monitor.core.sections import EventWindow
from slo.alerting import BurnAlert, burn_alerts
from slo.periods import PeriodDef, periods
from slo.spec import LatencySli, ProbeSource, ProbesSli, RequestsSli, SlosConfig, SloSpec
from slo.windows import prom_duration

GROUP_INTERVAL = "30s"
HISTORY_START = "slo:sli_history:start_timestamp"
SEED_RECENT = "5m"  # how far back the exact, minute-by-minute look for a first sample reaches
SEED_STEP = 3600.0  # the step of the coarse look back over the longest window (older first samples)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _matchers(*parts: str) -> str:
    kept = [p for p in parts if p]
    return "{" + ", ".join(kept) + "}" if kept else ""


def _route_filter() -> str:
    routes = "|".join(_regex_escape(r) for r in EXCLUDED_ROUTES)
    return f"route!~{_quote(routes)}" if routes else ""


def _regex_escape(text: str) -> str:
    return "".join("\\" + c if c in ".^$*+?()[]{}|\\" else c for c in text)  # one backslash; _quote doubles it


def le_matcher(bound: float) -> str:
    """le as any client may spell it: 0.5 -> "0.5", 1 -> "1" or "1.0" (Prometheus 2 keeps the exposition's text)."""
    if math.isinf(bound):
        return f"le={_quote(INF)}"
    text = format(bound, ".12g")
    if "." in text or "e" in text:
        return f"le=~{_quote(_regex_escape(text) + '0*')}"
    pattern = text + r"(\.0*)?"
    return f"le=~{_quote(pattern)}"


def _num(value: float) -> str:
    return repr(float(value))


class _Sli:
    """PromQL for one SLO's good/bad/all events over a range `W` (the text "[W]" is substituted)."""

    def __init__(self, spec: SloSpec) -> None:
        self.spec = spec

    def total(self, w: str) -> str:
        sli = self.spec.sli
        if isinstance(sli, (RequestsSli, LatencySli)):
            return f"sum(rate({self.history_selectors()[0]}[{w}]))"
        assert isinstance(sli, ProbesSli)
        return " + ".join(f"({term})" for term in self._probe_terms(w, total=True))

    def history_selectors(self) -> list[str]:
        """The series whose samples are the SLI's events (all of them, good or bad): where its history begins."""
        sli = self.spec.sli
        if isinstance(sli, RequestsSli):
            return [f"{REQUESTS}{_matchers(_route_filter())}"]
        if isinstance(sli, LatencySli):
            return [f"{BUCKET}{_matchers(_route_filter(), le_matcher(math.inf))}"]
        assert isinstance(sli, ProbesSli)
        return [sel for source in sli.sources for sel in self._probe_selectors(source)]

    def _probe_selectors(self, source: ProbeSource) -> list[str]:
        """The source's gauge, and its unknown runs when they count (as failed events)."""
        sli = self.spec.sli
        assert isinstance(sli, ProbesSli)
        sel = _matchers(*(f"{k}={_quote(v)}" for k, v in sorted(source.labels.items())))
        out = [f"converge_{source.signal}{sel}"]
        if sli.unknown == "bad":
            name = source.labels.get("target") or source.labels.get("flow")
            unknown = _matchers(f"signal={_quote(source.signal)}", f"target={_quote(name)}" if name else "")
            out.append(f"converge_signal_unknown{unknown}")
        return out

    def bad(self, w: str) -> str:
        sli = self.spec.sli
        if isinstance(sli, RequestsSli):
            sel = _matchers(_route_filter(), 'status_code=~"5.."')
            return f"(sum(rate({REQUESTS}{sel}[{w}])) or vector(0))"
        if isinstance(sli, LatencySli):
            fast = f"sum(rate({BUCKET}{_matchers(_route_filter(), le_matcher(sli.threshold))}[{w}]))"
            return f"({self.total(w)} - {fast})"
        good = " + ".join(f"({term})" for term in self._probe_terms(w, total=False))
        return f"({self.total(w)} - ({good}))"

    def _probe_terms(self, w: str, total: bool) -> list[str]:
        # Per-second sample counts, so that the totals read like a rate (and the ratio is unchanged).
        sli = self.spec.sli
        assert isinstance(sli, ProbesSli)
        seconds = f"{w}_seconds"
        terms = []
        for source in sli.sources:
            metric, *unknown = self._probe_selectors(source)
            fn = "count_over_time" if total else "sum_over_time"
            terms.append(f"sum({fn}({metric}[{w}])) / {seconds} or vector(0)")
            if total:
                terms += [f"sum(count_over_time({u}[{w}])) / {seconds} or vector(0)" for u in unknown]
        return terms


def _history_rule(spec: SloSpec, longest: float) -> dict[str, Any]:
    """slo:sli_history:start_timestamp: its own earlier values, or else the first sample's minute."""
    parts = []
    for sel in _Sli(spec).history_selectors():
        parts += [
            # At each whole minute T, the newest sample strictly before T: at the first T after the first
            # sample, a sample of the first sample's minute.
            f"min_over_time(timestamp({sel} offset 1ms)[{SEED_RECENT}:1m])",
            # Before a whole minute has followed the first sample: the newest sample, of that same minute.
            f"timestamp({sel})",
            # Older history, hour by hour; its first step lies before the longest window.
            f"min_over_time(timestamp({sel})[{prom_duration(longest + SEED_STEP)}:{prom_duration(SEED_STEP)}])",
        ]
    # Each part labelled apart: `or` would drop a part's series whose labels another part already has.
    union = " or ".join(f'label_replace({p}, "seed", "{i}", "", "")' for i, p in enumerate(parts))
    seed = f"floor(min({union}) / 60) * 60"
    own = f"{HISTORY_START}{{slo={_quote(spec.name)}}}"
    return {"record": HISTORY_START, "expr": f"min_over_time({own}[{prom_duration(longest)}]) or on() {seed}",
            "labels": {"slo": spec.name}}


def _watched(slo: str, window: float) -> str:
    """The watched fraction of a window, as slo/burn.py's watched_fraction."""
    return f"clamp_max((time() - {HISTORY_START}{{slo={slo}}}) / {_num(window)}, 1)"


def _expand(expr: str, w: str, seconds: float) -> str:
    return expr.replace(f"{w}_seconds", _num(seconds))


def _rate_rules(spec: SloSpec, windows: list[float]) -> list[dict[str, Any]]:
    sli = _Sli(spec)
    budget = f"(1 - {_num(spec.objective)})"
    labels = {"slo": spec.name}
    out = []
    for seconds in windows:
        w = prom_duration(seconds)
        total = _expand(sli.total(w), w, seconds)
        bad = _expand(sli.bad(w), w, seconds)
        out += [
            {"record": f"slo:requests:rate{w}", "expr": total, "labels": dict(labels)},
            # `> 0`: no events means no ratio (0/0), not NaN; the embedded math says "no burn" then too.
            {"record": f"slo:sli_error:ratio_rate{w}", "expr": f"{bad} / ({total} > 0)", "labels": dict(labels)},
            {"record": f"slo:burn_rate:{w}",
             "expr": f"slo:sli_error:ratio_rate{w}{{slo={_quote(spec.name)}}} / {budget}", "labels": dict(labels)},
        ]
    return out


def _period_rules(spec: SloSpec, p: PeriodDef) -> list[dict[str, Any]]:
    sli = _Sli(spec)
    slo = _quote(spec.name)
    labels = {"slo": spec.name, "period": p.label}
    sel = f"{{slo={slo}, period={_quote(p.label)}}}"
    budget = f"(1 - {_num(spec.objective)})"
    w = prom_duration(p.length)
    if p.calendar is None:
        error = f"{sli.bad(w)} / ({sli.total(w)} > 0)"
        error = _expand(error, w, p.length)
        elapsed = _num(p.length)
    else:
        # Only the event's samples: the range ends at the event's end (in the future while it runs).
        at = f"[{w}] @ {_num(p.calendar.end)})"
        error = _expand(f"{sli.bad(w)} / ({sli.total(w)} > 0)", w, p.length).replace(f"[{w}])", at)
        start, length = _num(p.calendar.start), _num(p.length)
        elapsed = f"scalar(clamp(vector(time()) - {start}, 0, {length}))"
    spent = f"(1 - slo:sli:ratio{sel}) * {elapsed}"
    rules = [
        {"record": "slo:objective:ratio", "expr": f"vector({_num(spec.objective)})", "labels": dict(labels)},
        {"record": "slo:sli:ratio", "expr": f"1 - ({error})", "labels": dict(labels)},
        {"record": "slo:error_budget_remaining:seconds",
         "expr": f"{budget} * {_num(p.length)} - {spent}", "labels": dict(labels)},
        {"record": "slo:error_budget_remaining:ratio",
         "expr": f"1 - {spent} / ({budget} * {_num(p.length)})", "labels": dict(labels)},
    ]
    if p.calendar is not None:  # before the event nothing is spent: the whole budget is left
        before = f"vector(time()) < {_num(p.calendar.start)}"
        for rule in rules[2:]:
            full = f"{budget} * {_num(p.length)}" if rule["record"].endswith("seconds") else "1"
            rule["expr"] = f"({rule['expr']}) or (vector({full}) and on() ({before}))"
    return rules


def _alert_rule(a: BurnAlert) -> dict[str, Any]:
    slo = _quote(a.slo.name)
    long, short = prom_duration(a.policy.long), prom_duration(a.policy.short)
    factor = _num(a.policy.factor)
    # Each window's burn rate scaled by how much of it was watched: the first operand, the long window's,
    # is the alert's $value.
    long_burn = f"slo:burn_rate:{long}{{slo={slo}}} * {_watched(slo, a.policy.long)}"
    short_burn = f"slo:burn_rate:{short}{{slo={slo}}} * {_watched(slo, a.policy.short)}"
    expr = f"({long_burn}) > {factor} and ({short_burn}) > {factor}"
    if a.period.calendar is not None:
        expr = (f"({expr}) and on() (vector(time()) >= {_num(a.period.calendar.start)} "
                f"< {_num(a.period.calendar.end)})")
    summary = a.summary.replace("{value}", "{{ $value | printf \"%.1f\" }}")
    return {
        "alert": a.name, "expr": expr,
        "labels": {**a.labels, "severity": a.policy.severity, "tier": str(a.tier)},
        "annotations": {"summary": summary, "runbook": a.runbook,
                        "description": f"{a.slo.title}: objective {a.slo.objective * 100:g}% over {a.period.label}"},
    }


def slo_rule_groups(slos: SlosConfig, event: EventWindow | None) -> list[dict[str, Any]]:
    """One Prometheus rule group per SLO, `slo-<name>`: its recording rules, then its burn-rate alerts.

    One group, because Prometheus evaluates the rules of a group in order at one timestamp while groups
    run concurrently: the alerts then always read this evaluation's burn rates, never the previous ones.
    """
    defined = periods(slos, event)
    alerts = burn_alerts(slos, event)
    groups = []
    for spec in slos.effective():
        chosen = [defined[k] for k in spec.periods if k in defined]
        windows = sorted({w for p in chosen for c in p.policies for w in (c.long, c.short)})
        alert_rules = [_alert_rule(a) for a in alerts if a.slo.name == spec.name]
        rules = [_history_rule(spec, windows[-1])] if alert_rules else []
        rules += _rate_rules(spec, windows)
        for p in chosen:
            rules += _period_rules(spec, p)
        rules += alert_rules
        groups.append({"name": f"slo-{spec.name}", "interval": GROUP_INTERVAL, "rules": rules})
    return groups
