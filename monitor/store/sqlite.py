from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from monitor.store.base import Store
from monitor.store.retention import Retention


class SqliteStore(Store):
    ddl = (
        "CREATE TABLE IF NOT EXISTS series (id INTEGER PRIMARY KEY, signal TEXT NOT NULL, labels TEXT NOT NULL, "
        "UNIQUE (signal, labels))",
        "CREATE TABLE IF NOT EXISTS samples (series_id INTEGER NOT NULL, ts REAL NOT NULL, value REAL, error TEXT, "
        "PRIMARY KEY (series_id, ts)) WITHOUT ROWID",
        "CREATE INDEX IF NOT EXISTS samples_ts ON samples (ts)",
        "CREATE TABLE IF NOT EXISTS latest (series_id INTEGER PRIMARY KEY, ts REAL NOT NULL, value REAL, "
        "error TEXT, details TEXT)",
        "CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS rollups (series_id INTEGER NOT NULL, width REAL NOT NULL, ts REAL NOT NULL, "
        "n INTEGER NOT NULL, n_unknown INTEGER NOT NULL, vsum REAL NOT NULL, vmin REAL, vmax REAL, vlast REAL, "
        "last_ts REAL NOT NULL, PRIMARY KEY (series_id, width, ts)) WITHOUT ROWID",
        "CREATE INDEX IF NOT EXISTS rollups_age ON rollups (width, ts)",
        "CREATE TABLE IF NOT EXISTS counts (key TEXT NOT NULL, width REAL NOT NULL, ts REAL NOT NULL, "
        "good REAL NOT NULL, total REAL NOT NULL, PRIMARY KEY (key, width, ts)) WITHOUT ROWID",
        "CREATE INDEX IF NOT EXISTS counts_age ON counts (width, ts)",
        "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, notification_id TEXT NOT NULL, "
        "channel TEXT NOT NULL, created_at REAL NOT NULL, payload TEXT NOT NULL, status TEXT NOT NULL, "
        "attempts INTEGER NOT NULL, next_attempt REAL NOT NULL, last_error TEXT, UNIQUE (notification_id, channel))",
        "CREATE INDEX IF NOT EXISTS outbox_age ON outbox (created_at)",
    )
    RECLAIM_PAGES = 2048  # per retention step: 8 MB of freed pages handed back to the file system

    def __init__(self, path: str, retention: float, policy: Retention | None = None) -> None:
        super().__init__(retention, policy)
        self.path = path
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level="DEFERRED")
        # Incremental vacuum, so that what retention deletes shrinks the file instead of only being reused.
        # It must be chosen before the first table exists; an older file is converted once by a VACUUM.
        if self._db.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
            self._db.execute("PRAGMA auto_vacuum=INCREMENTAL")
            if self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                self._db.execute("VACUUM")
        # WAL: readers never block the writer, and a crash loses at most the last transaction.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._setup()
        # Reads (history for the board, the SLOs, reports) on their own connection: under WAL they run beside
        # the writer, never holding it. An in-memory database is private to its connection: it reads on the one.
        self._reader = None if path == ":memory:" else sqlite3.connect(path, check_same_thread=False)
        self._read_lock = threading.Lock()

    def _read_execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self._reader is None:
            return super()._read_execute(sql, params)
        with self._read_lock:
            return self._reader.execute(sql, params).fetchall()

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, params).fetchall()

    def _changes(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self._db.execute(sql, params).rowcount)

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._db.executemany(sql, rows)

    def _commit(self) -> None:
        self._db.commit()

    def _rollback(self) -> None:
        self._db.rollback()

    def _reclaim(self) -> None:
        self._db.execute(f"PRAGMA incremental_vacuum({self.RECLAIM_PAGES})").fetchall()
        self._db.commit()

    def close(self) -> None:
        if self._reader is not None:
            with self._read_lock:
                self._reader.close()
        with self._lock:
            self._db.commit()
            self._db.close()
