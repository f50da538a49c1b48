"""ASGI entry point: `uvicorn app.main:app`, configured from the environment (see app/settings.py)."""

from __future__ import annotations

import os
import sys

from fastapi import FastAPI

from app.factory import create_app
from app.settings import SettingsError, load_settings


def app_from_environment() -> FastAPI:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"converge-api: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return create_app(settings, faults=os.environ.get("CONVERGE_FAULTS") == "1")


app = app_from_environment()
