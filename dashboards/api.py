"""1. API overview: traffic, errors, latency per route, load, business activity, and the monitor's view."""

from __future__ import annotations

from typing import Any

from dashboards import promql as p
from dashboards import signal_panels as s
from dashboards.builder import (
    GREEN,
    ORANGE,
    RED,
    YELLOW,
    Q,
    QueryVariable,
    build_dashboard,
    stat_panel,
    timeseries_panel,
)

UID = "converge-api"
ROUTE = 'route=~"$route"'
ERROR_STEPS = [(None, GREEN), (0.05, ORANGE), (0.10, RED)]  # the ErrorRateHigh / ErrorRateCritical thresholds
LATENCY_STEPS = [(None, GREEN), (0.5, YELLOW), (2.0, RED)]  # the 500 ms SLO, LatencyP95High


def _quantile_panel(q: float) -> Any:
    return timeseries_panel(f"p{round(q * 100)} latency per route",
                            [Q(p.latency_quantile(q, p.RATE, ROUTE, by="route"), "{{route}}")],
                            unit="s", min_value=0, steps=LATENCY_STEPS,
                            description=f"histogram_quantile({q:g}) of http_request_duration_seconds per route "
                                        "template; '__unmatched__' is every request that matched no route (404s).")


def build() -> dict[str, Any]:
    overview = [
        stat_panel("Requests / s", [Q(p.sum_rate(p.REQUESTS, p.RATE, ROUTE))], unit="reqps", sparkline=True),
        stat_panel("5xx ratio", [Q(p.error_ratio(p.RATE, ROUTE))], unit="percentunit", steps=ERROR_STEPS,
                   sparkline=True, decimals=2),
        stat_panel("p95 latency", [Q(p.latency_quantile(0.95, p.RATE, ROUTE))], unit="s", steps=LATENCY_STEPS,
                   sparkline=True),
        stat_panel("Open websockets", [Q("sum(converge_websocket_connections)")], sparkline=True,
                   description="converge_websocket_connections: attendees connected for live messages"),
    ]
    traffic = [
        timeseries_panel("Request rate per route", [Q(p.sum_rate(p.REQUESTS, p.RATE, ROUTE, by="route"), "{{route}}")],
                         unit="reqps", min_value=0, stacked=True),
        timeseries_panel("Responses per status code",
                         [Q(p.sum_rate(p.REQUESTS, p.RATE, ROUTE, by="status_code"), "{{status_code}}")],
                         unit="reqps", min_value=0, stacked=True),
        timeseries_panel("5xx error ratio", [Q(p.error_ratio(p.RATE, ROUTE), "5xx / all")], unit="percentunit",
                         min_value=0, steps=ERROR_STEPS,
                         description="Share of responses with a 5xx status; dashed lines at the 5 % (high) and "
                                     "10 % (critical) alert thresholds."),
        timeseries_panel("Unhandled exceptions", [
            Q(f"{p.sum_rate('converge_unhandled_exceptions_total', p.RATE, by='route, exception')} or on() vector(0)",
              "{{route}} {{exception}}")], unit="short", min_value=0,
            description="converge_unhandled_exceptions_total per second: exceptions no handler caught (answered "
                        "500); Sentry has the stack traces."),
    ]
    latency = [_quantile_panel(0.5), _quantile_panel(0.95), _quantile_panel(0.99),
               timeseries_panel("Latency, all routes", [
                   Q(p.latency_quantile(0.5, p.RATE, ROUTE), "p50"),
                   Q(p.latency_quantile(0.95, p.RATE, ROUTE), "p95"),
                   Q(p.latency_quantile(0.99, p.RATE, ROUTE), "p99")], unit="s", min_value=0, steps=LATENCY_STEPS)]
    load = [
        timeseries_panel("Requests in flight", [Q("sum(http_requests_in_flight)", "in flight")], min_value=0, width=8),
        timeseries_panel("Open websockets", [Q("sum(converge_websocket_connections)", "websockets")], min_value=0,
                         width=8),
        timeseries_panel("CPU and memory of each instance", [
            Q(f"{p.rate('process_cpu_seconds_total')} / on(instance) converge_instance_cpu_limit_cores",
              "CPU {{instance}}"),
            Q("process_resident_memory_bytes / on(instance) converge_instance_memory_limit_bytes",
              "memory {{instance}}")], unit="percentunit", min_value=0, max_value=1, width=8,
            steps=[(None, GREEN), (0.7, ORANGE), (0.85, RED)],
            description="Used / available to the instance (cgroup limits when set); the join on "
                        "converge_instance_* keeps only the API's processes."),
    ]
    business = [
        timeseries_panel("Logins per outcome", [
            Q(p.sum_rate("converge_logins_total", p.RATE, by="outcome"), "{{outcome}}")], unit="short",
            min_value=0, width=12),
        timeseries_panel("Attendee activity", [
            Q(p.sum_rate("converge_rsvps_total"), "RSVPs"),
            Q(p.sum_rate("converge_connections_total"), "connections (QR scans)"),
            Q(p.sum_rate("converge_messages_total"), "messages")], unit="short", min_value=0, width=12,
            description="New RSVPs, connections and messages per second."),
    ]
    monitor_view = [
        s.latest("api_up", "Metrics scrape", width=4),
        s.latest("api_latency_p95_seconds", "p95 (monitor's window)", 'route="*"', steps=LATENCY_STEPS, width=4),
        s.latest("api_error_ratio", "5xx ratio (monitor's window)", steps=ERROR_STEPS, width=4, decimals=2),
        s.latest("api_requests_per_minute", "Requests / min", width=4),
        s.latest("api_requests_per_minute_per_instance", "Requests / min per instance", width=4),
        s.latest("api_unhandled_errors_per_minute", "Unhandled errors / min", width=4),
        s.graph("api_latency_p50_seconds", "p50 per route (monitor)", width=8),
        s.graph("api_latency_p95_seconds", "p95 per route (monitor)", width=8),
        s.graph("api_latency_p99_seconds", "p99 per route (monitor)", width=8),
        s.graph("api_cpu_ratio", "CPU used / available", width=6),
        s.graph("api_memory_ratio", "Memory used / available", width=6),
        s.graph("api_websocket_connections", "Open websockets", width=6),
        s.graph("api_requests_in_flight", "Requests in flight", width=6),
        # spec 11.2's replica bounds: scaling advice needs room to scale in its direction
        s.latest("api_instances", "API instances", width=8),
        s.latest("api_scale_down_room", "Replicas above the floor (scale-down room)", width=8),
        s.latest("api_scale_up_room", "Replicas below the ceiling (scale-up room)", width=8),
    ]
    return build_dashboard(
        UID, "Converge API overview",
        "Request rate, errors, latency per route, load and attendee activity of the Converge API, from its "
        "/metrics; the last row shows the values the monitor's alert rules read.",
        [(None, overview), ("Traffic and errors", traffic), ("Latency", latency), ("Load", load),
         ("Attendee activity", business), ("As the monitor computes it (alert rule inputs)", monitor_view)],
        tags=("api",),
        variables=[QueryVariable("route", "Route", f"label_values({p.REQUESTS}, route)")])
