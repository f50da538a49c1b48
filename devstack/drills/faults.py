"""How each drill's fault is injected and removed.

A Fault has four steps: precheck (why it cannot run here, if so), inject (start the fault; may leave
work running in the background), tick (called while waiting for the alert: keep the fault up), and
remove (undo it; idempotent, also called on failure and Ctrl-C). Thresholds come from the stack's
effective rules, so the same drill works with the drill's own config and with any other.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import redis as redis_lib
from prometheus_client.parser import text_string_to_metric_families

from devstack.drills.load import FLOOD_IP, BackgroundLoad, PacedFlood, flood
from devstack.drills.stack import Stack

KEY_PREFIX = "converge:ipreq:"  # app/ipcount.py
FILL_PREFIX = "converge:drill:fill:"
FILL_CHUNK = 256 * 1024
FILL_TTL = 600  # seconds: leftovers of an interrupted drill expire by themselves
POOL_HOLD_MS = 300
POOL_PREFIX = "/v1/sessions/999999/"  # a session id the traffic never uses: only the drill's requests hold


class Fault:
    note = ""  # what the row should say about how the fault was removed, if anything

    def precheck(self, stack: Stack) -> str | None:
        return None

    def prepare(self, stack: Stack) -> None:
        """What must be true before the fault starts (its history); not part of the measured time."""

    def inject(self, stack: Stack) -> None:
        raise NotImplementedError

    def tick(self, stack: Stack) -> None:
        pass

    def remove(self, stack: Stack) -> None:
        raise NotImplementedError


class StopProcess(Fault):
    def __init__(self, which: str) -> None:
        self.which = which
        self._stopped = False

    def inject(self, stack: Stack) -> None:
        self._stopped = True
        stack.controls[self.which].stop()

    def remove(self, stack: Stack) -> None:
        if self._stopped:
            stack.controls[self.which].start()
            self._stopped = False


class SlowQueries(Fault):
    """Statements slower than the probe's slow_query_ms, one after another on one connection."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def precheck(self, stack: Stack) -> str | None:
        try:
            with psycopg.connect(_dsn(stack), autocommit=True, connect_timeout=5) as conn:
                conn.execute("SELECT 1 FROM pg_stat_statements LIMIT 1")
        except psycopg.Error as exc:
            return f"pg_stat_statements is not usable in the database ({type(exc).__name__})"
        return None

    def inject(self, stack: Stack) -> None:
        seconds = round(stack.config.database[0].slow_query_ms / 1000 * 1.2, 3)
        dsn = _dsn(stack)

        def run() -> None:
            try:
                with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
                    while not self._stop.is_set():
                        conn.execute("SELECT pg_sleep(%s)", (seconds,))
            except psycopg.Error as exc:
                self.note = f"the slow statements failed: {type(exc).__name__}"

        self._thread = threading.Thread(target=run, name="drill-slow-queries", daemon=True)
        self._thread.start()

    def remove(self, stack: Stack) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)  # the statement in flight must finish before the reset, or it counts
            self._thread = None
            with psycopg.connect(_dsn(stack), autocommit=True, connect_timeout=5) as conn:
                conn.execute("SELECT pg_stat_statements_reset()")


class SlowStatement(Fault):
    """A statement with a fast history (FAST_CALLS calls of 1 ms) that turns slow (SLOW_SECONDS a call) and stays
    slow until removed. pg_stat_statements' lifetime mean stays far below slow_query_ms for a while: only a
    probe that reads the calls since its previous run sees it. No statistics reset on removal: the monitor must
    see the statement turn fast again by itself."""

    FAST_CALLS, SLOW_SECONDS = 300, 1.5

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def precheck(self, stack: Stack) -> str | None:
        return SlowQueries().precheck(stack)

    def prepare(self, stack: Stack) -> None:
        # The fast history, then one probe run so that it is history: the fault starts when the statement turns slow.
        with psycopg.connect(_dsn(stack), autocommit=True, connect_timeout=5) as conn:
            for _ in range(self.FAST_CALLS):
                conn.execute("SELECT pg_sleep(%s)", (0.001,))
        time.sleep(stack.probe_interval("postgres") + 1)

    def inject(self, stack: Stack) -> None:
        dsn = _dsn(stack)

        def run() -> None:
            try:
                with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
                    while not self._stop.is_set():
                        conn.execute("SELECT pg_sleep(%s)", (self.SLOW_SECONDS,))
            except psycopg.Error as exc:
                self.note = f"the slow statements failed: {type(exc).__name__}"

        self._thread = threading.Thread(target=run, name="drill-slow-statement", daemon=True)
        self._thread.start()

    def remove(self, stack: Stack) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None


