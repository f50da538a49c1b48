"""Backtest: recorded observations replayed through the alert pipeline the monitor runs. Pure: no I/O, no clock.

    store = ReplayStore()
    service = AlertService(config, store, set(config.channels.root))   # the live service, over this store
    result = Replay(service, store, interval=5, event_interval=2, derived=[slo_inputs]).run(history, start, end)
    for alert in result.alerts: ...   # rule, labels, tier, fired_at, resolved_at, held, pages

The replay evaluates at the monitor's own cadence (evaluation_interval, event_evaluation_interval inside the
event window), feeding the store's "latest values" with every observation whose timestamp is at or before each
evaluation, as the probes would have written them. Everything that judges is the live code: the engine (`for`,
clear threshold, keep_firing_for, event-mode values, staleness), inhibition, silences and maintenance windows,
routing, on-call and escalation. The notifications it decides are recorded, never sent.

Cycles are skipped only when they provably decide nothing, and a cycle reads only the series that can
matter to it (the others would neither start nor hold an alert): those with a pending or firing alert, those
past a rule's threshold in either mode, and those the engine reads beyond their own rules (guards, rules on
"unknown"). A cycle runs when something arrived that could change an alert (a value past a threshold in the
current mode, or any value of a series with an alert, or of a guard one waits on), a guard's or an
"unknown" rule's value went stale, event mode changed, an alert is pending, or a time-driven step is due:
keep_firing_for running out, a batched group, a reminder, an escalation, a silence or maintenance window
starting or ending while it holds an alert. Before a cycle that follows skipped ones while an alert fires,
the last skipped cycle is run with the values it saw (keep_firing_for counts from the last cycle the
condition held). `every_cycle=True` runs every cycle over every series: the tests compare the two.
History comes as Observations or, cheaper, as plain rows (`Rows`: what Store.iter_rows reads): a quiet
sample costs one interval comparison and no object.

Derived inputs (the SLOs' burn rates, slo/backtest.py) see every observation and write their own on their
own schedule, as the monitor's SLO loop does.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from alerts.dispatch import Notification
from alerts.model import Alert, State, Tier
from alerts.oncall import next_escalation_at
from alerts.rules import OPS, Rule
from alerts.service import AlertService
from monitor.core.observation import NOTHING_TO_MEASURE, Observation
from monitor.store.base import OutboxRow

_RESERVED = ("alertname", "tier")
SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


class ReplayStore:
    """The store as the alert service sees it, in memory: the latest value of each series; nothing is kept.
    During a Replay, `view` is what the next cycle reads (the series that can matter to it)."""

    def __init__(self) -> None:
        self._latest: dict[SeriesKey, Observation] = {}
        self.view: list[Observation] | None = None

    def write(self, obs: Observation) -> None:
        key = obs.series_key()
        current = self._latest.get(key)
        if current is None or obs.timestamp >= current.timestamp:
            self._latest[key] = obs

    def latest(self) -> list[Observation]:
        return list(self._latest.values()) if self.view is None else self.view

    def get_state(self, key: str) -> Any | None:
        return None  # a replay starts with no alerts, acks or silences of its own

    def put_state(self, key: str, value: Any) -> None:
        pass

    def commit_cycle(self, state_key: str, state: Any, outbox: Sequence[OutboxRow]) -> None:
        pass  # the decided notifications come back from AlertService.evaluate; nothing is sent


Row = tuple[float, int, float | None, str | None]  # (ts, series id, value, error): monitor.store's SampleRow
Feeder = Callable[[float, float | None], None]  # (ts, value): one series' samples into a derived input


@dataclass
class Rows:
    """History as plain rows (Store.iter_rows): `names` maps a series id to its signal and labels, and may grow
    while `rows` is read."""

    names: Mapping[int, tuple[str, Mapping[str, str]]]
    rows: Iterable[Row]


def as_rows(history: Iterable[Observation]) -> Rows:
    """Observations (a JSON-lines file, Prometheus) as rows: one id per series."""
    names: dict[int, tuple[str, Mapping[str, str]]] = {}

    def rows() -> Iterator[Row]:
        ids: dict[tuple[str, int], tuple[int, Mapping[str, str]]] = {}  # (signal, id(labels)): labels held
        by_key: dict[SeriesKey, int] = {}
        for obs in history:
            known = ids.get((obs.signal, id(obs.labels)))
            if known is None:
                key = obs.series_key()
                sid = by_key.get(key)
                if sid is None:
                    sid = by_key[key] = len(by_key)
                    names[sid] = (obs.signal, obs.labels)
                known = ids[(obs.signal, id(obs.labels))] = (sid, obs.labels)
            yield obs.timestamp, known[0], obs.value, obs.error

    return Rows(names, rows())


class _Plan:
    """One series: what the replay knows of it (worked out once) and its latest value."""

    __slots__ = ("always", "eqs", "error", "exact", "feeders", "guard", "guarded", "hi", "hot", "in_heap", "key",
                 "labels", "limit", "lo", "obs", "order", "read", "signal", "ts", "unknown", "value")

    def __init__(self, signal: str, labels: Mapping[str, str], rules: Sequence[Rule], limit: float,
                 feeders: list[Feeder], guard: bool) -> None:
        self.signal, self.labels, self.key = signal, labels, (signal, tuple(sorted(labels.items())))
        self.read = bool(rules) or guard  # some enabled rule reads it (or guards with it)
        self.unknown = any(r.comparison == "unknown" for r in rules)
        self.guard = guard
        self.guarded = frozenset(r.only_if.signal for r in rules if r.only_if is not None)
        self.always = guard or self.unknown  # in every cycle's view: the engine reads them beyond their own rules
        self.limit = limit
        self.feeders = feeders
        # The values no rule fires on in either mode: lo < v < hi and v not in eqs (else: the exact test).
        self.exact: list[tuple[Callable[[float, float], bool], Any, Any]] = []  # (op, threshold, event threshold)
        lo, hi, eqs = -math.inf, math.inf, set()
        for r in rules:
            if r.comparison == "unknown":
                continue
            normal, event = r.params(False).threshold, r.params(True).threshold
            self.exact.append((OPS[r.comparison], normal, event))
            for t in (normal, event):
                if r.comparison in (">", ">="):
                    hi = min(hi, t)
                elif r.comparison in ("<", "<="):
                    lo = max(lo, t)
                elif r.comparison == "==":
                    eqs.add(t)
                else:
                    lo, hi = math.inf, -math.inf  # "!=": always the exact test
        self.lo, self.hi, self.eqs = lo, hi, frozenset(eqs)
        self.order = -1  # when it was first written: the store's order, which the engine's output follows
        self.ts = -math.inf
        self.value: float | None = None
        self.error: str | None = None
        self.obs: Observation | None = None
        self.hot = False
        self.in_heap = False

    def heat(self, ts: float, value: float | None, error: str | None, now: float, in_event: bool) -> int:
        """Whether this value could start an alert (or, for a rule on "unknown", is unknown): exactly the
        engine's test of a new series value, stale on arrival counting as unknown. 2: in this mode (event or
        not), 1: only in the other one, 0: in neither."""
        if value is None or value != value or now - ts > self.limit:
            return 2 if self.unknown and error != NOTHING_TO_MEASURE else 0
        if self.lo < value < self.hi and (not self.eqs or value not in self.eqs):
            return 0
        heat = 0
        for op, normal, event in self.exact:
            if op(value, event if in_event else normal):
                return 2
            if op(value, normal if in_event else event):
                heat = 1
        return heat

    def observation(self) -> Observation:
        obs = self.obs
        if obs is None:
            obs = self.obs = Observation(self.signal, self.value, self.ts, self.labels, self.error)
        return obs


class Derived(Protocol):
    """Observations computed from others on their own schedule (the SLO loop: burn rates every minute)."""

    @property
    def interval(self) -> float: ...
    def feeder(self, signal: str, labels: Mapping[str, str]) -> Feeder | None:
        """What takes this series' samples, if it is an input (asked once per series)."""
    def observations(self, now: float) -> list[Observation]: ...


