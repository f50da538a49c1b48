"""Benchmark: the Converge API under the spec's event load (500 concurrent attendees), watched by the monitor.

One run, on this machine: a private PostgreSQL and Redis, the API (one uvicorn worker) migrated and seeded
with 500 attendees, and `converge-monitor run` on monitor.yml pointed at that stack, in event mode, with its
api_metrics target scraping every 5 s over a window as long as the measurement. A lean asyncio load
generator (aiohttp, uvloop; one or more child processes on their own core) plays 500 virtual attendees with
the event-day mix of devstack.traffic: logins, session browsing, RSVPs, QR connections, messages sent and
read, pings, and live websockets for a share of them.

The measured window ends at the first api_metrics run after `warm-up + window`; its own window then covers
only steady load. Reported:

- the generator's p95 (every HTTP request completed in the monitor's window, measured by the client) vs the
  monitor's api_latency_p95_seconds{route="*"} read from its /api/signals (goal: within 10%), with the
  steps in between that explain a difference: the client's latencies put in the API's buckets and
  interpolated the way histogram_quantile does; the API's own histogram over the same window from our own
  scrapes (every 2 s, exact increase); and the window itself (nominal, or moved to when the monitor's
  scrapes were answered);
- the same per route; the API's throughput and error rate, by the client and by the monitor;
- the monitor's CPU seconds per minute and RSS while it watches (psutil on its process), next to the CPU
  of the API, the generator, PostgreSQL and Redis.

Needs 2 cores (API on core 0, generator on core 1; --no-pin to not pin), PostgreSQL and Redis binaries.
Run: python -m bench.event_load [--quick] [--users N] [--think S] [--window S] [--warmup S] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import contextvars
import datetime as dt
import json
import os
import platform
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.machine import cpu_model as machine_cpu_model
from bench.machine import loadavg_text, packages_text
from bench.machine import package_version as _version
from bench.machine import tool_version as _tool_version
from bench.report import write_results

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
MONITOR_YML = REPO / "monitor.yml"
API_CORE, GENERATOR_CORE = 0, 1
PASSWORD = "converge-bench"
SYNTHETIC_PASSWORD = "synthetic-bench"
TARGET = "api-metrics"
SCRAPE_INTERVAL = 5.0
GOAL = 0.10  # the generator's and the monitor's p95 must agree within 10%
# The mix of devstack.traffic (browsing dominates), plus an occasional fresh login: someone opening the app on
# a second device or after the token expired. Login weight 1 of 101: Argon2 costs ~20 ms of CPU per login.
LOGIN_WEIGHT = 1
WEBSOCKET_SHARE = 0.2
WEBSOCKET_PING = 5.0
SHARED_NOTE = ("The machine is shared with other engineers' test runs; the load averages before and after are "
               "recorded. The client-vs-monitor comparison is made on the same requests in the same run, so it "
               "holds under that noise; absolute latencies and rates do not transfer to other machines.")

# Route template (the API's `route` label) of each generator action.
ROUTE_OF = {
    "login": "/v1/auth/login",
    "sessions": "/v1/sessions",
    "messages": "/v1/messages",
    "send": "/v1/messages",
    "rsvp": "/v1/sessions/{session_id}/rsvp",
    "connect": "/v1/connections",
    "ping": "/v1/ping",
}
ACTIONS = tuple(ROUTE_OF)
# The attendee a generator task plays: with spread_ips, each one's requests carry its own client address
# (X-Forwarded-For, honoured by an API started with TRUSTED_PROXY_HEADER): phones, not one machine.
ATTENDEE: contextvars.ContextVar[int] = contextvars.ContextVar("attendee", default=0)


def client_ip(attendee: int) -> str:
    return f"10.{attendee // 65536 % 256}.{attendee // 256 % 256}.{attendee % 256}"


# ================================================================================================
# The load generator (runs in a child process: `python -m bench.event_load --worker ...`)
# ================================================================================================

@dataclass
class Recorder:
    """Every completed HTTP request: completion time (epoch s), client latency (s), status (0 = no answer)."""

    done: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)
    action: list[int] = field(default_factory=list)
    lag_at: list[float] = field(default_factory=list)
    lag: list[float] = field(default_factory=list)
    ws: dict[str, int] = field(default_factory=lambda: {"opened": 0, "failed": 0, "pongs": 0, "pushed": 0})

    def add(self, action: str, status: int, seconds: float) -> None:
        self.done.append(round(time.time(), 4))
        self.latency.append(round(seconds, 6))
        self.status.append(status)
        self.action.append(ACTIONS.index(action))

    def dump(self) -> dict[str, Any]:
        return {"done": self.done, "latency": self.latency, "status": self.status, "action": self.action,
                "lag_at": self.lag_at, "lag": self.lag, "ws": self.ws}


def mix() -> tuple[list[str], list[int]]:
    from devstack.traffic import MIX

    actions = [a for a, _ in MIX] + ["login"]
    return actions, [w for _, w in MIX] + [LOGIN_WEIGHT]


class Generator:
    def __init__(self, base_url: str, first: int, count: int, attendees: int, think: float, ramp: float,
                 seed: int, spread_ips: bool = False) -> None:
        self.base_url = base_url.rstrip("/")
        self.spread_ips = spread_ips
        self.first, self.count, self.attendees = first, count, attendees
        self.think, self.ramp = think, ramp
        self.random = random.Random(seed)
        self.rec = Recorder()
        self.stop = asyncio.Event()
        self.actions, self.weights = mix()

    async def run(self) -> None:
        import aiohttp

        # No connection limit: each attendee has at most one request and one websocket open, like a phone.
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(self.base_url, connector=connector, timeout=timeout) as session:
            tasks = [asyncio.create_task(self._user(session, self.first + i)) for i in range(self.count)]
            tasks.append(asyncio.create_task(self._lag()))
            await self.stop.wait()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _lag(self) -> None:
        # How late this event loop wakes up: that delay is in every client-side latency too.
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.05)
            self.rec.lag_at.append(round(time.time(), 3))
            self.rec.lag.append(round(time.perf_counter() - start - 0.05, 6))

    async def _call(self, session: Any, action: str, method: str, path: str, **kw: Any) -> tuple[int, bytes]:
        import aiohttp

        if self.spread_ips:
            kw["headers"] = {**kw.get("headers", {}), "X-Forwarded-For": client_ip(ATTENDEE.get())}
        start = time.perf_counter()
        try:
            async with session.request(method, path, **kw) as resp:
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError):
            self.rec.add(action, 0, time.perf_counter() - start)
            return 0, b""
        self.rec.add(action, status, time.perf_counter() - start)
        return status, body

    async def _login(self, session: Any, me: int) -> str | None:
        from app.seed import attendee_email

        status, body = await self._call(session, "login", "POST", "/v1/auth/login",
                                        json={"email": attendee_email(me), "password": PASSWORD})
        return json.loads(body).get("access_token") if status == 200 else None

    async def _user(self, session: Any, index: int) -> None:
        from app.seed import attendee_qr

        rng = random.Random(self.random.random())
        me = 1 + index % self.attendees
        ATTENDEE.set(me)  # this task's own context: every request it makes is this attendee's
        await asyncio.sleep(rng.uniform(0, self.ramp))  # attendees arrive over the ramp, not all at once
        token = None
        ws_task = None
        wants_ws = rng.random() < WEBSOCKET_SHARE
        try:
            while True:
                if token is None:
                    token = await self._login(session, me)
                    if token is None:
                        await asyncio.sleep(1.0)
                        continue
                    if wants_ws and ws_task is None:
                        ws_task = asyncio.create_task(self._websocket(session, token))
                auth = {"Authorization": f"Bearer {token}"}
                action = rng.choices(self.actions, self.weights)[0]
                other = 1 + rng.randrange(self.attendees)
                if other == me:
                    other = 1 + other % self.attendees
                if action == "sessions":
                    await self._call(session, action, "GET", "/v1/sessions")
                elif action == "messages":
                    await self._call(session, action, "GET", "/v1/messages", headers=auth)
                elif action == "rsvp":
                    await self._call(session, action, "POST", f"/v1/sessions/{1 + rng.randrange(36)}/rsvp",
                                     headers=auth)
                elif action == "connect":
                    await self._call(session, action, "POST", "/v1/connections", headers=auth,
                                     json={"qr_code": attendee_qr(other)})
                elif action == "send":
                    await self._call(session, action, "POST", "/v1/messages", headers=auth,
                                     json={"recipient_id": other, "body": "See you at the next session?"})
                elif action == "login":
                    token = await self._login(session, me) or token
                else:
                    await self._call(session, action, "GET", "/v1/ping")
                await asyncio.sleep(rng.expovariate(1 / self.think) if self.think > 0 else 0)
        finally:
            if ws_task is not None:
                ws_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await ws_task

    async def _websocket(self, session: Any, token: str) -> None:
        import aiohttp

        try:
            async with session.ws_connect(f"/v1/ws?token={token}", heartbeat=None) as ws:
                self.rec.ws["opened"] += 1
                while True:
                    await ws.send_str("ping")
                    while True:  # pushed messages may arrive before the pong
                        msg = await ws.receive(timeout=10)
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            raise ConnectionError(f"websocket closed: {msg.type}")
                        if msg.data == "pong":
                            self.rec.ws["pongs"] += 1
                            break
                        self.rec.ws["pushed"] += 1
                    await asyncio.sleep(WEBSOCKET_PING)
        except (aiohttp.ClientError, ConnectionError, TimeoutError):
            self.rec.ws["failed"] += 1


def worker_main(args: argparse.Namespace) -> int:
    """A generator child: runs until SIGTERM (or --max-seconds), then writes what it recorded to --out."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # the default loop works, with more client-side overhead
        pass

    gen = Generator(args.base_url, args.first, args.count, args.attendees, args.think, args.ramp, args.seed,
                    spread_ips=args.spread_ips)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, gen.stop.set)
        loop.call_later(args.max_seconds, gen.stop.set)
        await gen.run()

    asyncio.run(main())
    Path(args.out).write_text(json.dumps(gen.rec.dump()))
    return 0


