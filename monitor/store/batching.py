"""Probe results reach the store in batches: while one batch is being written (on the writer thread),
the results that arrive meanwhile gather into the next. One transaction and one thread hand-off per
batch instead of per check; each caller still waits until its own observations are committed, so a
result is never reported as recorded before it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Executor

from monitor.core.observation import Observation
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
        batch: list[Observation] = []
        waiters: list[asyncio.Future[None]] = []
        try:
            while self._waiters:
                batch, waiters = self._pending, self._waiters
                self._pending, self._waiters = [], []
                try:
                    await loop.run_in_executor(self.executor, self.store.write, batch)
                    self.batches += 1
                except Exception as exc:  # every caller of this batch learns it was not recorded
                    _settle(waiters, exc)
                else:
                    _settle(waiters, None)
        finally:
            # Cancelled (the loop is closing) or worse: nobody may wait for ever on a write that will not happen.
            _settle(waiters, RuntimeError("the store writer stopped: this batch may not have been written"))
            if self._waiters:  # only after an abnormal exit: a normal one leaves nothing waiting
                _settle(self._waiters, RuntimeError("the store writer stopped before this batch was written"))
                self._pending, self._waiters = [], []

    async def drain(self) -> None:
        """Wait until everything handed in so far is written (or failed)."""
        while self._waiters or (self._flusher is not None and not self._flusher.done()):
            if self._flusher is None or self._flusher.done():
                self._flusher = asyncio.get_running_loop().create_task(self._flush())
            await asyncio.shield(self._flusher)


def _settle(waiters: list[asyncio.Future[None]], outcome: BaseException | None) -> None:
    for waiter in waiters:
        if waiter.done():
            continue
        if outcome is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(outcome)
            waiter.add_done_callback(_retrieved)  # a cancelled caller never reads it: no "never retrieved" noise


def _retrieved(future: asyncio.Future[None]) -> None:
    future.exception()
