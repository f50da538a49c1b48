"""A real page load in headless Chromium (spec 1: "< 2 s page load"; 8.4: Core Web Vitals).

The probe starts Debian's Chromium itself (never a downloaded browser) in its own process group with a
throw-away profile and `--remote-debugging-port=0`, drives it through Playwright over the DevTools protocol,
loads `url` once and reports time to first byte, DOMContentLoaded, load, Largest Contentful Paint,
Cumulative Layout Shift (the largest session window, as web-vitals computes it), failed requests (network
errors and answers >= 400) and console errors (with uncaught exceptions).

One browser at a time (a lock per event loop); the whole run is bounded by the target's timeout; the
browser's processes together may use at most `memory_mb` of resident memory (a watchdog kills the group
above it); and whatever happens the process group is killed and reaped and the profile removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright

from monitor.core.observation import Observation, unknown
from monitor.core.targets import BrowserTarget
from probes.base import ProbeContext
from probes.proc import TIMEOUT_SHARE

KIND = "browser"
PROFILE_PREFIX = "converge-browser-probe-"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
         "--disable-dev-shm-usage", "--disable-extensions", "--mute-audio", "--renderer-process-limit=1")
_WATCH_EVERY = 0.5
_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()

# Collects LCP and layout shifts from the first paint on (buffered), before any script of the page runs.
_OBSERVE = """
(() => {
  const m = window.__convergeVitals = {lcp: null, windows: [], current: null};
  const po = (type, cb) => { try { new PerformanceObserver(l => l.getEntries().forEach(cb))
                                   .observe({type, buffered: true}); } catch (e) {} };
  po('largest-contentful-paint', e => { m.lcp = e.renderTime || e.loadTime || e.startTime; });
  po('layout-shift', e => {
    if (e.hadRecentInput) return;
    const w = m.current;
    if (w && e.startTime - w.last < 1000 && e.startTime - w.first < 5000) { w.value += e.value; w.last = e.startTime; }
    else { m.current = {first: e.startTime, last: e.startTime, value: e.value}; m.windows.push(m.current); }
  });
})();
"""
_READ = """
(() => {
  const n = performance.getEntriesByType('navigation')[0];
  const m = window.__convergeVitals || {lcp: null, windows: []};
  return {ttfb: n ? n.responseStart : null, dcl: n ? n.domContentLoadedEventEnd : null,
          load: n && n.loadEventEnd > 0 ? n.loadEventEnd : null, lcp: m.lcp,
          cls: m.windows.reduce((a, w) => Math.max(a, w.value), 0)};
})()
"""


class BrowserFailure(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(code, reason)
        self.code, self.reason = code, reason


@dataclass
class _Load:
    timings: dict[str, float | None] = field(default_factory=dict)
    cls: float | None = None
    failed_requests: dict[str, str] = field(default_factory=dict)  # url -> why; a 404 may also be reported failed
    console_errors: list[str] = field(default_factory=list)
    status: int | None = None
    peak_rss: int = 0


def _lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    if loop not in _LOCKS:
        _LOCKS[loop] = asyncio.Lock()
    return _LOCKS[loop]


def _pss(pid_dir: str) -> int:
    # Proportional set size: shared pages split between the processes sharing them, so the sum is honest.
    for line in Path(pid_dir, "smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


def group_rss(pgid: int) -> int:
    """Memory (PSS bytes) of every process in the process group, from /proc."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) == pgid:  # field 5 of stat: the process group
                total += _pss(entry.path)
        except (OSError, ValueError, IndexError):
            continue
    return total