# ================================================================================================
# Statistics
# ================================================================================================

def quantile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated quantile of raw values (numpy's default); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def bucketed_quantile(values: Sequence[float], q: float, bounds: Sequence[float]) -> float | None:
    """The q-quantile of `values` put into the API's histogram buckets and interpolated like histogram_quantile:
    what the monitor would report if the server had measured exactly what the client measured."""
    from monitor.core.promql import histogram_quantile

    if not values:
        return None
    counts = [0] * (len(bounds) + 1)
    for v in values:
        counts[bisect.bisect_left(bounds, v)] += 1  # le is inclusive
    cumulative, running = [], 0
    for bound, n in zip([*bounds, float("inf")], counts, strict=True):
        running += n
        cumulative.append((bound, float(running)))
    return histogram_quantile(q, cumulative)


def relative(a: float | None, b: float | None) -> float | None:
    """(a - b) / b."""
    return None if a is None or not b else (a - b) / b


# ================================================================================================
# The API's histogram from our own scrapes
# ================================================================================================

def scrape_buckets(base_url: str) -> dict[tuple[str, str], float]:
    """http_request_duration_seconds_bucket per (route, le), summed over method and status."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{base_url}/metrics", timeout=30).text
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "http_request_duration_seconds_bucket":
                key = (s.labels["route"], s.labels["le"])
                out[key] = out.get(key, 0.0) + s.value
    return out


def check_health(base_url: str) -> str:
    """GET /health: "ok", or which of the API's own checks failed and how."""
    import httpx

    try:
        resp = httpx.get(f"{base_url}/health", timeout=10)
        body = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        return type(exc).__name__
    if resp.status_code == 200:
        return "ok"
    failing = [f"{name}: {c.get('error')}" for name, c in body.get("checks", {}).items() if not c.get("ok")]
    return f"HTTP {resp.status_code} ({'; '.join(failing) or 'no check named'})"


def histogram_p(before: dict[tuple[str, str], float], after: dict[tuple[str, str], float], q: float,
                route: str | None = None) -> float | None:
    """histogram_quantile over the exact increase between two scrapes (no extrapolation), all routes or one."""
    import math

    from monitor.core.promql import histogram_quantile

    by_le: dict[str, float] = {}
    for (r, le), v in after.items():
        if route is None or r == route:
            by_le[le] = by_le.get(le, 0.0) + v - before.get((r, le), 0.0)
    result = histogram_quantile(q, by_le.items())
    return None if math.isnan(result) else result


class ScrapeLoop(threading.Thread):
    """Our own scrapes of the API's histogram every `every` s, stamped with the time of the answer, so the
    server's exact histogram over any window (the monitor's included) can be taken to within `every`."""

    def __init__(self, base_url: str, every: float = 2.0) -> None:
        super().__init__(daemon=True)
        self.base_url, self.every = base_url, every
        self.scrapes: list[tuple[float, dict[tuple[str, str], float]]] = []
        self.health: list[tuple[float, str]] = []  # our own look at /health: "ok" or why not
        self._halt = threading.Event()

    def health_between(self, start: float, end: float) -> dict[str, Any]:
        answers = [h for at, h in self.health if start <= at <= end]
        failed: dict[str, int] = {}
        for h in answers:
            if h != "ok":
                failed[h] = failed.get(h, 0) + 1
        return {"checks": len(answers), "failed": sum(failed.values()), "errors": failed}

    def run(self) -> None:
        while not self._halt.is_set():
            with contextlib.suppress(Exception):  # a scrape lost under load is only a coarser alignment
                buckets = scrape_buckets(self.base_url)
                self.scrapes.append((time.time(), buckets))
            self.health.append((time.time(), check_health(self.base_url)))
            self._halt.wait(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=40)

    def nearest(self, at: float) -> tuple[float, dict[tuple[str, str], float]] | None:
        return min(self.scrapes, key=lambda s: abs(s[0] - at), default=None)

    def over(self, start: float, end: float) -> dict[str, Any]:
        a, b = self.nearest(start), self.nearest(end)
        if a is None or b is None or a[0] >= b[0]:
            return {"start": None, "end": None, "p50_s": None, "p95_s": None, "p99_s": None, "routes": {}}
        return {"start": a[0], "end": b[0], "p50_s": histogram_p(a[1], b[1], 0.50),
                "p95_s": histogram_p(a[1], b[1], 0.95), "p99_s": histogram_p(a[1], b[1], 0.99),
                "routes": {r: histogram_p(a[1], b[1], 0.95, r) for r in sorted(set(ROUTE_OF.values()))}}


# ================================================================================================
# Resource sampling (psutil)
# ================================================================================================

@dataclass
class Sample:
    at: float
    cpu: dict[str, float]  # CPU seconds (user + system, own threads; waited-for children included) by role
    rss: dict[str, float]  # bytes
    cores: list[float]  # busy seconds per core since boot


class Sampler(threading.Thread):
    """Samples the CPU and memory of each role's processes every second."""

    def __init__(self, roles: dict[str, list[int]], every: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.roles, self.every = roles, every
        self.samples: list[Sample] = []
        self._halt = threading.Event()

    @staticmethod
    def _procs(pids: list[int], with_children: bool) -> list[Any]:
        import psutil

        out = []
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                p = psutil.Process(pid)
                out.append(p)
                if with_children:
                    out.extend(p.children(recursive=True))
        return out

    def sample(self) -> Sample:
        import psutil

        cpu: dict[str, float] = {}
        rss: dict[str, float] = {}
        for role, pids in self.roles.items():
            # PostgreSQL serves each connection in a child of the postmaster: count them all.
            procs = self._procs(pids, with_children=role == "postgres")
            c = m = 0.0
            for p in procs:
                with contextlib.suppress(psutil.Error):
                    t = p.cpu_times()
                    c += t.user + t.system + t.children_user + t.children_system
                    m += p.memory_info().rss
            cpu[role], rss[role] = c, m
        cores = [t.user + t.nice + t.system + t.irq + t.softirq + t.steal for t in psutil.cpu_times(percpu=True)]
        return Sample(time.time(), cpu, rss, cores)

    def run(self) -> None:
        while True:
            self.samples.append(self.sample())
            if self._halt.wait(self.every):
                return

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)

    def between(self, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if start <= s.at <= end]


def usage(samples: list[Sample]) -> dict[str, Any]:
    """CPU per role (cores used, CPU s per minute), RSS (mean/max MiB) and per-core busy share, first to last."""
    if len(samples) < 2:
        return {}
    first, last = samples[0], samples[-1]
    wall = last.at - first.at
    roles = {}
    for role in first.cpu:
        cpu = last.cpu[role] - first.cpu[role]
        rss = [s.rss[role] for s in samples]
        roles[role] = {"cpu_cores": round(cpu / wall, 3), "cpu_s_per_min": round(cpu / wall * 60, 2),
                       "rss_mib_mean": round(sum(rss) / len(rss) / 2**20, 1), "rss_mib_max": round(max(rss) / 2**20, 1),
                       "rss_mib_first": round(rss[0] / 2**20, 1), "rss_mib_last": round(rss[-1] / 2**20, 1)}
    cores = [round((b - a) / wall, 3) for a, b in zip(first.cores, last.cores, strict=True)]
    return {"wall_s": round(wall, 1), "roles": roles, "core_busy": cores}


# ================================================================================================
# The stack
# ================================================================================================

def pin(pid: int, core: int) -> None:
    """Every thread of `pid` onto one core; threads it starts later inherit it."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(tid), {core})


def monitor_config(directory: Path, window: float) -> Path:
    """monitor.yml with api_metrics every 5 s over `window`, in event mode (today is an event day)."""
    import yaml

    config = yaml.safe_load(MONITOR_YML.read_text())
    for target in config["targets"]["api_metrics"]:
        target.update(window=f"{window:g}s", interval=f"{SCRAPE_INTERVAL:g}s",
                      event_interval=f"{SCRAPE_INTERVAL:g}s", timeout=f"{SCRAPE_INTERVAL:g}s")
    today = dt.datetime.now(dt.UTC).date()
    config["event"] = {"start": (today - dt.timedelta(days=1)).isoformat(),
                       "end": (today + dt.timedelta(days=1)).isoformat(), "timezone": "UTC"}
    path = directory / "monitor.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass
class Stack:
    api_url: str
    monitor_url: str
    pids: dict[str, list[int]]
    store: Path
    notifications: Path


@contextlib.contextmanager
def stack(users: int, window: float, workdir: Path, pin_api: bool) -> Iterator[Stack]:
    from devstack.monitor import MonitorServer
    from devstack.process import free_port
    from devstack.stack import PrivateStack, Seed

    with contextlib.ExitStack() as es:
        private = es.enter_context(PrivateStack(seed=Seed(users, PASSWORD, SYNTHETIC_PASSWORD), log_dir=workdir,
                                                backup_dir=workdir / "backups"))  # so the backup check has one
        api = private.api
        assert api.pid is not None
        if pin_api:
            pin(api.pid, API_CORE)
        port = free_port()
        monitor_env = {
            **private.env(), "FRONTEND_URL": f"{api.url}/v1/ping", "DEPS_AUDIT": "false",
            "MONITOR_STORE": str(workdir / "monitor.sqlite3"),
            "NOTIFICATIONS_FILE": str(workdir / "notifications.jsonl"),
            "MONITOR_HOST": "127.0.0.1", "MONITOR_PORT": str(port),
        }
        monitor = es.enter_context(MonitorServer(monitor_config(workdir, window), port, env=monitor_env,
                                                 log_dir=str(workdir)))
        pids = private.pids()
        assert monitor.pid is not None and len(pids) == 3
        yield Stack(api.url, monitor.url, {"monitor": [monitor.pid], "api": [pids["api"]],
                                           "postgres": [pids["postgres"]], "redis": [pids["redis"]]},
                    workdir / "monitor.sqlite3", workdir / "notifications.jsonl")


@contextlib.contextmanager
def generators(base_url: str, users: int, procs: int, think: float, ramp: float, max_seconds: float,
               workdir: Path, pin_generator: bool, spread_ips: bool = False
               ) -> Iterator[list[tuple[subprocess.Popen[bytes], Path]]]:
    started: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        per = -(-users // procs)
        for i in range(procs):
            first, count = i * per, min(per, users - i * per)
            out = workdir / f"generator-{i}.json"
            cmd = [sys.executable, "-m", "bench.event_load", "--worker", "--base-url", base_url,
                   "--first", str(first), "--count", str(count), "--attendees", str(users), "--think", str(think),
                   "--ramp", str(ramp), "--seed", str(1000 + i), "--max-seconds", str(max_seconds),
                   "--out-file", str(out)] + (["--spread-ips"] if spread_ips else [])
            if pin_generator:
                cmd = ["taskset", "-c", str(GENERATOR_CORE), *cmd]  # taskset execs in place: same PID
            log = open(workdir / f"generator-{i}.log", "wb")  # noqa: SIM115 - the child writes to it
            started.append((subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT), out))
            log.close()
        yield started
    finally:
        for proc, _ in started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in started:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


# ================================================================================================
# Reading the monitor
# ================================================================================================

def monitor_signals(monitor_url: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The api-metrics target's latest observations, by (signal, route or '')."""
    import httpx

    out = {}
    for s in httpx.get(f"{monitor_url}/api/signals", timeout=10).json()["signals"]:
        if s["labels"].get("target") == TARGET:
            out[(s["signal"], s["labels"].get("route", ""))] = s
    return out


def wait_for_monitor(monitor_url: str, after: float, timeout: float) -> dict[tuple[str, str], dict[str, Any]]:
    """The first api-metrics observations stamped at or after `after`."""
    deadline = time.time() + timeout
    while True:
        signals = monitor_signals(monitor_url)
        p95 = signals.get(("api_latency_p95_seconds", "*"))
        if p95 is not None and p95["timestamp"] >= after:
            return signals
        if time.time() > deadline:
            raise TimeoutError(f"the monitor reported no api_latency_p95_seconds for {TARGET} after "
                               f"{dt.datetime.fromtimestamp(after, dt.UTC):%H:%M:%S} within {timeout:g}s")
        time.sleep(0.25)


def scrape_times(store: Path, end: float, window: float) -> dict[str, Any]:
    """The monitor's api-metrics runs in its window ending at `end`, from its own store: the scrapes its rate()
    used (first and last), the failed ones, and how long the first and last took to answer."""
    from monitor.core.promql import to_ms

    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        def series(signal: str, labels: dict[str, str]) -> list[tuple[float, float | None]]:
            key = json.dumps(dict(sorted(labels.items())), separators=(",", ":"))
            return [(float(ts), v) for ts, v in db.execute(
                "SELECT s.ts, s.value FROM samples s JOIN series r ON r.id = s.series_id "
                "WHERE r.signal = ? AND r.labels = ? AND s.ts >= ? AND s.ts <= ? ORDER BY s.ts",
                (signal, key, end - window - 10, end + 10)).fetchall()]

        up = series("api_up", {"target": TARGET})
        durations = series("probe_duration_seconds", {"target": TARGET, "kind": "api_metrics"})
    finally:
        db.close()
    oldest = to_ms(end) - to_ms(window)
    inside = [(ts, v) for ts, v in up if oldest <= to_ms(ts) <= to_ms(end)]
    ok = [ts for ts, v in inside if v == 1]

    def took(at: float | None) -> float | None:
        # The scheduler stamps the run's duration at its start, a moment before the probe's own clock reading.
        near = min(durations, key=lambda d: abs(d[0] - at), default=None) if at is not None else None
        return None if near is None or near[1] is None or abs(near[0] - at) > 1 else round(near[1], 3)  # type: ignore[operator]

    first, last = (min(ok), max(ok)) if ok else (None, None)
    return {"scrapes_ok": len(ok), "scrapes_failed": len(inside) - len(ok), "first": first, "last": last,
            "first_took_s": took(first), "last_took_s": took(last),
            "took_max_s": round(max((d for _, d in durations if d is not None), default=0.0), 3)}


def health_checks(store: Path, start: float, end: float) -> dict[str, Any]:
    """The monitor's api-health checks (http_up) between start and end: how many, how many failed, and why."""
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT s.value, s.error FROM samples s JOIN series r ON r.id = s.series_id "
            "WHERE r.signal = 'http_up' AND r.labels = ? AND s.ts >= ? AND s.ts <= ?",
            (json.dumps({"target": "api-health"}, separators=(",", ":")), start, end)).fetchall()
    finally:
        db.close()
    errors: dict[str, int] = {}
    for v, err in rows:
        if v != 1:
            why = f"error {err!r}"
            errors[why] = errors.get(why, 0) + 1
    return {"checks": len(rows), "failed": sum(errors.values()), "errors": errors}


