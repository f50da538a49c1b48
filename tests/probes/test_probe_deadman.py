"""The dead-man's-switch ping against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from devstack import free_port
from monitor.core.redact import mask_url
from probes.deadman import ping
from tests.support.fakes.recorder import RecordingServer

TOKEN = "5f3c9a1e-token-do-not-log"


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as s:
        yield s


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


@pytest.fixture(autouse=True)
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_token_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    assert TOKEN not in caplog.text
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


async def test_accepted_ping_is_recorded(server: RecordingServer, client: httpx.AsyncClient,
                                         caplog: pytest.LogCaptureFixture) -> None:
    assert await ping(f"{server.url}/ping/{TOKEN}?rid=1", client, timeout=5) is True
    [request] = server.wait_for(1)
    assert request.method == "GET"
    assert request.path == f"/ping/{TOKEN}?rid=1"
    assert_token_not_logged(caplog)
    assert f"HTTP Request: GET http://127.0.0.1:{server.port}/***" in caplog.text  # httpx's own line, masked


async def test_server_error_is_not_accepted(server: RecordingServer, client: httpx.AsyncClient,
                                            caplog: pytest.LogCaptureFixture) -> None:
    server.fail_next(1, status=500)
    assert await ping(f"{server.url}/ping/{TOKEN}", client, timeout=5) is False
    assert len(server.wait_for(1)) == 1
    assert_token_not_logged(caplog)
    assert "refused with HTTP 500" in caplog.text
    assert await ping(f"{server.url}/ping/{TOKEN}", client, timeout=5) is True  # next one is accepted


async def test_slow_server_times_out(server: RecordingServer, client: httpx.AsyncClient,
                                     caplog: pytest.LogCaptureFixture) -> None:
    server.fail_next(1, status=200, delay=1.0)
    assert await ping(f"{server.url}/ping/{TOKEN}", client, timeout=0.2) is False
    assert_token_not_logged(caplog)
    assert "Timeout" in caplog.text


async def test_nothing_listening_is_not_accepted(client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    assert await ping(f"http://127.0.0.1:{free_port()}/ping/{TOKEN}", client, timeout=2) is False
    assert_token_not_logged(caplog)
    assert "ConnectError" in caplog.text


async def test_invalid_url_never_raises(client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    assert await ping(f"hc-ping/{TOKEN}", client, timeout=2) is False
    assert await ping(f"http://[bad/{TOKEN}", client, timeout=2) is False
    assert_token_not_logged(caplog)


def test_mask_url_keeps_only_scheme_host_and_port() -> None:
    assert mask_url(f"https://hc-ping.com/{TOKEN}") == "https://hc-ping.com/***"
    assert mask_url(f"http://user:{TOKEN}@127.0.0.1:8080/p?key={TOKEN}") == "http://127.0.0.1:8080/***"
    assert mask_url("not a url") == "<invalid url>"
