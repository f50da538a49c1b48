"""The three event days (spec: January 28-30) on a simulated clock, judged by the shipped configuration.

Every target of monitor.yml is run at its event interval on the simulated clock: the API's /metrics come from
the simulated fleet of devstack/simulated.py through the real api_metrics probe; the other targets' healthy
values are generated here, plausibly (below). Everything goes through the real AlertEngine with the shipped
rules and the same staleness the AlertService gives it. Pure: no I/O, the clock is injected.

The days: traffic that follows a day (night near zero, a busy morning, lunch dip, afternoon sessions, an
evening, night again), two replicas (the floor of spec 11.2); on the second day a deploy restarts both API
instances one after the other (each refuses connections for 20 s), and Redis restarts (down 2 s) with its
cache empty, refilling over the afternoon while cache misses slow requests down for a while.

    result = asyncio.run(simulate(days=3))
    result.fired   # {rule: tier} of every alert that fired; result.firing_at_end
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from alerts.engine import AlertEngine, stale_after
from alerts.model import State
from devstack.simulated import Fleet, Load
from monitor.config import Config
from monitor.core.observation import Observation
from probes import api_metrics
from probes.base import ProbeContext

TZ = ZoneInfo("America/Los_Angeles")
START = datetime(2026, 1, 28, tzinfo=TZ).timestamp()
TICK = 5.0  # the fastest event interval of monitor.yml (api-health); every other target runs on its own
ADVISORY = "advisory"
# Requests per minute over the whole fleet, by local hour (linear in between): nights near zero.
DAY_CURVE = ((0, 8), (5, 4), (7, 120), (8, 600), (9, 800), (11, 760), (12, 450), (13, 620), (16, 650), (18, 380),
             (21, 250), (23, 40), (24, 8))
DEPLOY = (1, 7.5)  # day index, local hour: both instances restart, one after the other
REDIS_RESTART = (1, 14.0)
REDIS_DOWN_S = 2.0
CACHE_FULL = 0.35  # Redis memory ratio with a warm cache
CACHE_REFILL_S = 3600.0  # time constant of the refill
BACKUP_EVERY = 3600.0  # hourly during the event (spec 10), each done one minute past the hour
BACKUP_BYTES = 48e6


def requests_per_minute(t: float) -> float:
    local = datetime.fromtimestamp(t, TZ)
    h = local.hour + local.minute / 60 + local.second / 3600
    for (h0, v0), (h1, v1) in pairwise(DAY_CURVE):
        if h0 <= h <= h1:
            return v0 + (v1 - v0) * (h - h0) / (h1 - h0)
    return DAY_CURVE[-1][1]


def backup_done(hour_start: float) -> float:
    """When the hourly dump started at `hour_start` is written: 60-90 s later (the dump's time varies)."""
    return hour_start + 60 + (int(hour_start // BACKUP_EVERY) * 7919) % 31


def backup_age(t: float) -> float:
    """The newest dump's age at t (dumps start on the hour)."""
    hour = t - t % BACKUP_EVERY
    done = backup_done(hour)
    return t - (done if done <= t else backup_done(hour - BACKUP_EVERY))


def at(day: int, hour: float) -> float:
    return (datetime.fromtimestamp(START, TZ) + timedelta(days=day, hours=hour)).timestamp()


@dataclass
class World:
    """The healthy values every other target would measure at time t."""

    redis_restart: float = field(default_factory=lambda: at(*REDIS_RESTART))

    def since_redis_restart(self, t: float) -> float:
        return t - self.redis_restart

    def redis_up(self, t: float) -> bool:
        return not 0 <= self.since_redis_restart(t) < REDIS_DOWN_S

    def cache_fill(self, t: float) -> float:
        s = self.since_redis_restart(t)
        return 1.0 if s < 0 else 1 - math.exp(-s / CACHE_REFILL_S)

    def load(self, t: float) -> Load:
        # Cache misses after the Redis restart: requests up to 60% slower, back to normal as the cache refills.
        return Load(requests_per_minute(t), latency_factor=1 + 0.6 * (1 - self.cache_fill(t)))

    def observations(self, kind: str, name: str, t: float) -> list[tuple[str, float]]:
        rpm = requests_per_minute(t)
        if kind == "http":
            up = 1.0 if name != "api-health" or self.redis_up(t) else 0.0  # /health checks Redis too
            return [("http_up", up), ("http_latency_seconds", 0.03)]
        if kind == "synthetic":
            return [("synthetic_success", 1.0 if self.redis_up(t) else 0.0)]
        if kind == "journey":
            return [("journey_success", 1.0 if self.redis_up(t) else 0.0)]
        if kind == "browser":
            return [("browser_page_ok", 1.0), ("browser_load_seconds", 0.9 + rpm / 4000)]
        if kind == "postgres":
            return [("postgres_up", 1.0), ("postgres_connections_ratio", 0.05 + rpm / 5000),
                    ("postgres_slow_queries", 0.0), ("postgres_wal_archive_failing", 0.0)]
        if kind == "redis":
            if not self.redis_up(t):
                return [("redis_up", 0.0)]
            return [("redis_up", 1.0), ("redis_memory_ratio", 0.01 + CACHE_FULL * self.cache_fill(t)),
                    ("redis_evicted_keys_per_second", 0.0), ("redis_rdb_last_bgsave_ok", 1.0),
                    ("redis_aof_last_write_ok", 1.0), ("redis_unsaved_seconds", t % 300),
                    # the venue's busiest address (its Wi-Fi behind one NAT): a share of all traffic
                    ("redis_top_client_requests_per_minute", 0.3 * rpm * min(1.0, max(0.0, self.since_redis_restart(t)
                                                                                          / 60 + 1)))]
        if kind == "backup":
            return [("backup_success", 1.0), ("backup_age_seconds", backup_age(t)), ("backup_size_bytes", BACKUP_BYTES)]
        if kind == "backup_restore":  # the age of the dump it picked, when it started
            return [("backup_restore_success", 1.0), ("backup_restore_seconds", 75.0),
                    ("backup_restore_age_seconds", backup_age(t))]
        if kind == "disk":
            return [("disk_used_ratio", 0.41 + (t - START) / 86400 * 0.004)]
        if kind == "deps":
            return [("dependency_vulnerabilities", 0.0)]
        return []


@dataclass
class Result:
    days: float
    evaluations: int = 0
    probe_runs: int = 0
    fired: dict[str, str] = field(default_factory=dict)  # rule -> tier, every alert that fired
    firings: list[dict[str, Any]] = field(default_factory=list)  # when, what, and when it resolved
    firing_at_end: list[str] = field(default_factory=list)
    peak_requests_per_minute: float = 0.0
    api_p95_max_s: float = 0.0
    redis_memory_min_after_restart: float = 1.0

    @property
    def pages(self) -> dict[str, str]:
        return {r: t for r, t in self.fired.items() if t != ADVISORY}


async def simulate(config: Config, days: float = 3, tick: float = TICK,
                   progress: Callable[[str], None] | None = None,
                   metrics_down: Callable[[float], bool] | None = None) -> Result:
    """Run `days` event days from START through the shipped targets and rules; what fired. `metrics_down(t)`:
    a fault to show the run is not blind - API instance 0 refuses its /metrics while it is true."""
    now = [START]
    world = World()
    fleet = Fleet(2, clock=lambda: now[0], load=world.load)
    ctx = ProbeContext(clock=lambda: now[0], http=fleet.client())
    targets = [t for t in config.all_targets() if t.enabled]
    [api] = [t for t in targets if t.kind == "api_metrics"]
    api = api.model_copy(update={"urls": fleet.urls})
    ages = {t.name: 3 * t.interval + t.timeout for t in config.all_targets()}
    engine = AlertEngine(config.effective_rules(), max_age=stale_after(ages))
    tiers = {r.name: r.tier.value for r in engine.rules}
    deploy, restarted = at(*DEPLOY), [False, False]
    next_run = {t.name: START for t in targets}
    latest: dict[tuple[str, tuple[tuple[str, str], ...]], Observation] = {}
    result = Result(days)
    open_firings: dict[str, dict[str, Any]] = {}
    end = START + days * 86400
    while now[0] < end:
        t = now[0]
        for i in (0, 1):  # the deploy: instance 0, then instance 1 two minutes later
            if not restarted[i] and t >= deploy + 120 * i:
                fleet.restart(i, 20.0)
                restarted[i] = True
        if metrics_down is not None and metrics_down(t):
            fleet.members[0].down_until = t + tick
        for target in targets:
            if next_run[target.name] > t:
                continue
            next_run[target.name] = t + target.effective_interval(True)
            result.probe_runs += 1
            if target.kind == "api_metrics":
                obs = await api_metrics.run(api, ctx)
                for o in obs:
                    if o.signal == "api_latency_p95_seconds" and o.labels.get("route") == "*" and o.value is not None:
                        result.api_p95_max_s = max(result.api_p95_max_s, o.value)
            else:
                labels = {"target": target.name}
                obs = [Observation(s, v, t, labels) for s, v in world.observations(target.kind, target.name, t)]
                obs.append(Observation("probe_success", 1.0, t, {"target": target.name, "kind": target.kind}))
            for o in obs:
                latest[o.series_key()] = o
        for tr in engine.evaluate(list(latest.values()), t, True):
            key = f"{tr.alert.rule}{sorted(tr.alert.labels.items())}"
            if tr.new_state is State.FIRING:
                result.fired[tr.alert.rule] = tiers[tr.alert.rule]
                open_firings[key] = {"rule": tr.alert.rule, "tier": tiers[tr.alert.rule], "at": _when(t),
                                     "value": tr.alert.value, "resolved": None}
                result.firings.append(open_firings[key])
            elif tr.new_state is State.RESOLVED and key in open_firings:
                open_firings.pop(key)["resolved"] = _when(t)
        result.evaluations += 1
        result.peak_requests_per_minute = max(result.peak_requests_per_minute, requests_per_minute(t))
        if world.since_redis_restart(t) >= 0:
            mem = world.observations("redis", "redis", t)
            result.redis_memory_min_after_restart = min(result.redis_memory_min_after_restart,
                                                        dict(mem).get("redis_memory_ratio", 1.0))
        if progress is not None and int(t - START) % 86400 == 0:
            progress(f"day {int((t - START) // 86400) + 1} starts")
        now[0] = t + tick
    result.firing_at_end = sorted({a.rule for a in engine.alerts((State.FIRING,))})
    return result


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, TZ).strftime("%a %d %b %H:%M:%S")
