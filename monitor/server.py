"""The monitor's HTTP server: /metrics, /health and /api/signals (and the alerts API and board).

Every request body is capped at MAX_BODY: a larger one is answered 413 before a handler sees it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alerts.service import AlertService
from monitor.alerts_api import alerts_router
from monitor.board import board_router
from monitor.core.signals import CATALOG
from monitor.exporter import SignalCollector
from monitor.rendercache import RenderCache
from monitor.scheduler import ProbeScheduler

METRICS_REUSE = 5.0  # seconds a slow /metrics exposition is served again
MAX_BODY = 1 << 20  # 1 MiB: an Alertmanager webhook of hundreds of alerts fits; nothing we store needs more


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: 413 for a body over `limit` bytes, by its Content-Length or as it streams in."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await self._refuse(send)
            return
        received, started = 0, False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"detail": f"request body over {self.limit} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def create_server(scheduler: ProbeScheduler, alerts: AlertService | None = None,
                  slo_provider: Callable[[], list[dict[str, Any]]] | None = None,
                  routers: Sequence[APIRouter] = ()) -> FastAPI:
    """`routers`: more API parts the runner wires (the Sentry webhook, deploys)."""
    app = FastAPI(title="converge-monitor", docs_url=None, redoc_url=None)
    app.add_middleware(BodyLimit)
    if alerts is not None:
        app.include_router(alerts_router(alerts))
        app.include_router(board_router(scheduler, alerts, slo_provider))
    for router in routers:
        app.include_router(router)
    registry = scheduler.metrics.registry
    registry.register(SignalCollector(scheduler.store.latest))
    started = time.time()
    # Off the event loop (a 5,000-target exposition takes most of a second); a slow one is reused for a few
    # seconds, well under any scrape interval.
    exposition: RenderCache[bytes] = RenderCache(ttl=METRICS_REUSE)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(await exposition.get("metrics", lambda: generate_latest(registry)),
                        media_type=CONTENT_TYPE_LATEST)

    @app.get("/health")
    async def health() -> JSONResponse:
        # Healthy while every target has been probed within three of its intervals (after a start-up grace):
        # the scheduler's own bookkeeping, no series read, so it answers in constant time on the loop.
        now = time.time()
        stale = scheduler.stale(now)
        body = {"status": "ok" if not stale else "degraded", "targets": len(scheduler.targets), "stale": stale,
                "event_mode": scheduler.event_mode, "uptime_seconds": round(now - started)}
        return JSONResponse(body, status_code=200 if not stale else 503)

    @app.get("/api/signals")
    def signals() -> dict[str, Any]:
        out = []
        for obs in sorted(scheduler.store.latest(), key=lambda o: o.series_key()):
            sig = CATALOG.get(obs.signal)
            out.append({"signal": obs.signal, "labels": dict(obs.labels), "value": obs.value,
                        "unit": sig.unit if sig else None, "known": obs.known, "error": obs.error,
                        "timestamp": obs.timestamp, "details": obs.details})
        return {"signals": out}

    return app
