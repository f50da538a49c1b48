"""The critical-feature journey (deployment checklist: "Verify critical features (login, QR scan, RSVP,
messaging)"), as the two synthetic accounts do it against the real API:

    login          the synthetic account logs in                     POST /v1/auth/login
    peer-login     its peer logs in (the other side of the QR scan)  POST /v1/auth/login
    sessions       the session list                                  GET  /v1/sessions
    rsvp           RSVP to the first session (409 "full" counts:     POST /v1/sessions/{id}/rsvp
                   the feature answered)
    qr-connect     scan the peer's QR code                           POST /v1/connections
    websocket      the peer opens its live-updates websocket         WS   /v1/ws
    message-send   send the peer a message with a fresh nonce        POST /v1/messages
    message-receive the peer's websocket delivers that message

The first failing step ends the journey; details name it and say why. Afterwards the journey undoes what it
did (cancels the RSVP, removes the connection, deletes the message), whatever happened, so a run leaves no
trace and never takes a seat from a real attendee; an undo that fails is reported in the details. Tokens and
passwords never reach details or errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from monitor.core.observation import Observation
from monitor.core.targets import JourneyTarget
from probes.base import ProbeContext
from probes.http import classify
from probes.proc import TIMEOUT_SHARE

KIND = "journey"
STEPS = ("login", "peer-login", "sessions", "rsvp", "qr-connect", "websocket", "message-send", "message-receive")
_UNDO_TIMEOUT = 5.0


class StepFailure(Exception):
    def __init__(self, code: str, reason: str, status: int | None = None) -> None:
        super().__init__(code, reason)
        self.code, self.reason, self.status = code, reason, status


@dataclass
class _Run:
    latencies: dict[str, float] = field(default_factory=dict)
    step: str = STEPS[0]
    undo: list[tuple[str, str, str]] = field(default_factory=list)  # (what, path, token) to DELETE afterwards
    ws: ClientConnection | None = None


async def _call(client: httpx.AsyncClient, method: str, url: str, expect: tuple[int, ...], token: str | None = None,
                body: dict[str, Any] | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = await client.request(method, url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise StepFailure(*classify(exc)) from None  # `from None`: the request (and its token) stays out
    if response.status_code not in expect:
        raise StepFailure("status", f"status {response.status_code}, expected one of {list(expect)}",
                          response.status_code)
    try:
        return response.json()
    except ValueError:
        raise StepFailure("json", "response body is not JSON", response.status_code) from None


def _field(data: Any, key: str, kind: type) -> Any:
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise StepFailure("json", f"response has no {key}")
    return value


async def _timed(run: _Run, step: str, action: Callable[[], Awaitable[Any]]) -> Any:
    run.step = step
    started = time.perf_counter()
    result = await action()
    run.latencies[step] = time.perf_counter() - started
    return result


async def _receive(ws: ClientConnection, nonce: str) -> None:
    while True:
        text = await ws.recv()
        with contextlib.suppress(ValueError, AttributeError):
            if json.loads(text).get("body", "").endswith(nonce):
                return


async def _journey(target: JourneyTarget, client: httpx.AsyncClient, run: _Run) -> None:
    base = str(target.base_url).rstrip("/")

    async def login(email: str, password: str) -> str:
        data = await _call(client, "POST", f"{base}/v1/auth/login", (200,), body={"email": email, "password": password})
        return str(_field(data, "access_token", str))

    token = await _timed(run, "login", lambda: login(target.email, target.password.get_secret_value()))
    peer_token = await _timed(run, "peer-login",
                              lambda: login(target.peer_email, target.peer_password.get_secret_value()))
    listed = await _timed(run, "sessions", lambda: _call(client, "GET", f"{base}/v1/sessions", (200,)))
    sessions = _field(listed, "sessions", list)
    if not sessions:
        raise StepFailure("json", "the session list is empty")
    session_id = _field(sessions[0], "id", int)
    run.undo.append(("rsvp", f"/v1/sessions/{session_id}/rsvp", token))
    await _timed(run, "rsvp", lambda: _call(client, "POST", f"{base}/v1/sessions/{session_id}/rsvp",
                                            (200, 201, 409), token))
    connected = await _timed(run, "qr-connect", lambda: _call(client, "POST", f"{base}/v1/connections", (200, 201),
                                                              token, {"qr_code": target.peer_qr_code}))
    peer_id = _field(connected, "connected_id", int)
    run.undo.append(("connection", f"/v1/connections/{peer_id}", token))

    ws_url = base.replace("http", "ws", 1) + "/v1/ws?token=" + quote(peer_token, safe="")
    tls: ssl.SSLContext | None = None
    if ws_url.startswith("wss") and not target.verify_tls:
        tls = ssl.create_default_context()
        tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE

    async def open_ws() -> None:
        try:
            run.ws = await connect(ws_url, ssl=tls, open_timeout=None, max_size=2**20)
        except (WebSocketException, OSError) as exc:
            raise StepFailure("websocket", f"the websocket did not open: {type(exc).__name__}") from None

    await _timed(run, "websocket", open_ws)
    nonce = secrets.token_hex(8)
    sent = await _timed(run, "message-send", lambda: _call(
        client, "POST", f"{base}/v1/messages", (201,), token,
        {"recipient_id": peer_id, "body": f"converge-monitor journey check {nonce}"}))
    run.undo.append(("message", f"/v1/messages/{_field(sent, 'id', int)}", token))
    assert run.ws is not None

    async def receive() -> None:
        try:
            await _receive(run.ws, nonce)  # type: ignore[arg-type]
        except WebSocketException as exc:
            raise StepFailure("websocket", f"the websocket closed before the message arrived: "
                                           f"{type(exc).__name__}") from None

    await _timed(run, "message-receive", receive)


async def _undo(client: httpx.AsyncClient, base: str, run: _Run) -> list[str]:
    """DELETE what the journey made, newest first; the names of what could not be undone."""
    failed = []
    for what, path, token in reversed(run.undo):
        for attempt in (1, 2):  # one retry: a connection dropped mid-undo must not leave synthetic rows behind
            try:
                r = await client.delete(base + path, headers={"Authorization": f"Bearer {token}"},
                                        timeout=_UNDO_TIMEOUT)
            except httpx.TransportError as exc:
                if attempt == 2:
                    failed.append(f"{what}: {classify(exc)[0]}")
                else:
                    await asyncio.sleep(0.5)
                continue
            except httpx.HTTPError as exc:
                failed.append(f"{what}: {classify(exc)[0]}")
            else:
                if r.status_code not in (200, 404):
                    failed.append(f"{what}: status {r.status_code}")
            break
    return failed


async def run(target: JourneyTarget, ctx: ProbeContext) -> list[Observation]:
    journey = _Run()
    failure: StepFailure | None = None
    budget = target.timeout * TIMEOUT_SHARE
    started = time.perf_counter()
    # Its own client per run: no cookies or connections carried over from the last run.
    async with httpx.AsyncClient(verify=target.verify_tls, timeout=budget, follow_redirects=False) as client:
        try:
            async with asyncio.timeout(budget):
                await _journey(target, client, journey)
        except StepFailure as exc:
            failure = exc
        except TimeoutError:
            failure = StepFailure("timeout", f"the journey did not finish within {budget:g}s")
        finally:
            duration = time.perf_counter() - started
            if journey.ws is not None:
                with contextlib.suppress(WebSocketException, OSError, TimeoutError):
                    async with asyncio.timeout(_UNDO_TIMEOUT):
                        await journey.ws.close()
            undo_failed = await _undo(client, str(target.base_url).rstrip("/"), journey)
    ts = ctx.now()
    labels = {"journey": target.name}
    error = None if failure is None else failure.code
    details: dict[str, Any] | None = None
    if failure is not None:
        details = {"step": journey.step, "reason": failure.reason, "steps_passed": len(journey.latencies)}
        if failure.status is not None:
            details["status"] = failure.status
    if undo_failed:
        details = {**(details or {}), "undo_failed": undo_failed}
    success = 0.0 if failure else 1.0
    out = [Observation("journey_step_latency_seconds", latency, ts, {**labels, "step": step})
           for step, latency in journey.latencies.items()]
    if failure is not None:
        out.append(Observation("journey_step_latency_seconds", None, ts, {**labels, "step": journey.step},
                               error=error, details=details))
    out += [
        Observation("journey_duration_seconds", duration if failure is None else None, ts, labels, error=error),
        Observation("journey_success", success, ts, labels, error=error, details=details),
        Observation("probe_success", success, ts, {"target": target.name, "kind": KIND}, error=error,
                    details=details),
    ]
    return out
