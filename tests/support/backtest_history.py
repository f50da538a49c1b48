"""Recorded history for the backtest tests: what the shipped config's probes write, with an incident, and the
live monitor's own account of it (the real AlertService over a real store, evaluating on an injected clock)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from alerts.service import AlertService
from monitor.config import Config
from monitor.core.api_contract import INF
from monitor.core.observation import Observation
from monitor.store.sqlite import SqliteStore
from slo.service import SloService


@dataclass(frozen=True)
class Incident:
    start: float
    end: float
    down: bool = True  # the health check fails (ApiDown)
    error_ratio: float = 0.0  # share of 5xx responses meanwhile (ErrorRate*, SLO burn)


def _interval(config: Config, name: str, t: float) -> float:
    target = next(x for x in config.all_targets() if x.name == name)
    if config.event is not None and config.event.contains(t):
        return target.event_interval or max(target.interval / 3, 5.0)
    return target.interval


def _inside(t: float, incidents: Sequence[Incident]) -> Incident | None:
    return next((i for i in incidents if i.start <= t < i.end), None)


def probe_history(config: Config, start: float, end: float, incidents: Sequence[Incident] = ()) -> list[Observation]:
    """api-health and the api-metrics counters, each at its own interval (event_interval inside the event),
    in time order, with millisecond timestamps (what Prometheus keeps)."""
    out: list[Observation] = []
    t = start
    while t <= end:
        inc = _inside(t, incidents)
        up = 0.0 if inc is not None and inc.down else 1.0
        labels = {"target": "api-health"}
        out += [Observation("http_up", up, t, labels), Observation("probe_success", up, t, {**labels, "kind": "http"}),
                Observation("http_latency_seconds", 0.02 if up else 4.0, t, labels)]
        t = round(t + _interval(config, "api-health", t), 3)
    t = start + 7.25
    requests = errors = 0.0
    while t <= end:
        inc = _inside(t, incidents)
        step = 500.0
        bad = step * inc.error_ratio if inc is not None else 0.0
        requests, errors = requests + step, errors + bad
        labels = {"target": "api-metrics"}
        ratio = bad / step
        out += [Observation("api_requests_counted", requests, t, labels),
                Observation("api_requests_5xx_counted", errors, t, labels),
                Observation("api_requests_le_counted", requests, t, {**labels, "le": INF}),
                Observation("api_requests_le_counted", requests - errors / 2, t, {**labels, "le": "0.5"}),
                Observation("api_error_ratio", ratio, t, labels),
                Observation("probe_success", 1.0, t, {**labels, "kind": "api_metrics"})]
        t = round(t + _interval(config, "api-metrics", t), 3)
    return sorted(out, key=lambda o: (o.timestamp, o.signal, sorted(o.labels.items())))


@dataclass(frozen=True)
class Fired:
    rule: str
    labels: tuple[tuple[str, str], ...]
    fired_at: float
    resolved_at: float | None


def record_live(config: Config, history: Iterable[Observation], start: float, end: float,
                db: Path) -> tuple[list[Fired], SqliteStore]:
    """Run the monitor's alerting as `run` does (a probe write lands in the store, the SLO loop writes every
    minute, AlertService.evaluate every evaluation interval), with the clock injected; returns what it notified
    (firing and resolved notifications in the outbox) and the store it wrote."""
    store = SqliteStore(str(db), retention=90 * 86400)
    now = start
    service = AlertService(config, store, set(config.channels.root), clock=lambda: now)
    slos = SloService.from_config(config, store, clock=lambda: now)
    pending = iter(history)
    nxt = next(pending, None)
    next_slo = start
    t = start
    while t <= end:
        now = t
        while True:
            if nxt is not None and nxt.timestamp <= t and nxt.timestamp <= next_slo:
                batch = [nxt]
                nxt = next(pending, None)
                store.write(batch)
            elif next_slo <= t:
                store.write(slos.observations(next_slo))
                next_slo += slos.interval
            else:
                break
        service.evaluate(t)
        t += config.alerting.event_evaluation_interval if service.in_event(t) else config.alerting.evaluation_interval
    return notified(store), store


def notified(store: SqliteStore) -> list[Fired]:
    fired: dict[tuple[str, tuple[tuple[str, str], ...], float], float | None] = {}
    for row in store.outbox_all():
        note = row.payload["notification"]
        for a in note["alerts"]:
            labels = tuple(sorted((k, v) for k, v in a["labels"].items() if k not in ("alertname", "tier")))
            key = (a["rule"], labels, a["fired_at"])
            if note["kind"] == "resolved":
                fired[key] = a["resolved_at"]
            else:
                fired.setdefault(key, None)
    return sorted((Fired(r, labels, f, res) for (r, labels, f), res in fired.items()),
                  key=lambda x: (x.fired_at, x.rule, x.labels))


def as_fired(alerts: Iterable[object]) -> list[Fired]:
    out = []
    for a in alerts:
        labels = tuple(sorted(a.labels.items()))  # type: ignore[attr-defined]
        out.append(Fired(a.rule, labels, a.fired_at, a.resolved_at))  # type: ignore[attr-defined]
    return sorted(out, key=lambda x: (x.fired_at, x.rule, x.labels))


def close_enough(a: float | None, b: float | None, tolerance: float) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, abs_tol=tolerance)
