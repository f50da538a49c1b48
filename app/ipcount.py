"""Per-client-IP request counts per minute, kept in Redis for the DDoS probe.

Contract with probes/redis: a sorted set `converge:ipreq:<epoch minute>` whose members are client
IPs and whose scores are their request counts in that minute; each key expires after a few
minutes. One pipelined round trip per request (ZINCRBY + EXPIRE), made after the response is
sent, so it adds no latency to the client and a Redis outage costs nothing but the count.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.metrics import ASGIApp, Receive, Scope, Send

KEY_PREFIX = "converge:ipreq:"
log = logging.getLogger("converge.ipcount")


def minute_key(epoch_seconds: float) -> str:
    return f"{KEY_PREFIX}{int(epoch_seconds // 60)}"


def client_ip(scope: Scope, trusted_header: bytes | None) -> str | None:
    """The peer address, or the right-most entry of the one trusted proxy header when configured."""
    if trusted_header is not None:
        for name, value in scope.get("headers", ()):
            if name == trusted_header:
                candidate = value.decode("latin-1").split(",")[-1].strip()
                try:
                    return str(ipaddress.ip_address(candidate))
                except ValueError:
                    break
    client = scope.get("client")
    return client[0] if client else None


class ClientIPCounterMiddleware:
    def __init__(self, app: ASGIApp, redis: Callable[[], Redis], trusted_header: str | None,
                 ttl: int = 180) -> None:
        self.app = app
        self.redis = redis
        self.header = trusted_header.lower().encode() if trusted_header else None
        self.ttl = ttl
        self._skip_until = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == "http":
                await self._count(scope)

    async def _count(self, scope: Scope) -> None:
        now = time.time()
        if now < self._skip_until:
            return
        ip = client_ip(scope, self.header)
        if ip is None:
            return
        key = minute_key(now)
        try:
            pipe = self.redis().pipeline(transaction=False)
            pipe.zincrby(key, 1, ip)
            pipe.expire(key, self.ttl)
            await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            # Back off for a second so a Redis outage does not cost every request a failed connect.
            self._skip_until = now + 1.0
            log.warning("per-IP request counter unavailable", extra={"error": type(exc).__name__})
