"""An unhandled exception reaches Sentry (a local fake ingest) with no personal data or secrets."""

from __future__ import annotations

import json
import time

import httpx

from app.sentry import scrub_event
from devstack import ApiServer, PrivateRedis
from tests.support.fakes.sentry import FakeSentry
from tests.support.metrics_text import scrape, value
from tests.support.stack import login


def test_handler_exception_reaches_sentry_scrubbed(seeded_db: str, redis_server: PrivateRedis) -> None:
    with FakeSentry() as sentry, ApiServer(seeded_db, redis_server.url,
                                           env={"SENTRY_DSN": sentry.dsn(), "CONVERGE_FAULTS": "1"}) as api:
        token = login(api.url, "attendee00020@converge.test")
        assert httpx.put(f"{api.url}/internal/faults",
                         json={"error_ratio": 1.0, "prefix": "/v1/messages"}).status_code == 200
        r = httpx.get(f"{api.url}/v1/messages?contact=jane.doe@example.com",
                      headers={"Authorization": f"Bearer {token}", "Cookie": "session=cookie-secret-123",
                               "X-Forwarded-For": "203.0.113.9", "User-Agent": "converge-test"})
        assert r.status_code == 500
        deadline = time.monotonic() + 15
        while not sentry.events() and time.monotonic() < deadline:
            time.sleep(0.1)
        events = sentry.events()
        assert len(events) == 1, f"expected one event, got {len(events)}"
        text = json.dumps(events[0])
        assert "InjectedFault" in text  # it is the real exception
        for leaked in ("jane.doe@example.com", token, "cookie-secret-123", "203.0.113.9", "127.0.0.1"):
            assert leaked not in text, f"{leaked!r} leaked to Sentry"
        request = events[0].get("request", {})
        assert not {"authorization", "cookie"} & {h.lower() for h in request.get("headers", {})}
        assert value(scrape(api.url), "converge_unhandled_exceptions_total",
                     route="/v1/messages", exception="InjectedFault") == 1


def test_scrub_event_removes_user_pii_and_denylisted_fields() -> None:
    event = {
        "user": {"id": "42", "email": "a@b.org", "ip_address": "10.1.2.3"},
        "request": {"headers": {"Authorization": "Bearer x", "Accept": "json"}, "cookies": {"s": "1"},
                    "env": {"REMOTE_ADDR": "10.1.2.3"}},
        "extra": {"password": "hunter2", "api_key": "k", "note": "mail me at a@b.org from 10.9.8.7"},
    }
    out = scrub_event(event)
    assert out["user"] == {"id": "42"}
    assert out["request"]["headers"] == {"Accept": "json"} and "cookies" not in out["request"]
    assert out["request"]["env"] == {}
    assert out["extra"]["password"] == "[Filtered]" and out["extra"]["api_key"] == "[Filtered]"
    assert "a@b.org" not in out["extra"]["note"] and "10.9.8.7" not in out["extra"]["note"]
