"""Reads that never stall the event loop: /health answers without reading a series, the board is built off the
loop (a probe due during a slow render still runs), slow renders are shared and reused, and the store's
reads go through their own connection while a write holds the writer's."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from alerts.service import AlertService
from monitor.config import load_config
from monitor.core.observation import Observation
from monitor.core.targets import HttpTarget
from monitor.rendercache import RenderCache
from monitor.scheduler import ProbeScheduler
from monitor.server import create_server
from monitor.store.sqlite import SqliteStore
from probes.base import ProbeContext

TARGETS = 5000
READS = ("latest", "history", "refresh_latest", "get_state", "_read_execute", "_execute")


def targets(count: int, interval: float = 10.0) -> list[HttpTarget]:
    return [HttpTarget(name=f"t{i:05d}", url=f"http://127.0.0.1:9/{i}", interval=interval, timeout=1)
            for i in range(count)]


class CountingStore(SqliteStore):
    """The real SQLite store, counting calls to its read methods."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.reads: Counter[str] = Counter()
        super().__init__(*args, **kwargs)
        for name in READS:
            method = getattr(self, name)

            def counted(*a: Any, _name: str = name, _method: Any = method, **kw: Any) -> Any:
                self.reads[_name] += 1
                return _method(*a, **kw)

            setattr(self, name, counted)


def test_health_reads_no_series_with_5000_targets(tmp_path: Path) -> None:
    store = CountingStore(str(tmp_path / "s.sqlite3"), retention=86400)
    now = time.time()
    store.write([Observation("http_up", 1, now, {"target": t.name}) for t in targets(TARGETS)])
    scheduler = ProbeScheduler(targets(TARGETS), store)
    for i, name in enumerate(scheduler.targets):
        if i % 2 == 0:
            scheduler.last_run[name] = now  # probed; the other half never was, but is within its grace
    client = TestClient(create_server(scheduler))
    store.reads.clear()
    resp = client.get("/health")
    assert resp.status_code == 200, resp.text
    assert resp.json()["targets"] == TARGETS
    assert sum(store.reads.values()) == 0, store.reads
    scheduler.last_run["t00000"] = now - 3600  # an hour without a run: stale, still without reading a series
    resp = client.get("/health")
    assert resp.status_code == 503 and resp.json()["stale"] == ["t00000"]
    assert sum(store.reads.values()) == 0, store.reads
    store.close()


async def test_a_probe_due_during_a_slow_board_render_runs_on_time(tmp_path: Path) -> None:
    config_path = tmp_path / "monitor.yml"
    config_path.write_text('targets:\n  http:\n    - {name: api, url: "http://127.0.0.1:9/", interval: 1s, '
                           'timeout: 0.5s}\n')
    config = load_config(config_path, environ={})
    store = SqliteStore(str(tmp_path / "s.sqlite3"), retention=86400)
    runs: list[float] = []

    async def probe(target: Any, ctx: ProbeContext) -> list[Observation]:
        runs.append(time.monotonic())
        return [Observation("probe_success", 1, ctx.now(), {"target": target.name, "kind": "http"}),
                Observation("http_up", 1, ctx.now(), {"target": target.name})]

    def slow_slos() -> list[dict[str, Any]]:
        time.sleep(2.5)  # the board's slowest part, standing in for 65,000 scrubbed strings
        return []

    scheduler = ProbeScheduler(config.all_targets(), store, probes={"http": probe})
    app = create_server(scheduler, AlertService(config, store), slo_provider=slow_slos)
    scheduler.start(spread_first_runs=False)
    try:
        await asyncio.sleep(1.2)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://monitor") as client:
            started = time.monotonic()
            resp = await client.get("/board")
            ended = time.monotonic()
        assert resp.status_code == 200
        during = [t for t in runs if started < t < ended]
        assert ended - started >= 2.5
        assert len(during) >= 2, (runs, started, ended)  # one a second, on time, while the board rendered
    finally:
        await scheduler.shutdown()
        store.close()


async def test_slow_renders_are_shared_and_reused_fast_ones_are_not() -> None:
    cache: RenderCache[int] = RenderCache(ttl=60, slow=0.2)
    calls: list[str] = []

    def slow() -> int:
        calls.append("slow")
        time.sleep(0.3)
        return len(calls)

    first = await asyncio.gather(*(cache.get("board", slow) for _ in range(5)))
    assert first == [1] * 5 and calls == ["slow"]  # five screens at once: one render
    assert await cache.get("board", slow) == 1 and calls == ["slow"]  # within the refresh interval: reused

    def fast() -> int:
        calls.append("fast")
        return len(calls)

    assert await cache.get("kiosk", fast) == 2
    assert await cache.get("kiosk", fast) == 3  # a cheap page stays live on every request
    assert cache.renders == 3


@pytest.mark.parametrize("method", ["history", "refresh_latest"])
def test_reads_do_not_wait_for_the_writer(tmp_path: Path, method: str) -> None:
    store = SqliteStore(str(tmp_path / "s.sqlite3"), retention=86400)
    store.write([Observation("http_up", 1, time.time(), {"target": "api"})])
    done = threading.Event()

    def read() -> None:
        if method == "history":
            assert store.history("http_up", {"target": "api"}, since=0)
        else:
            store.refresh_latest()
        done.set()

    with store._lock:  # a long write in progress holds the writer's lock
        reader = threading.Thread(target=read)
        reader.start()
        assert done.wait(5), "the read waited for the writer"
    reader.join()
    store.close()


def test_refresh_latest_takes_in_what_another_replica_wrote(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sqlite3")
    ours, theirs = SqliteStore(path, retention=86400), SqliteStore(path, retention=86400)
    now = time.time()
    theirs.write([Observation("http_up", 0, now, {"target": "b"}, error="status")])
    assert not [o for o in ours.latest() if o.labels == {"target": "b"}]
    assert ours.refresh_latest() == 1
    seen = {(o.signal, o.labels["target"]): o for o in ours.latest()}
    assert seen[("http_up", "b")].value == 0 and seen[("http_up", "b")].error == "status"
    assert ours.history("http_up", {"target": "b"}, since=0)[0].value == 0
    for store in (ours, theirs):
        store.close()
