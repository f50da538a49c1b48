"""/health (spec 8.5) follows PostgreSQL and Redis going down and coming back, without an API restart."""

from __future__ import annotations

import time
from typing import Any

import httpx

from devstack import ApiServer, PrivatePostgres, PrivateRedis
from tests.support.stack import login


def health(api: ApiServer) -> tuple[int, dict[str, Any]]:
    r = httpx.get(f"{api.url}/health", timeout=10)
    return r.status_code, r.json()


def wait_health(api: ApiServer, status: int, timeout: float) -> tuple[float, dict[str, Any]]:
    start = time.monotonic()
    while True:
        code, body = health(api)
        if code == status:
            return time.monotonic() - start, body
        if time.monotonic() - start > timeout:
            raise AssertionError(f"/health still {code} after {timeout}s: {body}")
        time.sleep(0.1)


def test_healthy_with_both_up(api: ApiServer) -> None:
    code, body = health(api)
    assert code == 200
    assert body["status"] == "healthy" and body["failing"] == []
    assert body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"]
    assert body["timestamp"].endswith("+00:00")


def test_redis_down_is_503_naming_redis_within_2s_then_recovers(api: ApiServer, redis_fault: PrivateRedis) -> None:
    redis_fault.stop()
    stopped = time.monotonic()
    code, body = health(api)
    assert code == 503, body
    assert time.monotonic() - stopped < 2.0
    assert body["status"] == "unhealthy" and body["failing"] == ["redis"]
    assert body["checks"]["database"]["ok"] is True
    redis_fault.start()
    wait_health(api, 200, timeout=10)


def test_database_down_is_503_naming_database_then_recovers(api: ApiServer, pg_fault: PrivatePostgres) -> None:
    pg_fault.stop()
    code, body = health(api)
    assert code == 503, body
    assert body["failing"] == ["database"] and body["checks"]["redis"]["ok"] is True
    # The API keeps answering other routes that need no database while it is down.
    assert httpx.get(f"{api.url}/v1/ping").status_code == 200
    # A longer outage with traffic must not leave the pool in a long reconnect backoff afterwards.
    outage_end = time.monotonic() + 8
    while time.monotonic() < outage_end:
        assert health(api)[0] == 503
        time.sleep(0.5)
    pg_fault.start()
    wait_health(api, 200, timeout=6)
    assert login(api.url, "attendee00002@converge.test")
