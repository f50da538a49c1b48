"""The injected clock the tests hand to pure logic and workers: it says `now`, and moves only when told."""

from __future__ import annotations


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
