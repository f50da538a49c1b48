"""Sentry error reporting with personal data and secrets removed before an event leaves the API."""

from __future__ import annotations

from typing import Any

import sentry_sdk
from sentry_sdk.integrations.logging import ignore_logger
from sentry_sdk.scrubber import DEFAULT_DENYLIST, DEFAULT_PII_DENYLIST

from app.redact import FILTERED, scrub_text
from app.settings import Settings

_SENSITIVE_HEADERS = {"authorization", "cookie", "set-cookie", "x-forwarded-for", "x-real-ip",
                      "forwarded", "proxy-authorization", "x-api-key"}
_DENY = {k.lower() for k in DEFAULT_DENYLIST + DEFAULT_PII_DENYLIST} | {"email", "password", "token"}


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: FILTERED if str(k).lower() in _DENY else _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """before_send: drop user email/IP, sensitive headers, cookies, and any email/IP left in text."""
    user = event.get("user")
    if isinstance(user, dict):
        for key in ("email", "ip_address", "username"):
            user.pop(key, None)
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("cookies", None)
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {k: v for k, v in headers.items() if k.lower() not in _SENSITIVE_HEADERS}
        env = request.get("env")
        if isinstance(env, dict):
            env.pop("REMOTE_ADDR", None)
    return _scrub(event)


def init_sentry(settings: Settings) -> bool:
    if not settings.sentry_dsn:
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.environment,
        send_default_pii=False,
        # Frame locals hold the raw ASGI scope (headers, tokens, client address): never send them.
        include_local_variables=False,
        traces_sample_rate=settings.sentry_traces_sample_rate,
        before_send=scrub_event,  # type: ignore[arg-type]
        max_request_body_size="never",
    )
    # The access log line of a 500 would be a second event for the same exception.
    ignore_logger("converge.access")
    return True
