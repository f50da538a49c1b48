"""Probe results reach the store in batches: while one batch is being written (on the writer thread),
the results that arrive meanwhile gather into the next. One transaction and one thread hand-off per
batch instead of per check; each caller still waits until its own observations are committed, so a
result is never reported as recorded before it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Executor

from monitor.observation import Observation
from monitor.store.base import Store


class BatchWriter:
    def __init__(self, store: Store, executor: Executor) -> None:
        self.store = store
        self.executor = executor
        self._pending: list[Observation] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.batches = 0  # how many transactions wrote what the callers handed in

    async def write(self, observations: Sequence[Observation]) -> None:
        """Returns once `observations` are committed; raises what the store raised for their batch."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.extend(observations)
        self._waiters.append(done)
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        await asyncio.shield(done)  # a cancelled caller's rows are written all the same

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiters:
            batch, waiters = self._pending, self._waiters
            self._pending, self._waiters = [], []
            try:
                await loop.run_in_executor(self.executor, self.store.write, batch)
                self.batches += 1
            except Exception as exc:  # every caller of this batch learns it was not recorded
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
            else:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)

    async def drain(self) -> None:
        """Wait until everything handed in so far is written (or failed)."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)