@dataclass(frozen=True)
class Page:
    """One notification that carried the alert: what kind, on which channels, to whom."""

    at: float
    kind: str
    channels: tuple[str, ...]
    recipients: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "kind": self.kind, "channels": list(self.channels), "recipients": list(self.recipients)}


@dataclass
class ReplayedAlert:
    """One firing of one alert (rule and series), from firing to resolved (None: still firing at the end)."""

    rule: str
    tier: str
    labels: dict[str, str]  # the series labels (without alertname and tier)
    fired_at: float
    resolved_at: float | None = None
    held: str | None = None  # why it was first held back (silenced, maintenance, inhibited), if it was
    pages: list[Page] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return self.rule, tuple(sorted(self.labels.items()))

    def duration(self, end: float) -> float:
        return (self.resolved_at if self.resolved_at is not None else end) - self.fired_at

    def paged(self) -> set[tuple[str, str]]:
        """(kind, channel or person) of every firing page it caused: what --against compares."""
        out: set[tuple[str, str]] = set()
        for p in self.pages:
            if p.kind != "resolved":
                out.update((p.kind, c) for c in p.channels)
                out.update((p.kind, f"person:{r}") for r in p.recipients)
        return out

    def to_dict(self, end: float) -> dict[str, Any]:
        return {"rule": self.rule, "tier": self.tier, "labels": dict(self.labels), "fired_at": self.fired_at,
                "resolved_at": self.resolved_at, "duration": self.duration(end), "held": self.held,
                "pages": [p.to_dict() for p in self.pages]}


