"""The API's connections to PostgreSQL (psycopg pool) and Redis, and the health checks on them."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from app.settings import Settings


class Resources:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool = AsyncConnectionPool(
            settings.database_url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            timeout=settings.db_pool_timeout,
            open=False,
            # A connection broken by a database restart is replaced instead of failing a request.
            check=AsyncConnectionPool.check_connection,
            # Give up a background reconnect quickly: the next request then dials at once, instead of
            # waiting out an exponential backoff that grew during a long outage.
            reconnect_timeout=5.0,
            kwargs={"autocommit": True, "connect_timeout": 2},
            name="converge-api",
        )
        # One quick retry re-dials a connection that a Redis restart closed; no long backoff.
        self.redis = Redis.from_url(
            settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0, max_connections=200,
            retry=Retry(ExponentialBackoff(cap=0.1, base=0.01), 1), decode_responses=False,
        )
        # Each websocket holds a pub/sub connection for its lifetime: give them their own pool, so 100 open
        # websockets cannot starve the cache, the per-IP counters and /health (bench/event_load found it).
        self.live_redis = Redis.from_url(
            settings.redis_url, socket_connect_timeout=1.0, max_connections=5000, decode_responses=False,
        )

    async def open(self) -> None:
        # wait=False: the API starts and answers /health (503) even while the database is down.
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close(timeout=2)
        await self.redis.aclose()
        await self.live_redis.aclose()

    async def _check_database(self) -> None:
        async with self.pool.connection(timeout=self.settings.health_check_timeout) as conn:
            await conn.execute("SELECT 1")

    async def _check_redis(self) -> None:
        await self.redis.ping()

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """Spec 8.5: both checks concurrently, each bounded so a hung dependency cannot hang /health."""
        timeout = self.settings.health_check_timeout

        async def timed(check: Any) -> dict[str, Any]:
            start = time.perf_counter()
            try:
                await asyncio.wait_for(check(), timeout)
            except TimeoutError:
                return {"ok": False, "error": f"timed out after {timeout:g}s"}
            except Exception as exc:  # any failure is an unhealthy dependency, reported by type only
                return {"ok": False, "error": type(exc).__name__}
            return {"ok": True, "latency_ms": round((time.perf_counter() - start) * 1000, 2)}

        database, redis = await asyncio.gather(timed(self._check_database), timed(self._check_redis))
        checks = {"database": database, "redis": redis}
        healthy = all(c["ok"] for c in checks.values())
        return healthy, {
            "status": "healthy" if healthy else "unhealthy",
            "checks": checks,
            "failing": [name for name, c in checks.items() if not c["ok"]],
            "timestamp": datetime.now(UTC).isoformat(),
        }
