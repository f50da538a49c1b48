"""PromQL expressions over the API's raw metrics (app/metrics.py), written once for every dashboard.

Ratios whose numerator may have no series yet (no 5xx so far) use `or vector(0)`, so a healthy API
shows 0 % instead of "No data"; per-label breakdowns use `or on() vector(0)` for the same reason
without adding a stray unlabelled series when there is data.
"""

from __future__ import annotations

from monitor.core.api_contract import DURATION, REQUESTS

RATE = "$__rate_interval"  # Grafana picks it from the scrape interval and the panel's resolution
RANGE = "$__range"  # the dashboard's whole time range

SERVER_ERROR = 'status_code=~"5.."'


def sel(metric: str, *matchers: str) -> str:
    """`metric{a, b}`; matchers given as PromQL text, empty ones skipped."""
    inner = ", ".join(m for m in matchers if m)
    return f"{metric}{{{inner}}}" if inner else metric


def rate(metric: str, window: str = RATE, *matchers: str) -> str:
    return f"rate({sel(metric, *matchers)}[{window}])"


def sum_rate(metric: str, window: str = RATE, *matchers: str, by: str = "") -> str:
    group = f" by ({by})" if by else ""
    return f"sum{group} ({rate(metric, window, *matchers)})"


def error_ratio(window: str = RATE, *matchers: str) -> str:
    """5xx responses / all responses over `window` (0 when there were requests and no 5xx)."""
    errors = sum_rate(REQUESTS, window, SERVER_ERROR, *matchers)
    return f"({errors} or vector(0)) / {sum_rate(REQUESTS, window, *matchers)}"


def latency_quantile(q: float, window: str = RATE, *matchers: str, by: str = "") -> str:
    group = ", ".join(x for x in ("le", by) if x)
    return f"histogram_quantile({q:g}, {sum_rate(DURATION + '_bucket', window, *matchers, by=group)})"


def fast_ratio(threshold: str, window: str, *matchers: str) -> str:
    """Requests within the histogram bucket `threshold` (an exact `le` value) / all requests."""
    fast = sum_rate(DURATION + "_bucket", window, f'le="{threshold}"', *matchers)
    return f"{fast} / {sum_rate(DURATION + '_count', window, *matchers)}"


def slow_ratio(threshold: str, window: str, *matchers: str) -> str:
    """Requests slower than the bucket `threshold` / all requests."""
    return f"1 - ({fast_ratio(threshold, window, *matchers)})"


def increase_total(metric: str, window: str = RANGE) -> str:
    return f"sum(increase({metric}[{window}]))"


def count_or_zero(expr: str) -> str:
    return f"count({expr}) or vector(0)"


def firing(severity: str = "") -> str:
    """Prometheus's ALERTS series of firing alerts, optionally of one severity (= the monitor's tier)."""
    return sel("ALERTS", 'alertstate="firing"', f'severity="{severity}"' if severity else "")
