"""One SQL store for both backends; the backends differ only in connection, DDL and placeholders."""

from __future__ import annotations

import contextlib
import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.core.observation import Observation
from monitor.store.retention import Retention
from monitor.store.rollup import (
    MINUTE,
    CountBucket,
    CountRule,
    Rollup,
    add_count,
    bucket_end,
    counter_increase,
    event_increment,
    fingerprint,
    fold,
    sample_rollup,
)

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]
SampleRow = tuple[float, int, float | None, str | None]  # (ts, series id, value, error): Store.iter_rows


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
    least = "min"  # the two-argument minimum and maximum of the dialect
    greatest = "max"
    ddl: tuple[str, ...] = ()

    def __init__(self, retention: float, policy: Retention | None = None) -> None:
        self.retention = retention
        self.retention_policy = policy or Retention.for_history(retention)
        self._lock = threading.Lock()
        # The in-memory latest values have their own lock: reading them never waits for a write in progress.
        self._cache_lock = threading.Lock()
        self._series: dict[SeriesKey, int] = {}
        self._latest: dict[SeriesKey, Observation] = {}
        self._rules: dict[str, list[CountRule]] = {}  # by signal
        self._counted: dict[int, float] = {}  # per series: the newest sample counted into the buckets
        self._previous: dict[int, float | None] = {}  # per counter series: its last known value

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

    @abstractmethod
    def _reclaim(self) -> None:
        """Hand space freed by deletes back (SQLite's incremental vacuum); PostgreSQL's autovacuum does it."""

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
        self._counted.clear()  # re-derived from what was committed
        self._previous.clear()
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
            counts: dict[tuple[str, float, float], CountBucket] = {}
            for obs in observations:
                sid = self._series_id(obs)
                if obs.signal in self._rules:
                    self._count(sid, obs, counts)
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
            self._add_counts(counts)
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
        """The samples of [since, until]: raw ones where they are still kept, before that one per rollup
        (its last known value at its timestamp: exact for a counter's increase, a gauge's latest value).
        Read on the read connection, so a long read never holds the writer back."""
        upto = until if until is not None else float("inf")
        with self._cache_lock:
            sid = self._series.get((signal, tuple(sorted(labels.items()))))
        if sid is None:
            return []
        rows = self._read_execute(self._sql(
            "SELECT ts, value, error FROM samples WHERE series_id = ? AND ts >= ? AND ts <= ? ORDER BY ts"),
            (sid, since, upto))
        raw_from = float(rows[0][0]) if rows else upto
        older = self._rollup_rows(sid, since, raw_from, self._read_execute) if since < raw_from else []
        out = [Sample(r.last_ts, r.vlast, None if r.vlast is not None else f"{r.n_unknown} unknown samples")
               for r in older if since <= r.last_ts < raw_from]
        return out + [Sample(float(ts), None if v is None else float(v), err) for ts, v, err in rows]

    def rollups(self, signal: str, labels: Mapping[str, str], since: float, until: float | None = None) -> list[Rollup]:
        """The rollups (min, max, mean, last, count) of the buckets overlapping [since, until], oldest first;
        each instant in at most one of them (coarse ones for old history, minute ones after)."""
        with self._tx():
            sid = self._series.get((signal, tuple(sorted(labels.items()))))
            return [] if sid is None else self._rollup_rows(sid, since, until if until is not None else float("inf"))

    def _rollup_rows(self, sid: int, since: float, until: float,
                     execute: Callable[[str, Sequence[Any]], list[tuple[Any, ...]]] | None = None) -> list[Rollup]:
        rows = (execute or self._execute)(self._sql(
            "SELECT ts, width, n, n_unknown, vsum, vmin, vmax, vlast, last_ts FROM rollups "
            "WHERE series_id = ? AND ts + width > ? AND ts <= ? ORDER BY ts, width"), (sid, since, until))
        return [Rollup(float(ts), float(w), int(n), int(nu), float(vs), vmin, vmax, vlast, float(lt))
                for ts, w, n, nu, vs, vmin, vmax, vlast, lt in rows]

    # -- event counts per bucket (the SLOs' good and total), kept as samples are written ---------------
    def track_counts(self, rules: Sequence[CountRule]) -> None:
        """Count from now on what `rules` say into their keys' buckets. A key counted before by other
        rules (or never) is counted again from the history the store still has."""
        by_key: dict[str, list[CountRule]] = {}
        for rule in rules:
            by_key.setdefault(rule.key, []).append(rule)
        with self._tx():
            for key, key_rules in by_key.items():
                marker = fingerprint(key_rules)
                rows = self._execute(self._sql("SELECT value FROM state WHERE key = ?"), (f"counts:{key}",))
                if rows and json.loads(rows[0][0]) == marker:
                    continue
                self._execute(self._sql("DELETE FROM counts WHERE key = ?"), (key,))
                self._backfill(key_rules)
                self._execute(self._sql("INSERT INTO state (key, value) VALUES (?, ?) "
                                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
                              (f"counts:{key}", json.dumps(marker)))
            self._commit()
            for rule in rules:
                known = self._rules.setdefault(rule.signal, [])
                if rule not in known:
                    known.append(rule)

    def count_buckets(self, key: str, since: float, until: float | None = None) -> list[tuple[float, float, float,
                                                                                             float]]:
        """(end, width, good, total) of the buckets of `key` ending after `since` (and starting before
        `until`), by end."""
        with self._tx():
            rows = self._execute(self._sql(
                "SELECT ts, width, good, total FROM counts WHERE key = ? AND ts > ? AND ts - width < ? "
                "ORDER BY ts, width"), (key, since, until if until is not None else float("inf")))
        return [(float(e), float(w), float(g), float(t)) for e, w, g, t in rows]

    def _count(self, sid: int, obs: Observation, acc: dict[tuple[str, float, float], CountBucket]) -> None:
        matching = [r for r in self._rules[obs.signal] if r.matches(obs.signal, obs.labels)]
        if not matching:
            return
        last = self._counted.get(sid)
        if last is None:
            current = self._latest.get(obs.series_key())
            last = current.timestamp if current is not None else float("-inf")
        if obs.timestamp <= last:  # written again, or late: each sample counts once
            return
        self._counted[sid] = obs.timestamp
        self._count_value(sid, matching, obs.timestamp, obs.value, MINUTE, None, acc)

    def _count_value(self, sid: int, rules: Sequence[CountRule], ts: float, value: float | None, width: float,
                     summary: Rollup | None, acc: dict[tuple[str, float, float], CountBucket]) -> None:
        """Add one sample (or one rollup's worth of samples) to the buckets of `rules`."""
        end = bucket_end(ts, width) if summary is None else summary.ts + summary.width
        counters = [r for r in rules if r.kind == "counter"]
        if counters and value is not None:
            previous = self._previous[sid] if sid in self._previous else self._last_known(sid)
            self._previous[sid] = value
            increase = counter_increase(previous, value)
            if increase is not None:
                for r in counters:
                    add_count(acc, r.key, end, width, r.good * increase, r.total * increase)
        for r in rules:
            if r.kind != "events":
                continue
            if summary is None:
                inc = event_increment(r, value)
            else:
                weight = summary.n + (summary.n_unknown if r.unknown_is_bad else 0)
                inc = event_increment(r, 1.0, weight, summary.vsum) if weight else None
            if inc is not None:
                add_count(acc, r.key, end, width, *inc)

    def _last_known(self, sid: int) -> float | None:
        rows = self._execute(self._sql("SELECT value FROM samples WHERE series_id = ? AND value IS NOT NULL "
                                       "ORDER BY ts DESC LIMIT 1"), (sid,))
        if not rows:
            rows = self._execute(self._sql("SELECT vlast FROM rollups WHERE series_id = ? AND vlast IS NOT NULL "
                                           "ORDER BY last_ts DESC LIMIT 1"), (sid,))
        return float(rows[0][0]) if rows else None

    def _backfill(self, rules: Sequence[CountRule]) -> None:
        """Count the history still kept (rollups, then raw samples) for one key's rules."""
        acc: dict[tuple[str, float, float], CountBucket] = {}
        for (signal, labels), sid in self._series.items():
            matching = [r for r in rules if r.matches(signal, dict(labels))]
            if not matching:
                continue
            self._previous[sid] = None  # counted from the oldest sample kept: no baseline before it
            seen = float("-inf")
            for r in self._rollup_rows(sid, float("-inf"), float("inf")):
                self._count_value(sid, matching, r.last_ts, r.vlast, r.width, r, acc)
                seen = max(seen, r.last_ts)
            for ts, value in self._execute(self._sql(
                    "SELECT ts, value FROM samples WHERE series_id = ? ORDER BY ts"), (sid,)):
                self._count_value(sid, matching, float(ts), None if value is None else float(value), MINUTE,
                                  None, acc)
                seen = max(seen, float(ts))
            self._counted[sid] = max(seen, self._counted.get(sid, float("-inf")))
        self._add_counts(acc)

    def import_rollups(self, rows: Sequence[tuple[str, Mapping[str, str], Rollup]]) -> None:
        """History summarised elsewhere (an import, a benchmark's old days), stored as rollups and counted into
        the buckets as the retention would have left them. Oldest first per series."""
        acc: dict[tuple[str, float, float], CountBucket] = {}
        with self._tx():
            batch: list[tuple[int, Rollup]] = []
            for signal, labels, r in rows:
                sid = self._series_id(Observation(signal, r.vlast, r.last_ts, dict(labels)))
                batch.append((sid, r))
                matching = [rule for rule in self._rules.get(signal, ()) if rule.matches(signal, labels)]
                if matching and r.last_ts > self._counted.get(sid, float("-inf")):
                    self._counted[sid] = r.last_ts
                    self._count_value(sid, matching, r.last_ts, r.vlast, r.width, r, acc)
                if len(batch) >= self.retention_policy.batch:
                    self._add_rollups(batch)
                    batch = []
            self._add_rollups(batch)
            self._add_counts(acc)
            self._commit()

    def _add_counts(self, acc: Mapping[tuple[str, float, float], CountBucket]) -> None:
        if acc:
            self._executemany(self._sql(
                "INSERT INTO counts (key, width, ts, good, total) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (key, width, ts) DO UPDATE SET good = counts.good + excluded.good, "
                "total = counts.total + excluded.total"),
                [(key, width, end, b.good, b.total) for (key, width, end), b in acc.items()])

    def _add_rollups(self, rollups: Iterable[tuple[int, Rollup]]) -> None:
        lo, hi = self.least, self.greatest
        newer = ("(excluded.vlast IS NOT NULL AND (rollups.vlast IS NULL OR excluded.last_ts >= rollups.last_ts)) "
                 "OR (excluded.vlast IS NULL AND rollups.vlast IS NULL AND excluded.last_ts > rollups.last_ts)")
        self._executemany(self._sql(
            "INSERT INTO rollups (series_id, width, ts, n, n_unknown, vsum, vmin, vmax, vlast, last_ts) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (series_id, width, ts) DO UPDATE SET "
            "n = rollups.n + excluded.n, n_unknown = rollups.n_unknown + excluded.n_unknown, "
            "vsum = rollups.vsum + excluded.vsum, "
            f"vmin = {lo}(coalesce(rollups.vmin, excluded.vmin), coalesce(excluded.vmin, rollups.vmin)), "
            f"vmax = {hi}(coalesce(rollups.vmax, excluded.vmax), coalesce(excluded.vmax, rollups.vmax)), "
            f"vlast = CASE WHEN {newer} THEN excluded.vlast ELSE rollups.vlast END, "
            f"last_ts = CASE WHEN {newer} THEN excluded.last_ts ELSE rollups.last_ts END"),
            [r.row(sid) for sid, r in rollups])

    # -- retention ---------------------------------------------------------------------------------
    def retain(self, now: float) -> int:
        """One small step of the retention: the first job with work due, at most `batch` rows, in one short
        transaction. Returns the rows it handled; 0 when nothing is due."""
        p = self.retention_policy
        jobs: tuple[Callable[[], int], ...] = (
            lambda: self._roll_raw(now - p.raw),
            lambda: self._roll_minutes(now - p.minute),
            lambda: self._drop("rollups", "width = ? AND ts < ?", (p.coarse,), now - p.history - p.coarse),
            lambda: self._coarsen_counts(now - p.minute),
            lambda: self._drop("counts", "width = ? AND ts <= ?", (p.coarse,), now - p.counts),
            lambda: self._drop("outbox", "status <> 'pending' AND created_at < ?", (), now - p.outbox),
        )
        for job in jobs:
            with self._tx():
                done = job()
                self._commit()
            if done:
                with self._tx():
                    self._reclaim()
                return done
        return 0

    def _roll_raw(self, cutoff: float) -> int:
        """Raw samples before `cutoff` (whole minutes) into minute rollups."""
        cutoff = cutoff - cutoff % MINUTE
        rows = self._execute(self._sql("SELECT series_id, ts, value FROM samples WHERE ts < ? ORDER BY ts LIMIT ?"),
                             (cutoff, self.retention_policy.batch))
        if not rows:
            return 0
        folded = fold(((int(sid), sample_rollup(float(ts), None if v is None else float(v), MINUTE))
                       for sid, ts, v in rows), MINUTE)
        self._add_rollups((sid, r) for (sid, _), r in folded.items())
        self._executemany(self._sql("DELETE FROM samples WHERE series_id = ? AND ts = ?"),
                          [(sid, ts) for sid, ts, _ in rows])
        return len(rows)

    def _roll_minutes(self, cutoff: float) -> int:
        """Minute rollups of whole coarse buckets before `cutoff` into coarse rollups."""
        coarse = self.retention_policy.coarse
        cutoff = cutoff - cutoff % coarse
        rows = self._execute(self._sql(
            "SELECT series_id, ts, width, n, n_unknown, vsum, vmin, vmax, vlast, last_ts FROM rollups "
            "WHERE width < ? AND ts < ? ORDER BY width, ts LIMIT ?"), (coarse, cutoff, self.retention_policy.batch))
        if not rows:
            return 0
        folded = fold(((int(r[0]), Rollup(float(r[1]), float(r[2]), int(r[3]), int(r[4]), float(r[5]),
                                          r[6], r[7], r[8], float(r[9]))) for r in rows), coarse)
        self._add_rollups((sid, r) for (sid, _), r in folded.items())
        self._executemany(self._sql("DELETE FROM rollups WHERE series_id = ? AND width = ? AND ts = ?"),
                          [(r[0], r[2], r[1]) for r in rows])
        return len(rows)

    def _coarsen_counts(self, cutoff: float) -> int:
        """Minute count buckets of whole coarse buckets before `cutoff` into coarse ones."""
        coarse = self.retention_policy.coarse
        cutoff = cutoff - cutoff % coarse
        rows = self._execute(self._sql(
            "SELECT key, width, ts, good, total FROM counts WHERE width < ? AND ts <= ? ORDER BY width, ts LIMIT ?"),
            (coarse, cutoff, self.retention_policy.batch))
        if not rows:
            return 0
        acc: dict[tuple[str, float, float], CountBucket] = {}
        for key, _, end, good, total in rows:
            add_count(acc, key, bucket_end(float(end), coarse), coarse, float(good), float(total))
        self._executemany(self._sql("DELETE FROM counts WHERE key = ? AND width = ? AND ts = ?"),
                          [(k, w, e) for k, w, e, _, _ in rows])
        self._add_counts(acc)
        return len(rows)

    def _drop(self, table: str, where: str, params: tuple[Any, ...], cutoff: float) -> int:
        """Delete at most `batch` rows of `table` matching `where` (its last parameter is `cutoff`)."""
        order = "created_at" if table == "outbox" else "ts"
        batch = self.retention_policy.batch
        rows = self._execute(self._sql(f"SELECT {order} FROM {table} WHERE {where} ORDER BY {order} "
                                       f"LIMIT 1 OFFSET ?"), (*params, cutoff, batch - 1))
        bound = cutoff if not rows else min(cutoff, float(rows[0][0]))
        inclusive = where.replace("< ?", "<= ?") if rows else where
        return self._changes(self._sql(f"DELETE FROM {table} WHERE {inclusive}"), (*params, bound))

    def iter_history(self, since: float, until: float, signals: Collection[str] | None = None,
                     window: float = 900.0) -> Iterator[Observation]:
        """Every stored sample in [since, until] (of these signals' series only, if given), in time order, read
        `window` seconds at a time (the backtest streams months of history without holding it). Only reads."""
        names = {sid: (key[0], dict(key[1])) for key, sid in self._series.items()  # one labels dict per series
                 if signals is None or key[0] in signals}
        only = "" if signals is None else f" AND series_id IN ({','.join(str(int(i)) for i in names) or 'NULL'})"
        span = self.history_span()
        if span is None:
            return
        start = max(since, span[0])
        until = min(until, span[1])
        first = True
        while start <= until:
            end = min(start + window, until)
            with self._tx():
                rows = self._execute(self._sql(
                    f"SELECT ts, series_id, value, error FROM samples WHERE ts {'>=' if first else '>'} ? AND ts <= ?"
                    f"{only} ORDER BY ts, series_id"), (start, end))
                if any(int(r[1]) not in names for r in rows):  # series written since this store read its table
                    for sid, signal, labels in self._execute("SELECT id, signal, labels FROM series"):
                        names.setdefault(int(sid), (signal, json.loads(labels)))
            for ts, sid, value, error in rows:
                signal, labels = names[int(sid)]
                yield Observation(signal, None if value is None else float(value), float(ts), labels, error)
            if end >= until:
                return
            start, first = end, False

    def iter_rows(self, since: float, until: float, signals: Collection[str] | None = None,
                  window: float = 3600.0) -> tuple[dict[int, tuple[str, dict[str, str]]], Iterator[SampleRow]]:
        """iter_history's samples as plain (ts, series id, value, error) rows, with the series they name (a dict
        that grows when a series written meanwhile shows up): no object per sample, for the backtest. Each
        window is read along the primary key on the read connection and sorted here. Only reads."""
        names = {sid: (key[0], dict(key[1])) for key, sid in self._series.items()
                 if signals is None or key[0] in signals}
        return names, self._rows(names, since, until, signals, window)

    def _rows(self, names: dict[int, tuple[str, dict[str, str]]], since: float, until: float,
              signals: Collection[str] | None, window: float) -> Iterator[SampleRow]:
        span = self.history_span()
        if span is None:
            return
        only = "" if signals is None else f"series_id IN ({','.join(str(int(i)) for i in names) or 'NULL'}) AND "
        start, until = max(since, span[0]), min(until, span[1])
        first = True
        while start <= until:
            end = min(start + window, until)
            rows = self._read_execute(self._sql(
                f"SELECT ts, series_id, value, error FROM samples WHERE {only}ts {'>=' if first else '>'} ? "
                "AND ts <= ?"), (start, end))
            rows.sort()
            if any(r[1] not in names for r in rows):  # series written since this store read its table
                for sid, signal, labels in self._read_execute("SELECT id, signal, labels FROM series"):
                    if signals is None or signal in signals:
                        names.setdefault(int(sid), (signal, json.loads(labels)))
                rows = [r for r in rows if r[1] in names]
            yield from rows
            if end >= until:
                return
            start, first = end, False

    def history_span(self) -> tuple[float, float] | None:
        """The first and last sample's time (None when nothing is stored)."""
        with self._tx():
            rows = self._execute("SELECT min(ts), max(ts) FROM samples")
        if not rows or rows[0][0] is None:
            return None
        return float(rows[0][0]), float(rows[0][1])

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

    def outbox_payload(self, notification_id: str, channel: str, payload: Mapping[str, Any]) -> bool:
        """Replace a pending row's payload (the outbox keeps in it what the receivers accepted so far), durably,
        apart from outbox_update: recording progress never overwrites the row's status, nor the reverse."""
        with self._tx():
            changed = self._changes(self._sql(
                "UPDATE outbox SET payload = ? WHERE notification_id = ? AND channel = ? AND status = 'pending'"),
                (json.dumps(payload, default=str), notification_id, channel))
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
