"""With several uvicorn workers, /metrics reports the instance's counts, not one worker's."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx
from prometheus_client.multiprocess import MultiProcessCollector

from devstack import ApiServer, PrivateRedis
from tests.support.metrics_text import scrape, value

ROUTE = {"method": "GET", "route": "/v1/messages", "status_code": "401"}


def per_worker_counts(mp_dir: Path) -> dict[int, float]:
    """Each worker's own count of the route, read from its multiprocess file."""
    counts = {}
    for path in mp_dir.glob("counter_*.db"):
        pid = int(re.search(r"counter_(\d+)\.db$", path.name).group(1))  # type: ignore[union-attr]
        samples = [s for m in MultiProcessCollector.merge([str(path)]) for s in m.samples]
        counts[pid] = sum(s.value for s in samples if s.name == "http_requests_total" and s.labels == ROUTE)
    return counts


async def burst(url: str, total: int, concurrency: int) -> list[int]:
    limits = httpx.Limits(max_keepalive_connections=0)  # a new connection each, spread by the kernel
    async with httpx.AsyncClient(base_url=url, limits=limits) as c:
        sem = asyncio.Semaphore(concurrency)

        async def one() -> int:
            async with sem:
                return (await c.get("/v1/messages")).status_code

        return await asyncio.gather(*(one() for _ in range(total)))


def test_two_workers_share_one_truthful_metrics_endpoint(seeded_db: str, redis_server: PrivateRedis,
                                                         tmp_path: Path) -> None:
    with ApiServer(seeded_db, redis_server.url, workers=2, env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}) as api:
        assert asyncio.run(burst(api.url, 300, 16)) == [401] * 300
        # A request is counted just after its response went out: give the last ones a moment to land.
        deadline = time.monotonic() + 5
        while sum(per_worker_counts(tmp_path).values()) < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = {pid: n for pid, n in per_worker_counts(tmp_path).items() if n > 0}
        assert len(workers) == 2, f"both workers should have served requests: {workers}"
        assert sum(workers.values()) == 300
        # Whichever worker answers the scrape, the count is the instance's.
        totals = [value(scrape(api.url), "http_requests_total", **ROUTE) for _ in range(6)]
        assert totals == [300] * 6
