"""Websocket `/v1/ws?token=...`: pushes the attendee's new messages as they are sent (Redis pub/sub,
so it works across workers and instances)."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from redis.exceptions import RedisError

from app.metrics import WEBSOCKETS
from app.routes.messages import channel_for
from app.security import read_token

router = APIRouter()


@router.websocket("/v1/ws")
async def live(ws: WebSocket) -> None:
    attendee = read_token(ws.query_params.get("token", ""), ws.app.state.settings.jwt_secret)
    if attendee is None:
        await ws.close(code=1008, reason="invalid token")
        return
    res = ws.app.state.resources
    pubsub = res.live_redis.pubsub()
    try:
        await pubsub.subscribe(channel_for(attendee))
    except (RedisError, OSError, TimeoutError):
        await ws.close(code=1011, reason="live updates unavailable")
        return
    await ws.accept()
    WEBSOCKETS.inc()

    async def forward() -> None:
        while True:
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if msg is not None:
                await ws.send_text(msg["data"].decode())

    async def listen() -> None:
        while True:
            text = await ws.receive_text()
            if text == "ping":
                await ws.send_text("pong")

    tasks = [asyncio.create_task(forward()), asyncio.create_task(listen())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        WEBSOCKETS.dec()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RedisError, OSError, RuntimeError):
                await t
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await pubsub.aclose()
        # The client may be gone already (a phone losing signal): closing then is not an error of ours.
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await ws.close()
