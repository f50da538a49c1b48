"""POST /api/sentry: Sentry's integration-platform webhooks, verified, into the monitor's alert pipeline.

The signature (`Sentry-Hook-Signature`, HMAC-SHA256 of the raw body with the integration's client secret) is
the authentication: unsigned or wrongly signed bodies get 401. Bodies are bounded; the decisions are
alerts/sentry.py's, the delivery (tiers, routing, on-call, ack, escalation, outbox) the AlertService's.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Header, HTTPException, Request

from alerts.sentry import PayloadError, SentryBook, delivery_id, parse, signature_ok
from alerts.service import AlertService
from monitor.core.observation import Observation
from monitor.core.signals import SENTRY_OPEN
from monitor.request_body import bounded_body

STATE_KEY = "sentry"
MAX_BODY = 256 * 1024  # Sentry's issue payloads are a few kB; an event with a big stack trace stays well below


def sentry_router(service: AlertService, client_secret: str) -> APIRouter:
    router = APIRouter(prefix="/api")
    book = SentryBook.from_dict(service.store.get_state(STATE_KEY))

    @router.post("/sentry")
    async def sentry_webhook(request: Request, sentry_hook_resource: str | None = Header(None),
                             sentry_hook_signature: str | None = Header(None)) -> dict[str, Any]:
        body = await bounded_body(request, MAX_BODY)
        if not signature_ok(body, sentry_hook_signature, client_secret):
            raise HTTPException(401, "missing or wrong Sentry-Hook-Signature")
        try:
            change = parse(sentry_hook_resource, json.loads(body))
        except (PayloadError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
            raise HTTPException(422, str(exc)) from None
        now = service.clock()
        delivery = delivery_id(body)
        if book.seen(delivery):
            return {"received": 0, "duplicate": True}
        alerts = book.decide(change, delivery, now)
        received = service.receive(alerts) if alerts else 0
        service.store.put_state(STATE_KEY, book.to_dict())
        service.store.write([Observation(SENTRY_OPEN, float(n), now, {"kind": kind})
                             for kind, n in book.open_counts().items()])
        return {"received": received, "kind": change.kind}

    return router
