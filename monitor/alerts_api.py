"""The alerts part of the monitor's HTTP API: alerts, acknowledgement (API and signed links), silences, rules.

Write endpoints need `Authorization: Bearer <server.api_token>` (401 without, 403 with a wrong one); an
ack link carries its own signed, expiring token instead.
"""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, ValidationError

from alerts.ack import check_bearer
from alerts.alertmanager import PayloadError, from_webhook
from alerts.service import AckRefused, AlertService
from alerts.silences import SilenceError, SilenceNotFound
from monitor.core.targets import Duration


class AckBody(BaseModel):
    by: str = Field("api", min_length=1, max_length=100)


class SilenceBody(BaseModel):
    matchers: list[str | dict[str, str]] = Field(min_length=1)
    author: str = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=500)
    starts_at: float | None = None
    ends_at: float | None = None
    duration: Duration | None = None


def rule_table(service: AlertService) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json", by_alias=True) for r in service.engine.rules]


def alerts_router(service: AlertService) -> APIRouter:
    router = APIRouter(prefix="/api")
    token = service.config.server.api_token

    def authorize(authorization: str | None) -> None:
        if token is None:
            raise HTTPException(403, "write endpoints are disabled: set server.api_token in the config")
        verdict = check_bearer(authorization, token)
        if verdict == "missing":
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        if verdict == "wrong":
            raise HTTPException(403, "wrong bearer token")

    # Every handler that reads or changes the alert state is async: it runs on the event loop, between
    # two alert cycles (which run there too), never in a worker thread in the middle of one.
    @router.get("/alerts")
    async def list_alerts() -> dict[str, Any]:
        return {"alerts": service.active()}

    @router.post("/alerts/{alert_id}/ack")
    async def ack(alert_id: str, body: AckBody | None = None,
                  authorization: str | None = Header(None)) -> dict[str, Any]:
        authorize(authorization)
        try:
            return service.ack(alert_id, (body or AckBody()).by)
        except AckRefused as exc:
            raise HTTPException(404, str(exc)) from None

    @router.get("/ack/{ack_token}", response_class=HTMLResponse)
    async def ack_page(ack_token: str) -> HTMLResponse:
        # A GET never acknowledges: link previews in Slack and SMS apps fetch links nobody clicked. It shows
        # what the button would acknowledge, so the person who clicks knows what they take on.
        head = "<!doctype html><meta name=viewport content='width=device-width'><title>Acknowledge</title>"
        try:
            alerts = service.ack_preview(ack_token)
        except AckRefused as exc:
            return HTMLResponse(f"{head}<p>{html.escape(str(exc))}</p>", status_code=403)
        if not alerts:
            return HTMLResponse(f"{head}<p>Nothing to acknowledge: the alert is no longer firing.</p>")
        items = "".join(f"<li>{html.escape(str(a['tier']).upper())}: {html.escape(a['summary'] or a['rule'])}"
                        + (" (acknowledged already)" if a["acked_by"] else "") + "</li>" for a in alerts)
        safe = html.escape(ack_token, quote=True)
        noun = "these alerts" if len(alerts) > 1 else "this alert"
        return HTMLResponse(f"{head}<ul>{items}</ul><form method=post action='/api/ack/{safe}'>"
                            f"<button type=submit>Acknowledge {noun}</button></form>")

    @router.post("/ack/{ack_token}")
    async def ack_link(ack_token: str) -> dict[str, Any]:
        try:
            return service.ack_with_token(ack_token)
        except AckRefused as exc:
            raise HTTPException(403, str(exc)) from None

    @router.get("/silences")
    async def list_silences() -> dict[str, Any]:
        now = service.clock()
        return {"silences": [{**s.to_dict(), "state": s.state(now)} for s in service.silences.list()]}

    @router.post("/silences", status_code=201)
    async def add_silence(request: Request, authorization: str | None = Header(None)) -> dict[str, Any]:
        authorize(authorization)
        try:
            body = SilenceBody.model_validate(await request.json())
            now = service.clock()
            ends = body.ends_at if body.ends_at is not None else (
                (body.starts_at or now) + body.duration if body.duration else None)
            if ends is None:
                raise SilenceError("give ends_at or duration")
            silence = service.add_silence(body.matchers, ends_at=ends, author=body.author, reason=body.reason,
                                          starts_at=body.starts_at, now=now)
        except (ValidationError, ValueError, SilenceError) as exc:
            raise HTTPException(422, _message(exc)) from None
        return silence.to_dict()

    @router.delete("/silences/{silence_id}")
    async def expire_silence(silence_id: str, authorization: str | None = Header(None)) -> dict[str, Any]:
        authorize(authorization)
        try:
            return service.expire_silence(silence_id).to_dict()
        except SilenceNotFound:
            raise HTTPException(404, f"no silence {silence_id}") from None
        except SilenceError as exc:
            raise HTTPException(409, str(exc)) from None

    @router.post("/alertmanager")
    async def alertmanager_webhook(request: Request, authorization: str | None = Header(None)) -> dict[str, Any]:
        """Alertmanager's webhook receiver (payload version 4): delivered through our tiers and on-call."""
        authorize(authorization)
        try:
            alerts = from_webhook(await request.json())
        except (PayloadError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from None
        return {"received": service.receive(alerts)}

    @router.get("/rules")
    def rules() -> dict[str, Any]:
        return {"rules": rule_table(service)}

    return router


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                         for e in exc.errors(include_url=False, include_input=False))
    return str(exc)
