"""A synthetic event-day traffic generator for the Converge API: logins, session browsing, RSVPs, QR
connections, messages and websockets, in a realistic mix, from N virtual attendees.

Bounded: it runs for a given duration (or until stopped) and only ever talks to the given base URL,
which must be a loopback address.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import websockets
from websockets.exceptions import WebSocketException

from devstack.seeded import SEED_PASSWORD, attendee_email, attendee_qr

# What an attendee does between pauses, by weight (browsing dominates, as on the event floor).
MIX = (("sessions", 45), ("messages", 20), ("rsvp", 12), ("connect", 10), ("send", 10), ("ping", 3))


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    websockets: int = 0

    def record(self, status: int, seconds: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.latencies.append(seconds)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def p(self, q: float) -> float | None:
        if len(self.latencies) < 2:
            return None
        return statistics.quantiles(self.latencies, n=1000, method="inclusive")[int(q * 1000) - 1]


def check_loopback(base_url: str) -> None:
    host = urlsplit(base_url).hostname or ""
    if not (host == "localhost" or host.startswith("127.") or host == "::1"):
        raise ValueError(f"traffic goes to loopback addresses only, not {host!r}")


class Traffic:
    def __init__(self, base_url: str, attendees: int, password: str, users: int = 20, think: float = 0.5,
                 websocket_share: float = 0.2, seed: int = 1) -> None:
        check_loopback(base_url)
        self.base_url = base_url.rstrip("/")
        self.attendees = attendees
        self.password = password
        self.users = users
        self.think = think
        self.websocket_share = websocket_share
        self.random = random.Random(seed)
        self.stats = Stats()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self, duration: float | None = None) -> Stats:
        limits = httpx.Limits(max_connections=self.users * 2, max_keepalive_connections=self.users)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30, limits=limits) as client:
            tasks = [asyncio.create_task(self._user(client, i)) for i in range(self.users)]
            try:
                if duration is None:
                    await self._stop.wait()
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), duration)
            finally:
                self._stop.set()
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        return self.stats

    async def _call(self, client: httpx.AsyncClient, method: str, path: str, **kw: object) -> httpx.Response | None:
        start = time.perf_counter()
        try:
            resp = await client.request(method, path, **kw)  # type: ignore[arg-type]
        except httpx.HTTPError:
            self.stats.errors += 1
            return None
        self.stats.record(resp.status_code, time.perf_counter() - start)
        return resp

    async def _user(self, client: httpx.AsyncClient, index: int) -> None:
        rng = random.Random(self.random.random())
        me = 1 + index % max(1, self.attendees)
        token = None
        ws_task = None
        while not self._stop.is_set():
            if token is None:
                resp = await self._call(client, "POST", "/v1/auth/login",
                                        json={"email": attendee_email(me), "password": self.password})
                token = resp.json().get("access_token") if resp is not None and resp.status_code == 200 else None
                if token and ws_task is None and rng.random() < self.websocket_share:
                    ws_task = asyncio.create_task(self._websocket(token))
                if token is None:
                    await asyncio.sleep(1.0)
                    continue
            auth = {"Authorization": f"Bearer {token}"}
            action = rng.choices([a for a, _ in MIX], [w for _, w in MIX])[0]
            other = 1 + rng.randrange(max(1, self.attendees))
            if action == "sessions":
                await self._call(client, "GET", "/v1/sessions")
            elif action == "messages":
                await self._call(client, "GET", "/v1/messages", headers=auth)
            elif action == "rsvp":
                await self._call(client, "POST", f"/v1/sessions/{1 + rng.randrange(36)}/rsvp", headers=auth)
            elif action == "connect" and other != me:
                await self._call(client, "POST", "/v1/connections", json={"qr_code": attendee_qr(other)}, headers=auth)
            elif action == "send" and other != me:
                await self._call(client, "POST", "/v1/messages", headers=auth,
                                 json={"recipient_id": other, "body": "See you at the next session?"})
            else:
                await self._call(client, "GET", "/v1/ping")
            await asyncio.sleep(rng.expovariate(1 / self.think) if self.think > 0 else 0)
        if ws_task is not None:
            ws_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await ws_task

    async def _websocket(self, token: str) -> None:
        url = self.base_url.replace("http://", "ws://", 1) + f"/v1/ws?token={token}"
        with contextlib.suppress(OSError, TimeoutError, WebSocketException):
            async with websockets.connect(url) as ws:
                self.stats.websockets += 1
                while not self._stop.is_set():
                    await ws.send("ping")
                    await asyncio.wait_for(ws.recv(), 10)
                    await asyncio.sleep(5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.traffic", description=__doc__)
    parser.add_argument("base_url")
    parser.add_argument("--attendees", type=int, default=200, help="seeded attendees to log in as")
    parser.add_argument("--password", default=SEED_PASSWORD)
    parser.add_argument("--users", type=int, default=20, help="concurrent virtual attendees")
    parser.add_argument("--think", type=float, default=0.5, help="mean pause between actions, seconds")
    parser.add_argument("--duration", type=float, default=60.0)
    args = parser.parse_args(argv)
    try:
        traffic = Traffic(args.base_url, args.attendees, args.password, args.users, args.think)
    except ValueError as exc:
        print(f"traffic: {exc}", file=sys.stderr)
        return 2
    stats = asyncio.run(traffic.run(args.duration))
    p95 = stats.p(0.95)
    print(f"{stats.requests} requests, {stats.errors} errors, statuses {dict(sorted(stats.statuses.items()))}, "
          f"p95 {p95 * 1000:.1f} ms" if p95 is not None else "no requests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
