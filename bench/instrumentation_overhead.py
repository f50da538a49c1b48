"""Benchmark: what request instrumentation costs a cheap FastAPI route.

The same app (bench/apps/overhead_app.py) is served four ways: bare, with our MetricsMiddleware
(app/metrics.py), with prometheus-fastapi-instrumentator (defaults) and with starlette-exporter
(group_paths=True). Each is one uvicorn process pinned to core 0; wrk, pinned to core 1, drives it.
All servers of both uvicorn stacks stay up for the whole run and the measurements are interleaved
(round-robin, variant order rotated every round), so noise from other work on the machine falls on
every variant alike; medians per variant are reported as ratios to bare.

Run: python -m bench.instrumentation_overhead [--rounds N] [--duration S] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil
from prometheus_client.parser import text_string_to_metric_families

from bench.apps.overhead_app import VARIANT_ENV, VARIANTS
from bench.machine import cpu_model as machine_cpu_model
from bench.machine import loadavg_text, packages_text
from bench.machine import package_version as _version
from bench.report import write_results
from devstack.process import free_port

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
APP = "bench.apps.overhead_app:app"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
SERVER_CORE, CLIENT_CORE = 0, 1
CONNECTIONS, THREADS = 32, 1
GOAL_RATIO = 0.95
# A measurement where the server got less of core 0 than this was disturbed by other work; it is
# repeated once, within a budget of one retry per RETRY_BUDGET_DIVISOR measurements (bounds the run time).
DISTURBED_CPU_SHARE = 0.90
RETRY_BUDGET_DIVISOR = 4
SHARED_NOTE = ("The machine was shared with other engineers' test runs while this ran; absolute req/s are "
               "therefore noisy. The ratios to bare come from interleaved rounds and are what count.")

VARIANT_NAMES = {
    "bare": "bare (no instrumentation)",
    "ours": "ours: app.metrics.MetricsMiddleware",
    "instrumentator": "prometheus-fastapi-instrumentator (defaults)",
    "exporter": "starlette-exporter (group_paths=True)",
}


@dataclass(frozen=True)
class Stack:
    name: str
    http: str
    loop: str


STACKS = {
    "default": Stack("default", "h11", "asyncio"),
    "fast": Stack("fast", "httptools", "uvloop"),
}


@dataclass(frozen=True)
class Route:
    name: str  # what the tables show: the route template
    path: str  # what wrk requests
    template: str  # the route label the instrumentation should record


ROUTES = (
    Route("GET /v1/ping", "/v1/ping", "/v1/ping"),
    Route("GET /v1/sessions/{sid}", "/v1/sessions/42", "/v1/sessions/{sid}"),
)


@dataclass
class WrkResult:
    rps: float
    p50_us: float
    p99_us: float
    requests: int
    socket_errors: int
    non_2xx: int


@dataclass
class Server:
    variant: str
    stack: Stack
    port: int
    proc: subprocess.Popen[bytes]
    served: dict[str, int] = field(default_factory=dict)  # requests wrk completed, per route path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


# --- wrk ---------------------------------------------------------------------------------------

_UNITS_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}


def _to_us(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"wrk latency {text!r}: expected a number with a unit (us, ms, s)")
    return float(match.group(1)) * _UNITS_US[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    """Pull Requests/sec, the 50%/99% latencies and the error counts out of `wrk --latency` output."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    total = re.search(r"^\s+(\d+) requests in", output, re.M)
    if not (rps and p50 and p99 and total):
        raise ValueError(f"unexpected wrk output (need Requests/sec, 50%, 99%, 'requests in'):\n{output}")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return WrkResult(
        rps=float(rps.group(1)),
        p50_us=_to_us(p50.group(1)),
        p99_us=_to_us(p99.group(1)),
        requests=int(total.group(1)),
        socket_errors=sum(int(g) for g in errors.groups()) if errors else 0,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
    )


