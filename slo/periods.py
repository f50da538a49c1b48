"""The two SLO periods, as the evaluator, the alert rules and the Prometheus rules all see them.

    rolling  the last `rolling_period` (30d) at any moment; its alerts are the Workbook's 1h/6h/3d ones
    event    the event days (monitor.yml `event:`, whole local days, DST-aware); its alert windows are
             scaled to its length (slo/windows.py says why); its alerts only fire inside it
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.core.sections import EventWindow
from slo.spec import EVENT, ROLLING, Period, SlosConfig
from slo.windows import AlertWindows, Window, prom_duration, scale_policies, trailing, workbook_policies


@dataclass(frozen=True)
class PeriodDef:
    kind: Period
    label: str  # the `period` label: "30d" (the rolling length) or "event"
    length: float
    policies: tuple[AlertWindows, ...]
    calendar: Window | None = None  # the event's fixed window

    def window(self, now: float) -> Window:
        """The whole period around `now`: the trailing window, or the event's calendar window."""
        return self.calendar if self.calendar is not None else trailing(now, self.length)

    def covered(self, now: float) -> Window:
        """The part of the period behind us at `now`, over which counts are taken."""
        return self.calendar.so_far(now) if self.calendar is not None else trailing(now, self.length)

    def elapsed(self, now: float) -> float:
        return self.calendar.elapsed(now) if self.calendar is not None else self.length

    def alerting(self, now: float) -> bool:
        """Whether its burn-rate alerts may fire now (the event's only inside the event)."""
        return self.calendar is None or self.calendar.contains(now)


def event_calendar(event: EventWindow) -> Window:
    return Window(event.starts_at.timestamp(), event.ends_at.timestamp())


def periods(slos: SlosConfig, event: EventWindow | None) -> dict[Period, PeriodDef]:
    """The periods that exist with this config: rolling always, event when an event is configured."""
    rolling = PeriodDef(ROLLING, prom_duration(slos.rolling_period), slos.rolling_period,
                        scale_policies(workbook_policies(), slos.rolling_period, min_short=slos.min_short_window))
    out: dict[Period, PeriodDef] = {ROLLING: rolling}
    if event is not None:
        cal = event_calendar(event)
        out[EVENT] = PeriodDef(EVENT, EVENT, cal.length,
                               scale_policies(workbook_policies(), cal.length, min_short=slos.min_short_window), cal)
    return out
