"""HTTP uptime probe: status, latency, body and JSON conditions, redirects, TLS certificate expiry.

The exchange runs on aiohttp (a session shared per TLS settings, see probes.tls.session_for): a check costs
a fraction of the CPU httpx needs. Redirects are followed here, one hop at a time, so loops and chains that
are too long are reported as such, and the certificate is read from the first hop's connection.

Error codes (on the observations, with a human reason in details): dns, connect, timeout, tls,
protocol (no usable response); status, body, json, redirects (a response that fails a condition);
local (our own setup failed, e.g. an unreadable ca_file: the target was not checked, values unknown).
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import aiohttp
import httpx
from yarl import URL

from monitor.core.observation import Observation
from monitor.core.redact import safe_url
from monitor.core.targets import HttpTarget
from probes.base import ProbeContext
from probes.jsonpath import MISSING, json_equal, resolve
from probes.tls import LocalTlsError, fetch_not_after, response_not_after, session_for

KIND = "http"
_SHOWN_VALUE_CHARS = 80
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify(exc: BaseException) -> tuple[str, str]:
    """Short error code and reason for a request (httpx or aiohttp) that got no usable response."""
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return "timeout", f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    causes = list(_chain(exc))
    for cause in causes:
        if isinstance(cause, socket.gaierror):
            return "dns", f"name does not resolve: {cause}"
        if isinstance(cause, ssl.SSLCertVerificationError):
            original = getattr(cause, "certificate_error", cause)  # aiohttp's wrapper holds ssl's error
            return "tls", f"certificate verify failed: {getattr(original, 'verify_message', None) or original}"
        if isinstance(cause, ssl.SSLError):
            return "tls", f"TLS handshake failed: {cause}"
    root = str(causes[-1]) or type(causes[-1]).__name__
    # aiohttp's connection errors are OSErrors; a server that hangs up mid-response is a protocol failure.
    if isinstance(exc, httpx.NetworkError | OSError):
        return "connect", root
    return "protocol", f"{type(exc).__name__}: {root}"


@lru_cache(maxsize=4096)
@lru_cache(maxsize=4096)
def _parsed(url: str) -> URL:
    return URL(url)


class _BadRedirect(Exception):
    """A redirect whose Location cannot be followed."""


@dataclass
class _Outcome:
    status: int | None = None
    latency: float | None = None
    not_after: float | None = None
    cert_verified: bool = True
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def fail(self, code: str, reason: str) -> None:
        if self.error is None:
            self.error = code
            self.details["reason"] = reason


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_VALUE_CHARS else text[:_SHOWN_VALUE_CHARS] + "..."


def _json_failure(target: HttpTarget, body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return "response body is not JSON"
    for cond in target.json_checks:
        value = resolve(data, cond.path)
        if "equals" in cond.model_fields_set:
            if value is MISSING:
                return f"{cond.path}: missing, expected {cond.equals!r}"
            if not json_equal(value, cond.equals):
                return f"{cond.path}: {_shown(value)}, expected {cond.equals!r}"
        # With no condition given, the path must exist.
        exists = cond.exists if cond.exists is not None else "equals" not in cond.model_fields_set
        if exists and value is MISSING:
            return f"{cond.path}: missing"
        if cond.exists is False and value is not MISSING:
            return f"{cond.path}: present ({_shown(value)}), expected absent"
    return None


def _text(body: bytes, charset: str | None) -> str:
    # As httpx's Response.text: the declared charset, else UTF-8; undecodable bytes replaced.
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _check_response(target: HttpTarget, status: int, charset: str | None, body: bytes, out: _Outcome) -> None:
    if status not in target.expect_status:
        out.fail("status", f"status {status}, expected one of {target.expect_status}")
    elif target.body_contains is not None and target.body_contains not in _text(body, charset):
        out.fail("body", f"body does not contain {target.body_contains!r}")
    elif target.json_checks and (reason := _json_failure(target, body)):
        out.fail("json", reason)


def _location(response: aiohttp.ClientResponse, url: URL) -> URL | None:
    """Where a redirect response points, or None when it is no redirect."""
    if response.status not in _REDIRECT_STATUSES or "Location" not in response.headers:
        return None
    try:
        nxt = url.join(URL(response.headers["Location"])).with_fragment(None)
    except ValueError as exc:
        raise _BadRedirect(f"invalid redirect location: {exc}") from exc
    if nxt.scheme not in ("http", "https") or not nxt.host:
        raise _BadRedirect(f"cannot follow redirect to {safe_url(nxt)}")
    return nxt


def _redirect_method(status: int, method: str) -> str:
    # As browsers and httpx: 303 becomes GET, and so does a POST answered with 301/302.
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        return "GET"
    return method


def _redirect_headers(headers: dict[str, str], old: URL, new: URL) -> dict[str, str]:
    """Headers for the next hop: credentials never go to another origin (an http -> https upgrade of the same
    host excepted), nor does a Host header set for the first one; the chain's own cookies replace Cookie."""
    dropped = {"cookie"}
    if (old.scheme, old.host, old.port) != (new.scheme, new.host, new.port):
        dropped.add("host")
        upgrade = (old.host == new.host and old.scheme == "http" and old.port == 80
                   and new.scheme == "https" and new.port == 443)
        if not upgrade:
            dropped.add("authorization")
    return {name: value for name, value in headers.items() if name.lower() not in dropped}


