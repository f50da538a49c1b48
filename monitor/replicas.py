"""Which replica probes which target, when several share the PostgreSQL store.

Each replica registers by holding a PostgreSQL advisory lock (namespace NAMESPACE, key its random id) on a
connection of its own: the lock is its heartbeat. It lives exactly as long as the replica's session, so a
replica that dies (even SIGKILL) disappears from `pg_locks` as soon as its connection closes, with no
timeout to tune and no table to clean. Every CHECK_EVERY seconds each replica lists the live ids and keeps
the targets rendezvous hashing gives it: each target goes to the live replica with the highest
hash(replica, target), so all replicas agree without talking, each target has exactly one owner, and when
one replica dies only its targets move (to the others, spread evenly), within CHECK_EVERY plus the target's
interval. Leadership (alert evaluation and delivery) stays with monitor/leader.py.

While the store cannot be reached this replica probes every target: a duplicate check is better than none.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import threading
import zlib
from collections.abc import Collection

import psycopg

log = logging.getLogger("converge.monitor.replicas")
NAMESPACE = zlib.crc32(b"converge-monitor:replicas") & 0x7FFFFFFF
CHECK_EVERY = 2.0


def owner(target: str, replicas: Collection[int]) -> int:
    """The replica that probes `target`: rendezvous (highest random weight) hashing."""
    return max(replicas, key=lambda r: hashlib.blake2b(f"{r}/{target}".encode(), digest_size=8).digest())


class Replicas:
    def __init__(self, dsn: str | None, targets: Collection[str], replica_id: int | None = None) -> None:
        self.dsn = dsn
        self.id = replica_id if replica_id is not None else random.SystemRandom().randrange(1, 0x7FFFFFFF)
        self.targets = list(targets)
        self.live: list[int] = [self.id]
        self.owned: frozenset[str] = frozenset(self.targets)
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()

    def owns(self, target: str) -> bool:
        return target in self.owned

    def check(self) -> frozenset[str]:
        """Refresh the live replicas (registering this one if needed); returns the targets newly owned."""
        if self.dsn is None:
            return frozenset()
        with self._lock:
            live = self._live()
        before = self.owned
        if live != self.live:
            log.info("replicas: %d live", len(live))
            self.live = live
            self.owned = frozenset(t for t in self.targets if owner(t, live) == self.id)
        return self.owned - before

    def _live(self) -> list[int]:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=3,  # type: ignore[arg-type]
                                             application_name="converge-monitor-replica")
                self._conn.execute("SELECT pg_advisory_lock(%s, %s)", (NAMESPACE, self.id))
            rows = self._conn.execute(
                "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2 "
                "AND classid = %s::bigint::oid AND database = (SELECT oid FROM pg_database "
                "WHERE datname = current_database())", (NAMESPACE,)).fetchall()
            live = sorted({int(r[0]) for r in rows} | {self.id})
        except psycopg.Error as exc:
            log.warning("replicas: store unreachable, probing every target", extra={"error": type(exc).__name__})
            self._close()
            live = [self.id]  # alone as far as we can tell: every target
        return live

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    def release(self) -> None:
        with self._lock:
            self._close()