def run_wrk(url: str, seconds: int) -> WrkResult:
    cmd = ["taskset", "-c", str(CLIENT_CORE), WRK, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s",
           "--latency", url]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}) on {url}: {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


# --- servers -----------------------------------------------------------------------------------

def start_server(variant: str, stack: Stack) -> Server:
    port = free_port()
    cmd = ["taskset", "-c", str(SERVER_CORE), sys.executable, "-m", "uvicorn", APP,
           "--host", "127.0.0.1", "--port", str(port), "--http", stack.http, "--loop", stack.loop,
           "--no-access-log", "--log-level", "warning"]
    env = {**os.environ, VARIANT_ENV: variant, "PYTHONPATH": str(REPO)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # single process: app.metrics must use its own registry
    # taskset execs uvicorn in place, so this PID is the server's.
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL)
    server = Server(variant, stack, port, proc)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"uvicorn ({variant}, {stack.name}) exited with {proc.returncode} during start")
        with contextlib.suppress(OSError), urllib.request.urlopen(server.url("/v1/ping"), timeout=1) as resp:
            if resp.status == 200:
                return server
        time.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"uvicorn ({variant}, {stack.name}) did not answer on port {port} within 30 s")


def stop_server(server: Server) -> None:
    if server.proc.poll() is not None:
        return
    os.kill(server.proc.pid, signal.SIGTERM)
    try:
        server.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=5)


@contextlib.contextmanager
def servers(variants: list[str], stacks: list[Stack]) -> Iterator[list[Server]]:
    started: list[Server] = []
    try:
        for stack in stacks:
            for variant in variants:
                started.append(start_server(variant, stack))
        yield started
    finally:
        for server in started:
            stop_server(server)


def scraped_requests(server: Server, template: str) -> float | None:
    """Requests the server's own instrumentation counted for one route (None when bare)."""
    if server.variant == "bare":
        return None
    with urllib.request.urlopen(server.url("/metrics"), timeout=10) as resp:
        text = resp.read().decode()
    total = 0.0
    for family in text_string_to_metric_families(text):
        if not family.name.endswith("requests"):  # counters lose their _total suffix when parsed
            continue
        for sample in family.samples:
            labels = sample.labels
            if sample.name.endswith("_total") and template in (labels.get("route"), labels.get("handler"),
                                                               labels.get("path")):
                total += sample.value
    return total


# --- measuring ---------------------------------------------------------------------------------

def measure(server: Server, route: Route, seconds: int) -> tuple[WrkResult, float, float]:
    """One wrk run, plus the server's CPU: its share of core 0 (below ~95% means other work ran there)
    and its CPU µs per request, which other work on the machine disturbs far less than req/s."""
    ps = psutil.Process(server.proc.pid)
    cpu_before, wall_before = sum(ps.cpu_times()[:2]), time.monotonic()
    result = run_wrk(server.url(route.path), seconds)
    cpu = sum(ps.cpu_times()[:2]) - cpu_before
    server.served[route.path] = server.served.get(route.path, 0) + result.requests
    return result, cpu / (time.monotonic() - wall_before), cpu / max(result.requests, 1) * 1e6


def measured_row(server: Server, route: Route, seconds: int, rnd: int) -> dict[str, object]:
    result, cpu_share, cpu_us = measure(server, route, seconds)
    if result.non_2xx or result.socket_errors:
        raise RuntimeError(f"{server.variant}/{server.stack.name} {route.name}: {result.non_2xx} non-2xx, "
                           f"{result.socket_errors} socket errors: the numbers would lie")
    return {"round": rnd, "stack": server.stack.name, "route": route.name, "variant": server.variant,
            **asdict(result), "server_cpu_share": round(cpu_share, 3), "server_cpu_us_per_request": round(cpu_us, 2)}


def rotated(items: list[str], by: int) -> list[str]:
    by %= len(items)
    return items[by:] + items[:by]


