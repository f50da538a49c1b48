"""The API's request-metrics contract: what the monitor reads from the Converge API's /metrics.

The app (app/metrics.py) exposes these names; it imports nothing of the monitor, so
tests/app/test_app_metrics.py checks its exposition against this module. The probes, the SLO rules and
the dashboards read the names from here, and select series with the functions below.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from monitor.core import promql

EXCLUDED_ROUTES = ("/metrics",)  # never an SLI event: the scrapes themselves

# Every metric of the API's /metrics the monitor reads (app/metrics.py writes them).
REQUESTS = "http_requests_total"
DURATION = "http_request_duration_seconds"
BUCKET = f"{DURATION}_bucket"
IN_FLIGHT = "http_requests_in_flight"
UNHANDLED = "converge_unhandled_exceptions_total"
CPU = "process_cpu_seconds_total"
MEMORY = "process_resident_memory_bytes"
START_TIME = "process_start_time_seconds"
CPU_LIMIT = "converge_instance_cpu_limit_cores"
MEMORY_LIMIT = "converge_instance_memory_limit_bytes"
WEBSOCKETS = "converge_websocket_connections"
DB_POOL_IN_USE = "converge_db_pool_in_use"
DB_POOL_MAX = "converge_db_pool_max"
DB_POOL_WAITING = "converge_db_pool_waiting"
READ_METRICS = (REQUESTS, BUCKET, IN_FLIGHT, UNHANDLED, CPU, MEMORY, START_TIME, CPU_LIMIT, MEMORY_LIMIT, WEBSOCKETS,
                DB_POOL_IN_USE, DB_POOL_MAX, DB_POOL_WAITING)
INSTANCE = "instance"  # the label the monitor adds per scraped URL, as Prometheus does

INF = "+Inf"

RawSample = tuple[str, Mapping[str, str], float]  # (metric name, labels, value)
SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


def le_label(bound: float | str) -> str:
    """One spelling per bucket bound, whatever the exposition wrote: "0.5", "1", "+Inf"."""
    value = promql.parse_le(bound)
    return INF if math.isinf(value) and value > 0 else format(value, ".12g")


def is_server_error(labels: Mapping[str, str]) -> bool:
    return labels.get("status_code", "").startswith("5")


Selector = Callable[[str, Mapping[str, str]], bool]


def prometheus_increase(series: Mapping[SeriesKey, Sequence[promql.Sample]], selector: Selector, end: float,
                        window: float) -> float | None:
    """`sum(increase(<selected series>[window]))` at `end`, exactly as Prometheus evaluates it.

    None when no selected series has two samples in the window (Prometheus returns no element).
    """
    out: float | None = None
    for (name, labels), samples in series.items():
        if selector(name, dict(labels)):
            inc = promql.increase(samples, end, window)
            if inc is not None:
                out = inc if out is None else out + inc
    return out


def selector_requests(exclude_routes: Sequence[str] = EXCLUDED_ROUTES, errors_only: bool = False) -> Selector:
    def select(name: str, labels: Mapping[str, str]) -> bool:
        return (name == REQUESTS and labels.get("route") not in exclude_routes
                and (not errors_only or is_server_error(labels)))
    return select


def selector_bucket(le: float | str, exclude_routes: Sequence[str] = EXCLUDED_ROUTES) -> Selector:
    wanted = le_label(le)

    def select(name: str, labels: Mapping[str, str]) -> bool:
        return (name == BUCKET and labels.get("route") not in exclude_routes
                and le_label(labels.get("le", INF)) == wanted)
    return select
