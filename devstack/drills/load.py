"""Request generators for the drills: a steady background load, and a flood from one client IP.

Both go to loopback addresses only. The background load spreads its requests over many client
addresses (X-Forwarded-For, honoured by an API that trusts that header) so that it never looks like a
flood from one IP itself; the flood uses a single documentation address (TEST-NET-3).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter

import httpx

from devstack.drills.loopback import is_loopback

FLOOD_IP = "203.0.113.7"  # RFC 5737 documentation range: never a real client


def spread_ip(n: int) -> str:
    return f"198.51.100.{1 + n % 250}"  # RFC 5737 TEST-NET-2


def _check(base_url: str) -> str:
    host = httpx.URL(base_url).host
    if not is_loopback(host):
        raise ValueError(f"drill load goes to loopback addresses only, not {host!r}")
    return base_url.rstrip("/")


class BackgroundLoad:
    """`concurrency` loops each sending `method path` one request after another (plus `pause`), until stop()."""

    def __init__(self, base_url: str, method: str, path: str, concurrency: int, pause: float = 0.0,
                 timeout: float = 15.0) -> None:
        self.base_url = _check(base_url)
        self.method, self.path = method, path
        self.concurrency, self.pause, self.timeout = concurrency, pause, timeout
        self.statuses: Counter[int] = Counter()
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="drill-load", daemon=True)

    def start(self) -> BackgroundLoad:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.timeout + 5)

    async def _main(self) -> None:
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout, limits=limits) as client:
            await asyncio.gather(*(self._loop(client, i) for i in range(self.concurrency)))

    async def _loop(self, client: httpx.AsyncClient, index: int) -> None:
        n = index
        while not self._stop.is_set():
            try:
                resp = await client.request(self.method, self.path, headers={"X-Forwarded-For": spread_ip(n)})
                self.statuses[resp.status_code] += 1
            except httpx.HTTPError:
                self.errors += 1
                await asyncio.sleep(0.2)  # the API is down or refusing: do not spin
            n += self.concurrency
            if self.pause:
                await asyncio.sleep(self.pause)


def flood(base_url: str, count: int, ip: str = FLOOD_IP, path: str = "/v1/ping", concurrency: int = 16) -> int:
    """Send `count` requests as client `ip` as fast as the API takes them; returns how many were answered."""
    base_url = _check(base_url)

    async def main() -> int:
        answered = 0
        queue = iter(range(count))
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=base_url, timeout=10, limits=limits) as client:
            async def worker() -> None:
                nonlocal answered
                for _ in queue:
                    with contextlib.suppress(httpx.HTTPError):
                        await client.get(path, headers={"X-Forwarded-For": ip})
                        answered += 1
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        return answered

    return asyncio.run(main())


class PacedFlood:
    """One client IP sending `per_second` requests a second, paced (not as fast as possible), until stop()."""

    def __init__(self, base_url: str, per_second: float, ip: str = FLOOD_IP, path: str = "/v1/ping",
                 concurrency: int = 32) -> None:
        self.base_url = _check(base_url)
        self.per_second, self.ip, self.path, self.concurrency = per_second, ip, path, concurrency
        self.sent = 0
        self._started = 0.0
        self._stopped = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="drill-flood", daemon=True)

    def start(self) -> PacedFlood:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=20)
        self._stopped = time.monotonic()

    def achieved_per_minute(self) -> float:
        seconds = (self._stopped or time.monotonic()) - self._started
        return 60 * self.sent / seconds if seconds > 0 else 0.0

    async def _main(self) -> None:
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        start = time.monotonic()
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10, limits=limits) as client:
            async def worker(i: int) -> None:
                # Worker i sends request number i, i + concurrency, ... each at its scheduled time.
                n = i
                while not self._stop.is_set():
                    due = start + n / self.per_second
                    delay = due - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    with contextlib.suppress(httpx.HTTPError):
                        await client.get(self.path, headers={"X-Forwarded-For": self.ip})
                        self.sent += 1
                    n += self.concurrency
            await asyncio.gather(*(worker(i) for i in range(self.concurrency)))
