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

Quiet evaluations are skipped, and only when they provably decide nothing: no alert is pending, firing or
recently resolved, the dispatcher holds nothing, nothing that arrived since the last evaluation is past any
rule's threshold (or unknown, for a rule on "unknown"), no such value went stale meanwhile, and event mode did
not change. Healthy history then costs one comparison per observation; incidents are evaluated tick by tick.

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
from alerts.model import Alert
from alerts.rules import OPS, Rule
from alerts.service import AlertService
from monitor.core.observation import NOTHING_TO_MEASURE, Observation
from monitor.store.base import OutboxRow

_RESERVED = ("alertname", "tier")
SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


class ReplayStore:
    """The store as the alert service sees it, in memory: the latest value of each series; nothing is kept."""

    def __init__(self) -> None:
        self._latest: dict[SeriesKey, Observation] = {}

    def write(self, obs: Observation) -> None:
        self.write_key(obs.series_key(), obs)

    def write_key(self, key: SeriesKey, obs: Observation) -> None:
        current = self._latest.get(key)
        if current is None or obs.timestamp >= current.timestamp:
            self._latest[key] = obs

    def timestamp(self, key: SeriesKey) -> float | None:
        current = self._latest.get(key)
        return None if current is None else current.timestamp

    def latest(self) -> list[Observation]:
        return list(self._latest.values())

    def get_state(self, key: str) -> Any | None:
        return None  # a replay starts with no alerts, acks or silences of its own

    def put_state(self, key: str, value: Any) -> None:
        pass

    def commit_cycle(self, state_key: str, state: Any, outbox: Sequence[OutboxRow]) -> None:
        pass  # the decided notifications come back from AlertService.evaluate; nothing is sent


@dataclass(slots=True)
class _Plan:
    labels: Mapping[str, str]  # held, so that the id in the plan's key stays this object's
    key: SeriesKey
    read: bool  # some enabled rule reads this series
    compared: list[tuple[Callable[[float, float], bool], Any, Any]]  # (op, threshold, event threshold)
    unknown: bool  # a rule on "unknown" reads it
    limit: float  # staleness
    derived: list[Derived]