class PoolExhaustion(Fault):
    """Pool size + 3 clients in a loop, each request holding a pool connection for POOL_HOLD_MS."""

    def __init__(self) -> None:
        self._load: BackgroundLoad | None = None

    def inject(self, stack: Stack) -> None:
        assert stack.api_url is not None
        pool_max = _pool_max(stack.api_url)
        stack.set_faults(latency_ms=POOL_HOLD_MS, hold_connection=True, prefix=POOL_PREFIX)
        self._load = BackgroundLoad(stack.api_url, "POST", f"{POOL_PREFIX}rsvp", concurrency=pool_max + 3).start()

    def remove(self, stack: Stack) -> None:
        _stop_load(self._load)
        self._load = None
        stack.set_faults()


class ApiFault(Fault):
    """A /internal/faults setting on /v1/, with a steady load on /v1/sessions so there are requests to see it."""

    def __init__(self, spec: Callable[[Stack], dict[str, object]], pause: float) -> None:
        self.spec = spec
        self.pause = pause
        self._load: BackgroundLoad | None = None

    def inject(self, stack: Stack) -> None:
        assert stack.api_url is not None
        stack.set_faults(**self.spec(stack))
        self._load = BackgroundLoad(stack.api_url, "GET", "/v1/sessions", concurrency=4, pause=self.pause).start()

    def remove(self, stack: Stack) -> None:
        stack.set_faults()  # first: the load's in-flight requests end at once
        _stop_load(self._load)
        self._load = None


def latency_spec(stack: Stack) -> dict[str, object]:
    """A delay well above the p95 threshold (1.5 s in the event -> 2.25 s): an interpolated p95 clears it."""
    p = stack.params("LatencyP95High")
    threshold = p.threshold if p is not None and p.threshold is not None else 1.5
    return {"latency_ms": int(min(10.0, max(threshold * 1.5, threshold + 0.5)) * 1000), "prefix": "/v1/"}


def error_spec(stack: Stack) -> dict[str, object]:
    p = stack.params("ErrorRateCritical")
    threshold = p.threshold if p is not None and p.threshold is not None else 0.1
    return {"error_ratio": min(1.0, max(0.5, threshold * 3)), "prefix": "/v1/"}


def fixed(**spec: object) -> Callable[[Stack], dict[str, object]]:
    """A fault of the size the spec names, whatever the config's thresholds."""
    return lambda stack: dict(spec)


def journey_step_spec(stack: Stack) -> dict[str, object]:
    """Every QR scan fails: the journey's qr-connect step, and only it (the other routes keep working)."""
    return {"error_ratio": 1.0, "prefix": "/v1/connections"}