def _with_credentials(url: URL, headers: dict[str, str]) -> tuple[URL, dict[str, str]]:
    """user:password in the URL as Basic auth, taking precedence over an Authorization header (as in httpx)."""
    if url.raw_user is None and url.raw_password is None:
        return url, headers
    userpass = base64.b64encode(f"{url.user or ''}:{url.password or ''}".encode()).decode()
    return url.with_user(None), {**{k: v for k, v in headers.items() if k.lower() != "authorization"},
                                 "Authorization": f"Basic {userpass}"}


async def _exchange(session: aiohttp.ClientSession, target: HttpTarget, out: _Outcome, started: float) -> None:
    url = _parsed(str(target.url))
    method = target.method
    headers = {name: value.get_secret_value() for name, value in target.headers.items()}
    visited = {str(url)}
    jar: aiohttp.CookieJar | None = None  # cookies set along this redirect chain, for its next hops
    redirects = 0
    while True:
        request_url, request_headers = _with_credentials(url, headers)
        async with session.request(method, request_url, headers=request_headers, allow_redirects=False) as response:
            if redirects == 0 and url.scheme == "https":
                out.not_after = response_not_after(response)
            body = await response.read()
        out.status = response.status
        out.latency = time.perf_counter() - started
        nxt = _location(response, url) if target.follow_redirects else None
        if nxt is None:
            break
        if redirects >= target.max_redirects:
            loop = " (redirect loop)" if str(nxt) in visited else ""
            out.fail("redirects", f"more than {target.max_redirects} redirects{loop}, next: {safe_url(nxt)}")
            break
        visited.add(str(nxt))
        redirects += 1
        method = _redirect_method(response.status, method)
        headers = _redirect_headers(headers, url, nxt)
        if response.cookies:
            jar = jar or aiohttp.CookieJar(unsafe=True)  # unsafe: also for IP-address hosts
            jar.update_cookies(response.cookies, url)
        if jar is not None and (cookies := jar.filter_cookies(nxt)):
            headers["Cookie"] = "; ".join(f"{m.key}={m.coded_value}" for m in cookies.values())
        url = nxt
    out.details["redirects"] = redirects
    if redirects:
        out.details["final_url"] = safe_url(url)
    if out.error is None:
        _check_response(target, response.status, response.charset, body, out)


async def _check(session: aiohttp.ClientSession, target: HttpTarget) -> _Outcome:
    out = _Outcome()
    started = time.perf_counter()
    try:
        # One deadline for the whole check, redirects included.
        async with asyncio.timeout(target.timeout):
            await _exchange(session, target, out, started)
    except TimeoutError:
        out.status = out.latency = None  # the final response did not complete in time
        out.fail("timeout", f"no complete response within {target.timeout:g}s")
    except _BadRedirect as exc:
        out.fail("protocol", str(exc))
    except aiohttp.ClientError as exc:
        out.status = out.latency = None
        out.fail(*classify(exc))
    except ValueError as exc:  # aiohttp refused to send the request (e.g. a header value it rejects)
        out.status = out.latency = None
        out.fail("protocol", f"request could not be sent ({type(exc).__name__}; message withheld: may hold secrets)")
    if out.error == "tls" and out.not_after is None and target.url.scheme == "https":
        # Verification failed: still report the expiry of the certificate the server presents.
        remaining = target.timeout - (time.perf_counter() - started)
        if remaining > 0 and target.url.host:
            out.not_after = await fetch_not_after(target.url.host, target.url.port or 443, remaining)
            out.cert_verified = False
    return out


def _observations(target: HttpTarget, ctx: ProbeContext, out: _Outcome) -> list[Observation]:
    ts = ctx.now()
    labels = {"target": target.name}
    details = {"url": safe_url(str(target.url)), **out.details}
    if out.status is not None:
        details["status"] = out.status
    if out.error in ("status", "redirects"):
        details["expected_status"] = list(target.expect_status)
    # A failure of our own leaves the target unchecked: unknown, not down.
    up = None if out.error == "local" else float(out.error is None)

    def measured(signal: str, value: float | None) -> Observation:
        if value is None:
            return Observation(signal, None, ts, labels, error=out.error or "unknown", details=details)
        return Observation(signal, value, ts, labels)

    result = [
        Observation("http_up", up, ts, labels, error=out.error, details=details),
        measured("http_status_code", None if out.status is None else float(out.status)),
        measured("http_latency_seconds", out.latency),
    ]
    if target.url.scheme == "https":
        if out.not_after is None:
            result.append(Observation("tls_cert_days_left", None, ts, labels,
                                      error=out.error or "tls_cert_unreadable", details=details))
        else:
            result.append(Observation("tls_cert_days_left", (out.not_after - ts) / 86400.0, ts, labels,
                                      details=None if out.cert_verified else {"verified": False}))
    result.append(Observation("probe_success", up, ts, {**labels, "kind": KIND}, error=out.error, details=details))
    return result


async def run(target: HttpTarget, ctx: ProbeContext) -> list[Observation]:
    try:
        session = await session_for(ctx, verify=target.verify_tls, ca_file=target.ca_file)
    except LocalTlsError as exc:
        out = _Outcome()
        out.fail("local", str(exc))
        out.details["field"] = "ca_file"
        return _observations(target, ctx, out)
    return _observations(target, ctx, await _check(session, target))
