"""The alerts part of the monitor's HTTP API: alerts, acknowledgement (API and signed links), silences, rules.

Write endpoints need `Authorization: Bearer <server.api_token>` (401 without, 403 with a wrong one), checked
before the body is read; an ack link carries its own signed, expiring token instead. Bodies are bounded
(monitor/server.py refuses more than 1 MiB with 413; JSON nested deeper than MAX_JSON_DEPTH is 400) and so is
every field that is stored and shown (422 naming the field).
"""

from __future__ import annotations

import html
import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, ValidationError

from alerts.ack import check_bearer
from alerts.alertmanager import PayloadError, from_webhook
from alerts.service import AckRefused, AlertService
from alerts.silences import SilenceError, SilenceNotFound
from monitor.core.targets import Duration

MAX_JSON_DEPTH = 16
MAX_MATCHERS = 32
MAX_MATCHER = 512  # one matcher string, or one of its fields
# Epoch seconds a silence may start or end at: year 2001 to 5138; NaN and infinities are refused.
MAX_EPOCH = 1e11

MatcherText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_MATCHER)]


class AckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str = Field("api", min_length=1, max_length=100)


class SilenceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    matchers: list[MatcherText | dict[MatcherText, Annotated[str, StringConstraints(max_length=MAX_MATCHER)]]] = \
        Field(min_length=1, max_length=MAX_MATCHERS)
    author: str = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=500)
    starts_at: float | None = Field(None, gt=0, lt=MAX_EPOCH, allow_inf_nan=False)
    ends_at: float | None = Field(None, gt=0, lt=MAX_EPOCH, allow_inf_nan=False)
    duration: Duration | None = None


def _body_schema(model: type[BaseModel] | dict[str, Any], required: bool = True) -> dict[str, Any]:
    """The request body as the OpenAPI schema shows it (the handlers read it themselves, after the token)."""
    schema = model if isinstance(model, dict) else model.model_json_schema()
    return {"requestBody": {"required": required, "content": {"application/json": {"schema": schema}}}}


ALERTMANAGER_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["version", "alerts"],
    "properties": {"version": {"type": "string", "enum": ["4"]},
                   "alerts": {"type": "array", "items": {
                       "type": "object", "required": ["status", "labels"],
                       "properties": {"status": {"type": "string", "enum": ["firing", "resolved"]},
                                      "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                                      "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                                      "startsAt": {"type": "string", "format": "date-time"},
                                      "endsAt": {"type": "string", "format": "date-time"}}}}},
}
ERRORS: dict[int | str, dict[str, Any]] = {code: {"description": why} for code, why in (
    (400, "not JSON, or nested too deep"), (401, "no bearer token"), (403, "wrong token, or writes disabled"),
    (413, "body over 1 MiB"), (422, "a field is invalid or too large (the message names it)"))}


async def json_body(request: Request) -> Any:
    """The request's JSON (None when there is no body); 400 for what is not JSON or nests too deep."""
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        data = json.loads(raw)
    except RecursionError:
        raise HTTPException(400, f"JSON nested more than {MAX_JSON_DEPTH} levels deep") from None
    except ValueError as exc:
        raise HTTPException(400, f"the body is not JSON: {type(exc).__name__}") from None
    if _depth(data) > MAX_JSON_DEPTH:
        raise HTTPException(400, f"JSON nested more than {MAX_JSON_DEPTH} levels deep")
    return data


def _depth(data: Any) -> int:
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_JSON_DEPTH:
            break
        if isinstance(value, dict):
            stack.extend((v, level + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, level + 1) for v in value)
    return deepest


def rule_table(service: AlertService) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json", by_alias=True) for r in service.engine.rules]


def require_bearer(authorization: str | None, token: SecretStr | None) -> None:
    """The write endpoints' check (alerts, silences, ack, deploys): 403 when writes are off, 401 without a
    bearer token, 403 with a wrong one."""
    if token is None:
        raise HTTPException(403, "write endpoints are disabled: set server.api_token in the config")
    verdict = check_bearer(authorization, token)
    if verdict == "missing":
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    if verdict == "wrong":
        raise HTTPException(403, "wrong bearer token")


def alerts_router(service: AlertService) -> APIRouter:
    router = APIRouter(prefix="/api")
    token = service.config.server.api_token

    def authorize(authorization: str | None) -> None:
        require_bearer(authorization, token)

    # Every handler that reads or changes the alert state is async: it runs on the event loop, between
    # two alert cycles (which run there too), never in a worker thread in the middle of one.
    @router.get("/alerts")
    async def list_alerts() -> dict[str, Any]:
        return {"alerts": service.active()}

    @router.post("/alerts/{alert_id}/ack", openapi_extra=_body_schema(AckBody, required=False), responses=ERRORS)
    async def ack(alert_id: str, request: Request, authorization: str | None = Header(None)) -> dict[str, Any]:
        authorize(authorization)  # before the body: a stranger learns nothing from a 422
        data = await json_body(request)
        try:
            body = AckBody.model_validate(data) if data is not None else AckBody()
        except ValidationError as exc:
            raise HTTPException(422, _message(exc)) from None
        try:
            return service.ack(alert_id, body.by)
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

    @router.post("/silences", status_code=201, openapi_extra=_body_schema(SilenceBody), responses=ERRORS)
    async def add_silence(request: Request, authorization: str | None = Header(None)) -> dict[str, Any]:
        authorize(authorization)
        data = await json_body(request)
        try:
            body = SilenceBody.model_validate(data)
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

    @router.delete("/silences/{silence_id}", responses=ERRORS)
    async def expire_silence(silence_id: str, authorization: str | None = Header(None)) -> dict[str, Any]:
        authorize(authorization)
        try:
            return service.expire_silence(silence_id).to_dict()
        except SilenceNotFound:
            raise HTTPException(404, f"no silence {silence_id}") from None
        except SilenceError as exc:
            raise HTTPException(409, str(exc)) from None

    @router.post("/alertmanager", openapi_extra=_body_schema(ALERTMANAGER_SCHEMA), responses=ERRORS)
    async def alertmanager_webhook(request: Request, authorization: str | None = Header(None)) -> dict[str, Any]:
        """Alertmanager's webhook receiver (payload version 4): delivered through our tiers and on-call."""
        authorize(authorization)
        data = await json_body(request)
        try:
            alerts = from_webhook(data)
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