def notifications(path: Path, load_start: float) -> list[dict[str, Any]]:
    """What the monitor sent (its JSON-lines file): when, in s from the start of the load, and the headline."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        note = json.loads(line)
        text = str(note.get("text", "")).splitlines()
        out.append({"at_s": round(float(note.get("created_at", load_start)) - load_start, 1),
                    "headline": text[0] if text else str(note.get("group", ""))})
    return out


# ================================================================================================
# The run
# ================================================================================================

@dataclass
class Settings:
    users: int
    procs: int
    think: float
    warmup: float
    ramp: float
    window: float
    pin: bool
    quick: bool
    keep: bool


def load_records(paths: list[Path]) -> dict[str, Any]:
    merged: dict[str, Any] = {"done": [], "latency": [], "status": [], "action": [], "lag_at": [], "lag": [],
                              "ws": {}}
    for path in paths:
        if not path.exists():
            log = path.with_suffix(".log")
            raise RuntimeError(f"a load generator wrote no results ({path.name}); its log ends with:\n"
                               + (log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"))
        data = json.loads(path.read_text())
        for key in ("done", "latency", "status", "action", "lag_at", "lag"):
            merged[key].extend(data[key])
        for k, v in data["ws"].items():
            merged["ws"][k] = merged["ws"].get(k, 0) + v
    return merged


def client_window(rec: dict[str, Any], start: float, end: float) -> dict[str, Any]:
    """The client's view of (start, end]: latencies of answered requests, statuses, per route."""
    from app.metrics import LATENCY_BUCKETS

    lat: list[float] = []
    by_route: dict[str, list[float]] = {}
    statuses: dict[str, int] = {}
    for done, latency, status, action in zip(rec["done"], rec["latency"], rec["status"], rec["action"], strict=True):
        if not start < done <= end:
            continue
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        if status == 0:
            continue  # no answer: the server did not time it either
        lat.append(latency)
        by_route.setdefault(ROUTE_OF[ACTIONS[action]], []).append(latency)
    total = sum(statuses.values())
    server_errors = sum(n for s, n in statuses.items() if s.startswith("5"))
    lags = [lag for at, lag in zip(rec["lag_at"], rec["lag"], strict=True) if start < at <= end]
    return {
        "start": start, "end": end, "requests": total, "answered": len(lat),
        "requests_per_s": round(total / (end - start), 1),
        "statuses": dict(sorted(statuses.items())),
        "error_ratio_5xx": round(server_errors / total, 5) if total else None,
        "error_ratio_5xx_or_no_answer": round((server_errors + statuses.get("0", 0)) / total, 5) if total else None,
        "p50_s": quantile(lat, 0.50), "p95_s": quantile(lat, 0.95), "p99_s": quantile(lat, 0.99),
        "p95_bucketed_s": bucketed_quantile(lat, 0.95, LATENCY_BUCKETS),
        "p50_bucketed_s": bucketed_quantile(lat, 0.50, LATENCY_BUCKETS),
        "p99_bucketed_s": bucketed_quantile(lat, 0.99, LATENCY_BUCKETS),
        "routes": {r: {"requests": len(v), "p95_s": quantile(v, 0.95),
                       "p95_bucketed_s": bucketed_quantile(v, 0.95, LATENCY_BUCKETS)}
                   for r, v in sorted(by_route.items())},
        "generator_loop_lag_p95_s": quantile(lags, 0.95), "generator_loop_lag_max_s": max(lags, default=None),
    }


