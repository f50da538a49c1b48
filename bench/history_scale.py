"""History at scale: 30 days of the shipped config's event-interval history in the store, and what it costs.

The shipped monitor.yml in event mode writes about 183 series at 8.85 samples/s (issue 15 measured it
through the store). This builds the same through the project's store: the last `raw_retention` as raw
samples at the event intervals, older days as the minute and hourly rollups the retention leaves
(`Store.import_rollups`, counted into the SLO buckets as the retention would have), then runs the
retention to completion. A fresh process then opens the store and measures the SLO cycle (the first
after a start, then steady ones with a minute of new samples between them), `converge-monitor report`'s
gather step, and its peak RSS. The "today" column is issue 15's measurement of the code before.

Run: python -m bench.history_scale [--days 30] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench.report import write_results
from monitor.config import load_config
from monitor.core.observation import Observation
from monitor.store import open_store
from monitor.store.rollup import Rollup

ROOT = Path(__file__).resolve().parent.parent
DAY = 86400.0
TODAY = {"1d": {"store_mb": 32, "cycle_ms": 19, "first_s": 0.11, "rss_mb": 120},
         "7d": {"store_mb": 226, "cycle_ms": 124, "first_s": 0.69, "rss_mb": 166},
         "30d": {"store_mb": 970, "cycle_ms": 609, "first_s": 2.77, "rss_mb": 353}}
GOALS = {"store_mb": 250, "cycle_ms": 50, "rss_mb": 150}
# Series per target kind (what the probes write), at the target's event interval: 183 series, ~8.9/s.
SERIES = {"HttpTarget": 4, "SyntheticTarget": 6, "JourneyTarget": 8, "BrowserTarget": 6, "ApiMetricsTarget": 80,
          "PostgresTarget": 20, "RedisTarget": 10, "BackupTarget": 10, "BackupRestoreTarget": 5, "DiskTarget": 20,
          "DepsTarget": 10}
LES = ("0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf")


def series_of(config: Any) -> list[tuple[str, dict[str, str], float, str]]:
    """(signal, labels, event interval, kind) of every series: the SLIs' own ones with their real names."""
    out = []
    for t in config.all_targets():
        every = t.effective_interval(True)
        name, kind = t.name, type(t).__name__
        own: list[tuple[str, dict[str, str], str]] = []
        if kind == "HttpTarget":
            own = [("http_up", {"target": name}, "bool")]
        elif kind == "SyntheticTarget":
            own = [("synthetic_success", {"target": name}, "bool")]
        elif kind == "ApiMetricsTarget":
            own = [("api_requests_counted", {"target": name}, "counter"),
                   ("api_requests_5xx_counted", {"target": name}, "counter")]
            own += [("api_requests_le_counted", {"target": name, "le": le}, "counter") for le in LES]
        for i in range(SERIES.get(kind, 4) - len(own)):
            own.append((f"bench_gauge_{i}", {"target": name}, "gauge"))
        out += [(sig, labels, every, k) for sig, labels, k in own]
    return out


def value(kind: str, signal: str, labels: dict[str, str], t: float) -> float:
    if kind == "bool":
        return 0.0 if int(t / 60) % 997 == 0 else 1.0
    if kind == "counter":
        rate = 20.0 if signal == "api_requests_counted" or labels.get("le") == "+Inf" else \
            0.02 if "5xx" in signal else 19.0 * min(1.0, float(labels.get("le", "1")))
        return math.floor(t * rate)
    return 50 + 10 * math.sin(t / 3600)


def rollups(series: list[tuple[str, dict[str, str], float, str]], start: float, end: float,
            width: float) -> Iterator[tuple[str, dict[str, str], Rollup]]:
    """The rollups the retention would leave of [start, end), bucket by bucket."""
    t = start
    while t < end:
        for signal, labels, every, kind in series:
            n = max(1, int(width / every))
            last = t + (n - 1) * every
            v = value(kind, signal, labels, last)
            ones = float(n) if kind == "bool" and v == 1 else 0.0
            vsum = ones if kind == "bool" else v * n
            yield signal, labels, Rollup(t, width, n, 0, vsum, min(v, 0.0 if kind == "bool" and v == 0 else v),
                                         v, v, last)
        t += width