def run(rounds: int, seconds: int, warmup: int, variants: list[str], stacks: list[Stack]) -> dict[str, object]:
    raw: list[dict[str, object]] = []
    checks: list[dict[str, object]] = []
    started = dt.datetime.now(dt.UTC)
    load_before = os.getloadavg()
    with servers(variants, stacks) as running:
        by_key = {(s.stack.name, s.variant): s for s in running}
        print(f"warming up {len(running)} servers ({warmup} s per route) ...", flush=True)
        for server in running:
            for route in ROUTES:
                run_wrk(server.url(route.path), warmup)
        # The instrumentation check counts from here: what each server recorded before is the baseline.
        baselines = {(s.stack.name, s.variant, r.template): scraped_requests(s, r.template)
                     for s in running for r in ROUTES}
        retries, retry_budget = 0, rounds * len(stacks) * len(ROUTES) * len(variants) // RETRY_BUDGET_DIVISOR
        for rnd in range(rounds):
            for stack in rotated([s.name for s in stacks], rnd):
                for route in ROUTES:
                    for variant in rotated(variants, rnd):
                        row = measured_row(by_key[(stack, variant)], route, seconds, rnd + 1)
                        if row["server_cpu_share"] < DISTURBED_CPU_SHARE and retries < retry_budget:
                            # Something else took core 0: measure again and keep the less disturbed attempt.
                            retries += 1
                            again = measured_row(by_key[(stack, variant)], route, seconds, rnd + 1)
                            worse = min(row, again, key=lambda r: r["server_cpu_share"])
                            raw.append({**worse, "discarded": True})
                            row = again if worse is row else row
                        raw.append(row)
                        print(f"round {rnd + 1}/{rounds} {stack:7} {route.name:22} {variant:14} "
                              f"{row['rps']:9.0f} req/s  p50 {row['p50_us']:7.0f} us  p99 {row['p99_us']:7.0f} us"
                              f"  server cpu {row['server_cpu_share']:4.0%} {row['server_cpu_us_per_request']:6.1f} "
                              f"us/req", flush=True)
        for server in running:
            for route in ROUTES:
                after = scraped_requests(server, route.template)
                before = baselines[(server.stack.name, server.variant, route.template)]
                if after is None or before is None:
                    continue
                counted, completed = after - before, server.served.get(route.path, 0)
                checks.append({"stack": server.stack.name, "variant": server.variant, "route": route.name,
                               "wrk_completed": completed, "instrumentation_counted": counted,
                               "ok": counted >= completed > 0})
    return {
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "retries": retries,
        "raw": raw,
        "instrumentation_check": checks,
    }


