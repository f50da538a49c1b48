"""/metrics shows exactly the requests sent, by route template; business and per-IP counts match."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis

from app.ipcount import KEY_PREFIX
from app.metrics import LATENCY_BUCKETS, UNMATCHED_ROUTE
from devstack import ApiServer, PrivateRedis
from tests.support.metrics_text import scrape, series, value
from tests.support.stack import login

CLIENT_IP = "198.51.100.23"


@pytest.fixture(scope="module")
def fresh_api(seeded_db: str, redis_server: PrivateRedis) -> Iterator[ApiServer]:
    """An API process of its own, so its counters hold only this module's requests."""
    with ApiServer(seeded_db, redis_server.url, env={"TRUSTED_PROXY_HEADER": "x-forwarded-for"}) as server:
        yield server


def per_ip_total(redis_url: str, ip: str) -> int:
    r = redis.Redis.from_url(redis_url)
    return int(sum(r.zscore(key, ip) or 0 for key in r.scan_iter(f"{KEY_PREFIX}*")))


def test_known_mix_is_counted_exactly_by_route_template(fresh_api: ApiServer, redis_server: PrivateRedis) -> None:
    headers = {"X-Forwarded-For": CLIENT_IP}
    with httpx.Client(base_url=fresh_api.url, headers=headers, timeout=10) as c:
        for _ in range(3):
            assert c.get("/v1/sessions").status_code == 200
        token = login(fresh_api.url, "attendee00010@converge.test")  # no XFF: counted under 127.0.0.1
        auth = {"Authorization": f"Bearer {token}"}
        bad_login = {"email": "attendee00010@converge.test", "password": "bad"}
        assert c.post("/v1/auth/login", json=bad_login).status_code == 401
        assert c.post("/v1/sessions/123/rsvp", headers=auth).status_code == 404
        assert c.post("/v1/sessions/7/rsvp", headers=auth).status_code == 201
        assert c.post("/v1/connections", json={"qr_code": "CNV-00011"}, headers=auth).status_code == 201
        assert c.post("/v1/messages", json={"recipient_id": 11, "body": "hello"}, headers=auth).status_code == 201
        assert c.get("/v1/messages", headers=auth).status_code == 200
        sent_with_ip = 3 + 1 + 5

    m = scrape(fresh_api.url)
    count = "http_requests_total"
    assert value(m, count, method="GET", route="/v1/sessions", status_code="200") == 3
    assert value(m, count, method="POST", route="/v1/auth/login", status_code="200") == 1
    assert value(m, count, method="POST", route="/v1/auth/login", status_code="401") == 1
    # The raw path /v1/sessions/123/rsvp is labelled with its template.
    assert value(m, count, method="POST", route="/v1/sessions/{session_id}/rsvp", status_code="404") == 1
    assert value(m, count, method="POST", route="/v1/sessions/{session_id}/rsvp", status_code="201") == 1
    assert value(m, count, method="POST", route="/v1/connections", status_code="201") == 1
    assert value(m, count, method="POST", route="/v1/messages", status_code="201") == 1
    assert value(m, count, method="GET", route="/v1/messages", status_code="200") == 1
    assert not any("123" in s["route"] for s in series(m, count))
    # Histogram and counter agree, and every spec threshold is a bucket boundary.
    hist = "http_request_duration_seconds_count"
    assert value(m, hist, method="GET", route="/v1/sessions", status_code="200") == 3
    for le in (0.1, 0.3, 0.5, 1.0, 2.0, 5.0):
        assert le in LATENCY_BUCKETS
        assert ("http_request_duration_seconds_bucket",
                frozenset({"method": "GET", "route": "/v1/sessions", "status_code": "200", "le": str(le)}.items())) in m

    # Business counters match what was done.
    assert value(m, "converge_logins_total", outcome="success") == 1
    assert value(m, "converge_logins_total", outcome="failure") == 1
    assert value(m, "converge_rsvps_total") == 1
    assert value(m, "converge_connections_total") == 1
    assert value(m, "converge_messages_total") == 1
    # Per-IP counts in Redis: the trusted proxy header names the client.
    assert per_ip_total(redis_server.url, CLIENT_IP) == sent_with_ip


def test_random_404_paths_add_no_series(fresh_api: ApiServer) -> None:
    assert httpx.get(f"{fresh_api.url}/first-unmatched-path").status_code == 404  # creates the one series
    before = scrape(fresh_api.url)
    unmatched_before = value(before, "http_requests_total", method="GET", route=UNMATCHED_ROUTE, status_code="404")
    with httpx.Client(base_url=fresh_api.url) as c:
        for _ in range(100):
            assert c.get(f"/{uuid.uuid4().hex}/{uuid.uuid4().hex[:6]}").status_code == 404
    after = scrape(fresh_api.url)
    new_series = {k for k in after if k[0].startswith("http_request")} - set(before)
    # Only the /metrics scrape itself may add a series; the 404s reuse the one unmatched series.
    assert all(dict(labels).get("route") == "/metrics" for _, labels in new_series), new_series
    assert value(after, "http_requests_total", method="GET", route=UNMATCHED_ROUTE, status_code="404") \
        == unmatched_before + 100


def test_pool_process_and_inflight_gauges_are_exported(fresh_api: ApiServer) -> None:
    m = scrape(fresh_api.url)
    assert value(m, "converge_db_pool_max") == 10
    assert value(m, "converge_db_pool_size") >= 2
    assert value(m, "converge_db_pool_waiting") == 0
    assert value(m, "process_resident_memory_bytes") > 10_000_000
    assert value(m, "process_cpu_seconds_total") > 0
    assert value(m, "converge_instance_cpu_limit_cores") >= 1
    assert value(m, "http_requests_in_flight") == 1  # the scrape itself


def test_untrusted_forwarded_header_is_ignored(api: ApiServer, redis_server: PrivateRedis) -> None:
    spoofed = "192.0.2.201"
    assert httpx.get(f"{api.url}/v1/ping", headers={"X-Forwarded-For": spoofed}).status_code == 200
    assert per_ip_total(redis_server.url, spoofed) == 0
    assert per_ip_total(redis_server.url, "127.0.0.1") > 0


def test_the_exposition_has_every_metric_the_monitor_reads(fresh_api: ApiServer) -> None:
    # The app imports nothing of the monitor, so the contract (monitor/core/api_contract.py) is checked here:
    # a metric renamed on one side only would leave a probe, a rule or a dashboard reading nothing.
    from prometheus_client.parser import text_string_to_metric_families

    from monitor.core.api_contract import READ_METRICS

    with httpx.Client(base_url=fresh_api.url, timeout=10) as c:
        assert c.get("/v1/sessions").status_code == 200
        text = c.get("/metrics").text
    families = list(text_string_to_metric_families(text))
    exposed = {s.name for family in families for s in family.samples}
    # A labelled counter has no sample before its first use (no unhandled exception yet): its family is declared.
    declared = {f"{f.name}_total" if f.type == "counter" else f.name for f in families}
    assert sorted(set(READ_METRICS) - exposed - declared) == []
    assert {"http_requests_total", "http_request_duration_seconds_bucket"} <= exposed
