"""Benchmark: time per evaluation cycle of the embedded alert engine, and of the full alert service cycle,
with Prometheus's rule evaluation of the same alerting rules over the same series as the peer.

The world: N synthetic series over the signal catalog (monitor/core/signals.py), grouped by "site" (one site = every
catalog signal once per label combination: 10 routes for the latency signals, 3 synthetic steps, 2 disk paths,
one SLO with its periods and windows), and R rules: the monitor's default rules (the catalog and the default SLOs'
burn-rate rules, fleet-wide) plus per-site copies of them with a `target`, `flow` or `slo` matcher (thresholds,
`for`, hysteresis, event overrides and summaries as the defaults).

Scenarios, per grid point (rules x series), with the monitor's evaluation interval (5 s) between cycles:

- steady:   every series healthy (values inside each signal's healthy band, jittered), 0.2 % unknown;
- incident: 5 % of the series (drawn from the watched ones) breach their rules; measured once the incident is
            established (rules with `for` <= 2 m firing, longer ones pending; no transitions in the measured cycles);
- onset:    the first cycle of the incident (every breaching series starts a pending alert);
- fire:     the cycle, 150 s later, where the short-`for` alerts go pending -> firing.

The engine is timed on `AlertEngine.evaluate(store_latest, now, in_event=False)`. Between cycles a Feed plays the
probes: a series gets a new Observation when its probe ran (every 30 s, spread over the interval) or its value
changed; that is not timed, but collections of the garbage it leaves may land in a cycle, as in the monitor. The
full AlertService cycle (engine + holds + dispatcher + delivery or outbox rows + persisted state;
SqliteStore(":memory:"), notifiers that do nothing) is timed for the headline point, split by part. The headline
is run again with gc.freeze() after setup (a what-if).
The peer: /usr/bin/prometheus scrapes the same series from a static exposition endpoint and evaluates the same
rules (with and without the hysteresis clause) as one group every 1 s; its own
`prometheus_rule_group_last_duration_seconds` is sampled once per evaluation.

Run: python -m bench.rule_evaluation [--cycles N] [--reps N] [--prom-evals N] [--quick] [--no-prometheus]
                                   [--pin-prometheus] [--no-gc-freeze] [--profile] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import datetime as dt
import functools
import gc
import http.server
import importlib.metadata
import inspect
import io
import itertools
import json
import math
import os
import platform
import pstats
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alerts.engine import AlertEngine, stale_after
from alerts.model import State
from alerts.rules import OPS, Rule
from bench.machine import cpu_model as machine_cpu_model
from devstack.process import free_port
from monitor.core.observation import Observation
from monitor.core.signals import CATALOG, SIGNALS

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"

GOAL_MS = 50.0
HEADLINE = (1000, 10_000)  # rules, series
GRID_RULES = (100, 1000, 3000)
GRID_SERIES = (1000, 10_000, 30_000)
EVAL_INTERVAL = 5.0  # AlertingConfig.evaluation_interval: the monitor evaluates every 5 s
TARGET_INTERVAL, TARGET_TIMEOUT = 30.0, 5.0  # targets' defaults: stale after 3 x interval + timeout
STALE_AFTER = 3 * TARGET_INTERVAL + TARGET_TIMEOUT
FIRE_AFTER = 150.0  # the `fire` cycle: rules with `for` <= 2 m fire, the 5 m+ ones stay pending
SUSTAIN_SPAN = 140.0  # the measured incident cycles stay inside (fire, 5 m): no transitions
UNKNOWN_SHARE = 0.002
INCIDENT_SHARE = 0.05
T0 = 1_769_600_000.0  # 2026-01-28, the event's first day (the engine never reads the wall clock)

SLOS = ("availability", "latency", "health-checks")  # the default SLOs (slo/spec.py)
ROUTES = ("*", "/v1/login", "/v1/me", "/v1/sessions", "/v1/sessions/{sid}", "/v1/rsvps", "/v1/connections",
          "/v1/messages", "/v1/attendees", "/v1/schedule")
LABEL_VALUES: dict[str, Callable[[str], tuple[str, ...]]] = {
    "target": lambda site: (site,),
    "kind": lambda site: ("http",),
    "route": lambda site: ROUTES,
    "flow": lambda site: (f"{site}-login",),
    "journey": lambda site: (f"{site}-critical-features",),
    "version": lambda site: ("v1",),
    "step": lambda site: ("login", "me", "rsvp"),
    "path": lambda site: ("/", "/var/lib/postgresql"),
    "le": lambda site: ("0.5", "+Inf"),  # the SLO's latency bucket counts
    "slo": lambda site: tuple(slo_name(site, slo) for slo in SLOS),
    "period": lambda site: ("30d",),
    "window": lambda site: ("5m", "1h"),
    "windows": lambda site: ("1h/5m", "6h/30m", "3d/6h"),
}


def slo_name(site: str, slo: str) -> str:
    """The default SLOs are the first site's; every other site has its own copies (its own series)."""
    return slo if site == site_name(0) else f"{site}-{slo}"
SHARED_NOTE = ("The machine is shared with other engineers' tests and benchmarks; the load average before and after "
               "is recorded. p95 over few cycles is sensitive to that noise; the medians are the steadier figure.")


# --- the world: series, rules, values ------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Series:
    signal: str
    labels: dict[str, str]


@dataclass(frozen=True, slots=True)
class Band:
    """A signal's values: the healthy range (jittered inside it) and the value a breaching series takes."""

    lo: float
    hi: float
    breach: float | None  # None: the breaching value is "unknown" (ProbeUnknown)
    breachable: bool


def site_name(i: int) -> str:
    return f"svc-{i:04d}"


def site_series(site: str) -> list[Series]:
    out: list[Series] = []
    for sig in SIGNALS:
        first = site_name(0)
        if site != first and all(LABEL_VALUES[n](site) == LABEL_VALUES[n](first) for n in sig.labels):
            continue  # a monitor-wide signal (the deploy window, Sentry alerts) has its series in the first site
        choices = [LABEL_VALUES[name](site) for name in sig.labels]
        for combo in itertools.product(*choices):
            out.append(Series(sig.name, dict(zip(sig.labels, combo, strict=True))))
    return out