@dataclass
class ReplayResult:
    start: float
    end: float
    alerts: list[ReplayedAlert]
    observations: int  # how many were replayed
    evaluations: int  # alert cycles run (the rest were provably quiet)
    ticks: int  # alert cycles the monitor would have run

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.start, "to": self.end, "observations": self.observations,
                "evaluations": self.evaluations, "ticks": self.ticks,
                "alerts": [a.to_dict(self.end) for a in self.alerts]}


class Replay:
    """`every_cycle=True` evaluates every cycle over every series (the plain replay the fast one must equal)."""

    def __init__(self, service: AlertService, store: ReplayStore, *, interval: float, event_interval: float,
                 derived: Sequence[Derived] = (), every_cycle: bool = False) -> None:
        self.service = service
        self.store = store
        self.interval = interval
        self.event_interval = event_interval
        self.derived = list(derived)
        self.every_cycle = every_cycle
        engine = service.engine
        self._max_age = engine.max_age
        self._rules: dict[str, list[Rule]] = {}
        self._by_name: dict[str, Rule] = {}
        self._guards: set[str] = set()
        for rule in engine.rules:
            if rule.enabled:
                self._rules.setdefault(rule.signal, []).append(rule)
                self._by_name[rule.name] = rule
                if rule.only_if is not None:
                    self._guards.add(rule.only_if.signal)
        self._plans: dict[int, _Plan] = {}  # by series id
        self._derived_plans: dict[tuple[str, int], tuple[Mapping[str, str], _Plan]] = {}
        self._by_key: dict[SeriesKey, _Plan] = {}
        self._written: list[_Plan] = []  # in the order of their first write
        self._hot: set[_Plan] = set()
        self._stale: list[tuple[float, int, _Plan]] = []  # (deadline, order, plan): values that may go stale
        # what the last cycle left (worked out after each one)
        self._active: set[_Plan] = set()  # series of pending and firing alerts
        self._guarding: set[str] = set()  # guard signals a hot or active series waits on
        self._pending = False
        self._firing = False
        self._wake = -math.inf  # the next time a cycle may decide something without new data

    # -- the series ------------------------------------------------------------------------------------
    def _plan(self, signal: str, labels: Mapping[str, str]) -> _Plan:
        """What the replay needs to know of a series, worked out once: its rules, staleness limit, readers."""
        key = (signal, tuple(sorted(labels.items())))
        known = self._by_key.get(key)
        if known is not None:
            return known
        rules = [r for r in self._rules.get(signal, ()) if r.matches(labels)] if self.service.watched(labels) else []
        age = self._max_age
        limit = float(age) if isinstance(age, int | float) else age(Observation(signal, None, 0.0, labels))
        feeders = [f for d in self.derived if (f := d.feeder(signal, labels)) is not None]
        plan = self._by_key[key] = _Plan(signal, labels, rules, limit, feeders,
                                         signal in self._guards and self.service.watched(labels))
        return plan

    def _derived_plan(self, obs: Observation) -> _Plan:
        entry = self._derived_plans.get((obs.signal, id(obs.labels)))
        if entry is None:
            entry = self._derived_plans[(obs.signal, id(obs.labels))] = (obs.labels, self._plan(obs.signal, obs.labels))
        return entry[1]

    def _write(self, plan: _Plan, ts: float, value: float | None, error: str | None, hot: bool) -> None:
        """Into the store's latest values."""
        if ts < plan.ts:
            return
        if plan.order < 0:
            plan.order = len(self._written)
            self._written.append(plan)
        plan.ts, plan.value, plan.error, plan.obs = ts, value, error, None
        if hot != plan.hot:
            plan.hot = hot
            if hot:
                self._hot.add(plan)
                self._guarding |= plan.guarded
            else:
                self._hot.discard(plan)
        if plan.always and not plan.in_heap and value is not None and value == value and math.isfinite(plan.limit):
            plan.in_heap = True
            heapq.heappush(self._stale, (ts + plan.limit, plan.order, plan))

    def _went_stale(self, now: float, arriving: list[tuple[_Plan, float, float | None, str | None, bool]]) -> bool:
        """Whether a value a cycle reads beyond its own rules (a guard's, a rule on "unknown"'s) turns unknown by
        `now` with what arrives by then: the engine would then see it change."""
        heap = self._stale
        stale = False
        while heap and heap[0][0] < now:
            _, _, plan = heapq.heappop(heap)
            ts, value = plan.ts, plan.value
            for p, t, v, _, _ in arriving:
                if p is plan:
                    ts, value = t, v
            if value is None or value != value:
                plan.in_heap = False  # unknown already: its arrival was a change
            elif ts + plan.limit < now:
                plan.in_heap = False
                stale = True
            else:
                heapq.heappush(heap, (ts + plan.limit, plan.order, plan))
        return stale

    # -- the replay ----------------------------------------------------------------------------------
    def run(self, history: Iterable[Observation] | Rows, start: float | None = None,
            end: float | None = None) -> ReplayResult:
        """Replay `history` (in time order) from `start` to `end` (default: its first and last observation),
        evaluating as the monitor would have. Observations before `start` only fill the latest values."""
        source = history if isinstance(history, Rows) else as_rows(history)
        names, plans = source.names, self._plans
        rows: Iterator[Row] = iter(source.rows)
        pending = next(rows, None)
        if start is None:
            start = pending[0] if pending is not None else 0.0
        stop = end if end is not None else math.inf
        while pending is not None and pending[0] < start:  # what the store held when the window opens
            ts, sid, value, error = pending
            plan = plans.get(sid) or plans.setdefault(sid, self._plan(*names[sid]))
            for feed in plan.feeders:
                feed(ts, value)
            if plan.read:
                self._write(plan, ts, value, error, plan.heat(ts, value, error, start, False) > 0)
            pending = next(rows, None)
        count = 0
        next_derived = [start for _ in self.derived]
        open_: dict[str, ReplayedAlert] = {}
        last: dict[str, ReplayedAlert] = {}
        done: list[ReplayedAlert] = []
        in_event_of = self.service.in_event
        every = self.every_cycle
        t = start
        was_event: bool | None = None
        ticks = evaluations = 0
        last_seen = start
        previous: float | None = None  # the last cycle, if it was skipped
        arriving: list[tuple[_Plan, float, float | None, str | None, bool]] = []
        while t <= stop and (end is not None or pending is not None or t <= last_seen):
            in_event = in_event_of(t)
            # the probes' writes and the SLO loop's, in time order, up to this evaluation
            due = min(range(len(self.derived)), key=lambda i: next_derived[i], default=None)
            at_derived = next_derived[due] if due is not None else math.inf
            arriving.clear()
            changed = False
            active, guarding = self._active, self._guarding
            while True:
                if pending is not None and pending[0] <= t and pending[0] <= at_derived:
                    ts, sid, value, error = pending
                    plan = plans.get(sid) or plans.setdefault(sid, self._plan(*names[sid]))
                    for feed in plan.feeders:
                        feed(ts, value)
                    if plan.read:
                        heat = plan.heat(ts, value, error, t, in_event)
                        arriving.append((plan, ts, value, error, heat > 0))
                        changed = changed or heat == 2 or plan in active or plan.signal in guarding
                    count += 1
                    last_seen = ts
                    pending = next(rows, None)
                elif due is not None and at_derived <= t:
                    for obs in self.derived[due].observations(at_derived):
                        plan = self._derived_plan(obs)
                        if plan.read:
                            heat = plan.heat(obs.timestamp, obs.value, obs.error, t, in_event)
                            arriving.append((plan, obs.timestamp, obs.value, obs.error, heat > 0))
                            changed = changed or heat == 2 or plan in active or plan.signal in guarding
                    next_derived[due] = at_derived + self.derived[due].interval
                    due = min(range(len(self.derived)), key=lambda i: next_derived[i])
                    at_derived = next_derived[due]
                else:
                    break
            ticks += 1
            evaluate = every or changed or in_event != was_event or self._pending or self._wake <= t \
                or (bool(self._stale) and self._went_stale(t, arriving))
            if evaluate and previous is not None and self._firing:
                # a firing alert's keep_firing_for counts from the last cycle its condition held: that cycle
                # (skipped, with the values it saw) is run first
                evaluations += 1
                self._cycle(previous, open_, last, done)
            for plan, ts, value, error, hot in arriving:
                self._write(plan, ts, value, error, hot)
            if evaluate:
                evaluations += 1
                self._cycle(t, open_, last, done)
                previous = None
            else:
                previous = t
            was_event = in_event
            t += self.event_interval if in_event else self.interval
        alerts = sorted([*done, *open_.values()], key=lambda a: (a.fired_at, a.rule, sorted(a.labels.items())))
        return ReplayResult(start, end if end is not None else last_seen, alerts, count, evaluations, ticks)

    def _cycle(self, now: float, open_: dict[str, ReplayedAlert], last: dict[str, ReplayedAlert],
               done: list[ReplayedAlert]) -> None:
        """One alert cycle over the series that can matter to it (every series, with every_cycle)."""
        if self.every_cycle:
            view: Iterable[_Plan] = self._written
        else:
            chosen = {p for p in self._written if p.always} | self._hot | self._active
            view = sorted(chosen, key=lambda p: p.order)
        self.store.view = [p.observation() for p in view]
        notes = self.service.evaluate(now)
        self._record(notes, now, open_, last, done)
        if not self.every_cycle:
            self._settle(now, bool(notes or self.service.last_resolved))

    def _settle(self, now: float, moved: bool) -> None:
        """After a cycle: which series it holds alerts on, and when the next cycle may decide something even
        if no value changes (a `for` or keep_firing_for running out, a reminder, an escalation, a hold ending)."""
        service = self.service
        active: set[_Plan] = set()
        guarding = {g for p in self._hot for g in p.guarded}
        wake = now if moved else math.inf  # something changed: the next cycle looks again
        pending = firing = False
        for alert in service.engine.alerts((State.PENDING, State.FIRING)):
            rule = self._by_name.get(alert.rule)
            if rule is None:
                wake = now
                continue
            plan = self._by_key.get((rule.signal, tuple(sorted(_series(alert).items()))))
            if plan is not None:
                active.add(plan)
            if rule.only_if is not None:
                guarding.add(rule.only_if.signal)
            if alert.state is State.PENDING:
                pending = True
            else:
                firing = True
                if alert.last_true is None or alert.last_true < now:  # not held this cycle: resolving
                    keep = min(rule.params(e, d).keep_firing_for for e in (False, True) for d in (False, True))
                    wake = min(wake, (alert.last_true or now) + keep)
        dispatcher = service.dispatcher
        held = False
        for rec in dispatcher.snapshot()["records"].values():
            if rec["held"]:
                held = True
            elif rec["notified_at"] is None:
                wake = now  # waits for its group's next message
            elif rec["acked_at"] is None:
                if rec["reminders"] < dispatcher.policy.max_reminders:
                    wake = min(wake, rec["last_sent_at"] + dispatcher.policy.repeat_interval.get(rec["tier"], 3600.0))
                if dispatcher.escalation.applies_to(Tier(rec["tier"])):
                    step = next_escalation_at(rec["notified_at"], False, dispatcher.escalation,
                                              rec["escalations_done"])
                    if step is not None:
                        wake = min(wake, step)
        if held:
            wake = min(wake, self._hold_change(now))
        self._active, self._guarding, self._pending, self._firing, self._wake = active, guarding, pending, firing, wake

    def _hold_change(self, now: float) -> float:
        """The next time a silence or maintenance window starts or ends (a held alert may be released)."""
        service = self.service
        times = [t for s in service.silences.list() for t in (s.starts_at, s.ends_at) if t > now]
        for window in service.maintenance.windows:
            times += [t for t in (window.next_start(now), window.next_end(now)) if t is not None and t > now]
        return min(times, default=now + 7 * 86400.0)  # next_start looks 8 days ahead

    def _record(self, notes: Sequence[Notification], now: float, open_: dict[str, ReplayedAlert],
                last: dict[str, ReplayedAlert], done: list[ReplayedAlert]) -> None:
        service = self.service
        for alert in service.last_firing:
            if alert.id not in open_:
                item = ReplayedAlert(alert.rule, str(alert.tier), _series(alert), alert.fired_at or now,
                                     held=service.held(alert.id))
                open_[alert.id] = last[alert.id] = item
        for alert in service.last_resolved:
            item = open_.pop(alert.id, None)
            if item is not None:
                item.resolved_at = alert.resolved_at if alert.resolved_at is not None else now
                done.append(item)
        configured = service.channels
        for note in notes:
            page = Page(now, str(note.kind), tuple(c for c in note.channels if c in configured), note.recipients)
            for view in note.alerts:
                item = last.get(view["id"])
                if item is not None:
                    item.pages.append(page)


