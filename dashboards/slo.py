"""4. SLOs and error budgets: budget left, burn rates, SLI per window — from the raw request metrics.

The SLO work adds recording rules (slo:sli_error:ratio_rate5m and friends); these panels compute the
same numbers from http_requests_total and the latency histogram directly, so the dashboard works on a
Prometheus that has not loaded those rules. Objectives (the spec's): availability 99.5 % of requests
not 5xx; latency 95 % of requests within 500 ms, read from the le="0.5" bucket so it is exact.

The event window (Jan 28-30, calendar-bounded) is the dashboard's time range: the "Event days" link
sets it, and the "selected range" panels compute the SLI and budget over exactly that range.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dashboards import promql as p
from dashboards.builder import GREEN, ORANGE, RED, YELLOW, Link, Q, build_dashboard, stat_panel, timeseries_panel
from dashboards.signal_panels import graph, latest
from monitor.core.signals import signal

UID = "converge-slo"
AVAILABILITY = 0.995
LATENCY = 0.95
LATENCY_LE = "0.5"  # an exact bucket boundary of http_request_duration_seconds (app/metrics.py)
PERIOD = "30d"
PERIOD_MINUTES = 30 * 24 * 60
SLI_WINDOWS = ("1h", "1d", "7d", PERIOD)
BURN_WINDOWS = ("5m", "30m", "1h", "6h", "3d")
# The SRE Workbook's multiwindow pairs for a 30-day SLO: (long, short, burn rate), page / page / ticket.
BURN_ALERTS = (("1h", "5m", 14.4), ("6h", "30m", 6.0), ("3d", "6h", 1.0))
BURN_STEPS = [(None, GREEN), (1.0, YELLOW), (6.0, ORANGE), (14.4, RED)]

# The event (spec: January 28-30), days inclusive in the event's time zone; monitor.yml's `event:` agrees
# (tests/dashboards/test_dashboards.py checks it).
EVENT_START, EVENT_END, EVENT_TIMEZONE = date(2026, 1, 28), date(2026, 1, 30), "America/Los_Angeles"


def event_range_ms() -> tuple[int, int]:
    zone = ZoneInfo(EVENT_TIMEZONE)
    start = datetime.combine(EVENT_START, time(0), zone)
    end = datetime.combine(EVENT_END + timedelta(days=1), time(0), zone)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def availability_error(window: str) -> str:
    return p.error_ratio(window)


def latency_error(window: str) -> str:
    return p.slow_ratio(LATENCY_LE, window)


def availability_sli(window: str) -> str:
    return f"1 - ({availability_error(window)})"


def latency_sli(window: str) -> str:
    return p.fast_ratio(LATENCY_LE, window)


def _pct(x: float) -> str:
    return f"{x * 100:g} %"


def _sli_row(name: str, sli: Any, objective: float) -> list[Any]:
    steps = [(None, RED), (objective, GREEN)]
    panels = [stat_panel(f"{name} SLI, last {w}", [Q(sli(w))], unit="percentunit", decimals=3,
                         steps=steps, width=4) for w in SLI_WINDOWS]
    panels.append(stat_panel(f"{name} SLI, selected range", [Q(sli(p.RANGE))], unit="percentunit",
                             decimals=3, steps=steps, width=4,
                             description="Over the dashboard's time range: pick the 'Event days' link for "
                                         "the event-window SLO."))
    panels.append(stat_panel(f"{name} objective", [Q(f"vector({objective:g})")], unit="percentunit", decimals=1,
                             width=4, description=f"{name} SLO: {_pct(objective)} over {PERIOD}."))
    return panels


def _budget_row(name: str, error: Any, objective: float) -> list[Any]:
    budget = 1 - objective
    left = f"1 - ({error(PERIOD)}) / {budget:g}"
    left_range = f"1 - ({error(p.RANGE)}) / {budget:g}"
    return [
        stat_panel(f"{name} budget left ({PERIOD})", [Q(left)], unit="percentunit", decimals=1, width=6,
                   steps=[(None, RED), (0.25, ORANGE), (0.5, GREEN)], background=True,
                   description=f"1 - error ratio over {PERIOD} / {budget:g} (the budget a {_pct(objective)} "
                               "objective allows); below 0 the SLO is missed."),
        stat_panel(f"{name} budget left, minutes ({PERIOD})",
                   [Q(f"({budget:g} - ({error(PERIOD)})) * {PERIOD_MINUTES}")],
                   unit="m", decimals=0, width=6, steps=[(None, RED), (30, ORANGE), (60, GREEN)],
                   description=f"(budget - error ratio) x the {PERIOD} period in minutes: how long the API could "
                               f"still fail completely. The whole budget is {budget * PERIOD_MINUTES:g} minutes."),
        stat_panel(f"{name} budget left, selected range", [Q(left_range)], unit="percentunit", decimals=1, width=6,
                   steps=[(None, RED), (0.25, ORANGE), (0.5, GREEN)],
                   description="The same over the dashboard's time range (the event days with the link above)."),
        timeseries_panel(f"{name} budget left over time ({PERIOD})", [Q(left, "budget left")], unit="percentunit",
                         max_value=1, width=6, steps=[(None, RED), (0, ORANGE), (0.5, GREEN)]),
    ]


def _burn_row(name: str, error: Any, objective: float) -> list[Any]:
    budget = 1 - objective
    panels = [stat_panel(f"{name} burn {long} / {short} (alert at {factor:g})",
                         [Q(f"({error(long)}) / {budget:g}", long), Q(f"({error(short)}) / {budget:g}", short)],
                         unit="suffix:x", decimals=2, width=4, steps=BURN_STEPS,
                         description=f"Error ratio / {budget:g}; the multiwindow alert fires when both windows "
                                     f"burn faster than {factor:g}x.")
              for long, short, factor in BURN_ALERTS]
    panels.append(timeseries_panel(f"{name} burn rate per window",
                                   [Q(f"({error(w)}) / {budget:g}", w) for w in BURN_WINDOWS],
                                   unit="suffix:x", min_value=0, width=12, steps=BURN_STEPS,
                                   description="1x spends the budget exactly over the period; dashed lines at "
                                               "the 1, 6 and 14.4 alerting burn rates."))
    return panels


def build() -> dict[str, Any]:
    probe_success = signal("probe_success").metric_name
    synthetic = [
        stat_panel("Synthetic and health checks passing, last 1d",
                   [Q(f'avg by (target) (avg_over_time({probe_success}{{kind=~"http|synthetic"}}[1d]))', "{{target}}")],
                   unit="percentunit", decimals=2, width=12, steps=[(None, RED), (AVAILABILITY, GREEN)],
                   description="Share of the monitor's HTTP and synthetic checks that passed: the availability "
                               "users would see, independent of the API's own metrics."),
        timeseries_panel("SLIs per window",
                         [Q(availability_sli(w), f"availability {w}") for w in ("5m", "1h", "1d")]
                         + [Q(latency_sli(w), f"latency {w}") for w in ("5m", "1h", "1d")],
                         unit="percentunit", max_value=1, width=12,
                         steps=[(None, RED), (LATENCY, YELLOW), (AVAILABILITY, GREEN)]),
    ]
    # The monitor's own SLO evaluation (slo/): exact request counts, the event window's scaled burn windows,
    # and the values its burn-rate alerts fire on.
    monitor_slos = [
        latest("slo_error_budget_remaining", "Error budget left (monitor)", width=8,
               steps=[(None, RED), (0.25, ORANGE), (0.5, GREEN)]),
        latest("slo_error_budget_remaining_seconds", "Error budget left, time (monitor)", width=8),
        latest("slo_sli", "SLI over the period (monitor)", width=8),
        graph("slo_burn_rate", "Burn rate per window (monitor)", width=12, steps=BURN_STEPS),
        graph("slo_multiwindow_burn_rate", "Multiwindow burn rate: what the alerts compare (monitor)", width=12,
              steps=BURN_STEPS),
        graph("api_requests_counted", "Requests counted by the monitor", width=8),
        graph("api_requests_5xx_counted", "5xx counted by the monitor", width=8),
        graph("api_requests_le_counted", "Requests within each latency bound, counted by the monitor", width=8),
    ]
    start, end = event_range_ms()
    return build_dashboard(
        UID, "Converge SLOs and error budgets",
        f"Availability ({_pct(AVAILABILITY)} of requests not 5xx) and latency ({_pct(LATENCY)} within "
        f"{float(LATENCY_LE) * 1000:g} ms) over {PERIOD} and over the event days: SLI per window, error budget "
        "left, multiwindow burn rates.",
        [("Availability: requests that are not 5xx", _sli_row("Availability", availability_sli, AVAILABILITY)),
         (None, _budget_row("Availability", availability_error, AVAILABILITY)),
         (None, _burn_row("Availability", availability_error, AVAILABILITY)),
         (f"Latency: requests within {float(LATENCY_LE) * 1000:g} ms", _sli_row("Latency", latency_sli, LATENCY)),
         (None, _budget_row("Latency", latency_error, LATENCY)),
         (None, _burn_row("Latency", latency_error, LATENCY)),
         ("Checks from outside", synthetic),
         ("Computed by the monitor (30 days and the event window)", monitor_slos)],
        tags=("slo",), time_from="now-7d",
        links=[Link("Event days (Jan 28-30)", f"/d/{UID}?from={start}&to={end}",
                    "Sets the time range to the event window, for the 'selected range' panels"),
               Link("Last 30 days", f"/d/{UID}?from=now-30d&to=now")])
