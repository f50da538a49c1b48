"""Benchmark: how long `converge-monitor backtest` takes to replay 30 days of event-interval history of the
default catalog, and how much memory it holds while doing so.

The history: every enabled target of the shipped monitor.yml, each probed at its *event* interval (every 5 to
30 s) for 30 days, with every catalog signal its probe kind writes (healthy values jittered inside the band
where no default rule fires, cumulative request counters for the SLOs), and one incident a day (10 minutes:
the health check fails, 30% of requests 5xx, p95 over its thresholds). It is written once to a monitor store (SQLite,
as `run` writes it) and as a JSON-lines file (export-history's format); the timed runs are the real command in a
child process:

    converge-monitor backtest --config monitor.yml --json                            (the store; one replay)
    converge-monitor backtest --config monitor.yml --against monitor.yml --json      (two replays)
    converge-monitor backtest --config monitor.yml --history FILE --json             (the JSON-lines file)

Wall time and the child's peak RSS (getrusage) are recorded; the replay's own counts (observations, alert
cycles the monitor would have run, cycles evaluated) come from its JSON. The peers: Grafana's rule backtesting
is behind a feature flag and promtool's backtest is an open pull request, so nothing is run side by side.

Run: python -m bench.backtest [--days N] [--reps N] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.machine import cpu_model, loadavg_text
from bench.rule_evaluation import monitor_default_rules, signal_bands
from monitor.config import load_config
from monitor.core.api_contract import INF
from monitor.core.observation import Observation
from monitor.core.signals import SIGNALS
from monitor.history.jsonl import to_line

REPO = Path(__file__).resolve().parent.parent
PREFIXES = {"http": ("http_",), "synthetic": ("synthetic_",), "api_metrics": ("api_",), "postgres": ("postgres_",),
            "redis": ("redis_",), "backup": ("backup_",), "disk": ("disk_",), "deps": ("dependency_",)}
COUNTERS = {"api_requests_counted", "api_requests_5xx_counted", "api_requests_le_counted"}
INCIDENT = 600.0  # seconds, once a day
START = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def _labels(signal: Any, target: Any) -> list[dict[str, str]]:
    base: dict[str, str] = {}
    combos: list[dict[str, str]] = [base]
    for name in signal.labels:
        if name in ("target", "flow"):
            values = [target.name]
        elif name == "kind":
            values = [target.kind]
        elif name == "route":
            values = ["*"]
        elif name == "step":
            values = [s.name for s in getattr(target, "steps", [])] or ["check"]
        elif name == "path":
            values = list(getattr(target, "paths", [])) or ["/"]
        elif name == "le":
            values = ["0.5", INF]
        else:
            values = ["x"]
        combos = [{**c, name: v} for c in combos for v in values]
    return combos


def history(days: float, seed: int = 7) -> Iterator[Observation]:
    """The observations in time order (a merge of the targets' schedules), generated as they are written."""
    rng = random.Random(seed)
    config = load_config(REPO / "monitor.yml", environ={})
    bands = signal_bands(monitor_default_rules())
    plans = []
    for target in config.all_targets():
        prefixes = (*PREFIXES[target.kind], "probe_")
        series = [(s, labels) for s in SIGNALS if s.name.startswith(prefixes) for labels in _labels(s, target)]
        every = target.event_interval or max(target.interval / 3, 5.0)
        plans.append([START + rng.uniform(0, every), every, series])
    end = START + days * 86400
    counts = {"requests": 0.0, "errors": 0.0}
    while True:
        plan = min(plans, key=lambda p: p[0])
        t, every, series = plan
        if t > end:
            return
        plan[0] = round(t + every, 3)
        down = (t - START) % 86400 < INCIDENT and t - START > 3600
        if any(s.name == "api_requests_counted" for s, _ in series):
            counts["requests"] += 500.0
            counts["errors"] += 150.0 if down else 0.0
        for sig, labels in series:
            if sig.name in COUNTERS:
                value = counts["errors"] if sig.name == "api_requests_5xx_counted" else \
                    counts["requests"] - (counts["errors"] if labels.get("le") == "0.5" else 0.0)
            else:
                band = bands[sig.name]
                value = band.lo if band.lo == band.hi else rng.uniform(band.lo, band.hi)
                if down and band.breach is not None and sig.name in (
                        "http_up", "probe_success", "api_error_ratio", "api_latency_p95_seconds", "synthetic_success"):
                    value = band.breach
            yield Observation(sig.name, value, t, labels)


def write_history(path: Path, store_path: Path, days: float) -> int:
    """The JSON-lines file, and the same observations in a monitor store (SQLite), as `run` writes them."""
    from monitor.store.sqlite import SqliteStore

    store = SqliteStore(str(store_path), retention=400 * 86400)
    count = 0
    batch: list[Observation] = []
    with path.open("w") as out:
        for obs in history(days):
            out.write(to_line(obs) + "\n")
            batch.append(obs)
            count += 1
            if len(batch) >= 20000:
                store.write(batch)
                batch = []
    store.write(batch)
    store.close()
    return count


def store_config(folder: Path, store_path: Path) -> Path:
    path = folder / "monitor.yml"
    path.write_text((REPO / "monitor.yml").read_text().replace("${MONITOR_STORE:-./var/monitor.sqlite3}",
                                                               str(store_path)))
    return path


def timed(args: list[str]) -> tuple[float, float, dict[str, Any]]:
    """Wall seconds, the child's peak RSS in MiB, and its JSON output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "monitor.cli", *args], capture_output=True, text=True, check=True,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    wall = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(rss, before) / 1024, json.loads(done.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    opts = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="converge-backtest-bench-") as tmp:
        path, db = Path(tmp) / "history.jsonl", Path(tmp) / "monitor.sqlite3"
        t0 = time.perf_counter()
        lines = write_history(path, db, opts.days)
        generated = time.perf_counter() - t0
        size = path.stat().st_size
        config = str(store_config(Path(tmp), db))
        runs: dict[str, list[tuple[float, float]]] = {"one": [], "against": [], "file": []}
        doc: dict[str, Any] = {}
        for _ in range(opts.reps):
            wall, rss, doc = timed(["backtest", "--config", config, "--json"])  # the store: the default source
            runs["one"].append((wall, rss))
            wall, rss, _ = timed(["backtest", "--config", config, "--against", config, "--json"])
            runs["against"].append((wall, rss))
            wall, rss, _ = timed(["backtest", "--config", config, "--history", str(path), "--json"])
            runs["file"].append((wall, rss))
    summary = {
        "days": opts.days, "observations": lines, "history_mib": round(size / 2**20, 1),
        "generate_s": round(generated, 1),
        "replay_s_median": round(statistics.median(w for w, _ in runs["one"]), 2),
        "against_s_median": round(statistics.median(w for w, _ in runs["against"]), 2),
        "file_s_median": round(statistics.median(w for w, _ in runs["file"]), 2),
        "peak_rss_mib": round(max(r for _, r in runs["one"] + runs["against"] + runs["file"]), 1),
        "ticks": doc["ticks"], "evaluations": doc["evaluations"], "alerts": len(doc["alerts"]),
        "observations_per_s": round(lines / statistics.median(w for w, _ in runs["one"])),
    }
    summary["goal_met"] = summary["replay_s_median"] < 60
    result = {"summary": summary, "runs": runs,
              "machine": {"python": platform.python_version(), "cpu": cpu_model(), "cores": os.cpu_count(),
                          "load": loadavg_text(load_before, os.getloadavg())}}
    machine = result["machine"]
    opts.out.mkdir(parents=True, exist_ok=True)
    (opts.out / "backtest.json").write_text(json.dumps(result, indent=2) + "\n")
    md = [f"# Backtest: {opts.days:g} days of event-interval history, default catalog", "",
          f"- history: {lines:,} observations ({summary['history_mib']} MiB of JSON lines), one 10-minute incident "
          "a day",
          f"- one replay from the store: {summary['replay_s_median']} s median of {opts.reps} "
          f"({summary['observations_per_s']:,} observations/s); with --against (two replays): "
          f"{summary['against_s_median']} s; from the JSON-lines file: {summary['file_s_median']} s",
          f"- alert cycles the monitor would have run: {summary['ticks']:,}; evaluated: {summary['evaluations']:,} "
          "(the rest provably quiet)",
          f"- alerts that would have fired: {summary['alerts']}", f"- peak RSS: {summary['peak_rss_mib']} MiB",
          f"- machine: {machine['cpu']}, {machine['cores']} cores; load {machine['load']}",
          ""]
    (opts.out / "backtest.md").write_text("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
