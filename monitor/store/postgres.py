from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg

from monitor.store.base import Store
from monitor.store.retention import Retention


class PostgresStore(Store):
    """Shared state for several monitor replicas."""

    placeholder = "%s"
    least = "LEAST"
    greatest = "GREATEST"
    ddl = (
        "CREATE TABLE IF NOT EXISTS series (id bigserial PRIMARY KEY, signal text NOT NULL, labels text NOT NULL, "
        "UNIQUE (signal, labels))",
        "CREATE TABLE IF NOT EXISTS samples (series_id bigint NOT NULL REFERENCES series (id), "
        "ts double precision NOT NULL, value double precision, error text, PRIMARY KEY (series_id, ts))",
        "CREATE INDEX IF NOT EXISTS samples_ts ON samples (ts)",
        "CREATE TABLE IF NOT EXISTS latest (series_id bigint PRIMARY KEY REFERENCES series (id), "
        "ts double precision NOT NULL, value double precision, error text, details text)",
        "CREATE TABLE IF NOT EXISTS state (key text PRIMARY KEY, value text NOT NULL)",
        "CREATE TABLE IF NOT EXISTS rollups (series_id bigint NOT NULL REFERENCES series (id), "
        "width double precision NOT NULL, ts double precision NOT NULL, n integer NOT NULL, "
        "n_unknown integer NOT NULL, vsum double precision NOT NULL, vmin double precision, "
        "vmax double precision, vlast double precision, last_ts double precision NOT NULL, "
        "PRIMARY KEY (series_id, width, ts))",
        "CREATE INDEX IF NOT EXISTS rollups_age ON rollups (width, ts)",
        "CREATE TABLE IF NOT EXISTS counts (key text NOT NULL, width double precision NOT NULL, "
        "ts double precision NOT NULL, good double precision NOT NULL, total double precision NOT NULL, "
        "PRIMARY KEY (key, width, ts))",
        "CREATE INDEX IF NOT EXISTS counts_age ON counts (width, ts)",
        "CREATE TABLE IF NOT EXISTS outbox (seq bigserial PRIMARY KEY, notification_id text NOT NULL, "
        "channel text NOT NULL, created_at double precision NOT NULL, payload text NOT NULL, status text NOT NULL, "
        "attempts integer NOT NULL, next_attempt double precision NOT NULL, last_error text, "
        "UNIQUE (notification_id, channel))",
        "CREATE INDEX IF NOT EXISTS outbox_age ON outbox (created_at)",
    )

    def __init__(self, dsn: str, retention: float, policy: Retention | None = None) -> None:
        super().__init__(retention, policy)
        self._dsn = dsn
        self._db = self._connect()
        self._setup()
        # Reads on a second connection (autocommit: each read sees what is committed, holds no snapshot open),
        # so a long read never holds back the writer, which has the first.
        self._reader: psycopg.Connection[Any] | None = None
        self._read_lock = threading.Lock()

    def _read_execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._read_lock:
            if self._reader is None or self._reader.closed or self._reader.broken:
                self._reader = psycopg.connect(self._dsn, connect_timeout=5, autocommit=True,
                                               application_name="converge-monitor-reader")
            cur = self._reader.execute(sql, params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self._dsn, connect_timeout=5, application_name="converge-monitor-store")

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self._db.execute(sql, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []

    def _changes(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self._db.execute(sql, params).rowcount)  # type: ignore[arg-type]

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._db.cursor() as cur:
            cur.executemany(sql, list(rows))  # type: ignore[arg-type]

    def _commit(self) -> None:
        self._db.commit()

    def _rollback(self) -> None:
        if self._db.closed or self._db.broken:  # PostgreSQL restarted or the network dropped: a new connection
            self._db = self._connect()
        else:
            self._db.rollback()

    def _reclaim(self) -> None:
        pass  # autovacuum reuses the space of deleted rows; the table stops growing once retention is reached

    def close(self) -> None:
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
        with self._lock:
            self._db.close()
