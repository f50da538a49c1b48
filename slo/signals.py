"""The signals the SLO pipeline adds to the catalog (monitor/signals.py declares them; see the names here).

The api_metrics probe emits the three `api_requests_*_counted` counters (slo/counts.py); the SLO
evaluator (slo/evaluate.py) emits the `slo_*` signals, which the alert rules of slo/alerting.py read.
"""

from __future__ import annotations

from monitor.signals import Signal
from slo.counts import SIGNAL_5XX, SIGNAL_LE, SIGNAL_REQUESTS

SLI = "slo_sli"
BUDGET_REMAINING = "slo_error_budget_remaining"
BUDGET_REMAINING_SECONDS = "slo_error_budget_remaining_seconds"
BURN_RATE = "slo_burn_rate"
MULTIWINDOW_BURN_RATE = "slo_multiwindow_burn_rate"

# What monitor/signals.py must declare, exactly (tests/test_slo_signals.py compares).
SLO_SIGNALS: tuple[Signal, ...] = (
    Signal(SIGNAL_REQUESTS, "count", ("target",),
           "Requests counted by the monitor since it started, all instances (/metrics excluded)"),
    Signal(SIGNAL_5XX, "count", ("target",),
           "Requests answered 5xx, counted by the monitor since it started"),
    Signal(SIGNAL_LE, "count", ("target", "le"),
           "Requests that took at most `le` seconds, counted by the monitor since it started"),
    Signal(SLI, "ratio", ("slo", "period"), "Good events / all events over the SLO period so far"),
    Signal(BUDGET_REMAINING, "ratio", ("slo", "period"),
           "Error budget left: 1 untouched, 0 spent, below 0 overspent"),
    Signal(BUDGET_REMAINING_SECONDS, "seconds", ("slo", "period"),
           "Error budget left as time of full outage at the window's average traffic"),
    Signal(BURN_RATE, "factor", ("slo", "window"),
           "Error budget burn rate over a trailing window (1 = spends exactly the budget over the period)"),
    Signal(MULTIWINDOW_BURN_RATE, "factor", ("slo", "period", "windows"),
           "The lower of the long- and short-window burn rates of a burn-rate alert (it fires above its factor)"),
)
