"""The lean request accumulators expose exactly what prometheus_client's Histogram and Counter would."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from app.metrics import LATENCY_BUCKETS, RequestStats, RequestStatsCollector


def test_same_exposition_as_prometheus_client_including_bucket_boundaries() -> None:
    rng = random.Random(7)
    stats = RequestStats()
    reference = CollectorRegistry()
    labels = ("method", "route", "status_code")
    hist = Histogram("http_request_duration_seconds", "Duration of HTTP requests in seconds", labels,
                     buckets=LATENCY_BUCKETS, registry=reference)
    total = Counter("http_requests_total", "Total number of HTTP requests", labels, registry=reference)
    keys = [("GET", "/v1/sessions", 200), ("POST", "/v1/sessions/{session_id}/rsvp", 404),
            ("GET", "__unmatched__", 404)]
    values = [rng.expovariate(5) for _ in range(3000)] + list(LATENCY_BUCKETS) + [0.0, 50.0]
    for i, seconds in enumerate(values):
        method, route, status = keys[i % len(keys)]
        stats.start()
        stats.finish(method, route, status, seconds)
        hist.labels(method, route, str(status)).observe(seconds)
        total.labels(method, route, str(status)).inc()
    ours = CollectorRegistry()
    ours.register(RequestStatsCollector(stats))

    def samples(registry: CollectorRegistry) -> set[str]:
        text = generate_latest(registry).decode()
        return {line for line in text.splitlines() if line and not line.startswith("#") and "_created" not in line
                and not line.startswith("http_requests_in_flight")}

    assert samples(ours) == samples(reference)
    assert stats.in_flight == 0
