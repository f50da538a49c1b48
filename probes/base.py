"""The one narrow interface every probe implements.

A probe is a module with `async def run(target, ctx) -> list[Observation]`. It raises nothing on a
failed check: a failure is an observation (success 0); an exception or timeout is turned into
unknown observations by the scheduler. Probes do no scheduling and know no thresholds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from monitor.core.observation import Observation


@dataclass
class ProbeContext:
    """What a probe may use: a clock, a shared HTTP client, and state kept between its runs."""

    clock: Callable[[], float] = time.time
    http: httpx.AsyncClient | None = None
    state: dict[str, Any] = field(default_factory=dict)

    def now(self) -> float:
        return self.clock()


class Probe(Protocol):
    async def __call__(self, target: Any, ctx: ProbeContext) -> list[Observation]: ...
