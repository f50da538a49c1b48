"""POST /api/deploys records a deploy (bearer token, like the other write endpoints); GET lists them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Header, HTTPException, Request
from pydantic import BaseModel, Field, ValidationError
from pydantic import SecretStr as Secret

from monitor.alerts_api import ERRORS, require_bearer
from monitor.deploys import DeployError, DeployWatch, open_window, record_deploy
from monitor.request_body import bounded_body

MAX_BODY = 4096


class DeployBody(BaseModel):
    version: str = Field(min_length=1, max_length=100)
    by: str = Field("api", max_length=100)
    note: str = Field("", max_length=500)
    at: float | None = Field(None, ge=0, le=1e11)  # default: now


def deploys_router(watch: DeployWatch, token: Secret | None, keep: int,
                   clock: Callable[[], float] = time.time) -> APIRouter:
    router = APIRouter(prefix="/api")

    @router.get("/deploys")
    async def list_deploys() -> dict[str, Any]:
        now = clock()
        deploys = watch.deploys()
        current = open_window(deploys, now, watch.window)
        return {"deploys": [{"version": d.version, "at": d.at, "by": d.by, "note": d.note} for d in deploys],
                "window_open": current is not None, "window_seconds": watch.window,
                "window_ends": current.at + watch.window if current else None}

    @router.post("/deploys", status_code=201, responses=ERRORS)
    async def mark_deploy(request: Request, authorization: str | None = Header(None)) -> dict[str, Any]:
        require_bearer(authorization, token)
        try:
            body = DeployBody.model_validate_json(await bounded_body(request, MAX_BODY))
            deploy = record_deploy(watch.store, body.version, at=clock() if body.at is None else body.at,
                                   by=body.by, note=body.note, keep=keep)
        except (ValidationError, DeployError) as exc:
            msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in
                            exc.errors(include_url=False, include_input=False)) \
                if isinstance(exc, ValidationError) else str(exc)
            raise HTTPException(422, msg) from None
        watch.write(clock())
        return {"version": deploy.version, "at": deploy.at, "window_ends": deploy.at + watch.window}

    return router
