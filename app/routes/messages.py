from __future__ import annotations

import json
import logging

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from app.metrics import MESSAGES
from app.resources import Resources
from app.routes.deps import current_attendee, resources

router = APIRouter()
log = logging.getLogger("converge.messages")


def channel_for(attendee_id: int) -> str:
    return f"converge:messages:{attendee_id}"


class NewMessage(BaseModel):
    recipient_id: int
    body: str = Field(min_length=1, max_length=2000)


@router.post("/v1/messages")
async def send_message(msg: NewMessage, attendee: int = Depends(current_attendee),
                       res: Resources = Depends(resources)) -> JSONResponse:
    async with res.pool.connection() as conn:
        recipient = await (await conn.execute("SELECT 1 FROM attendees WHERE id = %s", (msg.recipient_id,))).fetchone()
        if recipient is None:
            raise HTTPException(status_code=404, detail="recipient not found")
        row = await (await conn.execute(
            "INSERT INTO messages (sender_id, recipient_id, body) VALUES (%s, %s, %s) RETURNING id, created_at",
            (attendee, msg.recipient_id, msg.body))).fetchone()
    MESSAGES.inc()
    out = {"id": row[0], "sender_id": attendee, "recipient_id": msg.recipient_id, "body": msg.body,
           "created_at": row[1].isoformat()}
    try:  # live delivery is best effort: the message is stored either way
        await res.redis.publish(channel_for(msg.recipient_id), json.dumps(out))
    except (RedisError, OSError, TimeoutError):
        log.warning("live message delivery unavailable")
    return JSONResponse(out, status_code=201)


@router.get("/v1/messages")
async def list_messages(attendee: int = Depends(current_attendee), res: Resources = Depends(resources),
                        limit: int = Query(50, ge=1, le=200)) -> dict[str, object]:
    async with res.pool.connection() as conn:
        rows = await (await conn.execute(
            "SELECT id, sender_id, recipient_id, body, created_at FROM messages "
            "WHERE recipient_id = %s OR sender_id = %s ORDER BY id DESC LIMIT %s",
            (attendee, attendee, limit))).fetchall()
    return {"messages": [{"id": r[0], "sender_id": r[1], "recipient_id": r[2], "body": r[3],
                          "created_at": r[4].isoformat()} for r in rows]}


@router.delete("/v1/messages/{message_id}")
async def delete_message(message_id: int, attendee: int = Depends(current_attendee),
                         res: Resources = Depends(resources)) -> dict[str, object]:
    """The sender takes a message back; nobody else can delete it."""
    async with res.pool.connection() as conn:
        gone = await (await conn.execute("DELETE FROM messages WHERE id = %s AND sender_id = %s RETURNING 1",
                                         (message_id, attendee))).fetchone()
    if gone is None:
        raise HTTPException(status_code=404, detail="message not found")
    return {"id": message_id, "deleted": True}
