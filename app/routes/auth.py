from __future__ import annotations

import asyncio
import os

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from app.metrics import LOGINS
from app.resources import Resources
from app.routes.deps import resources, settings
from app.security import issue_token, verify_password
from app.settings import Settings

router = APIRouter()
# Argon2 is CPU-bound: at most this many verifications at once, so a login burst (everyone arriving at
# 9:00) waits its turn instead of starving the event loop and every other request (bench/event_load).
_VERIFICATIONS = asyncio.Semaphore(max(2, os.cpu_count() or 2))


class LoginRequest(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=256)


@router.post("/v1/auth/login")
async def login(body: LoginRequest, res: Resources = Depends(resources),
                cfg: Settings = Depends(settings)) -> dict[str, object]:
    async with res.pool.connection() as conn:
        row = await (await conn.execute(
            "SELECT id, password_hash FROM attendees WHERE email = lower(%s)", (body.email,))).fetchone()
    # Argon2 is CPU-bound: verify off the event loop so other requests keep flowing.
    async with _VERIFICATIONS:
        ok = await run_in_threadpool(verify_password, row[1] if row else None, body.password)
    if not ok or row is None:
        LOGINS.labels("failure").inc()
        raise HTTPException(status_code=401, detail="invalid email or password")
    LOGINS.labels("success").inc()
    return {"access_token": issue_token(row[0], cfg.jwt_secret, cfg.token_ttl), "token_type": "bearer",
            "expires_in": cfg.token_ttl}
