"""The status board in a real headless Chromium, against a live monitor watching the real API stack.

The monitor (scheduler, alert service and HTTP server with the board, in one event loop as
`converge-monitor run` wires them) runs in a thread on a free port and probes the `api` fixture's
API, PostgreSQL and Redis, plus a Redis that is not there, so one alert fires. Chromium loads
`/board` and `/board/kiosk`, the test reads the rendered DOM and keeps screenshots in its tmp folder.
In CI (CI=true) a missing Chromium fails the test; locally it skips.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml

from alerts.service import AlertService
from devstack import ApiServer, PrivatePostgres, PrivateRedis, free_port
from devstack.drills.sentry_webhook import issue_payload, signed
from monitor.config import Config, load_config
from monitor.deploys import record_deploy
from monitor.scheduler import ProbeScheduler
from monitor.sentry_api import sentry_router
from monitor.server import create_server
from monitor.store.sqlite import SqliteStore

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars")
DSN_PASSWORD = "board-test-Pg-secret-77"
REDIS_PASSWORD = "board-test-Redis-secret-88"
WINDOW = "1600,1000"
SENTRY_SECRET = "board-test-sentry-client-secret"
SENTRY_TITLE = "ValueError: <script>document.title='pwned'</script> in scan"


def chromium() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)
    if found is None:
        message = "chromium not found: install it with `apt-get install chromium`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def run_chromium(binary: str, profile: Path, *args: str, timeout: float = 90) -> str:
    """One headless Chromium run in its own process group, so nothing it spawned outlives the test."""
    profile.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == 0, err[-2000:]
    return out


class _ThreadServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # signals belong to the main thread (pytest)


class LiveMonitor:
    """The monitor's pieces wired as `converge-monitor run` wires them, plus the board, in a thread."""

    def __init__(self, config: Config, port: int) -> None:
        self.config = config
        self.url = f"http://127.0.0.1:{port}"
        self.store = SqliteStore(config.store.path, retention=86400)
        self.scheduler = ProbeScheduler(config.all_targets(), self.store,
                                        in_event=config.event.contains if config.event else lambda _t: False)
        self.alerts = AlertService(config, self.store)
        app = create_server(self.scheduler, self.alerts, routers=[sentry_router(self.alerts, SENTRY_SECRET)])
        self.server = _ThreadServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                                   access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=asyncio.run, args=(self._main(),), name="live-monitor", daemon=True)

    async def _evaluate(self) -> None:
        while True:
            result = self.alerts.evaluate(time.time())
            if inspect.isawaitable(result):
                await result
            await asyncio.sleep(0.5)

    async def _main(self) -> None:
        self.scheduler.start()
        evaluating = asyncio.create_task(self._evaluate())
        try:
            await self.server.serve()
        finally:
            evaluating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await evaluating
            await self.scheduler.shutdown()

    def start(self) -> None:
        self.thread.start()
        wait_for(lambda: self.server.started, 20, "the monitor serving")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        assert not self.thread.is_alive(), "the monitor thread did not stop"
        self.store.close()


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {timeout}s: {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def live(api: ApiServer, pg: PrivatePostgres, redis_server: PrivateRedis,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveMonitor]:
    base = tmp_path_factory.mktemp("board-monitor")
    today = datetime.now(UTC).date()
    every = {"interval": 1, "event_interval": 1, "timeout": 0.8}
    # Passwords in the DSN/URL (PostgreSQL trusts local connections, so the real one still answers).
    dsn = re.sub(r"^postgresql://([^@/]+)@", rf"postgresql://\1:{DSN_PASSWORD}@", pg.url)
    config = {
        "targets": {
            # /health checks PostgreSQL and Redis: on a loaded machine it can take most of a second
            "http": [{"name": "api-health", "url": f"{api.url}/health", "interval": 2, "event_interval": 2,
                      "timeout": 1.9}],
            "api_metrics": [{"name": "api-metrics", "urls": [f"{api.url}/metrics"], "window": "30s", **every}],
        },
        "database": [{"name": "postgres", "dsn": dsn, **every}],
        "redis": [{"name": "redis", "url": redis_server.url, **every},
                  {"name": "redis-cache", "url": f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0", **every}],
        "store": {"backend": "sqlite", "path": str(base / "state.sqlite3")},
        "event": {"start": str(today - timedelta(days=1)), "end": str(today + timedelta(days=1)), "timezone": "UTC"},
        "alerting": {"notifications_file": str(base / "notifications.jsonl")},
        "rules": {"overrides": {"RedisDown": {"for": "1s", "keep_firing_for": "1s",
                                              "event": {"for": "1s", "keep_firing_for": "1s"}}}},
    }
    path = base / "monitor.yml"
    path.write_text(yaml.safe_dump(config))
    monitor = LiveMonitor(load_config(path, environ={}), free_port())
    monitor.start()
    try:
        with httpx.Client(base_url=api.url, timeout=5) as client:
            def warmed_up() -> bool:
                for _ in range(20):  # some traffic, so the API's signals have something to show
                    client.get("/v1/ping")
                active = monitor.alerts.active()
                p95 = [o for o in monitor.store.latest() if o.signal == "api_latency_p95_seconds" and o.known]
                health = [o for o in monitor.store.latest() if o.signal == "http_up" and o.value == 1.0]
                return bool(p95 and health) and any(a["rule"] == "RedisDown" and a["state"] == "firing"
                                                    for a in active)

            wait_for(warmed_up, 30, "API signals known and RedisDown firing")
            # A deploy an hour ago (its window open) and a new Sentry issue whose title carries markup.
            record_deploy(monitor.store, "v2.3.1", at=time.time() - 3600, by="ci")
            raw, headers = signed(issue_payload("created", "8812", title=SENTRY_TITLE), SENTRY_SECRET)
            httpx.post(f"{monitor.url}/api/sentry", content=raw, headers=headers, timeout=5).raise_for_status()
            time.sleep(3)  # a few more points on the sparklines
        yield monitor
    finally:
        monitor.stop()


def visible_text(dom: str) -> str:
    body = re.sub(r"<(style|title)>.*?</\1>", " ", dom, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", body).split())


def test_board_renders_the_live_state_in_chromium(live: LiveMonitor, tmp_path: Path) -> None:
    binary = chromium()
    dom = run_chromium(binary, tmp_path / "profile-dom", "--dump-dom", f"{live.url}/board")
    text = visible_text(dom)
    assert re.search(r'id="overall">DEGRADED<', dom), text[:500]
    assert "RedisDown (redis-cache)" in text
    for row in ("api-health http up", "api-metrics api_metrics up", "postgres postgres up", "redis redis up",
                "redis-cache redis down · connect"):
        assert row in text, (row, text)
    assert re.search(r"high 1 firing .*RedisDown redis-cache down == down", text), text
    assert re.search(r"p95 latency \d+ ms", text) and re.search(r"Requests / min [\d,.]+/min", text)
    assert dom.count("<polyline") >= 4  # live sparklines, from the store's history
    assert "SLOs are not configured" in text
    assert re.search(r"EVENT MODE · day 2 of 3", text)
    for secret in (DSN_PASSWORD, REDIS_PASSWORD, "127.0.0.1", "postgresql://", "redis://"):
        assert secret not in dom, secret
    # Deploys and Sentry: the title's markup is text, not a script (Chromium would have run it: the title stays).
    assert re.search(r"Recent deploys v2\.3\.1 \w{3} \d\d \d\d:\d\d UTC 1h 0m ago post-deploy window open until "
                     r"\w{3} \d\d \d\d:\d\d UTC \(2[23]h \d+m left\)", text), text
    assert "medium new issue ValueError: &lt;script&gt;document.title='pwned'&lt;/script&gt; in scan converge-api" \
        in text, text
    assert 'href="https://converge.sentry.io/issues/8812/"' in dom and "pwned · Converge" not in dom
    assert "No browser, journey or restore check has reported yet." in text

    shot = tmp_path / "board.png"
    run_chromium(binary, tmp_path / "profile-shot", f"--screenshot={shot}", f"--window-size={WINDOW}",
                 f"{live.url}/board")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_kiosk_renders_the_essentials_in_chromium(live: LiveMonitor, tmp_path: Path) -> None:
    binary = chromium()
    dom = run_chromium(binary, tmp_path / "profile-dom", "--dump-dom", f"{live.url}/board/kiosk")
    text = visible_text(dom)
    assert re.search(r'id="overall">DEGRADED<', dom)
    assert re.search(r"p95 latency \d+ ms", text) and "Error rate" in text and "Websockets" in text
    assert re.search(r"Open alerts 0 critical 1 high high RedisDown · redis-cache", text), text
    assert "EVENT MODE · day 2 of 3" in text
    assert 'id="targets"' not in dom and DSN_PASSWORD not in dom and "127.0.0.1" not in dom

    shot = tmp_path / "kiosk.png"
    run_chromium(binary, tmp_path / "profile-shot", f"--screenshot={shot}", f"--window-size={WINDOW}",
                 f"{live.url}/board/kiosk")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
