"""Benchmark: one monitor with 1,000 and 5,000 HTTP targets on 127.0.0.1 - what it costs and whether it keeps time.

For each size, `converge-monitor run` (a child process, SQLite store, no event window) checks N HTTP targets
on a tiny local HTTP server in its own process (`/?t=<i>`: every target has its own URL), each every 10 s
(timeout 2 s). While it runs, a status screen polls `/board` every 15 s and a Prometheus-like scraper reads
`/metrics` every 15 s.
After a warm-up, every 5 s the run samples:

- the monitor's CPU (its process's user+system time) and RSS, and the store's size (database + WAL);
- `/health`'s response time (what a load balancer's health check waits);
- the monitor's own histograms from `/metrics`: probe lateness (a scheduled run's start minus its planned
  time, `converge_monitor_probe_lateness_seconds`) and event-loop lag (`converge_monitor_event_loop_lag_seconds`).

Goals (issue 15) at 5,000 targets: RSS flat over the run, /health under 20 ms, no probe run more than 1 s late,
under 30% of a core. Store growth per hour is reported as measured (retention and rollups bound it: see the
history benchmark).

Run: python -m bench.many_targets [--sizes 1000 5000] [--seconds 150] [--warmup 45] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

from bench.machine import cpu_model, loadavg_text
from bench.report import write_results
from devstack import free_port
from devstack.monitor import MonitorServer

RESULTS = Path(__file__).resolve().parent / "results"
INTERVAL, TIMEOUT = 10, 2
SAMPLE_EVERY, BOARD_EVERY, SCRAPE_EVERY = 5.0, 15.0, 15.0
GOALS = {"health_ms": 20.0, "late_s": 1.0, "cpu_cores": 0.30, "rss_growth_ratio": 0.10}


RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class _Ok(asyncio.Protocol):
    """The tiny target server: 200 "ok" to every request, keep-alive (one response per request head)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            _head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            self.transport.write(RESPONSE)