class _Chromium:
    """Chromium in its own process group and profile; `stop` kills the group, reaps it and removes the profile."""

    def __init__(self, target: BrowserTarget) -> None:
        self.target = target
        self.profile = tempfile.mkdtemp(prefix=PROFILE_PREFIX)
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> str:
        w, h = self.target.viewport
        heap = max(64, self.target.memory_mb // 2)
        argv = [self.target.executable, *FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1", f"--window-size={w},{h}",
                f"--js-flags=--max-old-space-size={heap}", "about:blank"]
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            raise BrowserFailure("config", f"cannot start {self.target.executable}: "
                                           f"{exc.strerror or type(exc).__name__}") from None
        port_file = Path(self.profile, "DevToolsActivePort")
        while True:  # bounded by the caller's timeout
            if self.proc.poll() is not None:
                raise BrowserFailure("browser", f"chromium exited at start with status {self.proc.returncode}")
            with contextlib.suppress(OSError, ValueError, IndexError):
                port = int(port_file.read_text().splitlines()[0])
                return f"http://127.0.0.1:{port}"
            await asyncio.sleep(0.05)

    async def watch_memory(self, load: _Load) -> None:
        assert self.proc is not None
        limit = self.target.memory_mb * 1024 * 1024
        while True:
            rss = await asyncio.to_thread(group_rss, self.proc.pid)
            load.peak_rss = max(load.peak_rss, rss)
            if rss > limit:
                self.kill()
                raise BrowserFailure("memory", f"the browser used {rss // 2**20} MB, over memory_mb "
                                               f"{self.target.memory_mb}; killed")
            await asyncio.sleep(_WATCH_EVERY)

    def kill(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    async def stop(self) -> None:
        self.kill()
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(self.proc.wait, 10)
        await asyncio.to_thread(shutil.rmtree, self.profile, True)


async def _load_page(target: BrowserTarget, endpoint: str, load: _Load) -> None:
    async with async_playwright() as pw:
        browser = await pw.chromium.connect_over_cdp(endpoint)
        try:
            context = browser.contexts[0] if browser.contexts else await browser.new_context()
            page = await context.new_page()
            w, h = target.viewport
            await page.set_viewport_size({"width": w, "height": h})
            await page.add_init_script(_OBSERVE)
            page.on("requestfailed", lambda r: load.failed_requests.setdefault(r.url[:200], str(r.failure)))
            page.on("response", lambda r: load.failed_requests.__setitem__(r.url[:200], str(r.status))
                    if r.status >= 400 else None)
            page.on("console", lambda m: load.console_errors.append(
                f"{m.text[:300]} at {m.location.get('url', '')[:200]}") if m.type == "error" else None)
            page.on("pageerror", lambda e: load.console_errors.append(str(e)[:300]))
            try:
                response = await page.goto(str(target.url), wait_until="load", timeout=0)
            except PlaywrightError as exc:
                raise BrowserFailure("connect", str(exc).splitlines()[0][:300]) from None
            load.status = response.status if response is not None else None
            await asyncio.sleep(target.settle)
            vitals: dict[str, Any] = await page.evaluate(_READ)
            load.timings = {k: (vitals[k] / 1000 if isinstance(vitals.get(k), int | float) else None)
                            for k in ("ttfb", "dcl", "load", "lcp")}
            load.cls = float(vitals["cls"]) if isinstance(vitals.get("cls"), int | float) else None
            if load.status is not None and load.status >= 400:
                raise BrowserFailure("status", f"the page answered {load.status}")
        finally:
            with contextlib.suppress(PlaywrightError):
                await browser.close()


async def _measure(target: BrowserTarget, load: _Load) -> None:
    chromium = _Chromium(target)
    try:
        endpoint = await chromium.start()
        watchdog = asyncio.create_task(chromium.watch_memory(load))
        page = asyncio.create_task(_load_page(target, endpoint, load))
        try:
            done, _ = await asyncio.wait({watchdog, page}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a memory failure or the page's outcome
        finally:
            for task in (watchdog, page):
                task.cancel()
            for task in (watchdog, page):
                with contextlib.suppress(asyncio.CancelledError, BrowserFailure, PlaywrightError):
                    await task
    finally:
        await asyncio.shield(chromium.stop())


async def run(target: BrowserTarget, ctx: ProbeContext) -> list[Observation]:
    load = _Load()
    failure: BrowserFailure | None = None
    budget = target.timeout * TIMEOUT_SHARE
    async with _lock():
        started = time.monotonic()
        try:
            async with asyncio.timeout(budget):
                await _measure(target, load)
        except BrowserFailure as exc:
            failure = exc
        except TimeoutError:
            failure = BrowserFailure("timeout", f"the page did not load within {budget:g}s")
        except PlaywrightError as exc:
            failure = BrowserFailure("browser", str(exc).splitlines()[0][:300])
    now = ctx.now()
    labels = {"target": target.name}
    error = failure.code if failure else None
    details: dict[str, Any] = {"run_seconds": round(time.monotonic() - started, 3),
                               "peak_rss_mb": load.peak_rss // 2**20}
    if load.status is not None:
        details["status"] = load.status
    if failure:
        details["reason"] = failure.reason
    if load.failed_requests:
        details["failed_requests"] = [f"{url} ({why})" for url, why in list(load.failed_requests.items())[:10]]
    if load.console_errors:
        details["console_errors"] = load.console_errors[:10]
    ok = 0.0 if failure else 1.0
    measured = failure is None or failure.code == "status"

    def timing(name: str, key: str) -> Observation:
        value = load.timings.get(key)
        if value is not None:
            return Observation(name, value, now, labels)
        return unknown(name, now, failure.reason if failure else "not reported by the browser", labels)

    counts = [
        Observation("browser_failed_requests", float(len(load.failed_requests)), now, labels),
        Observation("browser_console_errors", float(len(load.console_errors)), now, labels),
    ] if measured else [unknown(n, now, failure.reason if failure else "", labels)
                        for n in ("browser_failed_requests", "browser_console_errors")]
    return [
        Observation("browser_page_ok", ok, now, labels, error=error, details=details),
        timing("browser_ttfb_seconds", "ttfb"),
        timing("browser_dom_content_loaded_seconds", "dcl"),
        timing("browser_load_seconds", "load"),
        timing("browser_lcp_seconds", "lcp"),
        Observation("browser_cls", load.cls, now, labels) if load.cls is not None
        else unknown("browser_cls", now, failure.reason if failure else "not reported by the browser", labels),
        *counts,
        Observation("probe_success", ok, now, {"target": target.name, "kind": KIND}, error=error),
    ]
