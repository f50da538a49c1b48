"""Operational routes: /health (spec 8.5), /metrics, and a cheap /v1/ping."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.metrics import record_pool_stats, render
from app.resources import Resources
from app.routes.deps import resources

router = APIRouter()


@router.get("/health")
async def health(res: Resources = Depends(resources)) -> JSONResponse:
    healthy, body = await res.health()
    return JSONResponse(body, status_code=200 if healthy else 503, headers={"Cache-Control": "no-store"})


@router.get("/metrics")
async def metrics(request: Request, res: Resources = Depends(resources)) -> Response:
    record_pool_stats(res.pool.get_stats())
    return Response(render(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/ping")
async def ping() -> dict[str, str]:
    return {"status": "ok"}
