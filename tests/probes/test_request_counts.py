"""Exact request counts from scrapes (probes/request_counts.py): the RequestTracker on the real API and edge cases."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.metrics import LATENCY_BUCKETS
from devstack import ApiServer
from monitor.core import promql
from monitor.core.api_contract import (
    BUCKET,
    REQUESTS,
    START_TIME,
    RawSample,
    le_label,
    prometheus_increase,
    selector_requests,
)
from monitor.core.signals import SIGNAL_5XX, SIGNAL_LE, SIGNAL_REQUESTS, SLO_SIGNALS
from monitor.store.sqlite import SqliteStore
from probes.request_counts import RequestTracker
from slo.service import SloService

DECLARED = {s.name: s for s in SLO_SIGNALS}


def req(route: str, status: str, value: float, method: str = "GET") -> RawSample:
    return REQUESTS, {"method": method, "route": route, "status_code": status}, value


def bucket(le: str, value: float, route: str = "/v1/ping") -> RawSample:
    return BUCKET, {"method": "GET", "route": route, "status_code": "200", "le": le}, value


def test_first_scrape_is_a_baseline_then_increments_are_exact() -> None:
    t = RequestTracker()
    t.update("a", [req("/v1/ping", "200", 1000), req("/v1/x", "500", 7)])
    assert (t.counts.requests, t.counts.errors) == (0, 0)
    t.update("a", [req("/v1/ping", "200", 1010), req("/v1/x", "500", 9)])
    assert (t.counts.requests, t.counts.errors) == (12, 2)


def test_a_series_born_between_scrapes_counts_from_zero() -> None:
    # Prometheus's increase() never sees the first value of a new series: the first 5xx would be lost.
    t = RequestTracker()
    t.update("a", [req("/v1/ping", "200", 10)])
    t.update("a", [req("/v1/ping", "200", 10), req("/v1/sessions", "503", 3)])
    assert (t.counts.requests, t.counts.errors) == (3, 3)


def test_resets_and_restarts_count_what_came_after() -> None:
    t = RequestTracker()
    t.update("a", [(START_TIME, {}, 100.0), req("/v1/ping", "200", 50), req("/v1/x", "200", 2)])
    # Restarted: /v1/ping went down (a visible reset), /v1/x went up past its old value (only the start time tells).
    t.update("a", [(START_TIME, {}, 200.0), req("/v1/ping", "200", 5), req("/v1/x", "200", 3)])
    assert t.counts.requests == 8
    t.update("a", [(START_TIME, {}, 200.0), req("/v1/ping", "200", 4)])  # a plain decrease: reset
    assert t.counts.requests == 12


def test_instances_add_up_and_metrics_scrapes_are_not_traffic() -> None:
    t = RequestTracker()
    for n in (0, 1):
        t.update("a", [req("/v1/ping", "200", 10 * n), req("/metrics", "200", 1000 * n), req("/metrics", "500", n)])
        t.update("b", [req("/v1/ping", "500", 4 * n)])
    assert (t.counts.requests, t.counts.errors) == (14, 4)


def test_a_failed_scrape_loses_nothing() -> None:
    t = RequestTracker()
    t.update("a", [req("/v1/ping", "200", 10)])
    # scrapes fail for a while (no update), then the next one brings the gap's requests in
    t.update("a", [req("/v1/ping", "200", 70)])
    assert t.counts.requests == 60


def test_buckets_are_counted_per_bound_whatever_the_spelling() -> None:
    t = RequestTracker()
    t.update("a", [bucket("0.5", 0), bucket("1.0", 0), bucket("+Inf", 0)])
    t.update("a", [bucket("0.5", 8), bucket("1.0", 9), bucket("+Inf", 10), bucket("1", 1, route="/v1/x")])
    assert t.counts.le == {"0.5": 8, "1": 10, "+Inf": 10}
    assert [le_label(x) for x in ("0.50", "1.0", "1", "+Inf", "10", 0.005)] == ["0.5", "1", "1", "+Inf", "10", "0.005"]


def test_observations_are_catalog_signals_and_unknown_when_the_scrape_failed() -> None:
    t = RequestTracker()
    t.update("a", [req("/v1/ping", "200", 0), bucket("0.5", 0), bucket("+Inf", 0)])
    t.update("a", [req("/v1/ping", "200", 3), bucket("0.5", 2), bucket("+Inf", 3)])
    obs = t.observations("api", 100.0)
    assert {(o.signal, tuple(sorted(o.labels.items())), o.value) for o in obs} == {
        (SIGNAL_REQUESTS, (("target", "api"),), 3.0), (SIGNAL_5XX, (("target", "api"),), 0.0),
        (SIGNAL_LE, (("le", "0.5"), ("target", "api")), 2.0), (SIGNAL_LE, (("le", "+Inf"), ("target", "api")), 3.0)}
    for o in obs:
        assert set(o.labels) == set(DECLARED[o.signal].labels)
    failed = t.observations("api", 130.0, error="scrape failed: timed out")
    assert all(o.value is None and o.error == "scrape failed: timed out" for o in failed)
    assert len(failed) == len(obs)


def test_prometheus_increase_matches_promql() -> None:
    series = {(REQUESTS, (("route", "/v1/ping"), ("status_code", "200"))): [(0.0, 0.0), (60.0, 60.0)],
              (REQUESTS, (("route", "/metrics"), ("status_code", "200"))): [(0.0, 0.0), (60.0, 600.0)]}
    assert prometheus_increase(series, selector_requests(), 60.0, 60.0) == promql.increase([(0.0, 0.0), (60, 60)],
                                                                                          60.0, 60.0)
    assert prometheus_increase(series, selector_requests(errors_only=True), 60.0, 60.0) is None


# ---- on the real API -------------------------------------------------------------------------------------

def scrape(client: httpx.Client) -> list[RawSample]:
    text = client.get("/metrics").text
    return [(s.name, dict(s.labels), float(s.value)) for f in text_string_to_metric_families(text) for s in f.samples]


def faults(client: httpx.Client, **body: object) -> None:
    client.put("/internal/faults", json={"latency_ms": 0, "error_ratio": 0.0, "prefix": "/v1/", **body}
               ).raise_for_status()


def test_counts_every_request_the_api_served(api: ApiServer) -> None:
    tracker = RequestTracker()
    no_reuse = httpx.Limits(max_keepalive_connections=0)  # the API closes connections after a 500
    with httpx.Client(base_url=api.url, timeout=10, limits=no_reuse) as client:
        tracker.update(api.url, scrape(client))
        try:
            faults(client, error_ratio=1.0, prefix="/v1/sessions")
            for _ in range(4):
                assert client.get("/v1/sessions").status_code == 500
            faults(client, latency_ms=600, prefix="/v1/sessions")
            for _ in range(3):  # slow but fine: not a server error
                assert client.get("/v1/sessions").status_code == 200
        finally:
            faults(client)
        for _ in range(10):
            assert client.get("/v1/ping").status_code == 200
        # The API records a request just after sending its response: on a busy machine the last one may
        # land a moment after the client has it, so scrape again until it shows (scrapes are not counted).
        for _ in range(50):
            tracker.update(api.url, scrape(client))
            if tracker.counts.requests >= 20:
                break
            time.sleep(0.1)
    counts = tracker.counts
    # 4 failing sessions + 3 slow ones + 10 pings + 3 PUTs to /internal/faults; the scrapes do not count.
    assert counts.requests == 20
    assert counts.errors == 4
    assert counts.le["+Inf"] == 20
    assert counts.le["0.5"] == 17  # the three 600 ms requests are over 500 ms
    assert counts.le["1"] == 20
    assert set(counts.le) <= {le_label(b) for b in (*LATENCY_BUCKETS, "+Inf")}


def test_from_api_to_slo_through_the_store(api: ApiServer, tmp_path: Path) -> None:
    """The chain the monitor runs: scrape -> tracker -> store -> SLO service, with nothing lost on the way."""
    tracker = RequestTracker()
    store = SqliteStore(str(tmp_path / "monitor.sqlite3"), retention=31 * 86400)
    t0 = 1_800_000_000.0
    no_reuse = httpx.Limits(max_keepalive_connections=0)
    try:
        with httpx.Client(base_url=api.url, timeout=10, limits=no_reuse) as client:
            tracker.update(api.url, scrape(client))
            store.write(tracker.observations("api-metrics", t0))
            try:
                faults(client, error_ratio=1.0, prefix="/v1/sessions")
                for _ in range(3):
                    assert client.get("/v1/sessions").status_code == 500
            finally:
                faults(client)
            for _ in range(25):
                assert client.get("/v1/ping").status_code == 200
            tracker.update(api.url, scrape(client))
            store.write(tracker.observations("api-metrics", t0 + 30))
        slos = SloService({"include_defaults": False, "objectives": [
            {"name": "availability", "objective": "99%", "sli": {"kind": "requests"}},
            {"name": "latency", "objective": "95%", "sli": {"kind": "latency", "threshold": "500ms"}}]},
            store, event=None, api_targets=["api-metrics"])
        obs = {(o.signal, o.labels["slo"], o.labels.get("period") or o.labels.get("window")): o.value
               for o in slos.observations(t0 + 30)}
    finally:
        store.close()
    sent = 3 + 25 + 2  # and the two PUTs to /internal/faults
    assert obs[("slo_sli", "availability", "30d")] == pytest.approx(1 - 3 / sent)
    assert obs[("slo_burn_rate", "availability", "5m")] == pytest.approx((3 / sent) / 0.01)
    assert obs[("slo_sli", "latency", "30d")] == 1.0


@pytest.mark.parametrize("name", [SIGNAL_REQUESTS, SIGNAL_5XX, SIGNAL_LE])
def test_count_signals_are_declared_here(name: str) -> None:
    assert name in DECLARED