async def _serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(_Ok, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def start_target_server() -> tuple[subprocess.Popen[bytes], str]:
    """The targets' server in its own process, so its CPU is not the monitor's."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.many_targets", "--serve", str(port)])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return proc, f"http://127.0.0.1:{port}/"
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the target server did not start")


def config(workdir: Path, url: str, targets: int, port: int) -> Path:
    doc = {
        "targets": {"http": [{"name": f"t{i:05d}", "url": f"{url}?t={i}", "interval": f"{INTERVAL}s",
                              "timeout": f"{TIMEOUT}s"} for i in range(targets)]},
        "store": {"backend": "sqlite", "path": str(workdir / "state.sqlite3")},
        "server": {"host": "127.0.0.1", "port": port},
        "alerting": {"notifications_file": str(workdir / "notifications.jsonl")},
    }
    path = workdir / "monitor.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


def histogram(text: str, name: str) -> dict[float, float]:
    """Cumulative bucket counts of one (unlabelled) histogram in an exposition."""
    out = {}
    for le, value in re.findall(rf'^{name}_bucket{{le="([^"]+)"}} ([\d.e+]+)$', text, re.M):
        out[float(le)] = float(value)
    return out


def quantile(buckets: dict[float, float], q: float) -> float:
    """The upper bound of the bucket holding quantile q (what a histogram can say)."""
    total = buckets.get(float("inf"), 0.0)
    if not total:
        return 0.0
    for le in sorted(buckets):
        if buckets[le] >= q * total:
            return le
    return float("inf")


def delta(after: dict[float, float], before: dict[float, float]) -> dict[float, float]:
    return {le: v - before.get(le, 0.0) for le, v in after.items()}


def store_bytes(workdir: Path) -> int:
    return sum(p.stat().st_size for p in workdir.glob("state.sqlite3*"))


class Poller(threading.Thread):
    """A status screen and a scraper: /board and /metrics on their own schedules, timed."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.board_s: list[float] = []
        self.metrics_s: list[float] = []
        self.metrics_bytes = 0

    def run(self) -> None:
        next_board = next_scrape = time.monotonic()
        with httpx.Client(timeout=30) as client:
            while not self.stop.is_set():
                now = time.monotonic()
                with contextlib.suppress(httpx.HTTPError):
                    if now >= next_board:
                        started = time.perf_counter()
                        client.get(f"{self.url}/board").raise_for_status()
                        self.board_s.append(time.perf_counter() - started)
                        next_board = now + BOARD_EVERY
                    if now >= next_scrape:
                        started = time.perf_counter()
                        body = client.get(f"{self.url}/metrics").content
                        self.metrics_s.append(time.perf_counter() - started)
                        self.metrics_bytes = len(body)
                        next_scrape = now + SCRAPE_EVERY
                self.stop.wait(0.5)


def measure(targets: int, seconds: float, warmup: float, nginx_url: str) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"many-targets-{targets}-"))
    port = free_port()
    monitor = MonitorServer(config(workdir, nginx_url, targets, port), port, log_dir=str(workdir))
    monitor.start(timeout=120)
    poller = Poller(monitor.url)
    try:
        assert monitor.pid is not None
        proc = psutil.Process(monitor.pid)
        poller.start()
        time.sleep(warmup)
        client = httpx.Client(timeout=30)
        first = client.get(f"{monitor.url}/metrics").text
        late0 = histogram(first, "converge_monitor_probe_lateness_seconds")
        lag0 = histogram(first, "converge_monitor_event_loop_lag_seconds")
        cpu0, t0, size0 = sum(proc.cpu_times()[:2]), time.monotonic(), store_bytes(workdir)
        samples: list[dict[str, float]] = []
        health: list[float] = []
        while time.monotonic() - t0 < seconds:
            time.sleep(SAMPLE_EVERY)
            for _ in range(3):
                started = time.perf_counter()
                client.get(f"{monitor.url}/health")
                health.append(time.perf_counter() - started)
            samples.append({"t": round(time.monotonic() - t0, 1), "rss_mib": proc.memory_info().rss / 2**20,
                            "cpu_s": sum(proc.cpu_times()[:2]) - cpu0, "store_bytes": store_bytes(workdir)})
        last = client.get(f"{monitor.url}/metrics").text
        elapsed = time.monotonic() - t0
        client.close()
        cpu = sum(proc.cpu_times()[:2]) - cpu0
        late = delta(histogram(last, "converge_monitor_probe_lateness_seconds"), late0)
        lag = delta(histogram(last, "converge_monitor_event_loop_lag_seconds"), lag0)
        runs = late.get(float("inf"), 0.0)
        over_1s = runs - late.get(1.0, 0.0)
        over_2s = runs - late.get(2.0, 0.0)
        third = max(1, len(samples) // 3)
        rss_first = statistics.mean(s["rss_mib"] for s in samples[:third])
        rss_last = statistics.mean(s["rss_mib"] for s in samples[-third:])
        growth = (store_bytes(workdir) - size0) / elapsed * 3600
    finally:
        poller.stop.set()
        monitor.stop()
    poller.join(timeout=10)
    health_ms = sorted(h * 1000 for h in health)
    result = {
        "targets": targets, "seconds": round(elapsed, 1), "warmup_s": warmup,
        "checks_per_s": round(runs / elapsed, 1),
        "cpu_cores": round(cpu / elapsed, 3),
        "rss_mib": {"first_third": round(rss_first, 1), "last_third": round(rss_last, 1),
                    "max": round(max(s["rss_mib"] for s in samples), 1),
                    "growth_ratio": round(rss_last / rss_first - 1, 3)},
        "rss_over_time": [(s["t"], round(s["rss_mib"], 1)) for s in samples],
        "store_growth_mib_per_hour": round(growth / 2**20, 1),
        "probe_runs": int(runs), "late_over_1s": int(over_1s), "late_over_2s": int(over_2s),
        "lateness_p99_le_s": quantile(late, 0.99),
        "loop_lag_p99_le_s": quantile(lag, 0.99), "loop_lag_max_le_s": quantile(lag, 1.0),
        "health_ms": {"median": round(statistics.median(health_ms), 2),
                      "p99": round(health_ms[min(len(health_ms) - 1, int(len(health_ms) * 0.99))], 2),
                      "max": round(health_ms[-1], 2)},
        "metrics_ms_median": round(statistics.median(poller.metrics_s) * 1000, 1) if poller.metrics_s else None,
        "metrics_mib": round(poller.metrics_bytes / 2**20, 2),
        "board_ms_median": round(statistics.median(poller.board_s) * 1000, 1) if poller.board_s else None,
    }
    result["goals"] = {
        "health_under_20ms": result["health_ms"]["median"] < GOALS["health_ms"],
        "no_probe_over_1s_late": over_1s == 0,
        "cpu_under_30pct": result["cpu_cores"] < GOALS["cpu_cores"],
        "rss_flat": result["rss_mib"]["growth_ratio"] <= GOALS["rss_growth_ratio"],
    }
    return result


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# Many targets: one monitor, HTTP targets on 127.0.0.1 ({report['finished']})", "",
             f"Each target every {INTERVAL} s (timeout {TIMEOUT} s) against a tiny local HTTP server (its own "
             "process); /board polled every "
             f"{BOARD_EVERY:g} s and /metrics scraped every {SCRAPE_EVERY:g} s during the run; measured after a "
             "warm-up.",
             "", "| | " + " | ".join(f"{r['targets']:,} targets" for r in report["runs"]) + " |",
             "|---|" + "---:|" * len(report["runs"])]

    def row(label: str, fn: Any) -> None:
        lines.append(f"| {label} | " + " | ".join(fn(r) for r in report["runs"]) + " |")

    row("checks / s", lambda r: f"{r['checks_per_s']:.0f}")
    row("CPU (cores)", lambda r: f"{r['cpu_cores']:.2f}")
    row("RSS first third -> last third (max)", lambda r: f"{r['rss_mib']['first_third']:.0f} -> "
        f"{r['rss_mib']['last_third']:.0f} MiB ({r['rss_mib']['max']:.0f})")
    row("store growth", lambda r: f"{r['store_growth_mib_per_hour']:.0f} MiB/h")
    row("probe runs more than 1 s late", lambda r: f"{r['late_over_1s']} of {r['probe_runs']}")
    row("probe lateness p99 (bucket)", lambda r: f"<= {r['lateness_p99_le_s'] * 1000:.0f} ms")
    row("event-loop lag p99 / max (bucket)", lambda r: f"<= {r['loop_lag_p99_le_s'] * 1000:.0f} / "
        f"{r['loop_lag_max_le_s'] * 1000:.0f} ms")
    row("/health median / p99", lambda r: f"{r['health_ms']['median']:.1f} / {r['health_ms']['p99']:.1f} ms")
    row("/metrics median (size)", lambda r: f"{r['metrics_ms_median']:.0f} ms ({r['metrics_mib']:.1f} MiB)")
    row("/board median", lambda r: f"{r['board_ms_median']:.0f} ms")
    biggest = report["runs"][-1]
    g = biggest["goals"]
    lines += ["", f"Goals at {biggest['targets']:,} targets: /health < 20 ms: **{_ok(g['health_under_20ms'])}**; "
              f"no probe run > 1 s late: **{_ok(g['no_probe_over_1s_late'])}**; < 30% of a core: "
              f"**{_ok(g['cpu_under_30pct'])}**; RSS flat (last third within 10% of the first): "
              f"**{_ok(g['rss_flat'])}**.", "",
              "RSS over time (s, MiB): " + "; ".join(
                  f"{r['targets']:,}: " + ", ".join(f"{t:.0f}:{m:.0f}" for t, m in r["rss_over_time"][::3])
                  for r in report["runs"]), "",
              f"Machine: {report['machine']}. Load average before / after: {report['load']}. The machine is shared "
              "with other work: CPU and lag figures move with it."]
    return "\n".join(lines) + "\n"


def _ok(value: bool) -> str:
    return "met" if value else "missed"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--seconds", type=float, default=150.0, help="measured time per size (default 150)")
    parser.add_argument("--warmup", type=float, default=45.0, help="before measuring (default 45)")
    parser.add_argument("--quick", action="store_true", help="100 and 500 targets, 30 s each (a smoke run)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the target server's child process
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve(args.serve))
        return 0
    if args.quick:
        args.sizes, args.seconds, args.warmup = [100, 500], 30.0, 15.0
    before = os.getloadavg()
    server, url = start_target_server()
    try:
        runs = [measure(n, args.seconds, args.warmup, url) for n in args.sizes]
    finally:
        server.terminate()
        server.wait(timeout=10)
    report = {"finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "runs": runs,
              "settings": {"interval_s": INTERVAL, "timeout_s": TIMEOUT, "seconds": args.seconds,
                           "warmup_s": args.warmup},
              "machine": f"{os.cpu_count()} cores {cpu_model()}, Python {platform.python_version()}",
              "load": loadavg_text(before, os.getloadavg())}
    write_results(RESULTS, "many_targets", args.quick, report, markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
