"""Benchmark: HTTP checks per second and CPU per check, our ProbeScheduler vs prometheus-blackbox-exporter.

One nginx (pinned to core 1) serves a small static page. Measured in the same run, interleaved:

- ours, jobs: the real ProbeScheduler started the way `converge-monitor run` starts it (one APScheduler job
  per HttpTarget, short interval), all targets pointing at nginx;
- ours, loop: the same scheduler driven by run_all_once in a tight loop (closed loop, every target at once);
- blackbox: Debian's prometheus-blackbox-exporter, module http_2xx, its /probe endpoint driven by
  wrk -c16 from core 1, as Prometheus would drive it (the ANCHORS setup).

Ours runs in a child process pinned to core 0 (`taskset -c 0`); checks are counted from the monitor's own
converge_monitor_probe_runs_total (every outcome), CPU from the child's own rusage (all its threads, the
store writer included). The exporter is pinned to core 0 as well; its checks are wrk's completed requests,
its CPU from /proc/<pid>/stat. nginx's stub_status cross-checks that every counted check reached nginx.

Run: python -m bench.probe_capacity [--rounds N] [--duration S] [--targets N] [--quick] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.machine import cpu_model as machine_cpu_model
from bench.machine import loadavg_text
from bench.machine import package_version as _version
from bench.report import write_results
from devstack.process import free_port, port_open, wait_until

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
MEASURED_CORE, HELPER_CORE = 0, 1
WRK_CONNECTIONS = 16
VARIANTS = ("ours-jobs", "ours-loop", "blackbox")
VARIANT_NAMES = {
    "ours-jobs": "ours: ProbeScheduler.start() (APScheduler jobs)",
    "ours-loop": "ours: run_all_once in a loop",
    "blackbox": "blackbox_exporter http_2xx (wrk -c16)",
}
# The Debian default index page is 615 bytes; serve a page of that size.
PAGE = ("<!DOCTYPE html>\n<html><head><title>bench</title></head><body>" + "x" * 520 + "</body></html>\n")
SHARED_NOTE = ("The machine was shared with other engineers' work while this ran; absolute checks/s are noisy. "
               "CPU per check and the ratios from interleaved rounds are what count.")
TICKS = os.sysconf("SC_CLK_TCK")


def core_busy_seconds(core: int = MEASURED_CORE) -> float:
    """Busy (non-idle, non-iowait) time of one core so far, from /proc/stat."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{core} "):
            ticks = [int(x) for x in line.split()[1:]]
            return (sum(ticks[:8]) - ticks[3] - ticks[4]) / TICKS
    raise RuntimeError(f"no cpu{core} line in /proc/stat")


# --- nginx (the target) ------------------------------------------------------------------------

@dataclass
class Nginx:
    port: int
    proc: subprocess.Popen[bytes]
    workdir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


def nginx_requests(port: int) -> int:
    """Requests nginx has served so far (stub_status), this status request included."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/nginx_status", timeout=5) as resp:
        text = resp.read().decode()
    match = re.search(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s*$", text, re.M)
    if match is None:
        raise RuntimeError(f"unexpected nginx stub_status output: {text!r}")
    return int(match.group(3))


def start_nginx(workdir: Path) -> Nginx:
    port = free_port()
    www = workdir / "www"
    www.mkdir()
    (www / "index.html").write_text(PAGE)
    # nginx's worker drops root (to nobody/www-data): the page must be readable to it
    for path in (workdir, www, www / "index.html"):
        path.chmod(0o755)
    temp = {name: workdir / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir()
    conf = workdir / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {temp['body']};
    proxy_temp_path {temp['proxy']};
    fastcgi_temp_path {temp['fastcgi']};
    uwsgi_temp_path {temp['uwsgi']};
    scgi_temp_path {temp['scgi']};
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {www};
        location = /nginx_status {{ stub_status; }}
    }}
}}
""")
    cmd = ["taskset", "-c", str(HELPER_CORE), NGINX, "-c", str(conf), "-p", str(workdir), "-e",
           str(workdir / "error.log")]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)  # taskset execs nginx: this PID is the master's
    server = Nginx(port, proc, workdir)
    try:
        wait_until(lambda: proc.poll() is not None or port_open(port), 15, f"nginx on port {port}")
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with {proc.returncode}: {(workdir / 'error.log').read_text()}")
    except BaseException:
        stop_process(proc)
        raise
    return server