def make_series(count: int) -> tuple[list[Series], list[str]]:
    series: list[Series] = []
    sites: list[str] = []
    while len(series) < count:
        sites.append(site_name(len(sites)))
        series.extend(site_series(sites[-1]))
    return series[:count], sites


def monitor_default_rules() -> list[Rule]:
    """What a monitor with no rules configured evaluates: the catalog and the default SLOs' burn-rate rules."""
    from monitor.config import Config

    return [r for r in Config.model_validate({}).effective_rules() if r.enabled]


def make_rules(count: int, sites: Sequence[str]) -> list[Rule]:
    """The monitor's default rules (fleet-wide), then per-site copies of them with a target, flow or slo matcher."""
    bases = monitor_default_rules()
    rules = list(bases[:count])
    j = 0
    while len(rules) < count:
        base = bases[j % len(bases)]
        site = sites[(j // len(bases)) % len(sites)]
        declared = CATALOG[base.signal].labels
        labels = dict(base.labels)
        if "target" in declared:
            labels["target"] = site
        elif "flow" in declared:
            labels["flow"] = f"{site}-login"
        elif "slo" in labels:
            labels["slo"] = slo_name(site, labels["slo"])
        rules.append(base.model_copy(update={"name": f"{base.name}_{j:05d}", "labels": labels}))
        j += 1
    return rules


def signal_bands(rules: Sequence[Rule]) -> dict[str, Band]:
    """Per signal: a healthy band that fires no rule (normal or event numbers) and a value that fires them."""
    bands: dict[str, Band] = {}
    for sig in SIGNALS:
        mine = [r for r in rules if r.signal == sig.name and r.enabled]
        conds: list[tuple[str, float]] = [
            (r.comparison, p.threshold) for r in mine if r.comparison != "unknown"
            for p in (r.params(False), r.params(True)) if p.threshold is not None]
        healthy = functools.partial(_fires_none, conds)
        breachable = bool(mine)
        if sig.unit == "bool":
            good = 1.0 if healthy(1.0) else 0.0
            breach: float | None = 1.0 - good if conds else None
            bands[sig.name] = Band(good, good, breach, breachable)
            continue
        thresholds = sorted({t for _, t in conds})
        lo, hi = _healthy_range(thresholds, healthy)
        ups = [t for c, t in conds if c in (">", ">=")]
        downs = [t for c, t in conds if c in ("<", "<=")]
        equal = [t for c, t in conds if c == "=="]
        if ups:
            m = max(ups)
            breach = m * 1.25 if m > 0 else m + 1
        elif equal:
            breach = equal[0]
        elif downs:
            m = min(downs)
            breach = m / 2 if m > 0 else m - 1
        elif conds:
            breach = conds[0][1] + 1  # "!="
        else:
            breach = None
        bands[sig.name] = Band(lo, hi, breach, breachable)
    return bands


def _fires_none(conds: Sequence[tuple[str, float]], x: float) -> bool:
    return not any(OPS[c](x, t) for c, t in conds)


def _healthy_range(thresholds: list[float], healthy: Callable[[float], bool]) -> tuple[float, float]:
    """The widest non-negative interval between thresholds that fires nothing (its middle half, for jitter);
    a single healthy point when no interval is."""
    if not thresholds:
        return 0.5, 1.5
    edges = [0.0 if thresholds[0] > 0 else thresholds[0], *thresholds, thresholds[-1] * 2 + 1]
    best: tuple[float, float] | None = None
    for a, b in itertools.pairwise(edges):
        if b > a >= 0 and healthy((a + b) / 2) and (best is None or b - a > best[1] - best[0]):
            best = (a, b)
    if best is not None:
        a, b = best
        return a + (b - a) / 4, b - (b - a) / 4
    point = next((t for t in thresholds if t >= 0 and healthy(t)), None)
    if point is None:
        raise ValueError(f"no healthy value for thresholds {thresholds}")
    return point, point


@dataclass
class World:
    rules: list[Rule]
    series: list[Series]
    sites: list[str]
    steady: list[float | None]
    incident: list[float | None]
    watched: int  # series selected by at least one rule
    breaching: int

    @classmethod
    def build(cls, n_rules: int, n_series: int, seed: int = 7) -> World:
        rng = random.Random(seed)
        series, sites = make_series(n_series)
        rules = make_rules(n_rules, sites)
        bands = signal_bands(monitor_default_rules())
        steady: list[float | None] = []
        for s in series:
            band = bands[s.signal]
            value: float | None = band.lo if band.lo == band.hi else rng.uniform(band.lo, band.hi)
            steady.append(None if rng.random() < UNKNOWN_SHARE else value)
        watched = _watched(rules, series)
        candidates = [i for i in watched if bands[series[i].signal].breachable]
        chosen = rng.sample(candidates, min(len(candidates), int(INCIDENT_SHARE * len(series))))
        incident = list(steady)
        for i in chosen:
            incident[i] = bands[series[i].signal].breach
        return cls(rules, series, sites, steady, incident, len(watched), len(chosen))

    def max_age(self) -> Callable[[Observation], float]:
        ages = {site: STALE_AFTER for site in self.sites} | {f"{site}-login": STALE_AFTER for site in self.sites}
        return stale_after(ages)


class Feed:
    """The store's latest observations as the monitor holds them between alert cycles: a series gets a new
    Observation when its probe last ran (every 30 s, probes spread over the interval) or when its value changed
    (the incident's values all arrive at once: the worst case for the onset cycle). The rest are the same objects
    as in the previous cycle, as the store keeps them."""

    def __init__(self, world: World, values: Sequence[float | None], now: float) -> None:
        self.world = world
        n = len(world.series)
        self.offsets = [(i * 7919 % n) / n * TARGET_INTERVAL for i in range(n)]  # probe phase within the interval
        self.values: list[float | None] = list(values)
        self.obs = [self._new(i, values[i], now) for i in range(n)]

    def _new(self, i: int, value: float | None, now: float) -> Observation:
        s = self.world.series[i]
        ts = now - (now - self.offsets[i]) % TARGET_INTERVAL  # this series' last probe run
        return Observation(s.signal, value, ts, s.labels, None if value is not None else "probe timed out")

    def step(self, values: Sequence[float | None], now: float) -> list[Observation]:
        """Advance to `now`; returns the observations written since the last step (what the probes wrote)."""
        fresh: list[Observation] = []
        for i, old in enumerate(self.obs):
            last_run = now - (now - self.offsets[i]) % TARGET_INTERVAL
            value = values[i]
            if last_run > old.timestamp or value != self.values[i]:
                self.obs[i] = obs = self._new(i, value, now)
                self.values[i] = value
                fresh.append(obs)
        return fresh

    def latest(self) -> list[Observation]:
        return list(self.obs)  # a new list of the same objects, as Store.latest() returns


def _watched(rules: Sequence[Rule], series: Sequence[Series]) -> list[int]:
    by_signal: dict[str, list[int]] = {}
    by_target: dict[tuple[str, str], list[int]] = {}
    for i, s in enumerate(series):
        by_signal.setdefault(s.signal, []).append(i)
        if "target" in s.labels:
            by_target.setdefault((s.signal, s.labels["target"]), []).append(i)
    seen: set[int] = set()
    for rule in rules:
        pool = by_target.get((rule.signal, rule.labels["target"]), []) if "target" in rule.labels \
            else by_signal.get(rule.signal, [])
        seen.update(i for i in pool if rule.matches(series[i].labels))
    return sorted(seen)


# --- timing helpers --------------------------------------------------------------------------------

class GcClock:
    """Time the cyclic garbage collector spends, through gc.callbacks (its pauses land inside timed cycles)."""

    def __init__(self) -> None:
        self.ns = 0
        self.full = 0  # generation-2 collections
        self._start = 0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter_ns()
        else:
            self.ns += time.perf_counter_ns() - self._start
            self.full += info.get("generation") == 2


GC = GcClock()
gc.callbacks.append(GC)


@dataclass
class Samples:
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    gc_ms: list[float] = field(default_factory=list)
    full_gcs: int = 0

    def add(self, wall_ns: int, cpu_ns: int, gc_ns: int = 0, full_gcs: int = 0) -> None:
        self.wall_ms.append(wall_ns / 1e6)
        self.cpu_ms.append(cpu_ns / 1e6)
        self.gc_ms.append(gc_ns / 1e6)
        self.full_gcs += full_gcs

    def summary(self) -> dict[str, Any]:
        w = sorted(self.wall_ms)
        return {"n": len(w), "median_ms": round(statistics.median(w), 3), "p95_ms": round(percentile(w, 95), 3),
                "min_ms": round(w[0], 3), "max_ms": round(w[-1], 3),
                "cpu_median_ms": round(statistics.median(self.cpu_ms), 3),
                "cpu_p95_ms": round(percentile(sorted(self.cpu_ms), 95), 3),
                "gc_total_ms": round(sum(self.gc_ms), 3), "gc_max_ms": round(max(self.gc_ms), 3),
                "full_gcs": self.full_gcs}


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def timed(fn: Callable[[], Any], into: Samples) -> Any:
    g0, f0 = GC.ns, GC.full
    c0, w0 = time.process_time_ns(), time.perf_counter_ns()
    result = fn()
    w1, c1 = time.perf_counter_ns(), time.process_time_ns()
    into.add(w1 - w0, c1 - c0, GC.ns - g0, GC.full - f0)
    return result


def alert_counts(engine: AlertEngine) -> dict[str, int]:
    alerts = engine.alerts((State.PENDING, State.FIRING))
    return {"pending": sum(a.state is State.PENDING for a in alerts),
            "firing": sum(a.state is State.FIRING for a in alerts)}


# --- the engine ------------------------------------------------------------------------------------

def bench_engine(world: World, cycles: int, reps: int) -> dict[str, Any]:
    """steady and incident: `cycles` timed cycles each; onset and fire: one cycle per repetition, fresh engine."""
    phases = {name: Samples() for name in ("steady", "incident", "onset", "fire")}
    counts: dict[str, dict[str, int]] = {}
    step = min(EVAL_INTERVAL, SUSTAIN_SPAN / max(cycles, 1))
    for rep in range(reps):
        engine = AlertEngine(world.rules, max_age=world.max_age())
        feed = Feed(world, world.steady, T0)

        def cycle(values: Sequence[float | None], now: float, into: Samples | None,
                  engine: AlertEngine = engine, feed: Feed = feed) -> None:
            feed.step(values, now)
            obs = feed.latest()
            if into is None:
                engine.evaluate(obs, now, False)
            else:
                timed(lambda: engine.evaluate(obs, now, False), into)

        now = T0
        for _ in range(2):  # warm-up: the steady state's own alerts (unknown probes) are in place
            cycle(world.steady, now, None)
            now += EVAL_INTERVAL
        if rep == 0:
            for _ in range(cycles):
                cycle(world.steady, now, phases["steady"])
                now += EVAL_INTERVAL
            counts["steady"] = alert_counts(engine)
        start = now
        cycle(world.incident, now, phases["onset"])
        counts["onset"] = alert_counts(engine)
        now = start + FIRE_AFTER
        cycle(world.incident, now, phases["fire"])
        counts["fire"] = alert_counts(engine)
        if rep == 0:
            for _ in range(cycles):
                now += step
                cycle(world.incident, now, phases["incident"])
            counts["incident"] = alert_counts(engine)
    return {name: {**samples.summary(), "alerts": counts[name]} for name, samples in phases.items()}


def profile_engine(world: World, cycles: int) -> str:
    engine = AlertEngine(world.rules, max_age=world.max_age())
    now = T0
    feed = Feed(world, world.steady, now)
    engine.evaluate(feed.latest(), now, False)
    for values, at in ((world.incident, now + EVAL_INTERVAL), (world.incident, now + EVAL_INTERVAL + FIRE_AFTER)):
        feed.step(values, at)
        engine.evaluate(feed.latest(), at, False)
    now += EVAL_INTERVAL + FIRE_AFTER
    prof = cProfile.Profile()
    for i in range(1, cycles + 1):
        feed.step(world.incident, now + i)
        obs = feed.latest()
        prof.enable()
        engine.evaluate(obs, now + i, False)
        prof.disable()
    return _profile_text(prof)


def _profile_text(prof: cProfile.Profile, top: int = 18) -> str:
    out = io.StringIO()
    pstats.Stats(prof, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    text = out.getvalue()
    return text[text.find("   ncalls"):].rstrip() if "   ncalls" in text else text


# --- the full service cycle --------------------------------------------------------------------------

class NullNotifier:
    """A notifier that sends nothing: the cycle's cost without any channel's."""

    name = "null"

    async def send(self, message: Any) -> None:
        return None


class PartTimer:
    """Wraps a few methods of one service instance (the bench's own objects) to split the cycle's time."""

    def __init__(self) -> None:
        self.current: dict[str, float] = {}
        self.history: list[dict[str, float]] = []

    def wrap(self, obj: Any, attr: str, part: str) -> None:
        fn = getattr(obj, attr, None)
        if fn is None:
            return
        timer = self

        if inspect.iscoroutinefunction(fn):
            async def awrapper(*a: Any, **kw: Any) -> Any:
                t0 = time.perf_counter_ns()
                try:
                    return await fn(*a, **kw)
                finally:
                    timer.add(part, time.perf_counter_ns() - t0)
            setattr(obj, attr, awrapper)
        else:
            def wrapper(*a: Any, **kw: Any) -> Any:
                t0 = time.perf_counter_ns()
                try:
                    return fn(*a, **kw)
                finally:
                    timer.add(part, time.perf_counter_ns() - t0)
            setattr(obj, attr, wrapper)

    def add(self, part: str, ns: int) -> None:
        self.current[part] = self.current.get(part, 0.0) + ns / 1e6

    def close_cycle(self, total_ms: float) -> None:
        parts = dict(self.current)
        parts["other"] = max(0.0, total_ms - sum(parts.values()))
        self.history.append(parts)
        self.current = {}


def _nested(parts: dict[str, float], outer: str, inner: str) -> None:
    # persist/commit contains the snapshots: report the store write alone
    if outer in parts and inner in parts:
        parts[outer] = max(0.0, parts[outer] - parts[inner])


def make_service(world: World) -> tuple[Any, Any, str]:
    from alerts.service import AlertService
    from monitor.config import Config
    from monitor.store.sqlite import SqliteStore

    n_defaults = len(monitor_default_rules())
    custom = [r.model_dump(by_alias=True, exclude_defaults=True) for r in world.rules[n_defaults:]]
    config = Config.model_validate({
        # the sites as configured targets, so the service's staleness limits are the engine bench's
        "targets": {"http": [{"name": s, "url": f"http://127.0.0.1:9/{s}"} for s in world.sites]},
        "rules": {"custom": custom},
    })
    effective = [r.name for r in config.effective_rules() if r.enabled]
    if sorted(effective) != sorted(r.name for r in world.rules):
        raise RuntimeError("the service's effective rules differ from the engine bench's")
    store = SqliteStore(":memory:", retention=3600.0)
    params = inspect.signature(AlertService).parameters
    if "notifiers" in params:
        service = AlertService(config, store, [NullNotifier()], clock=lambda: T0)
        delivery = "notifiers: one that does nothing (awaited in the cycle)"
    else:
        service = AlertService(config, store, clock=lambda: T0)
        delivery = "outbox: rows for the log channel committed in the cycle; the outbox worker is not run"
    return service, store, delivery


def bench_service(world: World, cycles: int, reps: int) -> dict[str, Any]:
    """The monitor's alert cycle: AlertService.evaluate over the store's latest observations."""
    phases = {name: Samples() for name in ("steady", "incident", "onset", "fire")}
    parts: dict[str, list[dict[str, float]]] = {name: [] for name in phases}
    counts: dict[str, dict[str, int]] = {}
    notes: dict[str, list[int]] = {name: [] for name in phases}
    step = min(EVAL_INTERVAL, SUSTAIN_SPAN / max(cycles, 1))
    delivery = ""
    loop = asyncio.new_event_loop()
    try:
        for rep in range(reps):
            service, store, delivery = make_service(world)
            # As `converge-monitor run` does once started (monitor/runner.py): start-up objects frozen out of
            # later collections. The probes' observations (the Feed) come after, unfrozen, as in the monitor.
            gc.collect()
            gc.freeze()
            timer = PartTimer()
            for obj, attr, part in ((store, "latest", "store.latest"), (service.engine, "evaluate", "engine"),
                                    (service, "holds", "holds"), (service.dispatcher, "step", "dispatch"),
                                    (service, "deliver", "deliver"), (service.engine, "snapshot", "snapshot"),
                                    (service.dispatcher, "snapshot", "snapshot"),
                                    (store, "put_state", "store write"), (store, "commit_cycle", "store write")):
                timer.wrap(obj, attr, part)

            feed = Feed(world, world.steady, T0)
            store.write(feed.latest())

            def cycle(values: Sequence[float | None], now: float, phase: str | None, service: Any = service,
                      store: Any = store, timer: PartTimer = timer, feed: Feed = feed) -> None:
                store.write(feed.step(values, now))  # what the probes wrote meanwhile: untimed
                timer.current = {}
                into = phases[phase] if phase is not None else Samples()
                result = timed(lambda: _run(loop, service.evaluate(now)), into)
                if phase is None:
                    return
                timer.close_cycle(into.wall_ms[-1])
                parts[phase].append(timer.history[-1])
                notes[phase].append(len(result))

            now = T0
            for _ in range(2):
                cycle(world.steady, now, None)
                now += EVAL_INTERVAL
            if rep == 0:
                for _ in range(cycles):
                    cycle(world.steady, now, "steady")
                    now += EVAL_INTERVAL
                counts["steady"] = alert_counts(service.engine)
            start = now
            cycle(world.incident, now, "onset")
            counts["onset"] = alert_counts(service.engine)
            now = start + FIRE_AFTER
            cycle(world.incident, now, "fire")
            counts["fire"] = alert_counts(service.engine)
            if rep == 0:
                for _ in range(cycles):
                    now += step
                    cycle(world.incident, now, "incident")
                counts["incident"] = alert_counts(service.engine)
            store.close()
            gc.unfreeze()
    finally:
        gc.unfreeze()
        loop.close()
    out: dict[str, Any] = {"delivery": delivery, "phases": {}}
    for name, samples in phases.items():
        split: dict[str, float] = {}
        for key in sorted({k for p in parts[name] for k in p}):
            split[key] = round(statistics.median(p.get(key, 0.0) for p in parts[name]), 3)
        out["phases"][name] = {**samples.summary(), "alerts": counts[name], "parts_median_ms": split,
                               "notifications": max(notes[name]) if notes[name] else 0}
    return out


def _run(loop: Any, result: Any) -> Any:
    return loop.run_until_complete(result) if inspect.isawaitable(result) else result


def profile_service(world: World, cycles: int) -> str:
    service, store, _ = make_service(world)
    loop = asyncio.new_event_loop()
    try:
        now = T0
        feed = Feed(world, world.steady, now)
        store.write(feed.latest())
        for values, at in ((world.steady, now), (world.incident, now + EVAL_INTERVAL),
                           (world.incident, now + EVAL_INTERVAL + FIRE_AFTER)):
            store.write(feed.step(values, at))
            _run(loop, service.evaluate(at))
        now += EVAL_INTERVAL + FIRE_AFTER
        prof = cProfile.Profile()
        for i in range(1, cycles + 1):
            store.write(feed.step(world.incident, now + i))
            prof.enable()
            _run(loop, service.evaluate(now + i))
            prof.disable()
        return _profile_text(prof)
    finally:
        loop.close()
        store.close()


# --- the peer: Prometheus ----------------------------------------------------------------------------

def _fmt_number(x: float) -> str:
    return repr(float(x)) if not float(x).is_integer() else str(int(x))


def _selector(metric: str, labels: dict[str, str]) -> str:
    inner = ", ".join(f"{k}={json.dumps(v)}" for k, v in labels.items())
    return f"{metric}{{{inner}}}" if inner else metric


def _template(text: str, threshold: float | None) -> str:
    """A rule's {placeholders} as Prometheus annotation templates."""
    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key == "value":
            return "{{ $value }}"
        if key == "threshold":
            return _fmt_number(threshold) if threshold is not None else ""
        return "{{ $labels." + key + " }}"
    return re.sub(r"\{([^{}]*)\}", sub, text)


def prometheus_rule(rule: Rule, hysteresis: bool = True) -> dict[str, Any]:
    """The rule as a Prometheus alerting rule: same selection, threshold, for, keep_firing_for and summary; with
    `hysteresis`, also the clear threshold (what the embedded engine does), else the threshold alone."""
    p = rule.params(False)
    if rule.comparison == "unknown":
        # the monitor's exporter shows an unknown series as converge_signal_unknown{signal,target} 1
        labels = {"signal": rule.signal, **{k: v for k, v in rule.labels.items() if k == "target"}}
        expr = f"{_selector('converge_signal_unknown', labels)} == 1"
    else:
        sel = _selector(CATALOG[rule.signal].metric_name, rule.labels)
        op = rule.comparison
        expr = f"{sel} {op} {_fmt_number(p.threshold)}"  # type: ignore[arg-type]
        if hysteresis and p.clear_threshold is not None and p.clear_threshold != p.threshold:
            # a firing alert holds while the value is still past the clear threshold
            alerts = _selector("ALERTS", {"alertname": rule.name, "alertstate": "firing"})
            expr = (f"{expr} or ({sel} {op} {_fmt_number(p.clear_threshold)} "
                    f"and ignoring(alertname, alertstate, tier) {alerts})")
    out: dict[str, Any] = {"alert": rule.name, "expr": expr}
    if p.for_ > 0:
        out["for"] = f"{int(p.for_)}s"
    if p.keep_firing_for > 0:
        out["keep_firing_for"] = f"{int(p.keep_firing_for)}s"
    out["labels"] = {"tier": rule.tier.value}
    out["annotations"] = {"summary": _template(rule.summary, p.threshold),
                          "runbook": _template(rule.runbook, p.threshold)}
    return out


def prometheus_rule_file(rules: Sequence[Rule], hysteresis: bool = True, group: str = "converge-bench") -> str:
    return yaml.safe_dump({"groups": [{"name": group, "rules": [prometheus_rule(r, hysteresis) for r in rules]}]},
                          sort_keys=False, width=1000)


def exposition(world: World, values: Sequence[float | None]) -> bytes:
    by_metric: dict[str, list[str]] = {}
    unknown: set[tuple[str, str]] = set()
    for s, v in zip(world.series, values, strict=True):
        if v is None:
            unknown.add((s.signal, s.labels.get("target") or s.labels.get("flow", "")))
            continue
        labels = ",".join(f'{k}={json.dumps(val)}' for k, val in s.labels.items())
        by_metric.setdefault(CATALOG[s.signal].metric_name, []).append(f"{{{labels}}} {v!r}")
    lines: list[str] = []
    for metric, rows in by_metric.items():
        lines.append(f"# TYPE {metric} gauge")
        lines.extend(metric + row for row in rows)
    lines.append("# TYPE converge_signal_unknown gauge")
    lines.extend(f'converge_signal_unknown{{signal="{sig}",target={json.dumps(t)}}} 1' for sig, t in sorted(unknown))
    return ("\n".join(lines) + "\n").encode()


class Exposition:
    """A static /metrics endpoint on 127.0.0.1 serving pre-rendered text; counts the scrapes."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.scrapes = 0
        self.last_scrape = 0.0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = outer.body
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                outer.scrapes += 1
                outer.last_scrape = time.time()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Exposition:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


_SAMPLE = re.compile(r'^(prometheus_rule_group_last_duration_seconds|prometheus_rule_group_last_evaluation_timestamp_'
                     r'seconds|process_cpu_seconds_total)(\{[^}]*\})? (\S+)$', re.MULTILINE)


def read_own_metrics(url: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {m.group(1): float(m.group(3)) for m in _SAMPLE.finditer(text)}


@contextlib.contextmanager
def pinned(cores: set[int]) -> Iterator[None]:
    """Children started inside inherit this affinity (Go sizes GOMAXPROCS from it); ours is restored after."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores & before or before)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


PROM_VARIANTS = {
    "hysteresis": "the engine's semantics: `x > t or (x > clear and ignoring(alertname, alertstate, tier) "
                  "ALERTS{alertname=..., alertstate=\"firing\"})` where a rule has a clear threshold",
    "plain": "threshold only (`x > t`): what Prometheus users usually write; cheaper, not the same semantics",
}


def bench_prometheus(world: World, evals: int, pin: bool) -> dict[str, Any]:
    """Both rule variants, one Prometheus each (one after the other), steady then incident values."""
    steady, incident = exposition(world, world.steady), exposition(world, world.incident)
    version = subprocess.run([PROMETHEUS, "--version"], capture_output=True, text=True,
                             check=False).stdout.split("\n")[0]
    core = max(os.sched_getaffinity(0)) if pin else None
    out: dict[str, Any] = {"version": version, "pinned_core": core, "scrape_interval_s": 5,
                           "evaluation_interval_s": 1, "rules": len(world.rules), "series_exposed": len(world.series),
                           "variants": {}}
    for variant in PROM_VARIANTS:
        rule_text = prometheus_rule_file(world.rules, hysteresis=variant == "hysteresis")
        out["variants"][variant] = {"promtool_check": _promtool_check(rule_text),
                                    "phases": _prometheus_run(rule_text, steady, incident, evals, core)}
    return out


def _prometheus_run(rule_text: str, steady: bytes, incident: bytes, evals: int,
                    core: int | None) -> dict[str, Any]:
    from devstack.prometheus import PrivatePrometheus

    phases: dict[str, Any] = {}
    with Exposition(steady) as endpoint:
        config = {
            "global": {"scrape_interval": "5s", "scrape_timeout": "4s", "evaluation_interval": "1s"},
            "rule_files": ["rules.yml"],
            "scrape_configs": [{"job_name": "converge",
                                "static_configs": [{"targets": [f"127.0.0.1:{endpoint.port}"]}]}],
        }
        prom = PrivatePrometheus(config, rule_files={"rules.yml": rule_text})
        with pinned({core}) if core is not None else contextlib.nullcontext():
            prom.start(timeout=60)
        try:
            _wait(lambda: prom.targets_up(), 30, "the first scrape")
            for name, body in (("steady", steady), ("incident", incident)):
                endpoint.body = body
                switched = time.time()
                _wait(lambda switched=switched: endpoint.last_scrape > switched, 15, "a scrape of the new values")
                scraped = endpoint.last_scrape
                _wait(lambda scraped=scraped: read_own_metrics(prom.url).get(
                    "prometheus_rule_group_last_evaluation_timestamp_seconds", 0) > scraped + 1, 15,
                    "an evaluation after the scrape")
                phases[name] = _sample_rule_group(prom.url, evals)
                rows = prom.query("count by (alertstate) (ALERTS)")
                phases[name]["alerts"] = {r["metric"].get("alertstate", "?"): int(float(r["value"][1])) for r in rows}
        finally:
            prom.cleanup()
    return phases


def _promtool_check(rule_text: str) -> str:
    if not os.access(PROMTOOL, os.X_OK):
        return "promtool not found"
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        f.write(rule_text)
        f.flush()
        res = subprocess.run([PROMTOOL, "check", "rules", f.name], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"promtool check rules failed on the generated rules:\n{res.stdout}{res.stderr}")
    return res.stdout.strip().splitlines()[-1].strip() if res.stdout.strip() else "SUCCESS"


def _sample_rule_group(url: str, evals: int) -> dict[str, Any]:
    """One sample of the group's last duration per evaluation (the evaluation timestamp tells them apart)."""
    durations: list[float] = []
    seen: set[float] = set()
    first = read_own_metrics(url)
    t_start = time.time()
    deadline = t_start + evals * 2 + 15
    while len(durations) < evals and time.time() < deadline:
        m = read_own_metrics(url)
        ts = m.get("prometheus_rule_group_last_evaluation_timestamp_seconds")
        if ts is not None and ts not in seen:
            seen.add(ts)
            durations.append(m["prometheus_rule_group_last_duration_seconds"] * 1000)
        time.sleep(0.2)
    last = read_own_metrics(url)
    elapsed = time.time() - t_start
    cpu = (last.get("process_cpu_seconds_total", 0) - first.get("process_cpu_seconds_total", 0)) / elapsed
    if not durations:
        raise RuntimeError("no rule group evaluation observed")
    d = sorted(durations)
    return {"n": len(d), "median_ms": round(statistics.median(d), 3), "p95_ms": round(percentile(d, 95), 3),
            "min_ms": round(d[0], 3), "max_ms": round(d[-1], 3), "process_cpu_share": round(cpu, 3)}


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, KeyError):
            if check():
                return
        time.sleep(0.2)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


# --- report -----------------------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    cpu_model = machine_cpu_model()
    versions = {}
    for pkg in ("pydantic", "pydantic-core"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[pkg] = importlib.metadata.version(pkg)
    return {"nproc": os.cpu_count(), "cpu_model": cpu_model, "kernel": platform.release(),
            "hostname": socket.gethostname(), "python": platform.python_version(),
            "python_implementation": platform.python_implementation(), "packages": versions, "shared_machine": True}


def _alerts(a: dict[str, int] | None) -> str:
    if not a:
        return "-"
    return f"{a.get('pending', 0)} / {a.get('firing', 0)}"


WORLD_TEXT = (
    "**The world.** Series: every catalog signal per *site* (`target=svc-NNNN`; 10 routes for the latency signals, "
    "3 synthetic steps, 2 disk paths, one SLO: {per_site} series a site), cut at the series count. Rules: the "
    "{defaults} default "
    "rules (fleet-wide), then per-site copies of them with a `target` matcher (same thresholds, `for`, hysteresis, "
    "event overrides, summaries); *watched* = series selected by at least one rule. Values: steady = inside each "
    "signal's healthy band, jittered, {unknown:.1%} unknown; incident = {incident:.0%} of all series (drawn from the "
    "watched ones) past their thresholds (ProbeUnknown's: unknown). Cycles are {interval:g} s apart "
    "(`alerting.evaluation_interval`), observations are fresh (stale after {stale:g} s), in_event false. "
    "*incident* is measured once established (rules with `for` <= 2 m firing, longer ones pending, no transitions); "
    "*onset* is the incident's first cycle (every breaching series starts an alert), *fire* the cycle {fire:g} s later "
    "where the short-`for` alerts fire; onset/fire use a fresh engine per repetition. Wall time is what the monitor "
    "waits; cpu is the process's CPU time in the cycle (steadier on a shared machine); gc = the cyclic garbage "
    "collector's pauses inside timed cycles (gc.callbacks), full gcs = generation-2 collections among them.")


def markdown(report: dict[str, Any]) -> str:
    m, st = report["machine"], report["settings"]
    lines = [
        "# Rule evaluation: time per evaluation cycle", "",
        f"Run {report['started']} on {m['cpu_model']} ({m['nproc']} cores), Linux {m['kernel']}, "
        f"Python {m['python']}, pydantic {m['packages'].get('pydantic', '?')}; load average "
        f"{report['loadavg_before']} before, {report['loadavg_after']} after; took {report['duration_s']:.0f} s. "
        f"{report['cycles']} timed cycles per steady/incident point, {report['reps']} onset/fire repetitions. "
        f"Goal: under {GOAL_MS:g} ms per cycle for {HEADLINE[0]:,} rules x {HEADLINE[1]:,} series.", "",
        SHARED_NOTE, "",
        f"**Headline ({HEADLINE[0]:,} rules x {HEADLINE[1]:,} series): {report['headline']['verdict']}**", "",
        WORLD_TEXT.format(per_site=st["series_per_site"], defaults=st["default_rules"], unknown=st["unknown_share"],
                          incident=st["incident_share"], interval=st["evaluation_interval_s"],
                          stale=st["stale_after_s"], fire=st["fire_after_s"]), "",
        "## AlertEngine.evaluate", "",
        "| rules | series | watched | scenario | alerts pending / firing | median ms | p95 ms | max ms "
        "| cpu median ms | cpu p95 ms | gc max ms | full gcs |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for point in report["engine"]:
        tag = " (gc.freeze)" if point.get("gc_freeze") else ""
        for name in ("steady", "incident", "onset", "fire"):
            r = point["phases"][name]
            lines.append(f"| {point['rules']:,} | {point['series']:,}{tag} | {point['watched']:,} | {name} | "
                         f"{_alerts(r['alerts'])} | {r['median_ms']:.2f} | {r['p95_ms']:.2f} | {r['max_ms']:.2f} | "
                         f"{r['cpu_median_ms']:.2f} | {r['cpu_p95_ms']:.2f} | {r['gc_max_ms']:.1f} | "
                         f"{r['full_gcs']} |")
    if any(p.get("gc_freeze") for p in report["engine"]):
        lines += ["", "(gc.freeze): the headline again, with `gc.freeze()` after setup (as the monitor could do once "
                  "started): what full collections of long-lived objects cost the cycles above."]
    svc = report.get("service")
    if svc:
        part_names = sorted({k for ph in svc["phases"].values() for k in ph["parts_median_ms"]})
        lines += ["", f"## AlertService cycle ({HEADLINE[0]:,} rules x {HEADLINE[1]:,} series)", "",
                  f"AlertService.evaluate as the monitor calls it. Delivery: {svc['delivery']}. "
                  "SqliteStore(':memory:'); the probes' store writes between cycles are not timed; start-up objects "
                  "are frozen out of later garbage collections (gc.freeze()), as `converge-monitor run` does. "
                  "Parts: median ms "
                  "of each part (snapshot = engine + dispatcher snapshots; store write = the state document and "
                  "outbox rows, JSON included; other = the rest: message rendering, silences, the service's own "
                  "code), so they need not add up to the median.", "",
                  "| scenario | alerts pending / firing | notifications | median ms | p95 ms | max ms | cpu median ms "
                  "| gc max ms | " + " | ".join(part_names) + " |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(part_names)]
        for name, r in svc["phases"].items():
            parts = " | ".join(f"{r['parts_median_ms'].get(p, 0.0):.2f}" for p in part_names)
            lines.append(f"| {name} | {_alerts(r['alerts'])} | {r['notifications']} | {r['median_ms']:.2f} | "
                         f"{r['p95_ms']:.2f} | {r['max_ms']:.2f} | {r['cpu_median_ms']:.2f} | "
                         f"{r['gc_max_ms']:.1f} | {parts} |")
    prom = report.get("prometheus")
    lines += ["", "## Peer: Prometheus rule evaluation (same rules, same series)", ""]
    if isinstance(prom, dict) and "variants" in prom:
        where = (f"pinned to core {prom['pinned_core']} (GOMAXPROCS 1)" if prom["pinned_core"] is not None
                 else "not pinned (both cores, as deployed)")
        lines += [f"{prom['version']}, {where}; one rule group of {prom['rules']:,} alerting rules evaluated every "
                  f"{prom['evaluation_interval_s']} s over {prom['series_exposed']:,} series scraped every "
                  f"{prom['scrape_interval_s']} s from a static endpoint (unknown series as "
                  "`converge_signal_unknown{signal,target} 1`, as the monitor's exporter). Time = "
                  "`prometheus_rule_group_last_duration_seconds` from its own /metrics, one sample per evaluation; "
                  "cpu share = its process CPU seconds per second over the phase (rule evaluation and scrapes). "
                  "Rule variants:", ""]
        lines += [f"- {name}: {text}; `promtool check rules`: "
                  f"{prom['variants'][name]['promtool_check']}" for name, text in PROM_VARIANTS.items()
                  if name in prom["variants"]]
        lines += ["", "| variant | scenario | ALERTS by state | evaluations | median ms | p95 ms | max ms "
                  "| cpu share |", "|---|---|---|---:|---:|---:|---:|---:|"]
        for variant, v in prom["variants"].items():
            for name, r in v["phases"].items():
                states = ", ".join(f"{k} {n}" for k, n in sorted(r.get("alerts", {}).items())) or "none"
                lines.append(f"| {variant} | {name} | {states} | {r['n']} | {r['median_ms']:.2f} | "
                             f"{r['p95_ms']:.2f} | {r['max_ms']:.2f} | {r['process_cpu_share']:.2f} |")
        if report.get("comparison"):
            lines += ["", report["comparison"]]
    else:
        lines.append(f"Not done: {prom}")
    if report.get("profile"):
        lines += ["", "## Profile (headline, incident cycles, cProfile, top functions by own time)", ""]
        for name, text in report["profile"].items():
            lines += [f"### {name}", "", "```", text, "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def verdict(engine_point: dict[str, Any], service: dict[str, Any] | None) -> str:
    def worst(phases: dict[str, Any], key: str) -> float:
        return max(phases[p][key] for p in ("steady", "incident"))

    def judged(ms: float) -> str:
        return "meets" if ms < GOAL_MS else "misses"

    e = engine_point["phases"]
    wall, cpu = worst(e, "p95_ms"), worst(e, "cpu_p95_ms")
    text = (f"engine p95 {wall:.1f} ms wall / {cpu:.1f} ms cpu (worst of steady and incident; medians "
            f"{e['steady']['median_ms']:.1f} / {e['incident']['median_ms']:.1f} ms wall): {judged(wall)} the "
            f"{GOAL_MS:g} ms goal on wall time, {judged(cpu)} it on CPU time")
    if service:
        sp = service["phases"]
        swall = worst(sp, "p95_ms")
        text += (f"; full AlertService cycle p95 {swall:.1f} ms wall (medians {sp['steady']['median_ms']:.1f} / "
                 f"{sp['incident']['median_ms']:.1f} ms): {judged(swall)} it. Onset / fire cycles (median): engine "
                 f"{e['onset']['median_ms']:.1f} / {e['fire']['median_ms']:.1f} ms, service "
                 f"{sp['onset']['median_ms']:.1f} / {sp['fire']['median_ms']:.1f} ms")
    return text


def compare(engine_point: dict[str, Any], prom: dict[str, Any]) -> str:
    parts = []
    for name in ("steady", "incident"):
        ours = engine_point["phases"][name]["median_ms"]
        theirs = [f"{v} {p['phases'][name]['median_ms']:.2f} ms" for v, p in prom["variants"].items()]
        parts.append(f"{name}: embedded engine {ours:.2f} ms vs Prometheus " + ", ".join(theirs))
    return "Median per evaluation of the same 1,000 rules over the same 10,000 series - " + "; ".join(parts) + "."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rule_evaluation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=20, help="timed cycles per steady/incident point (default 20)")
    parser.add_argument("--reps", type=int, default=3, help="onset/fire repetitions per point (default 3)")
    parser.add_argument("--prom-evals", type=int, default=12,
                        help="Prometheus evaluations sampled per variant and scenario (default 12)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke check: headline point and the smallest one, 5 cycles, 1 repetition, "
                             "4 Prometheus evaluations; results go to rule_evaluation-quick.json/.md")
    parser.add_argument("--no-prometheus", action="store_true", help="skip the Prometheus peer")
    parser.add_argument("--pin-prometheus", action="store_true",
                        help="run Prometheus on one core (GOMAXPROCS 1) instead of both")
    parser.add_argument("--no-gc-freeze", action="store_true", help="skip the headline run with gc.freeze()")
    parser.add_argument("--profile", action="store_true",
                        help="also cProfile the headline incident cycles (engine and service) into the report")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the results files")
    args = parser.parse_args(argv)
    grid = [(r, s) for r in GRID_RULES for s in GRID_SERIES]
    if args.quick:
        args.cycles, args.reps, args.prom_evals = min(args.cycles, 5), 1, min(args.prom_evals, 4)
        grid = [(GRID_RULES[0], GRID_SERIES[0]), HEADLINE]
    if args.cycles < 1 or args.reps < 1 or args.prom_evals < 1:
        parser.error("--cycles, --reps and --prom-evals must be >= 1")

    started = time.time()
    report: dict[str, Any] = {
        "benchmark": "rule_evaluation", "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": args.quick, "cycles": args.cycles, "reps": args.reps, "goal_ms": GOAL_MS,
        "machine": machine(), "loadavg_before": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "settings": {"evaluation_interval_s": EVAL_INTERVAL, "stale_after_s": STALE_AFTER,
                     "unknown_share": UNKNOWN_SHARE, "incident_share": INCIDENT_SHARE, "fire_after_s": FIRE_AFTER,
                     "routes_per_target": len(ROUTES), "series_per_site": len(site_series(site_name(0))),
                     "default_rules": len(monitor_default_rules())},
        "engine": [],
    }
    print(f"rule evaluation: {len(grid)} points x {args.cycles} cycles", flush=True)
    head: World | None = None

    def run_point(n_rules: int, n_series: int, freeze: bool) -> World:
        world = World.build(n_rules, n_series)
        gc.collect()
        if freeze:
            gc.freeze()
        try:
            res = bench_engine(world, args.cycles, args.reps)
        finally:
            gc.unfreeze()
        report["engine"].append({"rules": n_rules, "series": n_series, "sites": len(world.sites),
                                 "watched": world.watched, "breaching": world.breaching, "gc_freeze": freeze,
                                 "phases": res})
        print(f"  engine {n_rules:>5} rules x {n_series:>6} series{' gc.freeze' if freeze else ''}: " + ", ".join(
            f"{k} {v['median_ms']:.2f}/{v['p95_ms']:.2f} ms" for k, v in res.items()), flush=True)
        return world

    for n_rules, n_series in grid:
        world = run_point(n_rules, n_series, False)
        if (n_rules, n_series) == HEADLINE:
            head = world
    assert head is not None
    if not args.no_gc_freeze:
        run_point(*HEADLINE, True)
    head_point = next(p for p in report["engine"] if (p["rules"], p["series"]) == HEADLINE)
    report["service"] = bench_service(head, args.cycles, args.reps)
    print("  service: " + ", ".join(f"{k} {v['median_ms']:.2f}/{v['p95_ms']:.2f} ms"
                                    for k, v in report["service"]["phases"].items()), flush=True)
    if args.no_prometheus:
        report["prometheus"] = "skipped (--no-prometheus)"
    elif not os.access(PROMETHEUS, os.X_OK):
        report["prometheus"] = f"{PROMETHEUS} not found (apt-get install prometheus)"
    else:
        report["prometheus"] = bench_prometheus(head, args.prom_evals, args.pin_prometheus)
        report["comparison"] = compare(head_point, report["prometheus"])
        for variant, v in report["prometheus"]["variants"].items():
            print(f"  prometheus {variant}: " + ", ".join(f"{k} {r['median_ms']:.2f}/{r['p95_ms']:.2f} ms"
                                                          for k, r in v["phases"].items()), flush=True)
    if args.profile:
        report["profile"] = {"AlertEngine.evaluate": profile_engine(head, args.cycles),
                             "AlertService.evaluate": profile_service(head, args.cycles)}
    report["headline"] = {"rules": HEADLINE[0], "series": HEADLINE[1],
                          "verdict": verdict(head_point, report["service"])}
    report["loadavg_after"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    report["duration_s"] = round(time.time() - started, 1)

    suffix = "-quick" if args.quick else ""
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"rule_evaluation{suffix}.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (args.out / f"rule_evaluation{suffix}.md").write_text(text)
    print(text)
    print(f"wrote {args.out}/rule_evaluation{suffix}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
