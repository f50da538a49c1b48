"""The synthetic traffic generator drives every part of the API and stays on loopback."""

from __future__ import annotations

import asyncio

import pytest

from devstack import ApiServer
from devstack.traffic import Traffic
from tests.support.metrics_text import scrape, value
from tests.support.stack import SEED_PASSWORD, SEEDED_ATTENDEES


def test_mix_reaches_every_route_without_errors(api: ApiServer) -> None:
    before = scrape(api.url)
    traffic = Traffic(api.url, SEEDED_ATTENDEES, SEED_PASSWORD, users=6, think=0.02, websocket_share=0.5)
    stats = asyncio.run(traffic.run(duration=6))
    after = scrape(api.url)
    assert stats.requests > 100 and stats.errors == 0
    assert not {s for s in stats.statuses if s >= 500}
    for route in ("/v1/sessions", "/v1/messages", "/v1/auth/login", "/v1/connections",
                  "/v1/sessions/{session_id}/rsvp"):
        assert count(after, route) > count(before, route), route
    assert value(after, "converge_messages_total") > value(before, "converge_messages_total")
    assert stats.websockets > 0


def count(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], route: str) -> float:
    return sum(v for (name, labels), v in samples.items()
               if name == "http_requests_total" and dict(labels)["route"] == route)


def test_refuses_non_loopback_targets() -> None:
    with pytest.raises(ValueError, match="loopback"):
        Traffic("http://192.168.1.10:8000", 10, "x")
