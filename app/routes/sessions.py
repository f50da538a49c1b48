from __future__ import annotations

import json
import logging

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import JSONResponse, Response
from redis.exceptions import RedisError

from app.metrics import RSVPS
from app.resources import Resources
from app.routes.deps import current_attendee, resources, settings
from app.settings import Settings

router = APIRouter()
log = logging.getLogger("converge.sessions")
CACHE_KEY = "converge:cache:sessions:v1"


def _cache_headers(ttl: int, state: str) -> dict[str, str]:
    # Spec 9.5: the session list is cacheable for 300 s with stale-while-revalidate.
    return {"Cache-Control": f"public, max-age={ttl}, stale-while-revalidate=60", "X-Cache": state}


@router.get("/v1/sessions")
async def list_sessions(res: Resources = Depends(resources), cfg: Settings = Depends(settings)) -> Response:
    try:
        cached = await res.redis.get(CACHE_KEY)
    except (RedisError, OSError, TimeoutError):
        cached = None  # a Redis outage degrades to the database, not to an error
    if cached is not None:
        return Response(cached, media_type="application/json", headers=_cache_headers(cfg.sessions_cache_ttl, "HIT"))
    async with res.pool.connection() as conn:
        rows = await (await conn.execute(
            "SELECT id, title, speaker, room, starts_at, ends_at, capacity FROM sessions ORDER BY starts_at, id"
        )).fetchall()
    body = json.dumps({"sessions": [
        {"id": r[0], "title": r[1], "speaker": r[2], "room": r[3], "starts_at": r[4].isoformat(),
         "ends_at": r[5].isoformat(), "capacity": r[6]} for r in rows]}).encode()
    try:
        await res.redis.set(CACHE_KEY, body, ex=cfg.sessions_cache_ttl)
    except (RedisError, OSError, TimeoutError):
        log.warning("sessions cache unavailable")
    return Response(body, media_type="application/json", headers=_cache_headers(cfg.sessions_cache_ttl, "MISS"))


@router.post("/v1/sessions/{session_id}/rsvp")
async def rsvp(session_id: int, attendee: int = Depends(current_attendee),
               res: Resources = Depends(resources)) -> JSONResponse:
    async with res.pool.connection() as conn, conn.transaction():
        session = await (await conn.execute(
            "SELECT capacity FROM sessions WHERE id = %s FOR UPDATE", (session_id,))).fetchone()
        if session is None:
            raise HTTPException(status_code=404, detail="session not found")
        existing = await (await conn.execute(
            "SELECT 1 FROM rsvps WHERE session_id = %s AND attendee_id = %s", (session_id, attendee))).fetchone()
        if existing:
            return JSONResponse({"session_id": session_id, "status": "confirmed", "new": False})
        taken = (await (await conn.execute(
            "SELECT count(*) FROM rsvps WHERE session_id = %s", (session_id,))).fetchone())[0]
        if taken >= session[0]:
            raise HTTPException(status_code=409, detail="session is full")
        await conn.execute("INSERT INTO rsvps (session_id, attendee_id) VALUES (%s, %s)", (session_id, attendee))
    RSVPS.inc()
    return JSONResponse({"session_id": session_id, "status": "confirmed", "new": True}, status_code=201)


@router.delete("/v1/sessions/{session_id}/rsvp")
async def cancel_rsvp(session_id: int, attendee: int = Depends(current_attendee),
                      res: Resources = Depends(resources)) -> dict[str, object]:
    async with res.pool.connection() as conn:
        gone = await (await conn.execute("DELETE FROM rsvps WHERE session_id = %s AND attendee_id = %s RETURNING 1",
                                         (session_id, attendee))).fetchone()
    return {"session_id": session_id, "status": "cancelled", "existed": gone is not None}