def summarize(raw: list[dict[str, object]], variants: list[str], stacks: list[Stack]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for stack in stacks:
        for route in ROUTES:
            cell = [r for r in raw if r["stack"] == stack.name and r["route"] == route.name and not r.get("discarded")]
            bare_by_round = {r["round"]: float(r["rps"]) for r in cell if r["variant"] == "bare"}
            bare_rps = statistics.median(bare_by_round.values()) if bare_by_round else None
            bare_cpu = [float(r["server_cpu_us_per_request"]) for r in cell if r["variant"] == "bare"]
            bare_cpu_us = statistics.median(bare_cpu) if bare_cpu else None
            for variant in variants:
                mine = [r for r in cell if r["variant"] == variant]
                if not mine:
                    continue
                rps = statistics.median(float(r["rps"]) for r in mine)
                paired = [float(r["rps"]) / bare_by_round[r["round"]] for r in mine if r["round"] in bare_by_round]
                cpu_us = statistics.median(float(r["server_cpu_us_per_request"]) for r in mine)
                rows.append({
                    "stack": stack.name, "route": route.name, "variant": variant, "rounds": len(mine),
                    "rps_median": round(rps, 1),
                    "ratio": round(rps / bare_rps, 3) if bare_rps else None,
                    "paired_ratio_median": round(statistics.median(paired), 3) if paired else None,
                    "paired_ratio_min": round(min(paired), 3) if paired else None,
                    "paired_ratio_max": round(max(paired), 3) if paired else None,
                    "p50_us_median": round(statistics.median(float(r["p50_us"]) for r in mine), 1),
                    "p99_us_median": round(statistics.median(float(r["p99_us"]) for r in mine), 1),
                    # time per request at one core: 1/rps; the difference is what instrumentation adds
                    "added_us_per_request": round((1 / rps - 1 / bare_rps) * 1e6, 2) if bare_rps else None,
                    "server_cpu_share_median": round(statistics.median(float(r["server_cpu_share"]) for r in mine), 3),
                    # the same comparison in server CPU time per request: robust when others load core 0
                    "cpu_us_per_request": round(cpu_us, 2),
                    "cpu_ratio": round(bare_cpu_us / cpu_us, 3) if bare_cpu_us else None,
                    "cpu_added_us_per_request": round(cpu_us - bare_cpu_us, 2) if bare_cpu_us else None,
                })
    return rows


def verdict(summary: list[dict[str, object]], stacks: list[Stack]) -> dict[str, object]:
    out: dict[str, object] = {"goal_ratio": GOAL_RATIO}
    for stack in stacks:
        ours = [r for r in summary if r["stack"] == stack.name and r["variant"] == "ours"]
        libs = [r for r in summary if r["stack"] == stack.name and r["variant"] in ("instrumentator", "exporter")]
        if not ours:
            continue
        worst = min(float(r["ratio"]) for r in ours)
        ahead = all(float(o["ratio"]) > float(lib["ratio"]) for o in ours for lib in libs if lib["route"] == o["route"])
        worst_cpu = min(float(r["cpu_ratio"]) for r in ours)
        out[stack.name] = {"ours_worst_ratio": worst, "meets_goal": worst >= GOAL_RATIO, "ahead_of_libraries": ahead,
                           "ours_worst_cpu_ratio": worst_cpu, "meets_goal_by_cpu": worst_cpu >= GOAL_RATIO}
    return out


# --- machine and report ------------------------------------------------------------------------

def machine() -> dict[str, object]:
    cpu_model = machine_cpu_model()
    wrk_version = subprocess.run([WRK, "-v"], capture_output=True, text=True, check=False).stdout.split("\n")[0]
    packages = ("fastapi", "starlette", "uvicorn", "h11", "httptools", "uvloop", "prometheus_client",
                "prometheus-fastapi-instrumentator", "starlette_exporter", "psutil")
    return {
        "nproc": os.cpu_count(),
        "affinity": sorted(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "kernel": platform.release(),
        "hostname": socket.gethostname(),
        "python": platform.python_version(),
        "packages": {p: _version(p) for p in packages},
        "wrk": wrk_version.strip(),
        "shared_machine": True,
    }


def _fmt(value: object, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def markdown(report: dict[str, object]) -> str:
    settings = report["settings"]
    mach = report["machine"]
    lines = [
        "# Instrumentation overhead",
        "",
        f"Run {report['started_at']} .. {report['finished_at']} (UTC). "
        f"{settings['rounds']} interleaved rounds x {settings['duration_s']} s per measurement, "
        f"{settings['warmup_s']} s warm-up; uvicorn 1 worker on core {SERVER_CORE}, "
        f"`wrk -t{THREADS} -c{CONNECTIONS} --latency` on core {CLIENT_CORE}. Medians over rounds. "
        f"{report['retries']} measurements disturbed by other work (server below {DISTURBED_CPU_SHARE:.0%} of core 0) "
        "were repeated once, keeping the less disturbed attempt (both are in the JSON).",
        "",
        f"Machine: {mach['nproc']} CPUs ({mach['cpu_model']}), Linux {mach['kernel']}, Python {mach['python']}, "
        f"{mach['wrk']}. Load average before/after: "
        f"{loadavg_text(report['loadavg_before'], report['loadavg_after'])}.",
        "",
        packages_text(mach["packages"]),
        "",
        f"**Note:** {SHARED_NOTE}",
        "",
        "ratio = median req/s / median bare req/s; paired = per-round variant/bare ratio, median [min-max]; "
        "added = 1/rps - 1/rps_bare (µs of one core per request); server cpu = share of core 0 the server "
        "used while measured (well below 100% means something else ran on core 0); cpu µs/req = server CPU "
        "time per request, cpu ratio = bare's / variant's (the same comparison, far less disturbed by other "
        "work on the machine than req/s).",
        "",
        "| stack | route | variant | req/s | ratio | paired [min-max] | p50 µs | p99 µs | added µs/req | server cpu "
        "| cpu µs/req | cpu ratio |",
        "|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    stack_desc = {s.name: f"{s.name} ({s.http}+{s.loop})" for s in STACKS.values()}
    for r in report["summary"]:
        paired = (f"{_fmt(r['paired_ratio_median'], '.3f')} [{_fmt(r['paired_ratio_min'], '.2f')}-"
                  f"{_fmt(r['paired_ratio_max'], '.2f')}]")
        lines.append(
            f"| {stack_desc[r['stack']]} | `{r['route']}` | {VARIANT_NAMES[r['variant']]} | {r['rps_median']:.0f} | "
            f"{_fmt(r['ratio'], '.3f')} | {paired} | {r['p50_us_median']:.0f} | {r['p99_us_median']:.0f} | "
            f"{_fmt(r['added_us_per_request'], '.1f')} | {r['server_cpu_share_median']:.0%} | "
            f"{r['cpu_us_per_request']:.0f} | {_fmt(r['cpu_ratio'], '.3f')} |")
    lines += ["", f"Goal: ours >= {GOAL_RATIO} of bare on both stacks and ahead of both libraries."]
    for name, v in report["verdict"].items():
        if isinstance(v, dict):
            lines.append(f"- {name}: worst ratio {v['ours_worst_ratio']:.3f} -> "
                         f"{'meets' if v['meets_goal'] else 'MISSES'} the goal; "
                         f"{'ahead of' if v['ahead_of_libraries'] else 'NOT ahead of'} both libraries; "
                         f"by server CPU per request {v['ours_worst_cpu_ratio']:.3f}.")
    bad = [c for c in report["instrumentation_check"] if not c["ok"]]
    lines += ["", "Instrumentation check (each instrumented server's own request counter vs requests wrk completed): "
              + ("all counted." if not bad else f"MISMATCH in {bad}")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instrumentation_overhead", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8, help="interleaved rounds (default 8)")
    parser.add_argument("--duration", type=int, default=2, help="seconds per wrk measurement (default 2)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up seconds per server and route (default 1)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke check: 1 round of 1 s; results go to *-quick.json/.md")
    parser.add_argument("--stacks", default="default,fast", help="comma list of: " + ", ".join(STACKS))
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the results files")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup = 1, 1, 1
    if args.rounds < 1 or args.duration < 1 or args.warmup < 1:
        parser.error("--rounds, --duration and --warmup must be >= 1")
    unknown = [s for s in args.stacks.split(",") if s not in STACKS]
    if unknown:
        parser.error(f"--stacks: unknown {unknown}; expected some of {list(STACKS)}")
    if len(os.sched_getaffinity(0)) < 2 or not {SERVER_CORE, CLIENT_CORE} <= os.sched_getaffinity(0):
        parser.error(f"needs cores {SERVER_CORE} and {CLIENT_CORE} (server and wrk on separate cores)")
    stacks = [STACKS[s] for s in args.stacks.split(",")]
    variants = list(VARIANTS)

    per_measure = args.duration + 0.1
    estimate = args.rounds * len(stacks) * len(ROUTES) * len(variants) * per_measure
    estimate += len(stacks) * len(variants) * (len(ROUTES) * args.warmup + 2)
    print(f"instrumentation overhead: {len(variants)} variants x {len(ROUTES)} routes x {len(stacks)} stacks x "
          f"{args.rounds} rounds x {args.duration} s; about {estimate / 60:.1f} min "
          f"(up to {1 + 1 / RETRY_BUDGET_DIVISOR:.2f}x that when other work disturbs it)", flush=True)

    report: dict[str, object] = {
        "benchmark": "instrumentation_overhead",
        "settings": {"rounds": args.rounds, "duration_s": args.duration, "warmup_s": args.warmup,
                     "wrk": f"-t{THREADS} -c{CONNECTIONS} --latency", "server_core": SERVER_CORE,
                     "client_core": CLIENT_CORE, "quick": args.quick,
                     "stacks": {s.name: {"http": s.http, "loop": s.loop} for s in stacks},
                     "variants": {v: VARIANT_NAMES[v] for v in variants},
                     "routes": {r.name: r.path for r in ROUTES}},
        "machine": machine(),
        "note": SHARED_NOTE,
    }
    report.update(run(args.rounds, args.duration, args.warmup, variants, stacks))
    report["summary"] = summarize(report["raw"], variants, stacks)
    report["verdict"] = verdict(report["summary"], stacks)

    write_results(args.out, "instrumentation_overhead", args.quick, report, markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
