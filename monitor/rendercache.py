"""Expensive read-only pages (the board, /metrics) rendered off the event loop, one render at a time.

The loop also runs the probes: a render on it (65,000 scrubbed strings for a 5,000-target board) delays every
check due meanwhile. Here the render runs in a worker thread; callers that arrive while one is running share
it; and a render that took longer than `slow` is reused for `ttl` seconds (the page's refresh interval), so
ten screens polling a big board cost one render per refresh, while a small board stays live on every request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Entry(Generic[T]):
    value: T
    until: float


class RenderCache(Generic[T]):
    def __init__(self, ttl: float, slow: float = 0.1, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.slow = slow
        self.clock = clock
        self.renders = 0  # how many renders ran (the rest were shared or cached)
        self._done: dict[str, _Entry[T]] = {}
        self._running: dict[str, asyncio.Future[T]] = {}

    async def get(self, key: str, render: Callable[[], T]) -> T:
        entry = self._done.get(key)
        if entry is not None and self.clock() < entry.until:
            return entry.value
        running = self._running.get(key)
        if running is None:
            running = self._running[key] = asyncio.ensure_future(self._render(key, render))
        return await asyncio.shield(running)

    async def _render(self, key: str, render: Callable[[], T]) -> T:
        try:
            started = self.clock()
            value = await asyncio.to_thread(render)
            self.renders += 1
            took = self.clock() - started
            if took >= self.slow:
                self._done[key] = _Entry(value, self.clock() + self.ttl)
            else:
                self._done.pop(key, None)
            return value
        finally:
            self._running.pop(key, None)