def value(signals: dict[tuple[str, str], dict[str, Any]], name: str, route: str = "") -> float | None:
    s = signals.get((name, route))
    return None if s is None or s["value"] is None else float(s["value"])


def timeline(rec: dict[str, Any], samples: list[Sample], start: float, end: float, step: float) -> list[dict[str, Any]]:
    """Per `step` s from the load's start: the client's rate, p50, p95 and errors, and the API's CPU."""
    rows = []
    at = start
    while at < end - 1:
        until = min(at + step, end)
        lat = [lt for d, lt, st in zip(rec["done"], rec["latency"], rec["status"], strict=True)
               if at < d <= until and st != 0]
        statuses = [st for d, st in zip(rec["done"], rec["status"], strict=True) if at < d <= until]
        inside = [x for x in samples if at <= x.at <= until]
        api = None
        if len(inside) > 1:
            api = (inside[-1].cpu["api"] - inside[0].cpu["api"]) / (inside[-1].at - inside[0].at)
        rows.append({"from_s": round(at - start), "requests_per_s": round(len(statuses) / (until - at), 1),
                     "p50_s": quantile(lat, 0.5), "p95_s": quantile(lat, 0.95),
                     "errors_5xx": sum(1 for st in statuses if st >= 500), "no_answer": statuses.count(0),
                     "api_cores": None if api is None else round(api, 3)})
        at = until
    return rows