class IpFlood(Fault):
    """Requests from one IP until its per-minute count is 30% over the threshold; removal drops its count."""

    def __init__(self) -> None:
        self.note = ""

    def _client(self, stack: Stack) -> redis_lib.Redis:
        assert stack.redis_url is not None
        return redis_lib.Redis.from_url(stack.redis_url, socket_timeout=5)

    def _goal(self, stack: Stack) -> int:
        p = stack.params("DdosSuspected")
        threshold = p.threshold if p is not None and p.threshold is not None else 10000
        return int(threshold * 1.3) + 20

    def _top(self, stack: Stack) -> float:
        with self._client(stack) as r:
            top = r.zrevrange(f"{KEY_PREFIX}{int(time.time() // 60)}", 0, 0, withscores=True)
        return float(top[0][1]) if top else 0.0

    def precheck(self, stack: Stack) -> str | None:
        return None if stack.api_url else "no API URL in the config"

    def inject(self, stack: Stack) -> None:
        self.tick(stack)

    def tick(self, stack: Stack) -> None:
        # A minute boundary during the flood splits it over two keys: top the current minute up again.
        goal = self._goal(stack)
        top = self._top(stack)
        if top < goal:
            assert stack.api_url is not None
            flood(stack.api_url, int(goal - top))

    def remove(self, stack: Stack) -> None:
        # What blocking the IP at the edge does for the next minute, now: its count is gone.
        minute = int(time.time() // 60)
        with self._client(stack) as r:
            dropped = sum(int(r.zrem(f"{KEY_PREFIX}{m}", FLOOD_IP)) for m in (minute - 1, minute))
        self.note = ("the flooding IP's count dropped (as blocking it would)" if dropped else
                     "the API does not trust X-Forwarded-For: the flood counted as the proxy's IP; "
                     "resolved when the minute rolled over")


class SustainedFlood(Fault):
    """One IP sending RATE requests a minute, paced, for as long as the drill waits; removal stops it and drops
    its count (as blocking it at the edge would)."""

    RATE = 12_000

    def __init__(self) -> None:
        self._flood: PacedFlood | None = None

    def precheck(self, stack: Stack) -> str | None:
        return None if stack.api_url else "no API URL in the config"

    def inject(self, stack: Stack) -> None:
        assert stack.api_url is not None
        self._flood = PacedFlood(stack.api_url, self.RATE / 60).start()

    def remove(self, stack: Stack) -> None:
        if self._flood is not None:
            self._flood.stop()
            achieved = self._flood.achieved_per_minute()
            self.note = f"flood sent {achieved:,.0f}/min"
            self._flood = None
        IpFlood().remove(stack)


class RedisMemory(Fault):
    """Expiring keys until used_memory is 85% of maxmemory (above the 80% threshold; no eviction)."""

    GOAL = 0.85

    def __init__(self) -> None:
        self._keys: list[str] = []

    def _client(self, stack: Stack) -> redis_lib.Redis:
        assert stack.redis_url is not None
        return redis_lib.Redis.from_url(stack.redis_url, socket_timeout=5)

    def precheck(self, stack: Stack) -> str | None:
        try:
            with self._client(stack) as r:
                maxmemory = int(r.info("memory").get("maxmemory", 0))
        except redis_lib.RedisError as exc:
            return f"Redis does not answer ({type(exc).__name__})"
        return None if maxmemory > 0 else "Redis has no maxmemory, so there is no memory ratio to raise"

    def inject(self, stack: Stack) -> None:
        goal = self.GOAL
        blob = b"x" * FILL_CHUNK
        with self._client(stack) as r:
            maxmemory = int(r.info("memory")["maxmemory"])
            most = 2 * maxmemory // FILL_CHUNK + 1  # bounded even if the memory figures do not move
            while int(r.info("memory")["used_memory"]) < goal * maxmemory and len(self._keys) < most:
                key = f"{FILL_PREFIX}{len(self._keys)}"
                r.set(key, blob, ex=FILL_TTL)
                self._keys.append(key)

    def remove(self, stack: Stack) -> None:
        if self._keys:
            with self._client(stack) as r:
                for i in range(0, len(self._keys), 100):
                    r.delete(*self._keys[i:i + 100])
            self._keys = []


class CertExpiry(Fault):
    DAYS_LEFT = 5

    def __init__(self) -> None:
        self._swapped = False

    def inject(self, stack: Stack) -> None:
        assert stack.tls is not None
        stack.tls.serve(self.DAYS_LEFT + 0.5)  # 5 full days left: the probe counts whole days
        self._swapped = True

    def remove(self, stack: Stack) -> None:
        if self._swapped and stack.tls is not None:
            stack.tls.serve(90)  # the renewal
            self._swapped = False


class BadBackup(Fault):
    """The newest backup in the backups target's directory is old (`age_hours`) or empty; removal writes a fresh,
    good one (a copy of the newest good dump), as the next backup run would."""

    def __init__(self, age_hours: float = 0.0, empty: bool = False) -> None:
        self.age_hours, self.empty = age_hours, empty
        self._moved: list[tuple[Path, float]] = []

    def _dir(self, stack: Stack) -> Path:
        return Path(stack.config.backups[0].directory)

    def precheck(self, stack: Stack) -> str | None:
        if not stack.config.backups:
            return "no backups target in the config"
        return None if _dumps(self._dir(stack)) else f"no backup in {self._dir(stack)} to start from"

    def inject(self, stack: Stack) -> None:
        directory = self._dir(stack)
        if self.empty:
            (directory / f"converge-{time.strftime('%Y%m%d-%H%M%S')}-drill-empty.dump").touch()
            return
        old = time.time() - self.age_hours * 3600
        for dump in _dumps(directory):  # every dump now dates from before the last backup that ran
            self._moved.append((dump, dump.stat().st_mtime))
            os.utime(dump, (old, old))

    def remove(self, stack: Stack) -> None:
        directory = self._dir(stack)
        good = [d for d in _dumps(directory) if d.stat().st_size > 0]
        if good:
            shutil.copyfile(good[-1], directory / f"converge-{time.strftime('%Y%m%d-%H%M%S')}-drill-fresh.dump")
        self._moved = []


def _dumps(directory: Path) -> list[Path]:
    """The dumps, oldest first (by modification time)."""
    return sorted(directory.glob("*.dump"), key=lambda p: p.stat().st_mtime)


def _dsn(stack: Stack) -> str:
    assert stack.dsn is not None
    return stack.dsn


def _pool_max(api_url: str) -> int:
    text = httpx.get(f"{api_url}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "converge_db_pool_max" and sample.value > 0:
                return int(sample.value)
    return 10  # app/settings.py's default


def _stop_load(load: BackgroundLoad | None) -> None:
    if load is not None:
        with contextlib.suppress(RuntimeError):
            load.stop()


def make_fault(name: str) -> Fault:
    """A fresh fault for the drill `name` (each run keeps its own state)."""
    makers: dict[str, Callable[[], Fault]] = {
        "api-down": lambda: StopProcess("api"),
        "redis-down": lambda: StopProcess("redis"),
        "db-down": lambda: StopProcess("postgres"),
        "slow-queries": SlowQueries,
        "pool-exhaustion": PoolExhaustion,
        "latency": lambda: ApiFault(latency_spec, pause=0.05),
        "error-burst": lambda: ApiFault(error_spec, pause=0.1),
        "ip-flood": IpFlood,
        "redis-memory": RedisMemory,
        "journey-step": lambda: ApiFault(journey_step_spec, pause=0.2),
        "cert-expiry": CertExpiry,
        "slow-statement": SlowStatement,
        "latency-1s": lambda: ApiFault(fixed(latency_ms=1200, prefix="/v1/"), pause=0.05),
        "latency-2s": lambda: ApiFault(fixed(latency_ms=2500, prefix="/v1/"), pause=0.05),
        "errors-6pct": lambda: ApiFault(fixed(error_ratio=0.06, prefix="/v1/"), pause=0.1),
        "errors-12pct": lambda: ApiFault(fixed(error_ratio=0.12, prefix="/v1/"), pause=0.1),
        "ip-flood-12k": SustainedFlood,
        "backup-stale": lambda: BadBackup(age_hours=26),
        "backup-empty": lambda: BadBackup(empty=True),
        "login-failing": lambda: ApiFault(fixed(error_ratio=1.0, prefix="/v1/auth/login"), pause=0.5),
        "frontend-down": lambda: StopProcess("frontend"),
    }
    return makers[name]()
