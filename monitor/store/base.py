"""One SQL store for both backends; the backends differ only in connection, DDL and placeholders."""

from __future__ import annotations

import contextlib
import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.core.observation import Observation

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


@dataclass
class OutboxRow:
    """One notification for one channel: pending until delivered (sent) or given up (failed)."""

    notification_id: str
    channel: str
    created_at: float
    payload: dict[str, Any]
    status: str = "pending"
    attempts: int = 0
    next_attempt: float = 0.0
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    timestamp: float
    value: float | None
    error: str | None = None


def labels_key(labels: Mapping[str, str]) -> str:
    return json.dumps(dict(sorted(labels.items())), separators=(",", ":"))


class Store(ABC):
    """Thread-safe; the scheduler calls it from a worker thread so the event loop never blocks on disk."""

    placeholder = "?"
    ddl: tuple[str, ...] = ()

    def __init__(self, retention: float) -> None:
        self.retention = retention
        self._lock = threading.Lock()
        # The in-memory latest values have their own lock: reading them never waits for a write in progress.
        self._cache_lock = threading.Lock()
        self._series: dict[SeriesKey, int] = {}
        self._latest: dict[SeriesKey, Observation] = {}

    # -- backend hooks -------------------------------------------------------------------------
    @abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    @abstractmethod
    def _commit(self) -> None: ...

    @abstractmethod
    def _changes(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; how many rows it changed."""

    @abstractmethod
    def _rollback(self) -> None:
        """Undo the open transaction; reconnect when the connection itself is gone."""

    @abstractmethod
    def close(self) -> None: ...

    def _read_execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read on the backend's read connection, so a long read never holds the writer back. This default
        (one connection) reads under the writer's lock; both backends override it with a second connection."""
        with self._lock:
            return self._execute(sql, params)

    @contextlib.contextmanager
    def _tx(self) -> Iterator[None]:
        """One call's statements under the lock; on any failure they are rolled back, so a failed call
        leaves nothing half-written for the next one to commit (state without its outbox rows)."""
        with self._lock:
            try:
                yield
            except BaseException:
                with contextlib.suppress(Exception):  # the original error is the one worth reporting
                    self._rollback()
                    # The caches may hold what was just rolled back: a series id SQLite will hand out again
                    # (two series sharing one id), a latest value never stored. Re-read them.
                    self._load_caches()
                raise

    # -- shared logic ----------------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql.replace("?", self.placeholder)

    def _setup(self) -> None:
        for statement in self.ddl:
            self._execute(statement)
        self._commit()
        self._load_caches()

    def _load_caches(self) -> None:
        with self._cache_lock:
            self._series.clear()
            self._latest.clear()
        for sid, signal, labels in self._execute("SELECT id, signal, labels FROM series"):
            self._series[(signal, tuple(sorted(json.loads(labels).items())))] = int(sid)
        rows = self._execute(self._sql(
            "SELECT s.signal, s.labels, l.ts, l.value, l.error, l.details "
            "FROM latest l JOIN series s ON s.id = l.series_id"))
        for signal, labels, ts, value, error, details in rows:
            obs = Observation(signal=signal, value=value, timestamp=ts, labels=json.loads(labels), error=error,
                              details=json.loads(details) if details else None)
            with self._cache_lock:
                self._latest[obs.series_key()] = obs

    def _series_id(self, obs: Observation) -> int:
        key = obs.series_key()
        sid = self._series.get(key)
        if sid is None:
            lk = labels_key(obs.labels)
            self._execute(self._sql("INSERT INTO series (signal, labels) VALUES (?, ?) ON CONFLICT DO NOTHING"),
                          (obs.signal, lk))
            sid = int(self._execute(self._sql("SELECT id FROM series WHERE signal = ? AND labels = ?"),
                                    (obs.signal, lk))[0][0])
            self._series[key] = sid
        return sid

    def write(self, observations: Sequence[Observation]) -> None:
        if not observations:
            return
        with self._tx():
            samples, latest = [], []
            for obs in observations:
                sid = self._series_id(obs)
                samples.append((sid, obs.timestamp, obs.value, obs.error))
                details = json.dumps(obs.details, default=str) if obs.details is not None else None
                latest.append((sid, obs.timestamp, obs.value, obs.error, details))
            self._executemany(self._sql(
                "INSERT INTO samples (series_id, ts, value, error) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"),
                samples)
            self._executemany(self._sql(
                "INSERT INTO latest (series_id, ts, value, error, details) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (series_id) DO UPDATE SET ts = excluded.ts, value = excluded.value, "
                "error = excluded.error, details = excluded.details WHERE excluded.ts >= latest.ts"), latest)
            self._commit()
            with self._cache_lock:
                for obs in observations:
                    current = self._latest.get(obs.series_key())
                    if current is None or obs.timestamp >= current.timestamp:
                        self._latest[obs.series_key()] = obs

    def latest(self) -> list[Observation]:
        with self._cache_lock:
            return list(self._latest.values())

    def history(self, signal: str, labels: Mapping[str, str], since: float,
                until: float | None = None) -> list[Sample]:
        with self._cache_lock:
            sid = self._series.get((signal, tuple(sorted(labels.items()))))
        if sid is None:
            return []
        rows = self._read_execute(self._sql(
            "SELECT ts, value, error FROM samples WHERE series_id = ? AND ts >= ? AND ts <= ? ORDER BY ts"),
            (sid, since, until if until is not None else float("inf")))
        return [Sample(float(ts), None if v is None else float(v), err) for ts, v, err in rows]

    def refresh_latest(self) -> int:
        """Take in the latest values other replicas wrote to a shared store (they probe the targets this one
        does not); read on the read connection. Returns how many series were newer than this replica knew."""
        rows = self._read_execute(self._sql(
            "SELECT s.id, s.signal, s.labels, l.ts, l.value, l.error, l.details "
            "FROM latest l JOIN series s ON s.id = l.series_id"))
        newer = 0
        with self._cache_lock:
            for sid, signal, labels, ts, value, error, details in rows:
                parsed = json.loads(labels)
                key: SeriesKey = (signal, tuple(sorted(parsed.items())))
                self._series.setdefault(key, int(sid))
                current = self._latest.get(key)
                if current is None or float(ts) > current.timestamp:
                    self._latest[key] = Observation(signal=signal, value=value, timestamp=float(ts), labels=parsed,
                                                    error=error, details=json.loads(details) if details else None)
                    newer += 1
        return newer

    # -- small documents: alert engine state, silences, acknowledgements ----------------------
    def put_state(self, key: str, value: Any) -> None:
        """Keep one JSON document under `key`, replacing what was there, durably."""
        with self._tx():
            self._execute(self._sql("INSERT INTO state (key, value) VALUES (?, ?) "
                                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
                          (key, json.dumps(value, default=str)))
            self._commit()

    def get_state(self, key: str) -> Any | None:
        with self._tx():
            rows = self._execute(self._sql("SELECT value FROM state WHERE key = ?"), (key,))
        return json.loads(rows[0][0]) if rows else None

    # -- the notification outbox -------------------------------------------------------------------
    def commit_cycle(self, state_key: str, state: Any, outbox: Sequence[OutboxRow]) -> None:
        """One transaction: the alert state and the notifications it decided. A crash before it replays the
        cycle (same notification ids); after it, the outbox holds every notification: none is lost."""
        with self._tx():
            self._execute(self._sql("INSERT INTO state (key, value) VALUES (?, ?) "
                                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
                          (state_key, json.dumps(state, default=str)))
            self._executemany(self._sql(
                "INSERT INTO outbox (notification_id, channel, created_at, payload, status, attempts, next_attempt) "
                "VALUES (?, ?, ?, ?, 'pending', 0, ?) ON CONFLICT (notification_id, channel) DO NOTHING"),
                [(r.notification_id, r.channel, r.created_at, json.dumps(r.payload, default=str), r.created_at)
                 for r in outbox])
            self._commit()

    def outbox_add(self, rows: Sequence[OutboxRow]) -> None:
        with self._tx():
            self._executemany(self._sql(
                "INSERT INTO outbox (notification_id, channel, created_at, payload, status, attempts, next_attempt) "
                "VALUES (?, ?, ?, ?, 'pending', 0, ?) ON CONFLICT (notification_id, channel) DO NOTHING"),
                [(r.notification_id, r.channel, r.created_at, json.dumps(r.payload, default=str), r.created_at)
                 for r in rows])
            self._commit()

    def outbox_pending(self, limit: int = 500) -> list[OutboxRow]:
        """Undelivered entries in the order they were decided (per channel that is the delivery order)."""
        with self._tx():
            rows = self._execute(self._sql(
                "SELECT notification_id, channel, created_at, payload, status, attempts, next_attempt, last_error "
                "FROM outbox WHERE status = 'pending' ORDER BY created_at, seq LIMIT ?"), (limit,))
        return [OutboxRow(r[0], r[1], float(r[2]), json.loads(r[3]), r[4], int(r[5]), float(r[6]), r[7]) for r in rows]

    def outbox_update(self, row: OutboxRow) -> bool:
        """False when the row was no longer pending (another replica settled it): nothing changed."""
        with self._tx():
            changed = self._changes(self._sql(
                # Only a pending row moves: an old leader finishing late never turns a row another replica
                # has sent back into pending (a resend).
                "UPDATE outbox SET status = ?, attempts = ?, next_attempt = ?, last_error = ? "
                "WHERE notification_id = ? AND channel = ? AND status = 'pending'"),
                (row.status, row.attempts, row.next_attempt, row.last_error, row.notification_id, row.channel))
            self._commit()
        return changed > 0

    def outbox_all(self) -> list[OutboxRow]:
        with self._tx():
            rows = self._execute(self._sql(
                "SELECT notification_id, channel, created_at, payload, status, attempts, next_attempt, last_error "
                "FROM outbox ORDER BY created_at, seq"))
        return [OutboxRow(r[0], r[1], float(r[2]), json.loads(r[3]), r[4], int(r[5]), float(r[6]), r[7]) for r in rows]

    def prune(self, now: float) -> int:
        """Drop samples older than the retention; returns how many."""
        with self._tx():
            rows = self._execute(self._sql("SELECT count(*) FROM samples WHERE ts < ?"), (now - self.retention,))
            self._execute(self._sql("DELETE FROM samples WHERE ts < ?"), (now - self.retention,))
            self._commit()
        return int(rows[0][0])