def stop_process(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is not None:
        return
    os.kill(proc.pid, sig)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


# --- blackbox_exporter -------------------------------------------------------------------------

@dataclass
class Blackbox:
    port: int
    proc: subprocess.Popen[bytes]

    def probe_url(self, target: str) -> str:
        return f"http://127.0.0.1:{self.port}/probe?module=http_2xx&target={target}"

    def cpu_seconds(self) -> float:
        # utime and stime (fields 14, 15) cover every thread of the process
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS


def start_blackbox(workdir: Path, target: str) -> Blackbox:
    config = workdir / "blackbox.yml"
    config.write_text("modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n")
    port = free_port()
    cmd = ["taskset", "-c", str(MEASURED_CORE), BLACKBOX, f"--config.file={config}",
           f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    bb = Blackbox(port, proc)
    try:
        wait_until(lambda: proc.poll() is not None or port_open(port), 15, f"blackbox_exporter on port {port}")
        if proc.poll() is not None:
            raise RuntimeError(f"blackbox_exporter exited with {proc.returncode} during start")
        with urllib.request.urlopen(bb.probe_url(target), timeout=10) as resp:
            body = resp.read().decode()
        if "probe_success 1" not in body:
            raise RuntimeError(f"blackbox_exporter cannot probe {target}:\n{body}")
    except BaseException:
        stop_process(proc)
        raise
    return bb


def blackbox_version() -> str:
    out = subprocess.run([BLACKBOX, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).split("\n")[0].strip()


# --- wrk ---------------------------------------------------------------------------------------

# Counts probe outcomes from the exporter's answers (it answers 200 even when the probe failed).
WRK_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; bad = 0 end
function response(status, headers, body)
  if status == 200 and string.find(body, "probe_success 1", 1, true) then ok = ok + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local o, b = 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); b = b + t:get("bad") end
  io.write(string.format("PROBES ok %d bad %d\\n", o, b))
end
"""


@dataclass
class WrkResult:
    requests: int
    seconds: float
    socket_errors: int
    probes_ok: int
    probes_bad: int


def parse_wrk(output: str) -> WrkResult:
    total = re.search(r"^\s+(\d+) requests in ([\d.]+)(us|ms|s|m)", output, re.M)
    probes = re.search(r"^PROBES ok (\d+) bad (\d+)", output, re.M)
    if not (total and probes):
        raise ValueError(f"unexpected wrk output (need 'requests in' and the PROBES line):\n{output}")
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[total.group(3)]
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return WrkResult(requests=int(total.group(1)), seconds=float(total.group(2)) * scale,
                     socket_errors=sum(int(g) for g in errors.groups()) if errors else 0,
                     probes_ok=int(probes.group(1)), probes_bad=int(probes.group(2)))


def run_wrk(url: str, seconds: float, script: Path) -> WrkResult:
    cmd = ["taskset", "-c", str(HELPER_CORE), WRK, "-t1", f"-c{WRK_CONNECTIONS}", f"-d{seconds:g}s",
           "-s", str(script), url]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}) on {url}: {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


# --- one measurement ---------------------------------------------------------------------------

@dataclass
class Measurement:
    variant: str
    round: int
    seconds: float
    checks: int
    ok: int
    cpu_s: float
    nginx_requests: int
    core_busy_s: float  # everything that ran on the measured core meanwhile, ours or not
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def checks_per_s(self) -> float:
        return self.checks / self.seconds

    @property
    def cpu_per_1000(self) -> float:
        return self.cpu_s / self.checks * 1000 if self.checks else float("inf")

    @property
    def checks_per_cpu_s(self) -> float:
        return self.checks / self.cpu_s if self.cpu_s else 0.0

    def row(self) -> dict[str, Any]:
        return {**asdict(self), "checks_per_s": round(self.checks_per_s, 1),
                "cpu_s_per_1000": round(self.cpu_per_1000, 4), "checks_per_cpu_s": round(self.checks_per_cpu_s, 1),
                "cpu_share": round(self.cpu_s / self.seconds, 3), "others_share": round(self.others_share, 3)}

    @property
    def others_share(self) -> float:
        """Share of the measured core that other processes used while this was measured."""
        return max(0.0, self.core_busy_s - self.cpu_s) / self.seconds


def measure_blackbox(bb: Blackbox, nginx: Nginx, seconds: float, script: Path, rnd: int) -> Measurement:
    before_n, before_cpu, before_core = nginx_requests(nginx.port), bb.cpu_seconds(), core_busy_seconds()
    result = run_wrk(bb.probe_url(nginx.url), seconds, script)
    cpu, core = bb.cpu_seconds() - before_cpu, core_busy_seconds() - before_core
    served = nginx_requests(nginx.port) - before_n - 1  # minus our own first status request
    if result.socket_errors:
        raise RuntimeError(f"wrk saw {result.socket_errors} socket errors against blackbox_exporter")
    return Measurement("blackbox", rnd, result.seconds, result.requests, result.probes_ok, cpu, served, core,
                       {"ok": result.probes_ok, "failed": result.probes_bad})


@dataclass
class OursSettings:
    targets: int
    interval: float
    store: str  # "file" or "memory"


def measure_ours(mode: str, nginx: Nginx, seconds: float, settings: OursSettings, rnd: int,
                 profile_to: Path | None = None) -> tuple[Measurement, dict[str, Any]]:
    """Run one measurement of our scheduler in a fresh child pinned to the measured core."""
    cmd = ["taskset", "-c", str(MEASURED_CORE), sys.executable, "-m", "bench.probe_capacity", "--worker", mode,
           "--target-url", nginx.url, "--targets", str(settings.targets), "--interval", str(settings.interval),
           "--duration", str(seconds), "--store", settings.store]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    spy: subprocess.Popen[str] | None = None
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        if ready.strip() != "measuring":
            proc.wait(timeout=30)
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"ours ({mode}) worker failed to start: {ready}{err}")
        if profile_to is not None:
            spy = subprocess.Popen(["taskset", "-c", str(HELPER_CORE), PY_SPY, "record", "--pid", str(proc.pid),
                                    "--threads", "-r", "200", "-f", "raw", "-d", str(max(1, int(seconds))),
                                    "-o", str(profile_to)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   text=True)
        out, err = proc.communicate(timeout=seconds + 120)
        if spy is not None:
            spy.wait(timeout=60)
    finally:
        stop_process(proc)
        if spy is not None:
            stop_process(spy)
    if proc.returncode != 0:
        raise RuntimeError(f"ours ({mode}) worker exited with {proc.returncode}:\n{err[-3000:]}")
    data = json.loads(out.strip().splitlines()[-1])
    outcomes = {k: int(v) for k, v in data["outcomes"].items()}
    m = Measurement(f"ours-{mode}", rnd, data["seconds"], sum(outcomes.values()), outcomes.get("ok", 0),
                    data["cpu_s"], data["nginx_requests"], data["core_busy_s"], outcomes)
    return m, data["versions"]


# --- the worker: our scheduler, in the pinned child --------------------------------------------

def _runs_by_outcome(registry: Any) -> dict[str, float]:
    counts: dict[str, float] = {}
    for family in registry.collect():
        if family.name != "converge_monitor_probe_runs":  # the parser drops the _total suffix
            continue
        for sample in family.samples:
            if sample.name == "converge_monitor_probe_runs_total":
                outcome = sample.labels["outcome"]
                counts[outcome] = counts.get(outcome, 0.0) + sample.value
    return counts


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return usage.ru_utime + usage.ru_stime


async def _worker(mode: str, url: str, n: int, interval: float, seconds: float, store_kind: str) -> dict[str, Any]:
    from monitor.core.targets import HttpTarget
    from monitor.scheduler import ProbeScheduler
    from monitor.store.sqlite import SqliteStore

    port = int(url.rsplit(":", 1)[1].strip("/"))
    with tempfile.TemporaryDirectory(prefix="probe-capacity-") as tmp:
        store = SqliteStore(":memory:" if store_kind == "memory" else os.path.join(tmp, "monitor.db"), 86400.0)
        # jobs: every target on the short interval (timeout = interval); loop: run_all_once ignores intervals,
        # so targets keep the default 5 s timeout and a slow cycle is not turned into timeouts by the bench
        timing = {"interval": interval, "timeout": interval} if mode == "jobs" else {}
        targets = [HttpTarget(name=f"bench-{i:04d}", url=url, **timing) for i in range(n)]
        scheduler = ProbeScheduler(targets, store)
        try:
            if mode == "jobs":
                scheduler.start()
                await asyncio.sleep(max(2.0, 2 * interval))  # first runs open the connections
            else:
                await scheduler.run_all_once()
            print("measuring", flush=True)
            before, cpu0, nginx0, core0 = _runs_by_outcome(scheduler.metrics.registry), _cpu(), nginx_requests(port), \
                core_busy_seconds()
            t0 = time.monotonic()
            if mode == "jobs":
                await asyncio.sleep(seconds)
            else:
                while time.monotonic() - t0 < seconds:
                    await scheduler.run_all_once()
            t1 = time.monotonic()
            after, cpu1, nginx1, core1 = _runs_by_outcome(scheduler.metrics.registry), _cpu(), nginx_requests(port), \
                core_busy_seconds()
        finally:
            await scheduler.shutdown(timeout=0.5)
            store.close()
    versions = {p: _version(p) for p in ("httpx", "httpcore", "anyio", "h11", "apscheduler", "prometheus_client",
                                          "sniffio")}
    return {"seconds": t1 - t0, "cpu_s": cpu1 - cpu0, "nginx_requests": nginx1 - nginx0 - 1,
            "core_busy_s": core1 - core0,
            "outcomes": {k: after[k] - before.get(k, 0.0) for k in after if after[k] - before.get(k, 0.0)},
            "versions": {"python": platform.python_version(), **versions}}


def worker_main(args: argparse.Namespace) -> int:
    # A saturated scheduler skips runs and cancels probes at shutdown; those logs are expected noise here.
    logging.basicConfig(level=logging.CRITICAL)
    result = asyncio.run(_worker(args.worker, args.target_url, args.targets, args.interval, args.duration, args.store))
    print(json.dumps(result), flush=True)
    return 0


# --- the run -----------------------------------------------------------------------------------

def rotated(items: list[str], by: int) -> list[str]:
    by %= len(items)
    return items[by:] + items[:by]


@contextlib.contextmanager
def target_and_exporter(workdir: Path) -> Iterator[tuple[Nginx, Blackbox]]:
    nginx = start_nginx(workdir)
    try:
        bb = start_blackbox(workdir, nginx.url)
        try:
            yield nginx, bb
        finally:
            stop_process(bb.proc)
    finally:
        stop_process(nginx.proc, signal.SIGQUIT)  # graceful: the master waits for its worker


def run(rounds: int, seconds: float, settings: OursSettings, variants: list[str], profile: bool) -> dict[str, Any]:
    raw: list[Measurement] = []
    versions: dict[str, Any] = {}
    profile_summary: dict[str, Any] | None = None
    started = dt.datetime.now(dt.UTC)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="probe-capacity-") as tmp:
        workdir = Path(tmp)
        script = workdir / "count_probes.lua"
        script.write_text(WRK_SCRIPT)
        with target_and_exporter(workdir) as (nginx, bb):
            if "blackbox" in variants:
                run_wrk(bb.probe_url(nginx.url), 1, script)  # warm-up
            for rnd in range(1, rounds + 1):
                for variant in rotated(variants, rnd - 1):
                    if variant == "blackbox":
                        m = measure_blackbox(bb, nginx, seconds, script, rnd)
                    else:
                        m, versions = measure_ours(variant.removeprefix("ours-"), nginx, seconds, settings, rnd)
                    raw.append(m)
                    print(f"round {rnd}/{rounds} {variant:10} {m.checks_per_s:8.0f} checks/s  "
                          f"{m.cpu_per_1000:7.3f} cpu s/1000  {m.checks_per_cpu_s:7.0f} checks/cpu s  "
                          f"core share {m.cpu_s / m.seconds:4.0%} (others {m.others_share:4.0%})  "
                          f"ok {m.ok}/{m.checks}  nginx {m.nginx_requests}",
                          flush=True)
            if profile and shutil.which(PY_SPY) is not None:
                raw_profile = workdir / "ours.prof.txt"
                print("profiling ours-jobs with py-spy ...", flush=True)
                measure_ours("jobs", nginx, seconds, settings, 0, profile_to=raw_profile)
                if raw_profile.exists():
                    profile_summary = summarize_profile(raw_profile.read_text())
    return {"started_at": started.isoformat(timespec="seconds"),
            "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
            "raw": [m.row() for m in raw], "ours_versions": versions, "profile": profile_summary,
            "_measurements": raw}


# Frames every sample has (runner, event loop, thread plumbing): they say nothing about where time goes.
_PLUMBING = re.compile(r"<frozen |asyncio/|threading\.py|concurrent/futures/|bench/probe_capacity\.py"
                       r"|^thread \(|^process ")


def summarize_profile(text: str, top: int = 25) -> dict[str, Any]:
    """Share of busy samples per frame (inclusive), from py-spy's raw (collapsed stack) output.

    Samples of the store writer waiting for work (leaf: the executor's _worker) are idle, not busy.
    """
    inclusive: dict[str, int] = {}
    total = idle = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        if frames[-1].startswith("_worker (") and "concurrent/futures/thread.py" in frames[-1]:
            idle += int(count)
            continue
        total += int(count)
        for frame in set(frames):
            if not _PLUMBING.search(frame):
                inclusive[frame] = inclusive.get(frame, 0) + int(count)
    ranked = sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]
    return {"busy_samples": total, "idle_writer_samples": idle,
            "inclusive_top": [{"frame": f, "share": round(n / total, 3)} for f, n in ranked] if total else []}


def summarize(raw: list[Measurement], variants: list[str]) -> dict[str, Any]:
    rows: dict[str, dict[str, Any]] = {}
    for variant in variants:
        mine = [m for m in raw if m.variant == variant]
        if not mine:
            continue
        checks = sum(m.checks for m in mine)
        rows[variant] = {
            "rounds": len(mine),
            "checks_per_s": round(statistics.median(m.checks_per_s for m in mine), 1),
            "cpu_s_per_1000": round(statistics.median(m.cpu_per_1000 for m in mine), 4),
            "checks_per_cpu_s": round(statistics.median(m.checks_per_cpu_s for m in mine), 1),
            "core_share": round(statistics.median(m.cpu_s / m.seconds for m in mine), 3),
            "others_share": round(statistics.median(m.others_share for m in mine), 3),
            "ok_fraction": round(sum(m.ok for m in mine) / checks, 4) if checks else None,
            "nginx_served_fraction": round(sum(m.nginx_requests for m in mine) / checks, 4) if checks else None,
        }
    bb = rows.get("blackbox")
    for variant, row in rows.items():
        if bb is None or variant == "blackbox":
            continue
        row["ratio_checks_per_cpu_s"] = round(row["checks_per_cpu_s"] / bb["checks_per_cpu_s"], 4)
        row["ratio_checks_per_s"] = round(row["checks_per_s"] / bb["checks_per_s"], 4)
        # per round, against the blackbox measurement of the same round: robust to drifting load
        bb_by_round = {m.round: m.checks_per_cpu_s for m in raw if m.variant == "blackbox"}
        paired = [m.checks_per_cpu_s / bb_by_round[m.round] for m in raw
                  if m.variant == variant and bb_by_round.get(m.round)]
        if paired:
            row["paired_ratio_median"] = round(statistics.median(paired), 4)
            row["paired_ratio_min"] = round(min(paired), 4)
            row["paired_ratio_max"] = round(max(paired), 4)
    return rows


# --- machine and report ------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    cpu_model = machine_cpu_model()
    nginx_v = subprocess.run([NGINX, "-v"], capture_output=True, text=True, check=False).stderr.strip()
    wrk_v = subprocess.run([WRK, "-v"], capture_output=True, text=True, check=False).stdout.split("\n")[0].strip()
    return {"nproc": os.cpu_count(), "cpu_model": cpu_model, "kernel": platform.release(),
            "hostname": socket.gethostname(), "python": platform.python_version(),
            "blackbox_exporter": blackbox_version(), "nginx": nginx_v, "wrk": wrk_v, "shared_machine": True}


def _fmt(value: Any, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def markdown(report: dict[str, Any]) -> str:
    s, mach, summary = report["settings"], report["machine"], report["summary"]
    vers = report.get("ours_versions") or {}
    lines = [
        "# Probe capacity: our scheduler vs blackbox_exporter",
        "",
        f"Run {report['started_at']} .. {report['finished_at']} (UTC). {s['rounds']} interleaved rounds x "
        f"{s['duration_s']:g} s per measurement; medians over rounds. Everything measured runs on core "
        f"{MEASURED_CORE}; nginx {mach['nginx'].removeprefix('nginx version: ')} (1 worker, static {len(PAGE)}-byte "
        f"page) and wrk on core {HELPER_CORE}.",
        "",
        f"- ours: the real `ProbeScheduler` with {s['targets']} `HttpTarget`s on nginx, store: SQLite "
        f"{'in memory' if s['store'] == 'memory' else 'temp file'}, default asyncio loop (as `converge-monitor run`). "
        f"jobs = `start()` as `converge-monitor run` does, every target on interval {s['interval_s']:g} s with "
        f"timeout {s['interval_s']:g} s (offered {s['targets'] / s['interval_s']:.0f} checks/s); loop = "
        "`run_all_once()` back to back (all targets at once, default 5 s timeout). Checks from "
        "`converge_monitor_probe_runs_total` (all outcomes), CPU from the process's own rusage (all threads).",
        f"- blackbox: {mach['blackbox_exporter']}, module `http_2xx`, `/probe` driven by "
        f"`wrk -t1 -c{WRK_CONNECTIONS}`; checks = wrk's completed requests, CPU from /proc/<pid>/stat.",
        "",
        f"Machine: {mach['nproc']} CPUs ({mach['cpu_model']}), Linux {mach['kernel']}, Python {mach['python']}, "
        f"{mach['wrk']}; " + ", ".join(f"{k} {v}" for k, v in vers.items() if k != "python") + ". Load average "
        f"before/after: {loadavg_text(report['loadavg_before'], report['loadavg_after'])}.",
        "",
        f"**Note:** {SHARED_NOTE}",
        "",
        "| variant | checks/s | CPU s per 1,000 checks | checks per CPU s | ratio (checks per CPU s, ours / blackbox) "
        "| paired ratio [min-max] | core share | others on core | checks ok | reached nginx |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for variant, r in summary.items():
        paired = (f"{r['paired_ratio_median']:.3f} [{r['paired_ratio_min']:.3f}-{r['paired_ratio_max']:.3f}]"
                  if "paired_ratio_median" in r else "")
        ratio = _fmt(r.get("ratio_checks_per_cpu_s"), ".3f") if variant != "blackbox" else "1 (reference)"
        lines.append(f"| {VARIANT_NAMES[variant]} | {r['checks_per_s']:.0f} | {r['cpu_s_per_1000']:.3f} | "
                     f"{r['checks_per_cpu_s']:.0f} | {ratio} | {paired} | {r['core_share']:.0%} | "
                     f"{r['others_share']:.0%} | "
                     f"{_fmt(r['ok_fraction'], '.1%')} | {_fmt(r['nginx_served_fraction'], '.1%')} |")
    lines += ["",
              "core share = CPU time of the measured process / wall time (near 100%: it was the bottleneck). "
              f"others on core = CPU time other processes used on core {MEASURED_CORE} meanwhile / wall time (other "
              "engineers' work; high values make checks/s and, less so, CPU per check noisy). checks ok = share of "
              "counted checks that passed (a check our own overload made time out counts, as failed). reached "
              "nginx = requests nginx served / checks counted.",
              "",
              "Goal (ANCHORS): at least as many checks per CPU second as blackbox_exporter (ratio >= 1)."]
    for variant, r in summary.items():
        if "ratio_checks_per_cpu_s" in r:
            verdict = "meets" if r["ratio_checks_per_cpu_s"] >= 1 else "MISSES"
            lines.append(f"- {VARIANT_NAMES[variant]}: {r['ratio_checks_per_cpu_s']:.3f} -> {verdict} the goal "
                         f"({1 / r['ratio_checks_per_cpu_s']:.1f}x the exporter's CPU per check).")
    if report.get("profile"):
        lines += ["", f"Profile of one extra ours-jobs measurement (py-spy from core {HELPER_CORE}, "
                      f"{report['profile']['busy_samples']} busy samples; share of busy samples with the frame on "
                      "the stack, all threads):", ""]
        lines += [f"- {p['share']:.0%} `{p['frame']}`" for p in report["profile"]["inclusive_top"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.probe_capacity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement (default 10)")
    parser.add_argument("--targets", type=int, default=200, help="HttpTargets in our scheduler (default 200)")
    parser.add_argument("--interval", type=float, default=1.0,
                        help="jobs variant: interval (and timeout) of every target, seconds (default 1)")
    parser.add_argument("--store", choices=("file", "memory"), default="file",
                        help="our SQLite store: a temp file (default, what the monitor uses) or :memory:")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma list of: " + ", ".join(VARIANTS))
    parser.add_argument("--quick", action="store_true",
                        help="smoke check: 1 round of 3 s; results go to probe_capacity-quick.json/.md")
    parser.add_argument("--profile", action="store_true",
                        help="also profile one ours-jobs measurement with py-spy (attached from core 1)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the results files")
    parser.add_argument("--worker", choices=("jobs", "loop"), help=argparse.SUPPRESS)
    parser.add_argument("--target-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args)
    if args.quick:
        args.rounds, args.duration = 1, 3.0
    if args.rounds < 1 or args.duration < 1 or args.targets < 1 or args.interval <= 0:
        parser.error("--rounds and --targets must be >= 1, --duration >= 1 s, --interval > 0")
    variants = args.variants.split(",")
    if unknown := [v for v in variants if v not in VARIANTS]:
        parser.error(f"--variants: unknown {unknown}; expected some of {list(VARIANTS)}")
    if not {MEASURED_CORE, HELPER_CORE} <= os.sched_getaffinity(0):
        parser.error(f"needs cores {MEASURED_CORE} and {HELPER_CORE} (measured process and load on separate cores)")
    for binary, package in ((NGINX, "nginx-light"), (BLACKBOX, "prometheus-blackbox-exporter"), (WRK, "wrk")):
        if not os.access(binary, os.X_OK):
            parser.error(f"{binary} not found: apt-get install {package}")

    settings = OursSettings(args.targets, args.interval, args.store)
    estimate = args.rounds * len(variants) * (args.duration + 3) + 5
    print(f"probe capacity: {', '.join(variants)} x {args.rounds} rounds x {args.duration:g} s; "
          f"about {estimate / 60:.1f} min", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "benchmark": "probe_capacity",
        "settings": {"rounds": args.rounds, "duration_s": args.duration, "targets": args.targets,
                     "interval_s": args.interval, "store": args.store, "quick": args.quick, "variants": variants,
                     "measured_core": MEASURED_CORE, "helper_core": HELPER_CORE,
                     "wrk": f"-t1 -c{WRK_CONNECTIONS}", "page_bytes": len(PAGE)},
        "machine": machine(),
        "note": SHARED_NOTE,
    }
    report.update(run(args.rounds, args.duration, settings, variants, args.profile))
    measurements = report.pop("_measurements")
    report["summary"] = summarize(measurements, variants)

    write_results(args.out, "probe_capacity", args.quick, report, markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
