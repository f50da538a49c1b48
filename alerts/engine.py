"""The alert state machine: rules x observations -> alert states and transitions. Pure: no I/O, no clock.

    engine = AlertEngine(load_rules(config.rules), max_age=stale_after({"api-health": 30.0, ...}))
    for t in engine.evaluate(store_latest_observations, now=clock(), in_event=window.contains(now)):
        ...  # t.alert, t.old_state, t.new_state, t.at
    store.save(engine.snapshot())     # and after a restart: engine.restore(saved)

One alert per (rule, series): its labels are the series labels plus alertname and tier. Like Prometheus:

- condition true            inactive -> pending (active_since = now); -> firing once it held for `for`
                            (at once when for = 0)
- condition false, pending  -> inactive (nothing was announced, nothing to notify)
- firing                    stays firing while the value is on the firing side of clear_threshold
                            (hysteresis); resolves once it is past it *and* keep_firing_for has elapsed
                            since the condition last held
- resolved                  kept `resolved_retention` seconds (so /api/alerts shows it), then forgotten;
                            if the condition holds again meanwhile, a new pending cycle starts

Unknown is never healthy. A value is unknown when the observation says so (value None or NaN) or when it
is stale (older than `max_age`). Unknown does not start an alert; a pending alert holds (its timer keeps
its start, but it does not fire while unknown: it fires on the first known value that still holds once
`for` has elapsed since active_since); a firing alert stays firing. Comparison "unknown" rules
(ProbeUnknown) invert this: their condition *is* "the value is unknown".

A rule's guard (`only_if`: another signal of the same target, e.g. room to scale) is part of the condition:
it holds only with a known value of the guard series; a pending alert whose guard fails goes back to inactive,
a firing one resolves (after keep_firing_for), and an unknown guard counts as not holding.

Contract: pass the latest observation of every series each cycle (the store's latest values); a series
that is not passed at all is not evaluated and its alerts hold. Event mode (`in_event`) picks each rule's
event override (and, inside a deploy window, its deploy override) at each evaluation.
Transitions carry a copy of the alert as it was at that moment.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from operator import itemgetter
from typing import Any

from alerts.model import Alert, State, Tier
from alerts.rules import OPS, Params, Rule, render
from monitor.core.observation import NOTHING_TO_MEASURE, Observation

SNAPSHOT_VERSION = 1
_RESERVED = ("alertname", "tier")  # alert labels on top of the series labels

SeriesKey = tuple[tuple[str, str], ...]
MaxAge = float | Callable[[Observation], float]
Entry = tuple[float | None, Observation]  # (effective value: None when unknown or stale, the observation)


# Seconds without a known true value (or the rule's `for`, if longer) after which a pending alert's `for`
# starts over: a restored timer must not fire at once after the monitor was stopped for an hour.
PENDING_GAP = 300.0

@dataclass(frozen=True, slots=True)
class Transition:
    alert: Alert  # a copy, as it was right after the change
    old_state: State
    new_state: State
    at: float


def stale_after(per_target: Mapping[str, float], default: float = math.inf) -> Callable[[Observation], float]:
    """A max_age per target name (e.g. 3 x the target's interval), read from the `target` or `flow` label."""

    def max_age(obs: Observation) -> float:
        labels = obs.labels
        name = labels.get("target") or labels.get("flow")
        return per_target.get(name, default) if name is not None else default

    return max_age


class AlertEngine:
    def __init__(self, rules: Iterable[Rule], *, max_age: MaxAge = math.inf,
                 resolved_retention: float = 900.0, pending_gap: float = PENDING_GAP) -> None:
        self.rules: list[Rule] = list(rules)
        dupes = sorted(n for n, count in Counter(r.name for r in self.rules).items() if count > 1)
        if dupes:
            raise ValueError(f"duplicate rule names: {', '.join(dupes)}")
        self._enabled = [r for r in self.rules if r.enabled]
        self._by_name = {r.name: r for r in self._enabled}
        self._signals = {r.signal for r in self._enabled} | {r.only_if.signal for r in self._enabled if r.only_if}
        self.max_age = max_age
        self.resolved_retention = resolved_retention
        self.pending_gap = pending_gap
        # rule name -> series key -> alert (pending, firing or recently resolved)
        self._alerts: dict[str, dict[SeriesKey, Alert]] = {}

    # -- queries -------------------------------------------------------------------------------------
    def alerts(self, states: Sequence[State] = (State.PENDING, State.FIRING, State.RESOLVED)) -> list[Alert]:
        return [a for by_key in self._alerts.values() for a in by_key.values() if a.state in states]

    def get(self, alert_id: str) -> Alert | None:
        return next((a for a in self.alerts() if a.id == alert_id), None)

    # -- evaluation ----------------------------------------------------------------------------------
    def evaluate(self, observations: Iterable[Observation], now: float, in_event: bool,
                 in_deploy: bool = False) -> list[Transition]:
        frame = _Frame(observations, now, self._signals, self.max_age)
        out: list[Transition] = []
        for rule in self._enabled:
            active = self._alerts.get(rule.name)
            group = frame.group(rule)
            if not active and group is None:
                continue
            p = rule.params(in_event, in_deploy)
            guard = frame.guard(rule)
            if active and group is not None:
                self._step_active(rule, active, frame, group, p, guard, now, out)
            if group is not None:
                # new alerts: only the series past the threshold (a bisect on the sorted values for big groups)
                for value, obs in group.firing(rule.comparison, p.threshold):
                    if guard is not None and not guard(obs):
                        continue
                    key = frame.key(obs)
                    alert = active.get(key) if active else None
                    if alert is None or alert.state is State.RESOLVED:
                        active = self._start(rule, key, obs, alert, value, p.threshold, p.for_, now, out)
            if active:
                self._expire(rule, now)
        return out

    def _step_active(self, rule: Rule, active: dict[SeriesKey, Alert], frame: _Frame, group: _Group, p: Params,
                     guard: Callable[[Observation], bool] | None, now: float, out: list[Transition]) -> None:
        when_unknown = rule.comparison == "unknown"
        op = OPS.get(rule.comparison)
        for key, alert in list(active.items()):
            if alert.state is State.RESOLVED:
                continue  # a new cycle starts from the firing series, above
            entry = group.lookup(frame, key)
            if entry is None:
                continue  # the series was not passed: not evaluated, the alert holds
            value = entry[0]
            nothing = value is None and entry[1].error == NOTHING_TO_MEASURE  # compares false, as NaN does
            fire = (value is None and not nothing) if when_unknown \
                else value is not None and op(value, p.threshold)  # type: ignore[misc]
            guarded = guard is None or guard(entry[1])
            fire = fire and guarded
            if alert.state is State.PENDING:
                self._pending(rule, key, alert, value, fire, p.threshold, p.for_, now, out, known=nothing)
                continue
            # firing: hold while the value is on the firing side of the clear threshold; unknown holds
            hold = fire if when_unknown \
                else not nothing and (value is None or op(value, p.clear_threshold))  # type: ignore[misc]
            hold = hold and guarded
            self._firing(rule, alert, value, hold, p.threshold, p.keep_firing_for, now, out, fire)

    # -- state changes -------------------------------------------------------------------------------
    def _start(self, rule: Rule, key: SeriesKey, obs: Observation, previous: Alert | None, value: float | None,
               threshold: float | None, for_: float, now: float, out: list[Transition]) -> dict[SeriesKey, Alert]:
        old = previous.state if previous is not None else State.INACTIVE
        labels = {**obs.labels, "alertname": rule.name, "tier": rule.tier.value}
        alert = Alert(rule=rule.name, tier=rule.tier, labels=labels, state=State.PENDING, value=value,
                      threshold=threshold, active_since=now, last_true=now, runbook=rule.runbook)
        if for_ <= 0:
            alert.state, alert.fired_at = State.FIRING, now
        alert.summary = render(rule.summary, rule, obs.labels, value, threshold)
        active = self._alerts.setdefault(rule.name, {})
        active[key] = alert
        out.append(Transition(_copy(alert), old, alert.state, now))
        return active

    def _pending(self, rule: Rule, key: SeriesKey, alert: Alert, value: float | None, fire: bool,
                 threshold: float | None, for_: float, now: float, out: list[Transition], known: bool = False) -> None:
        known = known or value is not None or rule.comparison == "unknown"
        if not known:
            self._update(rule, alert, None, threshold)  # hold: unknown neither confirms nor clears
            return
        if not fire:
            del self._alerts[rule.name][key]
            alert.state = State.INACTIVE
            out.append(Transition(_copy(alert), State.PENDING, State.INACTIVE, now))
            return
        if alert.last_true is not None and now - alert.last_true > max(self.pending_gap, for_):
            # Not seen true for a long while (the monitor was stopped, or the data unknown): `for` means held
            # for that long as observed, so it starts over rather than firing at once on a restored timer.
            alert.active_since = now
        alert.last_true = now
        self._update(rule, alert, value, threshold)
        assert alert.active_since is not None
        if now - alert.active_since >= for_:
            alert.state, alert.fired_at = State.FIRING, now
            out.append(Transition(_copy(alert), State.PENDING, State.FIRING, now))

    def _firing(self, rule: Rule, alert: Alert, value: float | None, hold: bool, threshold: float | None,
                keep_firing_for: float, now: float, out: list[Transition], fire: bool = True) -> None:
        # The summary keeps the last value that met the condition: an escalation sent while the alert is held
        # (clear threshold, keep_firing_for) must not read "0/min unhandled exceptions"; `value` is the current.
        self._update(rule, alert, value, threshold, summary=fire)
        if hold:
            if value is not None or rule.comparison == "unknown":
                alert.last_true = now
            return
        assert alert.last_true is not None
        if now - alert.last_true >= keep_firing_for:
            alert.state, alert.resolved_at = State.RESOLVED, now
            out.append(Transition(_copy(alert), State.FIRING, State.RESOLVED, now))

    @staticmethod
    def _update(rule: Rule, alert: Alert, value: float | None, threshold: float | None, summary: bool = True) -> None:
        if value != alert.value or threshold != alert.threshold or not alert.summary:
            alert.value, alert.threshold = value, threshold
            if summary or not alert.summary:
                alert.summary = render(rule.summary, rule, alert.labels, value, threshold)

    def _expire(self, rule: Rule, now: float) -> None:
        active = self._alerts.get(rule.name)
        if not active:
            return
        retention = self.resolved_retention
        gone = [k for k, a in active.items()
                if a.state is State.RESOLVED and a.resolved_at is not None and now - a.resolved_at >= retention]
        for k in gone:
            del active[k]
        if not active:
            del self._alerts[rule.name]

    # -- persistence ---------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The engine's whole state as JSON-ready data: every alert with its timers."""
        return {
            "version": SNAPSHOT_VERSION,
            "alerts": [
                {"rule": a.rule, "tier": a.tier.value, "labels": _series_labels(a), "state": a.state.value,
                 "value": a.value,
                 "threshold": a.threshold, "active_since": a.active_since, "fired_at": a.fired_at,
                 "resolved_at": a.resolved_at, "last_true": a.last_true}
                for by_key in self._alerts.values() for a in by_key.values()
            ],
        }

    def restore(self, data: Mapping[str, Any],
                watched: Callable[[Mapping[str, str]], bool] = lambda _labels: True) -> list[Alert]:
        """Replace the state with a snapshot's; the others take the rule's current tier and texts. Alerts of
        rules that no longer exist (or are disabled), or of series no longer `watched` (a removed target),
        are dropped; the firing ones among them are returned, resolved, so that their resolve is sent."""
        if data.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"alert engine snapshot version {data.get('version')!r} is not {SNAPSHOT_VERSION}")
        self._alerts = {}
        dropped: list[Alert] = []
        for item in data.get("alerts", []):
            rule = self._by_name.get(item["rule"])
            series = {str(k): str(v) for k, v in item["labels"].items()}
            # Gone from the config (or its matchers changed): nothing watches this series any more.
            kept = rule is not None and rule.matches(series) and watched(series)
            if not kept and item["state"] != State.FIRING.value:
                continue
            # A kept alert takes its rule's current tier; a dropped one the tier it was notified with.
            tier = rule.tier if kept and rule is not None else \
                Tier(item["tier"]) if "tier" in item else rule.tier if rule is not None else Tier.HIGH
            alert = Alert(
                rule=item["rule"], tier=tier, labels={**series, "alertname": item["rule"], "tier": tier.value},
                state=State(item["state"]), value=item.get("value"), threshold=item.get("threshold"),
                active_since=item.get("active_since"), fired_at=item.get("fired_at"),
                resolved_at=item.get("resolved_at"), last_true=item.get("last_true"),
                runbook=rule.runbook if rule is not None else "",
            )
            if not kept:
                alert.state = State.RESOLVED
                alert.summary = f"{item['rule']}: no longer watched (its rule or target left the config)"
                dropped.append(alert)
                continue
            assert rule is not None
            alert.summary = render(rule.summary, rule, series, alert.value, alert.threshold)
            self._alerts.setdefault(rule.name, {})[tuple(sorted(series.items()))] = alert
        return dropped