def build(path: str, days: float, now: float) -> dict[str, Any]:
    config = load_config(ROOT / "monitor.yml")
    cfg = SimpleNamespace(**{**config.store.model_dump(), "path": path, "retention": max(days, 30) * DAY})
    store = open_store(cfg)
    from slo.service import SloService

    SloService.from_config(config, store)  # the SLO count rules, as `run` registers them at start
    series = series_of(config)
    policy = store.retention_policy
    t0 = time.perf_counter()
    start = now - days * DAY
    minute_from = max(start, now - policy.minute)
    raw_from = max(start, now - policy.raw)
    hour_end = minute_from - minute_from % policy.coarse
    chunk = 6 * 3600.0
    t = start - start % policy.coarse
    while t < hour_end:  # old days: hourly rollups
        store.import_rollups(list(rollups(series, t, min(t + chunk, hour_end), policy.coarse)))
        t += chunk
    while t < raw_from - raw_from % 60:  # recent days: per-minute rollups
        store.import_rollups(list(rollups(series, t, min(t + chunk, raw_from - raw_from % 60), 60.0)))
        t += chunk
    samples = 0
    t = raw_from - raw_from % 60
    while t < now:  # the raw window at the event intervals, a minute per write
        batch = [Observation(sig, value(kind, sig, labels, ts), ts, labels)
                 for sig, labels, every, kind in series
                 for ts in (t + k * every for k in range(max(1, int(60 / every))) if every <= 60 or t % every < 60)]
        store.write(batch)
        samples += len(batch)
        t += 60
    built = time.perf_counter() - t0
    t1 = time.perf_counter()
    while store.retain(now):
        pass
    retain = time.perf_counter() - t1
    store.close()
    size = sum(Path(p).stat().st_size for p in (path, path + "-wal") if Path(p).exists())
    rate = sum(1 / every for _, _, every, _ in series)
    return {"series": len(series), "samples_per_s": rate, "raw_samples_written": samples, "build_s": built,
            "retention_s": retain, "store_bytes": size}


def measure(path: str, now: float, cycles: int) -> dict[str, Any]:
    """In this (fresh) process: the first SLO cycle after a start, steady cycles, the report, peak RSS."""
    from slo.incidents import load_incidents
    from slo.report import gather_report, report_zone
    from slo.service import SloService

    config = load_config(ROOT / "monitor.yml")
    cfg = SimpleNamespace(**{**config.store.model_dump(), "path": path})
    store = open_store(cfg)
    series = [s for s in series_of(config) if s[3] != "gauge"]
    t0 = time.perf_counter()
    slos = SloService.from_config(config, store)
    slos.observations(now)
    first = time.perf_counter() - t0
    steady = []
    for k in range(1, cycles + 1):
        t = now + 60 * k
        store.write([Observation(sig, value(kind, sig, labels, t - 30), t - 30, labels)
                     for sig, labels, _, kind in series])
        c0 = time.perf_counter()
        store.write(slos.observations(t))
        steady.append(time.perf_counter() - c0)
    zone = report_zone(slos.config.report, config.event)
    day = datetime.fromtimestamp(now - DAY, zone).date()
    r0 = time.perf_counter()
    gather_report(slos, store, day, zone, now, load_incidents(store, None), config.event)
    report = time.perf_counter() - r0
    store.close()
    steady.sort()
    return {"first_cycle_s": first, "steady_cycle_median_ms": 1000 * steady[len(steady) // 2],
            "steady_cycle_max_ms": 1000 * steady[-1], "report_s": report,
            "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.history_scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="2 days, 5 cycles: a smoke run")
    parser.add_argument("--measure", nargs=2, metavar=("PATH", "NOW"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure[0], float(args.measure[1]), args.cycles)))
        return 0
    days, cycles = (2.0, 5) if args.quick else (args.days, args.cycles)
    now = datetime(2026, 2, 27, 12, 0).timestamp()  # a month after the shipped event
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "monitor.sqlite3")
        built = build(path, days, now)
        out = subprocess.run([sys.executable, "-m", "bench.history_scale", "--cycles", str(cycles),
                              "--measure", path, str(now)], check=True, capture_output=True, text=True, cwd=ROOT)
        measured = json.loads(out.stdout.strip().splitlines()[-1])
    ours = {"store_mb": built["store_bytes"] / 1e6, "cycle_ms": measured["steady_cycle_median_ms"],
            "first_s": measured["first_cycle_s"], "rss_mb": measured["rss_peak_mb"], "report_s": measured["report_s"]}
    met = {k: ours[k] < goal for k, goal in GOALS.items()}
    report = {"days": days, "quick": args.quick, "build": built, "measured": measured, "ours": ours,
              "today_30d": TODAY["30d"], "today": TODAY, "goals": GOALS, "met": met}
    today = TODAY["30d"]
    text = (f"# History at scale: {days:g} days of the shipped config ({built['series']} series, "
            f"{built['samples_per_s']:.2f} samples/s)\n\n"
            "| | ours | today (issue 15, 30 days) | goal |\n|---|---|---|---|\n"
            f"| store size | {ours['store_mb']:.1f} MB | {today['store_mb']} MB | < 250 MB |\n"
            f"| SLO cycle, steady (median of {cycles}) | {ours['cycle_ms']:.1f} ms | {today['cycle_ms']} ms "
            "| < 50 ms |\n"
            f"| SLO cycle, first after a start | {ours['first_s']:.3f} s | {today['first_s']} s | - |\n"
            f"| RSS peak (the measuring process) | {ours['rss_mb']:.0f} MB | {today['rss_mb']} MB | < 150 MB |\n"
            f"| report (gather one day) | {ours['report_s']:.3f} s | - | - |\n\n"
            f"Built in {built['build_s']:.1f} s ({built['raw_samples_written']} raw samples; older days as "
            f"rollups), retention to completion {built['retention_s']:.1f} s.\n")
    write_results(ROOT / "bench" / "results", "history_scale", args.quick, report, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
