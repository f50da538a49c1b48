"""Fault injection for drills and tests, off unless CONVERGE_FAULTS=1.

`PUT /internal/faults` sets a server-side delay and an error ratio for routes under a prefix; the
`inject` dependency applies them inside the route, so the injected latency and errors are seen by
the metrics exactly as real ones would be. With `hold_connection` the delay is spent holding a DB pool
connection, so concurrent requests exhaust the pool as long transactions would (the pool-exhaustion
drill). State is per process (drills run one worker).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field


class InjectedFault(RuntimeError):
    pass


@dataclass
class FaultState:
    latency_ms: int = 0
    error_ratio: float = 0.0
    prefix: str = "/v1/"
    hold_connection: bool = False


class FaultSpec(BaseModel):
    latency_ms: int = Field(0, ge=0, le=60_000)
    error_ratio: float = Field(0.0, ge=0.0, le=1.0)
    prefix: str = "/v1/"
    hold_connection: bool = False  # spend latency_ms holding a DB pool connection


async def inject(request: Request) -> None:
    state: FaultState | None = getattr(request.app.state, "faults", None)
    if state is None or not request.url.path.startswith(state.prefix):
        return
    if state.latency_ms and state.hold_connection:
        async with request.app.state.resources.pool.connection():
            await asyncio.sleep(state.latency_ms / 1000)
    elif state.latency_ms:
        await asyncio.sleep(state.latency_ms / 1000)
    if state.error_ratio and random.random() < state.error_ratio:
        raise InjectedFault(f"injected fault on {request.method} {request.url.path}?{request.url.query}")


router = APIRouter()


@router.put("/internal/faults")
async def set_faults(spec: FaultSpec, request: Request) -> dict[str, object]:
    state: FaultState | None = getattr(request.app.state, "faults", None)
    if state is None:
        raise HTTPException(status_code=404, detail="fault injection is disabled")
    state.latency_ms, state.error_ratio, state.prefix = spec.latency_ms, spec.error_ratio, spec.prefix
    state.hold_connection = spec.hold_connection
    return spec.model_dump()