def _series_labels(alert: Alert) -> dict[str, str]:
    return {k: v for k, v in alert.labels.items() if k not in _RESERVED}


def _copy(alert: Alert) -> Alert:
    return replace(alert, labels=dict(alert.labels), annotations=dict(alert.annotations))


class _Frame:
    """One evaluation's observations, indexed once for all rules: by signal, by the rules' label matchers,
    by series key (only for signals with active alerts) and, for big groups, sorted by value."""

    def __init__(self, observations: Iterable[Observation], now: float, wanted: set[str], max_age: MaxAge) -> None:
        fixed = max_age if isinstance(max_age, int | float) else None
        by_signal: dict[str, list[Entry]] = {}
        for obs in observations:
            if obs.signal not in wanted:
                continue
            value = obs.value
            if value is not None:
                limit = fixed if fixed is not None else max_age(obs)  # type: ignore[operator]
                if value != value or now - obs.timestamp > limit:  # NaN or stale: unknown
                    value = None
            bucket = by_signal.get(obs.signal)
            if bucket is None:
                bucket = by_signal[obs.signal] = []
            bucket.append((value, obs))
        self.by_signal = by_signal
        self._groups: dict[tuple[str, tuple[tuple[str, str], ...]], _Group | None] = {}
        self._by_label: dict[tuple[str, str], dict[str, list[Entry]]] = {}
        self._keys: dict[int, SeriesKey] = {}

    def key(self, obs: Observation) -> SeriesKey:
        key = self._keys.get(id(obs))
        if key is None:
            key = self._keys[id(obs)] = tuple(sorted(obs.labels.items()))
        return key

    def group(self, rule: Rule) -> _Group | None:
        """The series the rule selects (None when there are none), shared by rules with the same selection."""
        gkey = (rule.signal, tuple(rule.labels.items()))
        if gkey in self._groups:
            return self._groups[gkey]
        entries = self.by_signal.get(rule.signal)
        if entries and rule.labels:
            first, *rest = rule.labels.items()
            entries = self._label_index(rule.signal, first[0]).get(first[1])
            if entries and rest:
                entries = [e for e in entries if all(e[1].labels.get(k) == v for k, v in rest)]
        group = self._groups[gkey] = _Group(entries) if entries else None
        return group

    def guard(self, rule: Rule) -> Callable[[Observation], bool] | None:
        """Whether the rule's guard holds for a series (matched on the guard signal's labels); None without one."""
        guard = rule.only_if
        if guard is None:
            return None
        holds = {rule.guard_key(obs.labels): guard.holds(value) for value, obs in self.by_signal.get(guard.signal, ())}
        return lambda obs: holds.get(rule.guard_key(obs.labels), False)

    def _label_index(self, signal: str, label: str) -> dict[str, list[Entry]]:
        index = self._by_label.get((signal, label))
        if index is None:
            index = self._by_label[(signal, label)] = {}
            for entry in self.by_signal.get(signal, ()):
                v = entry[1].labels.get(label)
                if v is not None:
                    index.setdefault(v, []).append(entry)
        return index


