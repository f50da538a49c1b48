"""The http probe against the real API, a local TLS server with test certificates, and real network failures."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from aiohttp import web

from devstack import ApiServer, free_port
from monitor.core.observation import Observation
from monitor.core.signals import SIGNALS
from monitor.core.targets import HttpTarget
from probes import http
from probes.base import ProbeContext
from probes.tls import aclose_client, session_for
from tests.support.fakes.tls_server import FakeHttpServer

CATALOG = {s.name: s for s in SIGNALS}


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    context = ProbeContext()
    yield context
    await aclose_client(context)


def by_signal(observations: list[Observation]) -> dict[str, Observation]:
    for o in observations:
        assert o.signal in CATALOG, o.signal
        assert set(o.labels) == set(CATALOG[o.signal].labels), o
    return {o.signal: o for o in observations}


async def check(ctx: ProbeContext, **fields: Any) -> dict[str, Observation]:
    target = HttpTarget(name="web", **{"timeout": 5, **fields})
    # The probe must return by itself at target.timeout; this outer limit only guards the test.
    return by_signal(await asyncio.wait_for(http.run(target, ctx), timeout=30))


def assert_failed(obs: dict[str, Observation], code: str) -> None:
    assert obs["http_up"].value == 0 and obs["http_up"].error == code, obs["http_up"]
    assert obs["probe_success"].value == 0 and obs["probe_success"].error == code
    assert obs["probe_success"].labels == {"target": "web", "kind": "http"}


def assert_no_response(obs: dict[str, Observation], code: str) -> None:
    assert_failed(obs, code)
    for name in ("http_status_code", "http_latency_seconds"):
        assert obs[name].value is None and obs[name].error == code


# --- against the real API ---------------------------------------------------------------------------------


async def test_health_passes_status_body_and_json_conditions(api: ApiServer, ctx: ProbeContext) -> None:
    obs = await check(ctx, url=f"{api.url}/health", body_contains="healthy", json_checks=[
        {"path": "status", "equals": "healthy"}, {"path": "checks.database.ok", "equals": True},
        {"path": "checks.redis"}, {"path": "no.such.key", "exists": False}])
    assert obs["http_up"].value == 1 and obs["http_up"].error is None
    assert obs["probe_success"].value == 1 and obs["probe_success"].labels == {"target": "web", "kind": "http"}
    assert obs["http_status_code"].value == 200
    assert obs["http_latency_seconds"].value is not None and obs["http_latency_seconds"].value > 0
    assert "tls_cert_days_left" not in obs  # plain http


@pytest.mark.parametrize(("condition", "words"), [
    ({"path": "status", "equals": "degraded"}, "'healthy'"),
    ({"path": "checks.database.ok", "equals": 1}, "True"),  # JSON true is not the number 1
    ({"path": "checks.cache.ok", "exists": True}, "missing"),
    ({"path": "checks.database", "exists": False}, "expected absent"),
])
async def test_json_condition_not_met_is_json_failure(api: ApiServer, ctx: ProbeContext,
                                                      condition: dict[str, Any], words: str) -> None:
    obs = await check(ctx, url=f"{api.url}/health", json_checks=[condition])
    assert_failed(obs, "json")
    assert obs["http_status_code"].value == 200  # the response came; its content was wrong
    reason = obs["http_up"].details["reason"]
    assert condition["path"] in reason and words in reason


async def test_non_json_body_is_json_failure(api: ApiServer, ctx: ProbeContext) -> None:
    obs = await check(ctx, url=f"{api.url}/metrics", json_checks=[{"path": "status"}])
    assert_failed(obs, "json")
    assert "not JSON" in obs["http_up"].details["reason"]


async def test_body_without_expected_text_is_body_failure(api: ApiServer, ctx: ProbeContext) -> None:
    obs = await check(ctx, url=f"{api.url}/health", body_contains="all systems nominal")
    assert_failed(obs, "body")


async def test_unexpected_status_is_status_failure(api: ApiServer, ctx: ProbeContext) -> None:
    obs = await check(ctx, url=f"{api.url}/v1/no-such-route")
    assert_failed(obs, "status")
    assert obs["http_status_code"].value == 404
    assert obs["http_up"].details["expected_status"] == [200]
    ok = await check(ctx, url=f"{api.url}/v1/no-such-route", expect_status=[404])
    assert ok["http_up"].value == 1


async def test_header_secrets_stay_out_of_observations(api: ApiServer, ctx: ProbeContext) -> None:
    obs = await check(ctx, url=f"http://probe:url-password@127.0.0.1:{api.port}/v1/no-such-route",
                      headers={"Authorization": "Bearer header-secret-123"})
    assert_failed(obs, "status")
    text = repr(list(obs.values()))
    assert "header-secret-123" not in text and "url-password" not in text


# --- TLS --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def serve_tls(ca: trustme.CA, not_after: dt.datetime, not_before: dt.datetime | None = None) -> FakeHttpServer:
    cert = ca.issue_cert("127.0.0.1", "localhost", not_before=not_before, not_after=not_after)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return FakeHttpServer(context)


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="module")
def tls_server(ca: trustme.CA) -> Iterator[FakeHttpServer]:
    # A certificate expiring in exactly 5 days (to the second: X.509 times have no fractions).
    not_after = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=5)
    with serve_tls(ca, not_after) as server:
        yield server


async def test_https_reports_cert_days_left(tls_server: FakeHttpServer, ca_file: str, ctx: ProbeContext) -> None:
    obs = await check(ctx, url=tls_server.url("/json"), ca_file=ca_file, json_checks=[{"path": "status",
                                                                                       "equals": "ok"}])
    assert obs["http_up"].value == 1, obs["http_up"]
    days = obs["tls_cert_days_left"].value
    assert days is not None and 4.99 < days <= 5.0
    assert obs["tls_cert_days_left"].labels == {"target": "web"}


async def test_untrusted_ca_is_tls_failure_with_expiry_still_read(tls_server: FakeHttpServer,
                                                                  ctx: ProbeContext) -> None:
    obs = await check(ctx, url=tls_server.url("/ok"))  # the system CAs do not know the test CA
    assert_no_response(obs, "tls")
    assert "verify failed" in obs["http_up"].details["reason"]
    # Read over an unverified connection of the probe's own, and marked as such.
    days = obs["tls_cert_days_left"].value
    assert days is not None and 4.99 < days <= 5.0
    assert obs["tls_cert_days_left"].details == {"verified": False}


async def test_verify_tls_off_checks_and_reads_expiry(tls_server: FakeHttpServer, ctx: ProbeContext) -> None:
    obs = await check(ctx, url=tls_server.url("/ok"), verify_tls=False, body_contains="fake server")
    assert obs["http_up"].value == 1
    days = obs["tls_cert_days_left"].value
    assert days is not None and 4.99 < days <= 5.0


async def test_expired_cert_fails_tls_with_negative_days(ca: trustme.CA, ca_file: str, ctx: ProbeContext) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with serve_tls(ca, not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=2)) as server:
        obs = await check(ctx, url=server.url("/ok"), ca_file=ca_file)
    assert_no_response(obs, "tls")
    assert "expired" in obs["http_up"].details["reason"]
    days = obs["tls_cert_days_left"].value
    assert days is not None and -2.01 < days <= -2.0


async def test_unreadable_ca_file_is_our_own_failure(tls_server: FakeHttpServer, tmp_path: Path,
                                                     ctx: ProbeContext) -> None:
    obs = await check(ctx, url=tls_server.url("/ok"), ca_file=str(tmp_path / "missing-ca.pem"))
    # The target was not checked: unknown (never healthy), clearly blamed on the local ca_file.
    for o in obs.values():
        assert o.value is None and o.error == "local", o
    assert obs["http_up"].details["field"] == "ca_file"
    assert "missing-ca.pem" in obs["http_up"].details["reason"]


# --- redirects --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plain_server() -> Iterator[FakeHttpServer]:
    with FakeHttpServer() as server:
        yield server


async def test_redirects_are_followed(plain_server: FakeHttpServer, ctx: ProbeContext) -> None:
    obs = await check(ctx, url=plain_server.url("/redirect/3"), body_contains="fake server")
    assert obs["http_up"].value == 1 and obs["http_status_code"].value == 200
    assert obs["http_up"].details["redirects"] == 3
    assert obs["http_up"].details["final_url"] == plain_server.url("/ok")


async def test_too_many_redirects_is_redirects_failure(plain_server: FakeHttpServer, ctx: ProbeContext) -> None:
    obs = await check(ctx, url=plain_server.url("/redirect/4"), max_redirects=2)
    assert_failed(obs, "redirects")
    assert obs["http_status_code"].value == 302
    assert "more than 2 redirects" in obs["http_up"].details["reason"]


async def test_redirect_loop_is_redirects_failure(plain_server: FakeHttpServer, ctx: ProbeContext) -> None:
    obs = await check(ctx, url=plain_server.url("/loop"))
    assert_failed(obs, "redirects")
    assert "loop" in obs["http_up"].details["reason"]


async def test_redirect_not_followed_when_disabled(plain_server: FakeHttpServer, ctx: ProbeContext) -> None:
    obs = await check(ctx, url=plain_server.url("/redirect/1"), follow_redirects=False, expect_status=[302])
    assert obs["http_up"].value == 1 and obs["http_status_code"].value == 302
    failed = await check(ctx, url=plain_server.url("/redirect/1"), follow_redirects=False)
    assert_failed(failed, "status")


# --- failures before any response -------------------------------------------------------------------------


async def test_unresolvable_name_is_dns_failure(ctx: ProbeContext) -> None:
    obs = await check(ctx, url="http://converge-monitor-probe.invalid/health")
    assert_no_response(obs, "dns")


async def test_refused_connection_is_connect_failure(ctx: ProbeContext) -> None:
    obs = await check(ctx, url=f"http://127.0.0.1:{free_port()}/health")
    assert_no_response(obs, "connect")


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_server_that_never_answers_is_timeout(silent_port: int, ctx: ProbeContext, scheme: str) -> None:
    obs = await check(ctx, url=f"{scheme}://127.0.0.1:{silent_port}/health", timeout=0.5, interval=30)
    assert_no_response(obs, "timeout")


async def test_shared_client_used_for_default_tls_and_own_client_cached_otherwise(
        api: ApiServer, tls_server: FakeHttpServer, ca_file: str) -> None:
    async with httpx.AsyncClient() as shared:
        ctx = ProbeContext(http=shared)
        obs = await check(ctx, url=f"{api.url}/health")
        assert obs["http_up"].value == 1 and ctx.state == {}  # ctx.http did the request
        try:
            clients = []
            for _ in range(2):
                obs = await check(ctx, url=tls_server.url("/ok"), ca_file=ca_file)
                assert obs["http_up"].value == 1
                clients += [v for v in ctx.state.values() if isinstance(v, tuple)]
            # One client with the target's CA, kept in ctx.state and reused by the next run.
            assert len(clients) == 2 and clients[0][1] is clients[1][1] and clients[0][1] is not shared
        finally:
            await aclose_client(ctx)
        assert ctx.state == {} and not shared.is_closed


# --- the exchange itself: what a target sees across redirects, TLS on kept-alive connections, sessions -----

Seen = list[tuple[str, str, str, dict[str, str]]]  # (server, method, path, headers) per request received


async def start_recording_server(name: str, seen: Seen, other: str = "",
                                 ssl_context: ssl.SSLContext | None = None) -> tuple[web.AppRunner, str]:
    """An HTTP/1.1 keep-alive server on 127.0.0.1 that records every request; `other` is a base URL to redirect to."""

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append((name, request.method, request.path, dict(request.headers)))
        routes = {"/to-other": f"{other}/echo", "/same": "/echo", "/see-other": "/echo"}
        if request.path in routes:
            return web.Response(status=303 if request.path == "/see-other" else 302,
                                headers={"Location": routes[request.path]})
        if request.path == "/cookie":
            response = web.Response(status=302, headers={"Location": "/echo"})
            response.set_cookie("session", "abc123")
            return response
        return web.Response(text="echo")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ssl_context).start()
    return runner, f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"


@pytest.fixture
async def two_origins() -> AsyncIterator[tuple[str, str, Seen]]:
    seen: Seen = []
    runner_b, url_b = await start_recording_server("b", seen)
    runner_a, url_a = await start_recording_server("a", seen, other=url_b)
    yield url_a, url_b, seen
    await runner_a.cleanup()
    await runner_b.cleanup()


def lower_keys(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


async def test_redirect_to_another_origin_drops_credentials(two_origins: tuple[str, str, Seen],
                                                            ctx: ProbeContext) -> None:
    url_a, _url_b, seen = two_origins
    obs = await check(ctx, url=f"{url_a}/to-other", headers={"Authorization": "Bearer s3cret", "X-Probe": "yes"})
    assert obs["http_up"].value == 1 and obs["http_up"].details["redirects"] == 1
    (first_server, _, _, first), (second_server, _, second_path, second) = seen
    assert first_server == "a" and lower_keys(first)["authorization"] == "Bearer s3cret"
    assert second_server == "b" and second_path == "/echo"
    assert "authorization" not in lower_keys(second) and lower_keys(second)["x-probe"] == "yes"


async def test_same_origin_redirect_keeps_credentials(two_origins: tuple[str, str, Seen], ctx: ProbeContext) -> None:
    url_a, _url_b, seen = two_origins
    obs = await check(ctx, url=f"{url_a}/same", headers={"Authorization": "Bearer s3cret"})
    assert obs["http_up"].value == 1
    assert [(s, p, lower_keys(h).get("authorization")) for s, _, p, h in seen] == [
        ("a", "/same", "Bearer s3cret"), ("a", "/echo", "Bearer s3cret")]


async def test_url_credentials_are_sent_as_basic_auth(two_origins: tuple[str, str, Seen], ctx: ProbeContext) -> None:
    url_a, _url_b, seen = two_origins
    obs = await check(ctx, url=url_a.replace("http://", "http://probe:pa%20ss@") + "/echo")
    assert obs["http_up"].value == 1
    assert lower_keys(seen[0][3])["authorization"] == "Basic " + base64.b64encode(b"probe:pa ss").decode()
    assert "pa ss" not in repr(list(obs.values())) and "pa%20ss" not in repr(list(obs.values()))


async def test_cookies_follow_one_redirect_chain_but_not_the_next_check(two_origins: tuple[str, str, Seen],
                                                                        ctx: ProbeContext) -> None:
    url_a, _url_b, seen = two_origins
    for _ in range(2):
        obs = await check(ctx, url=f"{url_a}/cookie")
        assert obs["http_up"].value == 1
    assert [(p, lower_keys(h).get("cookie")) for _, _, p, h in seen] == [
        ("/cookie", None), ("/echo", "session=abc123"), ("/cookie", None), ("/echo", "session=abc123")]


async def test_post_answered_with_see_other_continues_with_get(two_origins: tuple[str, str, Seen],
                                                               ctx: ProbeContext) -> None:
    url_a, _url_b, seen = two_origins
    obs = await check(ctx, url=f"{url_a}/see-other", method="POST")
    assert obs["http_up"].value == 1
    assert [(m, p) for _, m, p, _ in seen] == [("POST", "/see-other"), ("GET", "/echo")]


async def test_cert_read_on_every_check_over_a_kept_alive_connection(ca: trustme.CA, ca_file: str,
                                                                     ctx: ProbeContext) -> None:
    not_after = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=9)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", not_after=not_after).configure_cert(context)
    seen: Seen = []
    runner, url = await start_recording_server("tls", seen, ssl_context=context)
    try:
        for method in ("GET", "HEAD", "GET"):  # HEAD: a response without a body
            obs = await check(ctx, url=f"{url}/echo", ca_file=ca_file, method=method)
            assert obs["http_up"].value == 1, obs["http_up"]
            days = obs["tls_cert_days_left"].value
            assert days is not None and 8.99 < days <= 9.0
    finally:
        await runner.cleanup()
    assert len(seen) == 3


async def test_targets_share_one_session_per_tls_settings_until_the_last_releases_it(ca_file: str) -> None:
    first, second, own_ca = ProbeContext(), ProbeContext(), ProbeContext()
    shared = await session_for(first)
    assert await session_for(second) is shared and first.state == {} and second.state == {}
    other = await session_for(own_ca, ca_file=ca_file)
    assert other is not shared and own_ca.state
    await aclose_client(first)
    assert not shared.closed  # the second target still uses it
    await aclose_client(second)
    assert shared.closed and not other.closed
    # A target whose TLS settings change lets go of the session it used before.
    moved = await session_for(own_ca, verify=False)
    assert other.closed and moved is not other
    await aclose_client(own_ca)
    assert moved.closed and own_ca.state == {}
