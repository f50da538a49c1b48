"""Request dependencies shared by the routes."""

from __future__ import annotations

from fastapi import Header, HTTPException, Request

from app.resources import Resources
from app.security import read_token
from app.settings import Settings


def resources(request: Request) -> Resources:
    return request.app.state.resources  # type: ignore[no-any-return]


def settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def current_attendee(request: Request, authorization: str | None = Header(default=None)) -> int:
    scheme, _, token = (authorization or "").partition(" ")
    attendee = read_token(token, settings(request).jwt_secret) if scheme.lower() == "bearer" else None
    if attendee is None:
        raise HTTPException(status_code=401, detail="missing or invalid bearer token",
                            headers={"WWW-Authenticate": "Bearer"})
    return attendee
