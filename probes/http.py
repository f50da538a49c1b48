"""HTTP uptime probe: status, latency, body and JSON conditions, redirects, TLS certificate expiry.

Error codes (on the observations, with a human reason in details): dns, connect, timeout, tls,
protocol (no usable response); status, body, json, redirects (a response that fails a condition);
local (our own setup failed, e.g. an unreadable ca_file: the target was not checked, values unknown).
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from monitor.observation import Observation
from monitor.targets import HttpTarget
from probes.base import ProbeContext
from probes.jsonpath import MISSING, json_equal, resolve
from probes.tls import LocalTlsError, client_for, fetch_not_after, response_not_after

KIND = "http"
_SHOWN_VALUE_CHARS = 80


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify(exc: BaseException) -> tuple[str, str]:
    """Short error code and reason for a request that got no usable response."""
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return "timeout", f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    causes = list(_chain(exc))
    for cause in causes:
        if isinstance(cause, socket.gaierror):
            return "dns", f"name does not resolve: {cause}"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return "tls", f"certificate verify failed: {cause.verify_message or cause}"
        if isinstance(cause, ssl.SSLError):
            return "tls", f"TLS handshake failed: {cause}"
    root = str(causes[-1]) or type(causes[-1]).__name__
    if isinstance(exc, httpx.NetworkError | OSError):
        return "connect", root
    return "protocol", f"{type(exc).__name__}: {root}"


def safe_url(url: str | httpx.URL) -> str:
    """The URL without user:password, for details."""
    return str(httpx.URL(str(url)).copy_with(username=None, password=None))


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


def _check_response(target: HttpTarget, response: httpx.Response, out: _Outcome) -> None:
    if response.status_code not in target.expect_status:
        out.fail("status", f"status {response.status_code}, expected one of {target.expect_status}")
    elif target.body_contains is not None and target.body_contains not in response.text:
        out.fail("body", f"body does not contain {target.body_contains!r}")
    elif target.json_checks and (reason := _json_failure(target, response.content)):
        out.fail("json", reason)


async def _exchange(client: httpx.AsyncClient, target: HttpTarget, out: _Outcome, started: float) -> None:
    headers = {name: value.get_secret_value() for name, value in target.headers.items()}
    request = client.build_request(target.method, str(target.url), headers=headers, timeout=target.timeout)
    visited = {str(request.url)}
    redirects = 0
    while True:
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            if redirects == 0 and request.url.scheme == "https":
                out.not_after = response_not_after(response)  # only while the connection is open
            await response.aread()
        finally:
            await response.aclose()
        out.status = response.status_code
        out.latency = time.perf_counter() - started
        nxt = response.next_request
        if not target.follow_redirects or nxt is None:
            break
        if redirects >= target.max_redirects:
            loop = " (redirect loop)" if str(nxt.url) in visited else ""
            out.fail("redirects", f"more than {target.max_redirects} redirects{loop}, next: {safe_url(nxt.url)}")
            break
        visited.add(str(nxt.url))
        redirects += 1
        request = nxt
    out.details["redirects"] = redirects
    if redirects:
        out.details["final_url"] = safe_url(response.url)
    if out.error is None:
        _check_response(target, response, out)


async def _check(client: httpx.AsyncClient, target: HttpTarget) -> _Outcome:
    out = _Outcome()
    started = time.perf_counter()
    try:
        async with asyncio.timeout(target.timeout):
            await _exchange(client, target, out, started)
    except TimeoutError:
        out.status = out.latency = None  # the final response did not complete in time
        out.fail("timeout", f"no complete response within {target.timeout:g}s")
    except httpx.HTTPError as exc:
        out.status = out.latency = None
        out.fail(*classify(exc))
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
        client = await client_for(ctx, verify=target.verify_tls, ca_file=target.ca_file)
    except LocalTlsError as exc:
        out = _Outcome()
        out.fail("local", str(exc))
        out.details["field"] = "ca_file"
        return _observations(target, ctx, out)
    return _observations(target, ctx, await _check(client, target))