def run(cfg: Settings) -> dict[str, Any]:
    started = dt.datetime.now(dt.UTC)
    t_start = time.monotonic()
    load_before = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="converge-event-load-"))
    report: dict[str, Any] = {"started_at": started.isoformat(timespec="seconds"), "loadavg_before": load_before}
    try:
        with stack(cfg.users, cfg.window, workdir, cfg.pin) as st:
            report["setup_s"] = round(time.monotonic() - t_start, 1)
            print(f"stack up in {report['setup_s']} s: API {st.api_url}, monitor {st.monitor_url}; "
                  f"{cfg.users} users from {cfg.procs} generator process(es), think {cfg.think:g} s", flush=True)
            # The generators stop on SIGTERM, or by themselves past the longest possible run.
            max_seconds = cfg.warmup + cfg.window + 4 * SCRAPE_INTERVAL + 30
            with generators(st.api_url, cfg.users, cfg.procs, cfg.think, cfg.ramp, max_seconds, workdir,
                            cfg.pin) as gens:
                sampler = Sampler({**st.pids, "generator": [p.pid for p, _ in gens]})
                scraper = ScrapeLoop(st.api_url)
                sampler.start()
                scraper.start()
                load_start = time.time()
                time.sleep(cfg.warmup)
                t0 = time.time()
                print(f"warm-up done ({cfg.warmup:g} s); measuring {cfg.window:g} s ...", flush=True)
                time.sleep(cfg.window)
                t1 = time.time()
                # The monitor's first run at or after t1 covers [T - window, T]: all of it after the warm-up.
                signals = wait_for_monitor(st.monitor_url, t1, 3 * SCRAPE_INTERVAL + 10)
                time.sleep(1.0)  # one more of our own scrapes past the monitor's last one
                t_read = time.time()
                sampler.stop()
                scraper.stop()
            records = load_records([out for _, out in gens])
            end = float(signals[("api_latency_p95_seconds", "*")]["timestamp"])
            scrapes = scrape_times(st.store, end, cfg.window)
            report["notifications"] = notifications(st.notifications, load_start)
            report["health_checks"] = {"warmup": health_checks(st.store, load_start, t0),
                                       "measured": health_checks(st.store, t0, end),
                                       "ours_warmup": scraper.health_between(load_start, t0),
                                       "ours_measured": scraper.health_between(t0, end)}
    finally:
        if cfg.keep:
            print(f"kept the run's files in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report["loadavg_after"] = os.getloadavg()
    report["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    report["run_s"] = round(time.monotonic() - t_start, 1)
    report["timeline"] = {"load_start": load_start, "t0": t0, "t1": t1, "monitor_observation": end,
                          "monitor_read": t_read}
    report["monitor_scrapes"] = scrapes

    # The monitor's rate() sees the counters' increase from its first scrape in the window to its last (T).
    first = scrapes["first"] or end - cfg.window
    report["client_monitor_window"] = client_window(records, first, end)
    report["client_nominal_window"] = client_window(records, t0, t1)
    # Each scrape is stamped when the probe starts but reads the counters when the API answers it.
    report["client_monitor_window_answer_times"] = client_window(
        records, first + (scrapes["first_took_s"] or 0.0), end + (scrapes["last_took_s"] or 0.0))
    report["server_monitor_window"] = scraper.over(first, end)
    report["websockets"] = records["ws"]
    mon: dict[str, Any] = {k: value(signals, k, "*") for k in ("api_latency_p50_seconds", "api_latency_p95_seconds",
                                                              "api_latency_p99_seconds")}
    for k in ("api_requests_per_minute", "api_error_ratio", "api_cpu_ratio", "api_requests_in_flight",
              "api_websocket_connections", "api_db_pool_utilization", "api_db_pool_waiting", "api_memory_ratio"):
        mon[k] = value(signals, k)
    mon["routes_p95"] = {r: value(signals, "api_latency_p95_seconds", r) for r in sorted(set(ROUTE_OF.values()))}
    mon["timestamp"] = end
    report["monitor"] = mon
    report["resources"] = usage(sampler.between(t0, t_read))
    report["resources_warmup"] = usage(sampler.between(load_start, t0))
    report["per_interval"] = timeline(records, sampler.samples, load_start, end, 15.0)
    report["agreement"] = agreement(report)
    return report


def agreement(report: dict[str, Any]) -> dict[str, Any]:
    client = report["client_monitor_window"]
    server = report["server_monitor_window"]
    mon = report["monitor"]["api_latency_p95_seconds"]
    diff = relative(mon, client["p95_s"])
    return {
        "client_p95_s": client["p95_s"],
        "monitor_p95_s": mon,
        "monitor_vs_client": diff,
        "within_goal": diff is not None and abs(diff) <= GOAL,
        # The steps between the two: the buckets' interpolation; what the server times vs what the client
        # times (same buckets); the monitor's own arithmetic (extrapolated rates) vs the exact increase;
        # and the window: nominal instead of the monitor's, or shifted to when its scrapes were answered.
        "bucketing": relative(client["p95_bucketed_s"], client["p95_s"]),
        "server_vs_client_bucketed": relative(server["p95_s"], client["p95_bucketed_s"]),
        "monitor_vs_server_exact": relative(mon, server["p95_s"]),
        "nominal_window_vs_monitor_window": relative(report["client_nominal_window"]["p95_s"], client["p95_s"]),
        "answer_times_vs_monitor_window": relative(report["client_monitor_window_answer_times"]["p95_s"],
                                                   client["p95_s"]),
        "goal": GOAL,
    }


# ================================================================================================
# Machine and report
# ================================================================================================

def machine() -> dict[str, Any]:
    import psutil

    from devstack.postgres import _pg_bindir

    cpu_model = machine_cpu_model()
    packages = ("fastapi", "uvicorn", "uvloop", "httptools", "psycopg", "psycopg-pool", "redis", "aiohttp",
                "prometheus_client", "psutil", "argon2-cffi")
    return {
        "nproc": os.cpu_count(), "cpu_model": cpu_model, "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(), "hostname": socket.gethostname(), "python": platform.python_version(),
        "postgres": _tool_version([os.path.join(_pg_bindir(), "postgres"), "--version"]),
        "redis": _tool_version(["redis-server", "--version"]),
        "packages": {p: _version(p) for p in packages}, "shared_machine": True,
    }


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 1000:.1f}"


def _pct(v: float | None, signed: bool = True) -> str:
    return "n/a" if v is None else (f"{v:+.1%}" if signed else f"{v:.1%}")


def _ts(epoch: float | None) -> str:
    return "n/a" if epoch is None else f"{dt.datetime.fromtimestamp(epoch, dt.UTC):%H:%M:%S}"


def markdown(report: dict[str, Any]) -> str:
    s, mach, a = report["settings"], report["machine"], report["agreement"]
    cw, nw, aw = report["client_monitor_window"], report["client_nominal_window"], \
        report["client_monitor_window_answer_times"]
    srv, mon, sc = report["server_monitor_window"], report["monitor"], report["monitor_scrapes"]
    res = report["resources"].get("roles", {})
    cores = report["resources"].get("core_busy", [])
    pinned = s["pin"]
    lines = [
        "# Event load: 500 attendees on the API, the monitor watching",
        "",
        f"Run {report['started_at']} .. {report['finished_at']} UTC ({report['run_s']:.0f} s"
        f"{', --quick' if s['quick'] else ''}). {s['users']} virtual attendees from {s['procs']} generator "
        f"processes (aiohttp + uvloop{f', pinned to core {GENERATOR_CORE}' if pinned else ''}), the event-day mix of "
        f"devstack.traffic plus 1% fresh logins, think time exponential with mean {s['think']:g} s, "
        f"{WEBSOCKET_SHARE:.0%} of them with a live websocket. Arrivals ramped over {s['ramp']:g} s, "
        f"{s['warmup']:g} s warm-up, then {s['window']:g} s measured. The API: one uvicorn worker"
        f"{f' pinned to core {API_CORE}' if pinned else ''}; PostgreSQL, Redis and the monitor unpinned. The monitor: "
        f"monitor.yml on this stack in event mode, api_metrics every {SCRAPE_INTERVAL:g} s over a {s['window']:g} s "
        "window.",
        "",
        f"Machine: {mach['nproc']} CPUs ({mach['cpu_model']}), {mach['memory_gib']} GiB, Linux {mach['kernel']}, "
        f"Python {mach['python']}, {mach['postgres']}, Redis {mach['redis'].split()[2].removeprefix('v=')}. "
        f"Load average before/after: {loadavg_text(report['loadavg_before'], report['loadavg_after'])}.",
        "",
        packages_text(mach["packages"]),
        "",
        f"**Note:** {SHARED_NOTE}",
        "",
        "## p95 latency: the generator vs the monitor",
        "",
        f"The monitor's reading: its api-metrics run at {_ts(mon['timestamp'])} UTC, read from /api/signals. Its "
        f"rate() used {sc['scrapes_ok']} scrapes ({sc['scrapes_failed']} failed) from {_ts(cw['start'])}, so the "
        f"generator's side is every request completed in exactly those {cw['end'] - cw['start']:.0f} s: "
        f"{cw['requests']} requests.",
        "",
        "| | p50 ms | p95 ms | p99 ms | p95 vs generator |",
        "|---|---:|---:|---:|---:|",
        f"| generator: client-side latencies, monitor's window | {_ms(cw['p50_s'])} | **{_ms(cw['p95_s'])}** | "
        f"{_ms(cw['p99_s'])} | |",
        f"| **monitor**: `api_latency_p50/p95/p99_seconds{{route=\"*\"}}` | {_ms(mon['api_latency_p50_seconds'])} | "
        f"**{_ms(mon['api_latency_p95_seconds'])}** | {_ms(mon['api_latency_p99_seconds'])} | "
        f"**{_pct(a['monitor_vs_client'])}** |",
        f"| generator's latencies in the API's buckets, interpolated | {_ms(cw['p50_bucketed_s'])} | "
        f"{_ms(cw['p95_bucketed_s'])} | {_ms(cw['p99_bucketed_s'])} | {_pct(a['bucketing'])} |",
        f"| API's histogram, exact increase between our own scrapes at {_ts(srv['start'])} and {_ts(srv['end'])} "
        f"| {_ms(srv['p50_s'])} | {_ms(srv['p95_s'])} | {_ms(srv['p99_s'])} | "
        f"{_pct(relative(srv['p95_s'], cw['p95_s']))} |",
        f"| generator, window moved to when the monitor's scrapes were answered (+{sc['first_took_s']} s / "
        f"+{sc['last_took_s']} s) | {_ms(aw['p50_s'])} | {_ms(aw['p95_s'])} | {_ms(aw['p99_s'])} | "
        f"{_pct(a['answer_times_vs_monitor_window'])} |",
        f"| generator, nominal window ({_ts(nw['start'])}, {s['window']:g} s after the warm-up) | {_ms(nw['p50_s'])} | "
        f"{_ms(nw['p95_s'])} | {_ms(nw['p99_s'])} | {_pct(a['nominal_window_vs_monitor_window'])} |",
        "",
        f"**Agreement: the monitor's p95 is {_pct(a['monitor_vs_client'])} from the generator's over the same "
        f"window: {'within' if a['within_goal'] else 'NOT within'} the {GOAL:.0%} goal.** In steps: bucket "
        f"interpolation {_pct(a['bucketing'])}; server-side timing vs client-side, same buckets "
        f"{_pct(a['server_vs_client_bucketed'])}; the monitor's extrapolated rates vs the exact increase "
        f"{_pct(a['monitor_vs_server_exact'])}. Generator event-loop lag in the window: p95 "
        f"{_ms(cw['generator_loop_lag_p95_s'])} ms, max {_ms(cw['generator_loop_lag_max_s'])} ms.",
        "",
        "Per route, p95 ms (the monitor's per-route series of the same run):",
        "",
        "| route | requests | generator | generator, bucketed | API histogram, exact | monitor "
        "| monitor vs generator |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for route, r in cw["routes"].items():
        m = mon["routes_p95"].get(route)
        lines.append(f"| `{route}` | {r['requests']} | {_ms(r['p95_s'])} | {_ms(r['p95_bucketed_s'])} | "
                     f"{_ms(srv['routes'].get(route))} | {_ms(m)} | {_pct(relative(m, r['p95_s']))} |")
    rpm = mon["api_requests_per_minute"]
    ws = report["websockets"]
    lines += [
        "",
        "## Throughput and errors (monitor's window)",
        "",
        "| | requests/s | 5xx ratio | no answer | statuses |",
        "|---|---:|---:|---:|---|",
        f"| generator | {cw['requests_per_s']} | {_pct(cw['error_ratio_5xx'], False)} | "
        f"{cw['statuses'].get('0', 0)} | {', '.join(f'{k}: {v}' for k, v in cw['statuses'].items())} |",
        f"| monitor: `api_requests_per_minute` / 60, `api_error_ratio` | "
        f"{'n/a' if rpm is None else f'{rpm / 60:.1f}'} | {_pct(mon['api_error_ratio'], False)} | | |",
        "",
        f"Websockets: {ws.get('opened', 0)} opened, {ws.get('failed', 0)} dropped or refused; the monitor's "
        f"`api_websocket_connections` {mon['api_websocket_connections']}. The monitor's `api_cpu_ratio` "
        f"{_pct(mon['api_cpu_ratio'], False)}, `api_db_pool_utilization` "
        f"{_pct(mon['api_db_pool_utilization'], False)}, `api_requests_in_flight` {mon['api_requests_in_flight']}.",
        "",
        f"The monitor's api-health checks (`/health`: the API's own PostgreSQL and Redis checks, 1 s budget each): "
        f"warm-up {_checks(report['health_checks']['warmup'])}; measured window "
        f"{_checks(report['health_checks']['measured'])}. Our own look at `/health` every 2 s: warm-up "
        f"{_checks(report['health_checks']['ours_warmup'])}; measured window "
        f"{_checks(report['health_checks']['ours_measured'])}. These 503 answers are in the API's counters (and so "
        "in the monitor's error ratio) but not in the generator's.",
        "",
        "## Resources while measured",
        "",
        f"psutil every second over the {report['resources'].get('wall_s', 0)} s from the end of the warm-up to the "
        "read. CPU = user + system (PostgreSQL: the postmaster and every backend).",
        "",
        "| process | CPU s per minute | cores | RSS mean MiB | RSS max MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    for role in ("monitor", "api", "generator", "postgres", "redis"):
        r = res.get(role)
        if r:
            name = "**monitor**" if role == "monitor" else role
            lines.append(f"| {name} | {r['cpu_s_per_min']:.1f} | {r['cpu_cores']:.2f} | {r['rss_mib_mean']:.0f} | "
                         f"{r['rss_mib_max']:.0f} |")
    lines += ["", "Cores busy (the whole machine, every process, other engineers' included): "
              + ", ".join(f"core {i} {c:.0%}" for i, c in enumerate(cores)) + ".",
              "", "## Every 15 s from the start of the load", "",
              "| from s | requests/s | p50 ms | p95 ms | 5xx | no answer | API cores |",
              "|---:|---:|---:|---:|---:|---:|---:|"]
    for row in report["per_interval"]:
        lines.append(f"| {row['from_s']} | {row['requests_per_s']} | {_ms(row['p50_s'])} | {_ms(row['p95_s'])} | "
                     f"{row['errors_5xx']} | {row['no_answer']} | {_fmt(row['api_cores'], '.2f')} |")
    notes = report["notifications"]
    measured = report["timeline"]["t0"] - report["timeline"]["load_start"]
    lines += ["", f"Notifications the monitor sent during the run ({len(notes)}; s from the start of the load, "
              f"the measured window starts at {measured:.0f} s):" if notes else
              "The monitor sent no notification during the run.", ""]
    lines += [f"- {n['at_s']:.0f} s: {n['headline']}" for n in notes]
    return "\n".join(lines) + "\n"


def _checks(h: dict[str, Any]) -> str:
    why = ", ".join(f"{n}x {e}" for e, n in h["errors"].items())
    return f"{h['failed']} of {h['checks']} failed" + (f" ({why})" if why else "")


def _fmt(v: float | None, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.event_load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=500, help="concurrent virtual attendees (default 500)")
    parser.add_argument("--procs", type=int, default=2, help="generator processes (default 2)")
    parser.add_argument("--think", type=float, default=2.0, help="mean pause between actions, s (default 2)")
    parser.add_argument("--warmup", type=float, default=60.0,
                        help="load before measuring, s; arrivals ramp over its first 2/3 (default 60)")
    parser.add_argument("--window", type=float, default=180.0, help="measured window, s (default 180)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the API and the generator to cores")
    parser.add_argument("--quick", action="store_true",
                        help="smoke check under 2 min: 30 s warm-up, 45 s window; writes event_load-quick.*")
    parser.add_argument("--keep", action="store_true", help="keep the run's logs, store and records (prints where)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the results files")
    # The generator child.
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--attendees", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--ramp", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--max-seconds", type=float, default=600.0, help=argparse.SUPPRESS)
    parser.add_argument("--out-file", dest="out_file", help=argparse.SUPPRESS)
    parser.add_argument("--spread-ips", action="store_true", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args(argv)
    if args.worker:
        args.out = args.out_file or str(args.out)
        return worker_main(args)
    if args.quick:
        args.warmup, args.window = 30.0, 45.0
    if args.users < 1 or args.procs < 1 or args.procs > args.users:
        parser.error("--users must be >= 1 and --procs between 1 and --users")
    if args.think < 0 or args.warmup < 10 or args.window < 3 * SCRAPE_INTERVAL:
        parser.error(f"--think must be >= 0, --warmup >= 10 s and --window >= {3 * SCRAPE_INTERVAL:g} s")
    pin_cores = not args.no_pin
    if pin_cores and not {API_CORE, GENERATOR_CORE} <= os.sched_getaffinity(0):
        parser.error(f"needs cores {API_CORE} and {GENERATOR_CORE} (or --no-pin)")
    cfg = Settings(args.users, args.procs, args.think, args.warmup, ramp=round(args.warmup * 2 / 3, 1),
                   window=args.window, pin=pin_cores, quick=args.quick, keep=args.keep)
    estimate = 15 + cfg.warmup + cfg.window + SCRAPE_INTERVAL + 15
    print(f"event load: {cfg.users} users, {cfg.warmup:g} s warm-up + {cfg.window:g} s window; "
          f"about {estimate / 60:.1f} min", flush=True)
    report: dict[str, Any] = {"benchmark": "event_load", "settings": {**vars(cfg), "goal": GOAL,
                                                                      "scrape_interval_s": SCRAPE_INTERVAL,
                                                                      "websocket_share": WEBSOCKET_SHARE,
                                                                      "login_weight": LOGIN_WEIGHT},
                              "machine": machine(), "note": SHARED_NOTE}
    report.update(run(cfg))
    write_results(args.out, "event_load", args.quick, report, markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
