"""The browser probe in the real headless Chromium, against a page served on 127.0.0.1 whose delay, layout
shift and failing assets each test sets; judged by the shipped rules; no Chromium left running afterwards."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from monitor.core.observation import Observation
from monitor.core.targets import BrowserTarget
from probes.base import ProbeContext
from probes.browser import PROFILE_PREFIX
from probes.browser import run as browser
from tests.support.shipped import fires_when_held, shipped_config
from tests.support.stack import IN_CI

CHROMIUM = "/usr/bin/chromium"
SHIFT = """<script>setTimeout(() => { const d = document.createElement('div'); d.style.height = '600px';
  document.body.insertBefore(d, document.body.firstChild); }, 100);</script>"""


@dataclass
class Page:
    delay: float = 0.0
    shift: bool = False
    broken_asset: bool = False


class _Handler(BaseHTTPRequestHandler):
    page: Page

    def do_GET(self) -> None:
        if self.path == "/":
            time.sleep(self.page.delay)
            asset = '<script src="/missing.js"></script>' if self.page.broken_asset else ""
            body = (f"<!doctype html><html><head><title>t</title>{asset}</head><body>"
                    f"<h1>Converge</h1><p style='font-size:40px'>{'Sessions and speakers. ' * 30}</p>"
                    f"{SHIFT if self.page.shift else ''}</body></html>").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
        elif self.path == "/favicon.ico":
            body = b""
            self.send_response(200)
            self.send_header("Content-Type", "image/x-icon")
        else:
            body = b"not found"
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def page() -> Iterator[tuple[str, Page]]:
    if not os.access(CHROMIUM, os.X_OK):
        if IN_CI:
            pytest.fail("chromium not found: apt-get install chromium")
        pytest.skip("chromium not found")
    state = Page()
    handler = type("Handler", (_Handler,), {"page": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", state
    server.shutdown()
    server.server_close()
    assert _browsers_left() == []


def _browsers_left() -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if PROFILE_PREFIX in line]


async def _load(url: str, **extra: object) -> dict[str, Observation]:
    fields: dict[str, object] = {"timeout": 20, **extra}
    target = BrowserTarget(name="frontend-page", url=url, executable=CHROMIUM, **fields)  # type: ignore[arg-type]
    return {o.signal: o for o in await browser(target, ProbeContext())}


def _interval(in_event: bool) -> float:
    target = next(t for t in shipped_config().targets.browser if t.name == "frontend-page")
    return target.effective_interval(in_event)


def _fires(rule: str, obs: dict[str, Observation], in_event: bool) -> bool:
    return fires_when_held(rule, obs.values(), in_event=in_event, interval=_interval(in_event))


async def test_a_fast_clean_page(page: tuple[str, Page]) -> None:
    url, _ = page
    obs = await _load(url)
    assert obs["browser_page_ok"].value == 1, obs["browser_page_ok"]
    ttfb, dcl, load = (obs[n].value for n in ("browser_ttfb_seconds", "browser_dom_content_loaded_seconds",
                                              "browser_load_seconds"))
    assert ttfb is not None and dcl is not None and load is not None and 0 < ttfb <= dcl <= load < 2
    assert obs["browser_lcp_seconds"].value is not None and obs["browser_lcp_seconds"].value > 0
    assert obs["browser_cls"].value == 0
    assert obs["browser_failed_requests"].value == 0, obs["browser_page_ok"].details
    assert obs["browser_console_errors"].value == 0, obs["browser_page_ok"].details
    assert _browsers_left() == []  # stopped with the run, not at the end of the test
    for in_event in (False, True):
        for rule in ("PageLoadSlow", "PageLoadVerySlow", "PageLoadFailed"):
            assert not _fires(rule, obs, in_event), rule


async def test_a_slow_shifting_page_with_a_broken_asset(page: tuple[str, Page]) -> None:
    url, state = page
    state.delay, state.shift, state.broken_asset = 2.5, True, True
    obs = await _load(url)
    assert obs["browser_page_ok"].value == 1
    assert obs["browser_ttfb_seconds"].value >= 2.5  # type: ignore[operator]
    assert 2.5 <= obs["browser_load_seconds"].value < 4  # type: ignore[operator]
    assert obs["browser_cls"].value > 0.1  # type: ignore[operator]
    assert obs["browser_failed_requests"].value == 1
    assert "missing.js" in obs["browser_page_ok"].details["failed_requests"][0]  # type: ignore[index]
    assert obs["browser_console_errors"].value >= 1  # type: ignore[operator]
    for in_event in (False, True):
        assert _fires("PageLoadSlow", obs, in_event) and not _fires("PageLoadVerySlow", obs, in_event)


async def test_a_page_over_four_seconds_is_high(page: tuple[str, Page]) -> None:
    url, state = page
    state.delay = 4.2
    obs = await _load(url)
    assert obs["browser_load_seconds"].value > 4  # type: ignore[operator]
    assert _fires("PageLoadVerySlow", obs, in_event=True) and _fires("PageLoadVerySlow", obs, in_event=False)


async def test_a_page_that_never_loads_fails_and_the_browser_is_killed(page: tuple[str, Page]) -> None:
    url, state = page
    state.delay = 30
    obs = await _load(url, timeout=4, interval=60)
    assert obs["browser_page_ok"].value == 0 and obs["browser_page_ok"].error == "timeout"
    assert obs["browser_load_seconds"].value is None
    assert _browsers_left() == []
    assert _fires("PageLoadFailed", obs, in_event=True)
