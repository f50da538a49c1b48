"""Which replica evaluates alerts and delivers notifications.

With the SQLite store there is one monitor process: it always leads. With the PostgreSQL store,
several replicas share state and the one holding a PostgreSQL advisory lock leads. The lock lives
as long as the leader's session: when the leader dies its connection closes, the lock is free, and
another replica takes it at its next check (one evaluation interval), so nobody is paged twice.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import zlib

import psycopg

log = logging.getLogger("converge.monitor.leader")
LOCK_KEY = zlib.crc32(b"converge-monitor:leader")


class Leadership:
    def __init__(self, dsn: str | None) -> None:
        self.dsn = dsn
        self._conn: psycopg.Connection | None = None
        self.leader = dsn is None
        self._lock = threading.Lock()  # the evaluation and the delivery loops both check, from worker threads

    def check(self) -> bool:
        """True while this replica leads; tries to become the leader when it does not."""
        if self.dsn is None:
            return True
        with self._lock:
            return self._check()

    def _check(self) -> bool:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=3,
                                             application_name="converge-monitor-leader")
                self.leader = False
            if self.leader:
                self._conn.execute("SELECT 1")  # still connected, so the lock is still ours
            else:
                row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
                self.leader = bool(row and row[0])
                if self.leader:
                    log.info("this replica is now the leader")
        except psycopg.Error as exc:
            if self.leader:
                log.warning("lost the leader lock", extra={"error": type(exc).__name__})
            self.leader = False
            self._close()
        return self.leader

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    def release(self) -> None:
        self.leader = self.dsn is None
        self._close()
