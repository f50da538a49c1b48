"""A recorded SLO history for the SLO tests: three event days' probes, one run a minute, with an outage."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from monitor.core.observation import Observation
from monitor.core.sections import EventWindow
from monitor.core.signals import SIGNAL_5XX, SIGNAL_LE, SIGNAL_REQUESTS

LA = ZoneInfo("America/Los_Angeles")


JAN = EventWindow(start=date(2026, 1, 28), end=date(2026, 1, 30), timezone="America/Los_Angeles")


def la(day: int, hour: int, minute: int = 0, second: int = 0) -> float:
    return datetime(2026, 1, day, hour, minute, second, tzinfo=LA).timestamp()


START = la(27, 20)  # four hours before the event


OUTAGE = (la(28, 2), la(28, 2, 20))  # 30% of requests fail, inside the event


DOWN = (la(28, 3), la(28, 3, 5))  # the health check fails


def history(until: float, start: float = START) -> list[Observation]:
    """What the api_metrics, http and synthetic probes would have written, one run a minute."""
    out = []
    requests = errors = fast = 0.0
    t = start
    while t <= until:
        if t > start:
            requests += 600
            errors += 180 if OUTAGE[0] < t <= OUTAGE[1] else 0
            fast += 590
        api = {"target": "api-metrics"}
        out += [Observation(SIGNAL_REQUESTS, requests, t, api), Observation(SIGNAL_5XX, errors, t, api),
                Observation(SIGNAL_LE, fast, t, {**api, "le": "0.5"}),
                Observation(SIGNAL_LE, requests, t, {**api, "le": "+Inf"})]
        up = 0.0 if DOWN[0] <= t < DOWN[1] else 1.0
        out.append(Observation("http_up", up, t, {"target": "api-health"}))
        flow = None if t == la(28, 3, 30) else 1.0  # one run hung: unknown, counted as failed
        out.append(Observation("synthetic_success", flow, t, {"flow": "login"}, error=None if flow else "timeout"))
        t += 60
    return out
