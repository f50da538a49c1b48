"""How long each kind of history is kept, and the task that applies it a small batch at a time.

    retention_loop(store)        # a task of `converge-monitor run`: never holds the store for long

Each `Store.retain(now)` call is one short transaction over at most `batch` rows of the oldest work
(rolling raw samples into minute rollups, minute into coarse ones, dropping what is past its
retention); the loop calls it until nothing is due, then sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("converge.store")
HOUR = 3600.0
DAY = 86400.0


@dataclass(frozen=True)
class Retention:
    history: float = 30 * DAY  # coarse rollups (and so any history) are kept this long
    raw: float = 6 * HOUR  # raw samples: the board's sparklines, alert staleness, recent reads
    minute: float = 2 * DAY  # per-minute rollups and SLO count buckets, then coarse ones
    coarse: float = HOUR  # the width of the coarse rollups and SLO buckets
    counts: float = 400 * DAY  # SLO count buckets: a past event's budget stays readable for a year
    outbox: float = 30 * DAY  # delivered or given-up notifications (the report's incident history)
    batch: int = 5000  # rows per retention transaction
    every: float = 60.0  # seconds between retention passes once nothing is due

    def __post_init__(self) -> None:
        if not 0 < self.raw <= self.minute:
            raise ValueError("raw retention must be positive and at most the minute rollups' retention")
        if self.coarse < 60 or self.coarse % 60:
            raise ValueError("the coarse rollup width must be a whole number of minutes")
        if self.batch < 1:
            raise ValueError("the retention batch must be at least 1 row")

    @classmethod
    def for_history(cls, history: float) -> Retention:
        """Defaults for a store told only its retention (tests, tools): shorter windows shrink to fit."""
        raw = min(cls.raw, history)
        return cls(history=history, raw=raw, minute=max(raw, min(cls.minute, history)))


class Retaining(Protocol):
    retention_policy: Retention

    def retain(self, now: float) -> int: ...


async def retention_loop(store: Retaining, active: Callable[[], bool] = lambda: True,
                         clock: Callable[[], float] = time.time) -> None:
    """Apply the retention for ever: batches back to back while work is due, one pass per `every`; only
    while `active()` (the leader: two replicas folding the same rows would count them twice)."""
    while True:
        try:
            while active() and await asyncio.to_thread(store.retain, clock()):
                await asyncio.sleep(0)  # let the writer and the readers in between batches
        except Exception:  # the next pass tries again; history only grows meanwhile
            log.exception("retention pass failed")
        await asyncio.sleep(store.retention_policy.every)
