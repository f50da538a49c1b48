"""When a probe target runs next: APScheduler's IntervalTrigger with two changes.

- Jitter is added to the target's grid (start + k x interval), not to the previous jittered run, so
  the mean interval is the configured one (IntervalTrigger's jitter accumulates: +jitter/2 a run).
- Fire times are rounded up to a shared tick, so runs that fall due within one tick start together
  in one wake-up of the event loop: at hundreds of checks per second the loop's per-wake-up cost
  (epoll, timers, scheduler bookkeeping) is paid once per tick instead of once per check.
"""

from __future__ import annotations

import math
import random
from datetime import datetime
from typing import Any

from apscheduler.triggers.interval import IntervalTrigger

TICK = 0.1  # seconds; small against any interval and against the detection goal (15 s)


class TickedIntervalTrigger(IntervalTrigger):
    def __init__(self, seconds: float, jitter: float = 0.0, tick: float = TICK, **kwargs: Any) -> None:
        # Jitter and rounding stay below half an interval, so a run never lands in the next grid slot.
        self.tick = tick if tick <= seconds / 4 else 0.0
        super().__init__(seconds=seconds, jitter=max(0.0, min(jitter, seconds / 2 - self.tick)) or None, **kwargs)

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        start, length = self.start_date.timestamp(), self.interval_length
        if previous_fire_time is not None:
            # round, not floor: a fire time sits less than half an interval past its slot, and floor could
            # land one slot low after the microsecond round trip (the same time again: a loop in APScheduler).
            slot = round((previous_fire_time.timestamp() - start) / length) + 1
        elif self.start_date > now:
            slot = 0
        else:
            slot = math.ceil((now.timestamp() - start) / length)
        at = start + slot * length + (random.uniform(0, self.jitter) if self.jitter else 0.0)
        if self.tick:
            at = math.ceil(at / self.tick) * self.tick
        fire = datetime.fromtimestamp(at, tz=self.timezone)
        if self.end_date and fire > self.end_date:
            return None
        return fire

    def __str__(self) -> str:
        return f"ticked {super().__str__()}"
