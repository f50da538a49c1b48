"""One structured access-log line per request, with a request id (taken from X-Request-ID or made)."""

from __future__ import annotations

import logging
import re
import time
import uuid

from app.jsonlog import request_id_var
from app.metrics import ASGIApp, Message, Receive, Scope, Send, route_of

log = logging.getLogger("converge.access")
_VALID_ID = re.compile(rb"^[A-Za-z0-9._-]{1,64}$")


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        request_id = rid.decode() if _VALID_ID.match(rid) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            duration_ms = round((time.perf_counter() - start) * 1000, 2)
            # No client IP or query string: personal data stays inside the API.
            log.log(logging.ERROR if status >= 500 else logging.INFO, "request",
                    extra={"method": scope["method"], "route": route_of(scope), "status": status,
                           "duration_ms": duration_ms})
            request_id_var.reset(token)