class _Group:
    """The series one rule selects; answers "which are past this threshold" without a scan when big."""

    SMALL = 16  # below this, a scan is cheaper than sorting

    __slots__ = ("_by_key", "_known", "_values", "entries")

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries
        self._known: list[Entry] | None = None
        self._values: list[float] = []
        self._by_key: dict[SeriesKey, Entry] | None = None

    def lookup(self, frame: _Frame, key: SeriesKey) -> Entry | None:
        """The entry of one series (for the rule's active alerts); the key index is built on first use."""
        index = self._by_key
        if index is None:
            index = self._by_key = {frame.key(e[1]): e for e in self.entries}
        return index.get(key)

    def firing(self, comparison: str, threshold: float | None) -> list[Entry]:
        if comparison == "unknown":
            return [e for e in self.entries if e[0] is None and e[1].error != NOTHING_TO_MEASURE]
        if len(self.entries) <= self.SMALL:
            op = OPS[comparison]
            return [e for e in self.entries if e[0] is not None and op(e[0], threshold)]
        known = self._known
        if known is None:
            known = self._known = sorted((e for e in self.entries if e[0] is not None), key=itemgetter(0))
            self._values = [e[0] for e in known]  # type: ignore[misc]
        values = self._values
        if comparison == ">":
            return known[bisect_right(values, threshold):]
        if comparison == ">=":
            return known[bisect_left(values, threshold):]
        if comparison == "<":
            return known[:bisect_left(values, threshold)]
        if comparison == "<=":
            return known[:bisect_right(values, threshold)]
        lo, hi = bisect_left(values, threshold), bisect_right(values, threshold)
        return known[lo:hi] if comparison == "==" else known[:lo] + known[hi:]