class Derived(Protocol):
    """Observations computed from others on their own schedule (the SLO loop: burn rates every minute)."""

    @property
    def interval(self) -> float: ...
    def wants(self, obs: Observation) -> bool:
        """Whether this observation's series is an input (asked once per series)."""
    def feed(self, obs: Observation) -> None: ...
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
    def __init__(self, service: AlertService, store: ReplayStore, *, interval: float, event_interval: float,
                 derived: Sequence[Derived] = ()) -> None:
        self.service = service
        self.store = store
        self.interval = interval
        self.event_interval = event_interval
        self.derived = list(derived)
        engine = service.engine
        self._max_age = engine.max_age
        self._rules: dict[str, list[Rule]] = {}
        for rule in engine.rules:
            if rule.enabled:
                self._rules.setdefault(rule.signal, []).append(rule)
        self._stale: list[tuple[float, float, SeriesKey]] = []  # (deadline, ts, key) of values that may go stale
        self._plans: dict[tuple[str, int], _Plan] = {}  # (signal, id(labels)): the plan keeps the labels alive
        self._by_key: dict[SeriesKey, _Plan] = {}

    # -- the quiet test ----------------------------------------------------------------------------------
    def _plan(self, obs: Observation) -> _Plan:
        """What the replay needs to know of a series, worked out once: its rules, staleness limit, readers."""
        key = obs.series_key()
        known = self._by_key.get(key)
        if known is not None:
            return known  # a source that does not share one labels dict per series: found by its key
        labels = obs.labels
        rules = [r for r in self._rules.get(obs.signal, ()) if r.matches(labels)] \
            if self.service.watched(labels) else []
        age = self._max_age
        limit = float(age) if isinstance(age, int | float) else age(obs)
        compared = [(OPS[r.comparison], r.params(False).threshold, r.params(True).threshold)
                    for r in rules if r.comparison != "unknown"]
        derived = [d for d in self.derived if d.wants(obs)]
        plan = _Plan(labels, key, bool(rules), compared, any(r.comparison == "unknown" for r in rules),
                     limit, derived)
        self._plans[(obs.signal, id(labels))] = self._by_key[key] = plan
        return plan

    def _take(self, obs: Observation, now: float, in_event: bool, derived: bool = True) -> bool:
        """Into the store's latest values (and the derived inputs that read it); whether it could start an
        alert now: exactly the engine's test of a new series value, so a quiet cycle may be skipped."""
        plan = self._plans.get((obs.signal, id(obs.labels))) or self._plan(obs)
        if derived:
            for d in plan.derived:
                d.feed(obs)
        if not plan.read:
            return False  # no enabled rule reads this series: the engine would not look at it
        self.store.write_key(plan.key, obs)
        value = obs.value
        known = value is not None and value == value
        if known and plan.unknown and math.isfinite(plan.limit):
            heapq.heappush(self._stale, (obs.timestamp + plan.limit, obs.timestamp, plan.key))
        if known and now - obs.timestamp > plan.limit:
            known = False  # stale on arrival
        if not known:
            return plan.unknown and obs.error != NOTHING_TO_MEASURE
        return any(op(value, event if in_event else normal) for op, normal, event in plan.compared)

    def _went_stale(self, now: float) -> bool:
        heap = self._stale
        while heap and heap[0][0] < now:
            _, ts, key = heapq.heappop(heap)
            if self.store.timestamp(key) == ts:
                return True  # still the latest value of its series, and now unknown
        return False

    def _busy(self) -> bool:
        engine = self.service.engine
        if engine.alerts():
            return True
        snap = self.service.dispatcher.snapshot()
        return bool(snap["records"] or snap["groups"])

    # -- the replay ----------------------------------------------------------------------------------
    def run(self, history: Iterable[Observation], start: float | None = None,
            end: float | None = None) -> ReplayResult:
        """Replay `history` (in time order) from `start` to `end` (default: its first and last observation),
        evaluating as the monitor would have. Observations before `start` only fill the latest values."""
        source: Iterator[Observation] = iter(history)
        pending = next(source, None)
        if start is None:
            start = pending.timestamp if pending is not None else 0.0
        stop = end if end is not None else math.inf
        while pending is not None and pending.timestamp < start:
            self._take(pending, start, False)  # what the store held when the window opens
            pending = next(source, None)
        count = 0
        next_derived = [start for _ in self.derived]
        open_: dict[str, ReplayedAlert] = {}
        last: dict[str, ReplayedAlert] = {}
        done: list[ReplayedAlert] = []
        in_event_of = self.service.in_event
        t = start
        was_event: bool | None = None
        dirty = True
        ticks = evaluations = 0
        last_seen = start
        while t <= stop and (end is not None or pending is not None or t <= last_seen):
            in_event = in_event_of(t)
            # the probes' writes and the SLO loop's, in time order, up to this evaluation
            due = min(range(len(self.derived)), key=lambda i: next_derived[i], default=None)
            at_derived = next_derived[due] if due is not None else math.inf
            while True:
                if pending is not None and pending.timestamp <= t and pending.timestamp <= at_derived:
                    dirty |= self._take(pending, t, in_event)
                    count += 1
                    last_seen = pending.timestamp
                    pending = next(source, None)
                elif due is not None and at_derived <= t:
                    for obs in self.derived[due].observations(at_derived):
                        dirty |= self._take(obs, t, in_event, derived=False)
                    next_derived[due] = at_derived + self.derived[due].interval
                    due = min(range(len(self.derived)), key=lambda i: next_derived[i])
                    at_derived = next_derived[due]
                else:
                    break
            ticks += 1
            if dirty or in_event != was_event or self._busy() or self._went_stale(t):
                evaluations += 1
                notes = self.service.evaluate(t)
                self._record(notes, t, open_, last, done)
                dirty = False
            was_event = in_event
            t += self.event_interval if in_event else self.interval
        alerts = sorted([*done, *open_.values()], key=lambda a: (a.fired_at, a.rule, sorted(a.labels.items())))
        return ReplayResult(start, end if end is not None else last_seen, alerts, count, evaluations, ticks)

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

