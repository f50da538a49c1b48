"""Scrape the API's /metrics and compute its golden signals over a window, the Prometheus way.

Each run scrapes every instance URL, keeps the counter and bucket samples of the last `window`
seconds in ctx.state, and evaluates at the scrape time what these PromQL expressions would give
(the instance label is the URL, so series of different instances stay apart):

    histogram_quantile(q, sum by (le) (rate(http_request_duration_seconds_bucket[W])))          route '*'
    histogram_quantile(q, sum by (route, le) (rate(http_request_duration_seconds_bucket[W])))   per route
    sum(rate(http_requests_total{status_code=~"5.."}[W])) / sum(rate(http_requests_total[W]))
    60 * sum(rate(http_requests_total[W]))          (and / number of instances)
    60 * sum(rate(converge_unhandled_exceptions_total[W]))
    max by instance of rate(process_cpu_seconds_total[W]) / converge_instance_cpu_limit_cores

Gauges (memory, websockets, in-flight, DB pool) come from the latest scrape. A rate needs two
scrapes in the window: with fewer, rate-based signals are unknown, never 0.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from monitor.core import promql
from monitor.core.api_contract import (
    BUCKET,
    CPU,
    CPU_LIMIT,
    DB_POOL_IN_USE,
    DB_POOL_MAX,
    DB_POOL_WAITING,
    IN_FLIGHT,
    INSTANCE,
    MEMORY,
    MEMORY_LIMIT,
    READ_METRICS,
    REQUESTS,
    UNHANDLED,
    WEBSOCKETS,
)
from monitor.core.observation import NOTHING_TO_MEASURE, Observation, unknown
from monitor.core.redact import safe_url
from monitor.core.targets import ApiMetricsTarget
from probes.base import ProbeContext
from probes.request_counts import RequestTracker

KIND = "api_metrics"
STATE_KEY = "api_metrics"
COUNTS_KEY = "slo_counts"  # exact request counts for the SLOs (probes/request_counts.py)
QUANTILES = {"api_latency_p50_seconds": 0.5, "api_latency_p95_seconds": 0.95, "api_latency_p99_seconds": 0.99}

COUNTERS = frozenset({BUCKET, REQUESTS, UNHANDLED, CPU})
# The start time tells probes/request_counts.py of a restart.
GAUGES = frozenset(READ_METRICS) - COUNTERS
RATE_SIGNALS = ("api_latency_p50_seconds", "api_latency_p95_seconds", "api_latency_p99_seconds", "api_error_ratio",
                "api_requests_per_minute", "api_requests_per_minute_per_instance",
                "api_unhandled_errors_per_minute", "api_cpu_ratio")
GAUGE_SIGNALS = ("api_memory_ratio", "api_websocket_connections", "api_requests_in_flight",
                 "api_db_pool_utilization", "api_db_pool_waiting")

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]  # (metric name, sorted labels including instance)
Series = Mapping[SeriesKey, Sequence[promql.Sample]]


@dataclass
class History:
    """What the probe keeps between runs: counter samples and complete-scrape times of the window."""

    series: dict[SeriesKey, list[promql.Sample]] = field(default_factory=dict)
    scrapes: list[float] = field(default_factory=list)

    def add(self, timestamp: float, samples: Iterable[tuple[str, dict[str, str], float]]) -> None:
        ms = promql.to_ms(timestamp)
        for name, labels, value in samples:
            kept = self.series.setdefault((name, tuple(sorted(labels.items()))), [])
            if kept and promql.to_ms(kept[-1][0]) >= ms:
                continue  # like Prometheus, a duplicate or out-of-order sample is not stored
            kept.append((timestamp, value))

    def prune(self, now: float, window: float) -> None:
        # Keep exactly what a range selector [window] at `now` sees, in Prometheus's milliseconds.
        oldest = promql.to_ms(now) - promql.to_ms(window)
        for key in list(self.series):
            kept = [s for s in self.series[key] if promql.to_ms(s[0]) >= oldest]
            if kept:
                self.series[key] = kept
            else:
                del self.series[key]
        self.scrapes = [t for t in self.scrapes if promql.to_ms(t) >= oldest]


@dataclass(frozen=True)
class Scrape:
    instance: str
    samples: list[tuple[str, dict[str, str], float]] | None = None
    error: str | None = None

    def gauge(self, name: str) -> float | None:
        values = [v for n, _, v in self.samples or () if n == name]
        return sum(values) if values else None


# ---- pure evaluation over stored series ----------------------------------------------------------

def _label(key: SeriesKey, name: str) -> str | None:
    return dict(key[1]).get(name)


def series_rates(series: Series, name: str, end: float, window: float) -> dict[SeriesKey, float]:
    """`rate(name[window])` at `end` per series; a series with fewer than two samples has none (as in Prometheus)."""
    out: dict[SeriesKey, float] = {}
    for key, samples in series.items():
        if key[0] == name and (r := promql.rate(samples, end, window)) is not None:
            out[key] = r
    return out


def sum_by(rates: Mapping[SeriesKey, float], by: Callable[[SeriesKey], str | None] | None = None,
           where: Callable[[SeriesKey], bool] | None = None) -> dict[str | None, float]:
    """`sum by (...)` over per-series values, optionally filtered; the group is None without `by`."""
    out: dict[str | None, float] = {}
    for key, value in rates.items():
        if where is None or where(key):
            group = by(key) if by is not None else None
            out[group] = out.get(group, 0.0) + value
    return out


def sum_rates(series: Series, name: str, end: float, window: float,
              by: Callable[[SeriesKey], str | None] | None = None,
              where: Callable[[SeriesKey], bool] | None = None) -> dict[str | None, float]:
    """`sum by (...) (rate(name[window]))` at `end`: rate per series first, then the sum per group."""
    return sum_by(series_rates(series, name, end, window), by, where)


def bucket_quantile(bucket_rates: Mapping[SeriesKey, float], q: float, route: str | None = None) -> float:
    """histogram_quantile(q, sum by (le) (bucket rates)), optionally of one route; NaN when undefined."""
    where = None if route is None else (lambda k: _label(k, "route") == route)
    by_le = sum_by(bucket_rates, by=lambda k: _label(k, "le"), where=where)
    return promql.histogram_quantile(q, ((le, v) for le, v in by_le.items() if le is not None))


def latency_quantile(series: Series, q: float, end: float, window: float, route: str | None = None) -> float:
    """histogram_quantile(q, sum by (le) (rate(bucket[window]))) at `end`, optionally of one route."""
    return bucket_quantile(series_rates(series, BUCKET, end, window), q, route)


def _routes(series: Series) -> list[str]:
    return sorted({r for k in series if k[0] == BUCKET and (r := _label(k, "route")) is not None})


# ---- scraping ------------------------------------------------------------------------------------

def parse_metrics(text: str, instance: str) -> list[tuple[str, dict[str, str], float]]:
    """The samples this probe reads, each labelled with its instance like Prometheus does."""
    out = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name in COUNTERS or s.name in GAUGES:
                out.append((s.name, {**s.labels, INSTANCE: instance}, float(s.value)))
    return out


async def _scrape(client: httpx.AsyncClient, url: str, timeout: float) -> Scrape:
    instance = safe_url(url)
    try:
        resp = await client.get(url, timeout=timeout, headers={"Accept": "text/plain;version=0.0.4"})
    except httpx.TimeoutException:
        return Scrape(instance, error=f"{instance}: timed out after {timeout:g}s")
    except httpx.HTTPError as exc:
        return Scrape(instance, error=f"{instance}: {type(exc).__name__}: {exc}".replace(url, instance))
    if resp.status_code != 200:
        return Scrape(instance, error=f"{instance}: HTTP {resp.status_code}")
    try:
        return Scrape(instance, samples=parse_metrics(resp.text, instance))
    except ValueError as exc:
        return Scrape(instance, error=f"{instance}: unparseable metrics: {exc}")


async def _scrape_all(target: ApiMetricsTarget, ctx: ProbeContext) -> list[Scrape]:
    urls = [str(u) for u in target.urls]
    if ctx.http is not None:
        return list(await asyncio.gather(*(_scrape(ctx.http, u, target.timeout) for u in urls)))
    async with httpx.AsyncClient(timeout=target.timeout) as client:
        return list(await asyncio.gather(*(_scrape(client, u, target.timeout) for u in urls)))


# ---- the probe -----------------------------------------------------------------------------------

class _Out:
    def __init__(self, target: str, now: float) -> None:
        self.target, self.now = target, now
        self.items: list[Observation] = []

    def value(self, signal: str, value: float | None, error: str = "", details: dict[str, object] | None = None,
              **labels: str) -> None:
        all_labels = {"target": self.target, **labels}
        if value is None or math.isnan(value):
            self.items.append(unknown(signal, self.now, error or "no value", all_labels))
        else:
            self.items.append(Observation(signal, float(value), self.now, all_labels, details=details))

    def unknown(self, signals: Iterable[str], error: str, routes: Iterable[str] = ()) -> None:
        """Every signal unknown; latency ones for route '*' and each route seen in the window."""
        routes = ["*", *routes]
        for s in signals:
            if s in QUANTILES:
                for route in routes:
                    self.value(s, None, error, route=route)
            else:
                self.value(s, None, error)


def _rate_signals(out: _Out, series: Series, now: float, window: float, instances: list[str],
                  scrapes: Sequence[Scrape]) -> None:
    no_requests = NOTHING_TO_MEASURE
    buckets = series_rates(series, BUCKET, now, window)
    routes = _routes(series)
    for signal, q in QUANTILES.items():
        out.value(signal, bucket_quantile(buckets, q), no_requests, route="*")
        for route in routes:
            out.value(signal, bucket_quantile(buckets, q, route), no_requests, route=route)

    requests = series_rates(series, REQUESTS, now, window)
    by_instance = sum_by(requests, by=lambda k: _label(k, INSTANCE))
    total = sum(by_instance.values()) if by_instance else None
    errors = sum(sum_by(requests, where=lambda k: (_label(k, "status_code") or "").startswith("5")).values())
    out.value("api_error_ratio", errors / total if total else None, no_requests)
    per_instance = {str(i): round(60 * v, 6) for i, v in by_instance.items()}
    out.value("api_requests_per_minute", None if total is None else 60 * total, no_requests,
              details={"per_instance": per_instance})
    out.value("api_requests_per_minute_per_instance", None if total is None else 60 * total / len(instances),
              no_requests, details={"per_instance": per_instance})
    # No exception yet means no labelled series at all: that is a rate of 0, not unknown.
    out.value("api_unhandled_errors_per_minute", 60 * sum(sum_rates(series, UNHANDLED, now, window).values()))

    cpu_by_instance = sum_rates(series, CPU, now, window, by=lambda k: _label(k, INSTANCE))
    ratios: dict[str, float] = {}
    for scrape in scrapes:
        limit = scrape.gauge(CPU_LIMIT)
        used = cpu_by_instance.get(scrape.instance)
        if used is None or not limit:
            out.value("api_cpu_ratio", None, f"{scrape.instance}: no CPU rate or CPU limit in the scrape")
            break
        ratios[scrape.instance] = used / limit
    else:
        out.value("api_cpu_ratio", max(ratios.values()), details={"per_instance": ratios})


def _max_ratio(scrapes: Sequence[Scrape], used: str, limit: str) -> tuple[float | None, str, dict[str, float]]:
    ratios: dict[str, float] = {}
    for scrape in scrapes:
        u, lim = scrape.gauge(used), scrape.gauge(limit)
        if u is None or not lim:
            return None, f"{scrape.instance}: {used} or a non-zero {limit} missing from the scrape", {}
        ratios[scrape.instance] = u / lim
    return max(ratios.values()), "", ratios


def _sum_gauge(scrapes: Sequence[Scrape], name: str) -> tuple[float | None, str]:
    values = [s.gauge(name) for s in scrapes]
    missing = [s.instance for s, v in zip(scrapes, values, strict=True) if v is None]
    if missing:
        return None, f"{name} missing from the scrape of {', '.join(missing)}"
    return sum(v for v in values if v is not None), ""


def _gauge_signals(out: _Out, scrapes: Sequence[Scrape]) -> None:
    value, error, per = _max_ratio(scrapes, MEMORY, MEMORY_LIMIT)
    out.value("api_memory_ratio", value, error, details={"per_instance": per})
    for signal, name in (("api_websocket_connections", WEBSOCKETS),
                         ("api_requests_in_flight", IN_FLIGHT),
                         ("api_db_pool_waiting", DB_POOL_WAITING)):
        total, error = _sum_gauge(scrapes, name)
        out.value(signal, total, error)
    value, error, per = _max_ratio(scrapes, DB_POOL_IN_USE, DB_POOL_MAX)
    out.value("api_db_pool_utilization", value, error, details={"per_instance": per})


def _replica_signals(out: _Out, target: ApiMetricsTarget) -> None:
    """How many replicas scaling advice may remove or add: the target's instances (one URL each) against its
    min_replicas..max_replicas (spec 11.2). Known from the config, so known even while a scrape fails."""
    instances = len(target.urls)
    bounds = {"instances": instances, "min_replicas": target.min_replicas, "max_replicas": target.max_replicas}
    out.value("api_instances", instances, details=bounds)
    out.value("api_scale_down_room", instances - target.min_replicas, details=bounds)
    out.value("api_scale_up_room", target.max_replicas - instances, details=bounds)


async def run(target: ApiMetricsTarget, ctx: ProbeContext) -> list[Observation]:
    now = ctx.now()
    scrapes = await _scrape_all(target, ctx)
    history: History = ctx.state.setdefault(STATE_KEY, History())
    counts: RequestTracker = ctx.state.setdefault(COUNTS_KEY, RequestTracker())
    for scrape in scrapes:
        if scrape.samples is not None:
            history.add(now, ((n, lab, v) for n, lab, v in scrape.samples if n in COUNTERS))
            counts.update(scrape.instance, scrape.samples)
    failed = [s for s in scrapes if s.error is not None]
    if not failed and (not history.scrapes or promql.to_ms(history.scrapes[-1]) < promql.to_ms(now)):
        history.scrapes.append(now)
    history.prune(now, target.window)

    out = _Out(target.name, now)
    up = 0.0 if failed else 1.0
    status = {s.instance: s.error or "ok" for s in scrapes}
    out.value("api_up", up, details={"instances": status})
    _replica_signals(out, target)
    out.items.append(Observation("probe_success", up, now, {"target": target.name, "kind": KIND},
                                 error="; ".join(s.error or "" for s in failed) or None))
    if failed:
        reason = f"scrape failed: {'; '.join(s.error or '' for s in failed)}"
        out.unknown(RATE_SIGNALS + GAUGE_SIGNALS, reason, _routes(history.series))
        out.items += counts.observations(target.name, now, error=reason)
        return out.items
    out.items += counts.observations(target.name, now)

    if len(history.scrapes) < 2:
        out.unknown(RATE_SIGNALS, f"need two scrapes in the {target.window:g}s window to compute a rate "
                                  f"(have {len(history.scrapes)})", _routes(history.series))
    else:
        _rate_signals(out, history.series, now, target.window, [s.instance for s in scrapes], scrapes)
    _gauge_signals(out, scrapes)
    return out.items
