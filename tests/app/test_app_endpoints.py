"""End-to-end: every endpoint of the Converge API against the private PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import redis
import websockets

from app.routes.sessions import CACHE_KEY
from devstack import ApiServer, PrivateRedis
from tests.support.stack import SYNTHETIC_PASSWORD, login


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_login_returns_a_signed_token_and_rejects_bad_credentials(api: ApiServer) -> None:
    r = httpx.post(f"{api.url}/v1/auth/login", json={"email": "Attendee00001@converge.test",
                                                     "password": "converge-test-pw"})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 86400
    assert body["access_token"].count(".") == 2  # a JWT
    assert login(api.url, "synthetic-monitor@converge.test", SYNTHETIC_PASSWORD)
    wrong = httpx.post(f"{api.url}/v1/auth/login", json={"email": "attendee00001@converge.test", "password": "no"})
    unknown = httpx.post(f"{api.url}/v1/auth/login", json={"email": "nobody@converge.test", "password": "x"})
    assert wrong.status_code == unknown.status_code == 401
    assert httpx.get(f"{api.url}/v1/messages", headers=auth(body["access_token"] + "x")).status_code == 401


def test_sessions_are_cached_in_redis_for_300_seconds(api: ApiServer, redis_server: PrivateRedis) -> None:
    r = redis.Redis.from_url(redis_server.url)
    r.delete(CACHE_KEY)
    first = httpx.get(f"{api.url}/v1/sessions")
    second = httpx.get(f"{api.url}/v1/sessions")
    assert first.status_code == second.status_code == 200
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert first.json() == second.json() and len(first.json()["sessions"]) == 36
    assert "max-age=300" in first.headers["cache-control"]
    assert 290 <= r.ttl(CACHE_KEY) <= 300


def test_rsvp_connection_and_messages(api: ApiServer) -> None:
    me = login(api.url, "attendee00003@converge.test")
    rsvp = httpx.post(f"{api.url}/v1/sessions/5/rsvp", headers=auth(me))
    again = httpx.post(f"{api.url}/v1/sessions/5/rsvp", headers=auth(me))
    assert (rsvp.status_code, rsvp.json()["new"]) == (201, True)
    assert (again.status_code, again.json()["new"]) == (200, False)
    assert httpx.post(f"{api.url}/v1/sessions/9999/rsvp", headers=auth(me)).status_code == 404
    assert httpx.post(f"{api.url}/v1/sessions/5/rsvp").status_code == 401

    scan = httpx.post(f"{api.url}/v1/connections", json={"qr_code": "CNV-00004"}, headers=auth(me))
    assert scan.status_code == 201 and scan.json()["new"] is True
    assert httpx.post(f"{api.url}/v1/connections", json={"qr_code": "CNV-00003"}, headers=auth(me)).status_code == 400
    assert httpx.post(f"{api.url}/v1/connections", json={"qr_code": "CNV-NOPE"}, headers=auth(me)).status_code == 404

    recipient = scan.json()["connected_id"]
    sent = httpx.post(f"{api.url}/v1/messages", json={"recipient_id": recipient, "body": "see you at 10"},
                      headers=auth(me))
    assert sent.status_code == 201
    inbox = httpx.get(f"{api.url}/v1/messages", headers=auth(login(api.url, "attendee00004@converge.test")))
    assert inbox.status_code == 200
    assert inbox.json()["messages"][0]["body"] == "see you at 10"
    assert httpx.post(f"{api.url}/v1/messages", json={"recipient_id": 10**9, "body": "x"},
                      headers=auth(me)).status_code == 404


def test_websocket_delivers_live_messages(api: ApiServer) -> None:
    sender = login(api.url, "attendee00005@converge.test")
    receiver = login(api.url, "attendee00006@converge.test")
    receiver_id = httpx.post(f"{api.url}/v1/connections", json={"qr_code": "CNV-00006"},
                             headers=auth(sender)).json()["connected_id"]

    async def scenario() -> dict[str, object]:
        ws_url = api.url.replace("http://", "ws://") + f"/v1/ws?token={receiver}"
        async with websockets.connect(ws_url) as ws:
            await ws.send("ping")
            assert await asyncio.wait_for(ws.recv(), 5) == "pong"
            async with httpx.AsyncClient() as client:
                metrics = (await client.get(f"{api.url}/metrics")).text
                assert "converge_websocket_connections 1.0" in metrics
                await client.post(f"{api.url}/v1/messages", json={"recipient_id": receiver_id, "body": "live!"},
                                  headers=auth(sender))
            return json.loads(await asyncio.wait_for(ws.recv(), 5))

    received = asyncio.run(scenario())
    assert received["body"] == "live!" and received["recipient_id"] == receiver_id


def test_the_api_log_keeps_no_access_token_nor_client_address(api: ApiServer) -> None:
    # uvicorn logs a websocket's request line, ?token= and client address included (seen in the soak's log).
    token = login(api.url, "attendee00008@converge.test")

    async def scenario() -> None:
        async with websockets.connect(api.url.replace("http://", "ws://") + f"/v1/ws?token={token}") as ws:
            await ws.send("ping")
            assert await asyncio.wait_for(ws.recv(), 5) == "pong"

    asyncio.run(scenario())
    deadline = time.monotonic() + 5
    while "/v1/ws" not in api.logs() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [line for line in api.logs().splitlines() if "/v1/ws" in line]
    assert lines, "uvicorn logged no websocket request line"
    assert all(token not in line and "token=[Filtered]" in line for line in lines), lines
    assert not [line for line in lines if "127.0.0.1" in line], lines


def test_a_client_that_vanishes_is_no_error_of_the_api(api: ApiServer) -> None:
    # Phones drop off without a close frame; the soak's API logged "Exception in ASGI application" for each
    # (a close sent to a socket already gone), which Sentry would report as errors.
    token = login(api.url, "attendee00009@converge.test")
    before = api.logs().count("Exception in ASGI application")

    async def scenario() -> None:
        for _ in range(5):
            ws = await websockets.connect(api.url.replace("http://", "ws://") + f"/v1/ws?token={token}")
            await ws.send("ping")
            assert await asyncio.wait_for(ws.recv(), 5) == "pong"
            ws.transport.abort()  # gone: no close frame
        async with httpx.AsyncClient() as client:  # the API noticed each: none is counted as open any more
            for _ in range(100):
                metrics = (await client.get(f"{api.url}/metrics")).text
                if "converge_websocket_connections 0.0" in metrics:
                    break
                await asyncio.sleep(0.05)
            assert "converge_websocket_connections 0.0" in metrics

    asyncio.run(scenario())
    time.sleep(0.2)
    assert api.logs().count("Exception in ASGI application") == before


def test_websocket_rejects_a_bad_token(api: ApiServer) -> None:
    async def scenario() -> None:
        async with websockets.connect(api.url.replace("http://", "ws://") + "/v1/ws?token=bad") as ws:
            await ws.recv()

    # Closing before the handshake completes answers the upgrade with 403.
    with pytest.raises(websockets.exceptions.InvalidStatus) as info:
        asyncio.run(scenario())
    assert info.value.response.status_code == 403


def test_many_open_websockets_do_not_starve_redis_for_other_requests(api: ApiServer) -> None:
    token = login(api.url, "attendee00007@converge.test")

    async def scenario() -> list[int]:
        url = api.url.replace("http://", "ws://") + f"/v1/ws?token={token}"
        sockets = [await websockets.connect(url) for _ in range(120)]  # more than redis-py's default pool of 100
        try:
            async with httpx.AsyncClient(base_url=api.url) as client:
                return [(await client.get("/health")).status_code, (await client.get("/v1/sessions")).status_code]
        finally:
            for ws in sockets:
                await ws.close()

    assert asyncio.run(scenario()) == [200, 200]
