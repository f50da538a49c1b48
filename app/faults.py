"""Fault injection for drills and tests, off unless CONVERGE_FAULTS=1.

`PUT /internal/faults` sets a server-side delay and an error ratio for routes under a prefix; the
`inject` dependency applies them inside the route, so the injected latency and errors are seen by
the metrics exactly as real ones would be. State is per process (drills run one worker).
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


class FaultSpec(BaseModel):
    latency_ms: int = Field(0, ge=0, le=60_000)
    error_ratio: float = Field(0.0, ge=0.0, le=1.0)
    prefix: str = "/v1/"


async def inject(request: Request) -> None:
    state: FaultState | None = getattr(request.app.state, "faults", None)
    if state is None or not request.url.path.startswith(state.prefix):
        return
    if state.latency_ms:
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
    return spec.model_dump()