def _series(alert: Alert) -> dict[str, str]:
    return {k: v for k, v in alert.labels.items() if k not in _RESERVED}


# -- the difference between two replays --------------------------------------------------------------------

@dataclass
class Change:
    kind: str  # added, removed, earlier, later, longer, shorter, pages-added, pages-removed
    rule: str
    labels: dict[str, str]
    new: ReplayedAlert | None
    old: ReplayedAlert | None
    by: float | None = None  # seconds earlier/later/longer/shorter
    pages: tuple[str, ...] = ()  # "kind:channel" or "kind:person:NAME"

    def to_dict(self, end: float) -> dict[str, Any]:
        return {"change": self.kind, "rule": self.rule, "labels": dict(self.labels), "by": self.by,
                "pages": list(self.pages), "new": self.new.to_dict(end) if self.new else None,
                "old": self.old.to_dict(end) if self.old else None}


def _overlap(a: ReplayedAlert, b: ReplayedAlert, end: float) -> bool:
    a_end = a.resolved_at if a.resolved_at is not None else end
    b_end = b.resolved_at if b.resolved_at is not None else end
    return a.fired_at <= b_end and b.fired_at <= a_end


def compare(new: Sequence[ReplayedAlert], old: Sequence[ReplayedAlert], end: float,
            tolerance: float = 0.0) -> list[Change]:
    """What `new` does differently from `old` over the same history: each alert of the same rule and series is
    paired with the first one of the other side whose firing overlaps it; the rest were added or removed."""
    by_key: dict[tuple[str, tuple[tuple[str, str], ...]], list[ReplayedAlert]] = {}
    for a in old:
        by_key.setdefault(a.key, []).append(a)
    matched: set[int] = set()
    out: list[Change] = []
    for a in new:
        b = next((b for b in by_key.get(a.key, ()) if id(b) not in matched and _overlap(a, b, end)), None)
        if b is None:
            out.append(Change("added", a.rule, a.labels, a, None))
            continue
        matched.add(id(b))
        shift = a.fired_at - b.fired_at
        if abs(shift) > tolerance:
            out.append(Change("earlier" if shift < 0 else "later", a.rule, a.labels, a, b, abs(shift)))
        longer = a.duration(end) - b.duration(end)
        if abs(longer) > tolerance:
            out.append(Change("longer" if longer > 0 else "shorter", a.rule, a.labels, a, b, abs(longer)))
        got, had = a.paged(), b.paged()
        if got - had:
            out.append(Change("pages-added", a.rule, a.labels, a, b, pages=tuple(sorted(map(":".join, got - had)))))
        if had - got:
            out.append(Change("pages-removed", a.rule, a.labels, a, b, pages=tuple(sorted(map(":".join, had - got)))))
    for b in old:
        if id(b) not in matched:
            out.append(Change("removed", b.rule, b.labels, None, b))
    return sorted(out, key=lambda c: (_when(c), c.rule, sorted(c.labels.items()), c.kind))


def _when(change: Change) -> float:
    alert = change.new or change.old
    return alert.fired_at if alert is not None else 0.0

