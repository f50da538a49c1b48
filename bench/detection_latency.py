"""Benchmark: API down -> notification received, converge-monitor (event mode) vs Prometheus + blackbox + Alertmanager.

One real Converge API (devstack ApiServer on a private PostgreSQL and Redis, migrated and seeded) is watched
at the same time by:

- ours: `converge-monitor run` on the shipped monitor.yml, as `make demo` runs it, with only these additions:
  an event window around today (so the event-mode values monitor.yml and the rule catalog ship apply: the
  api-health target's event_interval, ApiDown's event `for`/`keep_firing_for`, the event evaluation interval),
  a webhook channel to a local recorder and routing of every tier to it. Nothing is tuned for the benchmark.
- the standard pipeline, Debian's binaries with common settings: prometheus-blackbox-exporter (module
  http_2xx as Debian ships it) probing the API's /health; Prometheus (scrape 15 s, evaluation 15 s, rule
  `probe_success == 0` with `for: 1m`); Alertmanager (group_by alertname, group_wait 30 s, group_interval 5m,
  webhook receiver with send_resolved) posting to the same recorder.

A trial: both pipelines see the API healthy; after a random 0-15 s pause (so the fault lands at any phase of
the 15 s scrape/evaluation grid) the API process is SIGKILLed (t0). It stays down until both firing
notifications have arrived, then it is restarted; recovery (t1) is the first 200 from its /health. Measured:
t0 -> firing notification received and t1 -> resolved notification received, for each pipeline.

Each trial gets a fresh Prometheus and Alertmanager (blackbox is stateless and shared), as on the first
incident of a day: Alertmanager's state from one trial would otherwise change the next one's timing. The
Prometheus resolved notification waits for Alertmanager's next group_interval tick, ~5 min after the firing
one. So that the run stays bounded, these waits overlap the next trials: once the trial's Prometheus has
delivered the resolved alert to its Alertmanager it is stopped, and that Alertmanager keeps running until it
has sent the resolved notification. Waiting stops at the time budget (--budget, from the start of the run);
a resolved notification still outstanding then is reported as "not waited" with its time by construction
(the first group_interval tick after Alertmanager received the resolve). Every waited one is compared with
that prediction too.

Run: python -m bench.detection_latency [--trials N] [--budget S] [--quick] [--seed N]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import yaml

from bench.report import write_results
from devstack import ApiServer, PrivateAlertmanager, PrivatePrometheus, free_port
from devstack.monitor import MonitorServer
from devstack.postgres import _pg_bindir
from devstack.process import ChildServer, find_binary
from devstack.stack import PrivateStack, Seed
from monitor.scheduler import RECHECK_DELAY

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
MONITOR_YML = REPO / "monitor.yml"
ALERT = "ApiDown"
ATTENDEES = 50
# The standard pipeline's settings (ANCHORS.md, "Detection latency of the standard Prometheus pipeline").
SCRAPE_S, EVAL_S, FOR = 15, 15, "1m"
GROUP_WAIT, GROUP_INTERVAL_S, REPEAT = "30s", 300, "4h"
FIRING_GOAL_S, RESOLVED_GOAL_S = 5.0, 10.0  # medians, event mode (issue 15)
FAULT_PHASE_MAX_S = 15.0  # the random pause before the fault spans one scrape/evaluation period
OURS_FIRE_TIMEOUT, PROM_FIRE_TIMEOUT, OURS_RESOLVE_TIMEOUT, PROM_HANDOFF_TIMEOUT = 90.0, 240.0, 120.0, 90.0
SHARED_NOTE = ("The machine is shared with other engineers' work (see the load averages). Latencies here are "
               "dominated by check intervals and `for` durations, not CPU, so they move little with load.")


# --- the recorder: where both pipelines' webhooks land --------------------------------------------

@dataclass(frozen=True)
class Received:
    at: float  # time.time() when the request body was read
    path: str
    status: str  # the payload's firing/resolved
    alertnames: tuple[str, ...]
    starts_at: tuple[str, ...]


class Recorder:
    """A webhook receiver on 127.0.0.1 in a thread of this process: records every Alertmanager-format POST."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                at = time.time()
                try:
                    doc = json.loads(body)
                    alerts = doc.get("alerts") or []
                    item = Received(at, self.path, str(doc.get("status")),
                                    tuple(str(a.get("labels", {}).get("alertname")) for a in alerts),
                                    tuple(str(a.get("startsAt")) for a in alerts))
                except (ValueError, AttributeError):
                    item = Received(at, self.path, "unparsable", (), ())
                with outer._lock:
                    outer.received.append(item)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def first(self, path: str, status: str, after: float) -> Received | None:
        with self._lock:
            for r in self.received:
                if r.path == path and r.status == status and ALERT in r.alertnames and r.at >= after:
                    return r
        return None

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# --- the standard pipeline ------------------------------------------------------------------------

class Blackbox(ChildServer):
    """Debian's prometheus-blackbox-exporter with the http_2xx module as /etc/prometheus/blackbox.yml has it."""

    name = "blackbox_exporter"

    def __init__(self, workdir: Path) -> None:
        self.binary = find_binary("prometheus-blackbox-exporter", "prometheus-blackbox-exporter",
                                  extra_dirs=("/usr/bin",))
        super().__init__(free_port(), workdir / "blackbox.log")
        self.config_file = workdir / "blackbox.yml"
        self.config_file.write_text("modules:\n  http_2xx:\n    prober: http\n")

    def start(self, timeout: float = 30) -> None:
        self._spawn([self.binary, f"--config.file={self.config_file}", f"--web.listen-address=127.0.0.1:{self.port}",
                     "--log.level=warn"], timeout=timeout)


def prometheus_config(blackbox_port: int, health_url: str, alertmanager_port: int) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": f"{SCRAPE_S}s", "evaluation_interval": f"{EVAL_S}s"},
        "rule_files": ["rules.yml"],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]},
        "scrape_configs": [{
            "job_name": "blackbox", "metrics_path": "/probe", "params": {"module": ["http_2xx"]},
            "static_configs": [{"targets": [health_url]}],
            "relabel_configs": [  # the blackbox README's standard relabelling
                {"source_labels": ["__address__"], "target_label": "__param_target"},
                {"source_labels": ["__param_target"], "target_label": "instance"},
                {"target_label": "__address__", "replacement": f"127.0.0.1:{blackbox_port}"},
            ],
        }],
    }


RULES = yaml.safe_dump({"groups": [{"name": "converge", "rules": [{
    "alert": ALERT, "expr": "probe_success == 0", "for": FOR, "labels": {"severity": "critical"},
    "annotations": {"summary": "{{ $labels.instance }} is down"}}]}]}, sort_keys=False)


def alertmanager_config(webhook_url: str) -> dict[str, Any]:
    return {
        "route": {"receiver": "webhook", "group_by": ["alertname"], "group_wait": GROUP_WAIT,
                  "group_interval": f"{GROUP_INTERVAL_S // 60}m", "repeat_interval": REPEAT},
        "receivers": [{"name": "webhook", "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}],
    }


@dataclass
class Pipeline:
    trial: int
    prometheus: PrivatePrometheus
    alertmanager: PrivateAlertmanager
    path: str  # the recorder path its Alertmanager posts to

    def stop(self) -> None:
        self.prometheus.cleanup()
        self.alertmanager.cleanup()


def start_pipeline(trial: int, blackbox: Blackbox, health_url: str, recorder: Recorder) -> Pipeline:
    path = f"/prometheus/{trial}"
    am = PrivateAlertmanager(alertmanager_config(recorder.url + path))
    am.start()
    prom = PrivatePrometheus(prometheus_config(blackbox.port, health_url, am.port), rule_files={"rules.yml": RULES})
    try:
        prom.start()
    except BaseException:
        am.cleanup()
        raise
    return Pipeline(trial, prom, am, path)


def _rfc3339(text: str) -> float:
    """Prometheus' and Alertmanager's timestamps carry nanoseconds; Python parses at most microseconds."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00")
    return dt.datetime.fromisoformat(text).timestamp()


def last_rule_evaluation(prom: PrivatePrometheus) -> float:
    groups = httpx.get(f"{prom.url}/api/v1/rules", timeout=5).json()["data"]["groups"]
    stamps = [_rfc3339(g["lastEvaluation"]) for g in groups if not g["lastEvaluation"].startswith("0001")]
    return max(stamps, default=0.0)


def raw_samples(prom: PrivatePrometheus, selector: str, window_s: int) -> list[tuple[float, float]]:
    """The stored samples of a series over the last `window_s` (a range-vector instant query)."""
    result = prom.query(f"{selector}[{window_s}s]")
    return [(float(t), float(v)) for t, v in result[0]["values"]] if result else []


def alertmanager_has(pipe: Pipeline) -> bool:
    """Whether Alertmanager holds the alert as active (its API leaves resolved alerts out)."""
    return any(a.get("labels", {}).get("alertname") == ALERT for a in pipe.alertmanager.alerts())


# --- ours -----------------------------------------------------------------------------------------

def monitor_config(workdir: Path, webhook_url: str) -> Path:
    """The shipped monitor.yml plus an event window around today, a webhook channel and routing to it."""
    config = yaml.safe_load(MONITOR_YML.read_text())
    tz = config.get("event", {}).get("timezone", "America/Los_Angeles")
    today = dt.datetime.now(ZoneInfo(tz)).date()
    config["event"] = {"start": str(today - dt.timedelta(days=1)), "end": str(today + dt.timedelta(days=1)),
                       "timezone": tz}
    config["channels"] = {"webhook": {"url": webhook_url}}
    config["routing"] = {tier: ["webhook"] for tier in ("critical", "high", "medium", "low", "advisory")}
    path = workdir / "monitor.yml"  # relative paths in it (disks: ".") now mean workdir
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def shipped_event_values() -> dict[str, Any]:
    """What monitor.yml and the rule catalog ship for event mode, recorded with the results."""
    from alerts.rules import DEFAULT_RULE_DATA

    config = yaml.safe_load(MONITOR_YML.read_text())
    target = next(t for t in config["targets"]["http"] if t["name"] == "api-health")
    rule = next(r for r in DEFAULT_RULE_DATA if r["name"] == ALERT)
    return {"api_health_interval": target.get("interval"), "api_health_event_interval": target.get("event_interval"),
            "api_health_timeout": target.get("timeout"), "rule_for": rule["for"],
            "rule_keep_firing_for": rule.get("keep_firing_for"), "rule_event": rule.get("event"),
            "evaluation_interval": config["alerting"].get("evaluation_interval"),
            "event_evaluation_interval": config["alerting"].get("event_evaluation_interval")}


def http_up(monitor: MonitorServer) -> dict[str, Any] | None:
    for s in monitor.signals():
        if s["signal"] == "http_up" and s["labels"].get("target") == "api-health":
            return s
    return None


def ours_alert_active(monitor: MonitorServer) -> bool:
    alerts = httpx.get(f"{monitor.url}/api/alerts", timeout=5).json()["alerts"]
    return any(a.get("rule") == ALERT for a in alerts)


# --- the target -----------------------------------------------------------------------------------

def health_ok(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def kill_api(api: ApiServer) -> float:
    """SIGKILL the API process; returns t0, the moment of the kill."""
    pid = api.pid
    if pid is None:
        raise RuntimeError("the API is not running")
    t0 = time.time()
    os.kill(pid, signal.SIGKILL)
    api.stop()  # reaps the dead child, waits for the port to close, closes its log
    return t0


def restart_api(api: ApiServer) -> float:
    """Start the API again; returns t1, the first time its /health answers 200."""
    api.start(timeout=60)
    wait(lambda: health_ok(api.url), 60, "the API's /health after the restart", every=0.05)
    return time.time()


def wait(check: Callable[[], bool], timeout: float, what: str, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def _safe(check: Callable[[], bool]) -> Callable[[], bool]:
    def run() -> bool:
        try:
            return check()
        except (httpx.HTTPError, KeyError, ValueError):
            return False
    return run


# --- a trial --------------------------------------------------------------------------------------

@dataclass
class Trial:
    trial: int
    pause_s: float  # random pause between steady state and the fault
    t0: float = 0.0
    t1: float | None = None
    ours_first_failed_check: float | None = None  # timestamp of the first http_up=0 observation
    ours_fired_at: str | None = None  # the alert's startsAt in our webhook payload
    ours_firing_at: float | None = None  # received by the recorder
    ours_resolved_at: float | None = None
    prom_first_failed_probe: float | None = None  # first stored probe_success 0 sample
    prom_rule_fired: float | None = None  # first ALERTS{alertstate="firing"} sample: the evaluation that fired
    prom_firing_at: float | None = None
    prom_resolve_handed_over: float | None = None  # Alertmanager no longer lists the alert as active
    prom_resolved_at: float | None = None
    prom_resolved_predicted: float | None = None  # the first group_interval tick after the hand-over
    prom_resolve_waited: bool = False
    notes: list[str] = field(default_factory=list)

    def since_t0(self, at: float | None) -> float | None:
        return None if at is None else round(at - self.t0, 2)

    def since_t1(self, at: float | None) -> float | None:
        return None if at is None or self.t1 is None else round(at - self.t1, 2)

    def row(self) -> dict[str, Any]:
        return {
            "trial": self.trial, "pause_s": round(self.pause_s, 2),
            "ours_fault_to_firing_s": self.since_t0(self.ours_firing_at),
            "prom_fault_to_firing_s": self.since_t0(self.prom_firing_at),
            "ours_recovery_to_resolved_s": self.since_t1(self.ours_resolved_at),
            "prom_recovery_to_resolved_s": self.since_t1(self.prom_resolved_at),
            "prom_recovery_to_resolved_predicted_s": self.since_t1(self.prom_resolved_predicted),
            "prom_resolve_waited": self.prom_resolve_waited,
            "down_s": None if self.t1 is None else round(self.t1 - self.t0, 2),
            "ours_first_failed_check_s": self.since_t0(self.ours_first_failed_check),
            "prom_first_failed_probe_s": self.since_t0(self.prom_first_failed_probe),
            "prom_rule_fired_s": self.since_t0(self.prom_rule_fired),
            "prom_resolve_handed_over_s": self.since_t1(self.prom_resolve_handed_over),
            "notes": self.notes,
        }


def steady(monitor: MonitorServer, pipe: Pipeline) -> None:
    """Both pipelines see the API up: ours has a passing check and no alert; Prometheus scraped a passing
    probe and evaluated its rule after that."""
    wait(_safe(lambda: (http_up(monitor) or {}).get("value") == 1 and not ours_alert_active(monitor)), 120,
         "converge-monitor to see the API up with no ApiDown alert")
    wait(_safe(lambda: any(s[1] == 1 for s in raw_samples(pipe.prometheus, "probe_success", 60))), 60,
         "Prometheus to scrape a passing probe")
    scraped = raw_samples(pipe.prometheus, "probe_success", 60)[-1][0]
    wait(_safe(lambda: last_rule_evaluation(pipe.prometheus) > scraped), 60,
         "Prometheus to evaluate its rule after the first passing probe")


def run_trial(n: int, api: ApiServer, monitor: MonitorServer, pipe: Pipeline, recorder: Recorder,
              rng: random.Random) -> Trial:
    steady(monitor, pipe)
    trial = Trial(n, rng.uniform(0, FAULT_PHASE_MAX_S))
    time.sleep(trial.pause_s)
    trial.t0 = kill_api(api)
    print(f"  trial {n}: API killed; waiting for both firing notifications", flush=True)
    ours_path = "/ours"
    while True:
        now = time.time()
        if trial.ours_first_failed_check is None:
            with contextlib.suppress(httpx.HTTPError):
                s = http_up(monitor)
                # A check that started just before the kill may be the one that failed.
                if s is not None and s["value"] == 0 and s["timestamp"] >= trial.t0 - 1:
                    trial.ours_first_failed_check = float(s["timestamp"])
        if trial.ours_firing_at is None and (r := recorder.first(ours_path, "firing", trial.t0)):
            trial.ours_firing_at, trial.ours_fired_at = r.at, r.starts_at[r.alertnames.index(ALERT)]
            print(f"  trial {n}: ours fired after {r.at - trial.t0:.1f} s", flush=True)
        if trial.prom_firing_at is None and (r := recorder.first(pipe.path, "firing", trial.t0)):
            trial.prom_firing_at = r.at
            print(f"  trial {n}: Prometheus pipeline fired after {r.at - trial.t0:.1f} s", flush=True)
        ours_done = trial.ours_firing_at is not None or now - trial.t0 > OURS_FIRE_TIMEOUT
        prom_done = trial.prom_firing_at is not None or now - trial.t0 > PROM_FIRE_TIMEOUT
        if ours_done and prom_done:
            break
        time.sleep(0.2 if trial.ours_first_failed_check is None else 0.1)
    if trial.ours_firing_at is None:
        trial.notes.append(f"ours: no firing notification within {OURS_FIRE_TIMEOUT:.0f} s")
    if trial.prom_firing_at is None:
        trial.notes.append(f"prometheus: no firing notification within {PROM_FIRE_TIMEOUT:.0f} s")

    trial.t1 = restart_api(api)
    print(f"  trial {n}: API back after {trial.t1 - trial.t0:.1f} s down; waiting for ours to resolve and "
          "for Prometheus to hand the resolve to Alertmanager", flush=True)
    prom_alert = f'ALERTS{{alertname="{ALERT}"}}'
    while True:
        now = time.time()
        if trial.ours_resolved_at is None and (r := recorder.first(ours_path, "resolved", trial.t1)):
            trial.ours_resolved_at = r.at
            print(f"  trial {n}: ours resolved after {r.at - trial.t1:.1f} s", flush=True)
        if trial.prom_resolve_handed_over is None and trial.prom_firing_at is not None:
            with contextlib.suppress(httpx.HTTPError):
                if not pipe.prometheus.query(prom_alert) and not alertmanager_has(pipe):
                    trial.prom_resolve_handed_over = time.time()
        if trial.prom_resolved_at is None and (r := recorder.first(pipe.path, "resolved", trial.t1)):
            # only if it came early, which group_interval should prevent
            trial.prom_resolved_at, trial.prom_resolve_waited = r.at, True
        ours_done = trial.ours_resolved_at is not None or now - trial.t1 > OURS_RESOLVE_TIMEOUT
        prom_done = (trial.prom_resolve_handed_over is not None or trial.prom_firing_at is None
                     or now - trial.t1 > PROM_HANDOFF_TIMEOUT)
        if ours_done and prom_done:
            break
        time.sleep(0.2)
    if trial.ours_resolved_at is None:
        trial.notes.append(f"ours: no resolved notification within {OURS_RESOLVE_TIMEOUT:.0f} s")
    with contextlib.suppress(httpx.HTTPError, KeyError, IndexError, ValueError):
        window = int(time.time() - trial.t0) + 60
        # The first failed probe follows the last passing one; its timestamp is the scrape's start, which
        # can be a moment before the kill.
        samples = raw_samples(pipe.prometheus, "probe_success", window)
        passing = [t for t, v in samples if v == 1 and t < trial.t0 + 1]
        failed = [t for t, v in samples if v == 0 and (not passing or t > passing[-1])]
        trial.prom_first_failed_probe = failed[0] if failed else None
        fired = raw_samples(pipe.prometheus, f'ALERTS{{alertname="{ALERT}",alertstate="firing"}}', window)
        trial.prom_rule_fired = fired[0][0] if fired else None
    if trial.prom_resolve_handed_over is not None and trial.prom_firing_at is not None:
        # Alertmanager's group timer restarts just before each flush: the resolve goes out at the first tick
        # after it arrived, i.e. a whole number of group_intervals after the firing notification.
        ticks = max(1, math.ceil((trial.prom_resolve_handed_over - trial.prom_firing_at) / GROUP_INTERVAL_S))
        trial.prom_resolved_predicted = trial.prom_firing_at + ticks * GROUP_INTERVAL_S
    elif trial.prom_firing_at is not None:
        trial.notes.append(f"prometheus: resolve not handed to Alertmanager within {PROM_HANDOFF_TIMEOUT:.0f} s")
    pipe.prometheus.cleanup()  # it handed the resolve over: it must not see the next trial's fault
    return trial


def collect_resolves(pending: list[tuple[Trial, Pipeline]], recorder: Recorder, until: float,
                     final: bool) -> list[tuple[Trial, Pipeline]]:
    """Record the Prometheus resolved notifications that arrived; stop the Alertmanagers that are done.
    With `final`, wait for those predicted before `until` (the budget), then give up on the rest."""
    still: list[tuple[Trial, Pipeline]] = []
    while True:
        still = []
        for trial, pipe in pending:
            if trial.prom_resolved_at is None and trial.t1 is not None:
                r = recorder.first(pipe.path, "resolved", trial.t1)
                if r is not None:
                    trial.prom_resolved_at, trial.prom_resolve_waited = r.at, True
            if trial.prom_resolved_at is not None or trial.prom_resolved_predicted is None:
                pipe.alertmanager.cleanup()
            else:
                still.append((trial, pipe))
        pending = still
        if not final:
            return still
        worth = [t for t, _ in still if t.prom_resolved_predicted is not None
                 and t.prom_resolved_predicted + 20 < until and time.time() < t.prom_resolved_predicted + 60]
        if not worth:
            break
        time.sleep(0.5)
    for trial, pipe in still:
        trial.notes.append("prometheus: resolved notification not waited for (time budget); by construction it "
                           f"comes at the next group_interval tick, {trial.since_t1(trial.prom_resolved_predicted)}"
                           " s after recovery")
        pipe.alertmanager.cleanup()
    return []


# --- the run --------------------------------------------------------------------------------------

@contextlib.contextmanager
def stack(workdir: Path, recorder: Recorder) -> Iterator[tuple[ApiServer, MonitorServer, Blackbox]]:
    """PostgreSQL, Redis, the API (migrated, seeded), the monitor on monitor.yml, blackbox; all stopped by PID."""
    with contextlib.ExitStack() as es:
        # The backup check has one fresh backup; monitor.yml's synthetic flow logs in with the default password.
        private = es.enter_context(PrivateStack(seed=Seed(ATTENDEES), log_dir=workdir, backup_dir=workdir / "backups"))
        api = private.api
        port = free_port()
        monitor_env = {**private.env(), "DEPS_AUDIT": "false", "MONITOR_STORE": str(workdir / "monitor.sqlite3"),
                       "MONITOR_PORT": str(port), "NOTIFICATIONS_FILE": str(workdir / "notifications.jsonl")}
        monitor = MonitorServer(monitor_config(workdir, recorder.url + "/ours"), port, env=monitor_env,
                                log_dir=str(workdir))
        es.enter_context(monitor)
        blackbox = es.enter_context(Blackbox(workdir))
        yield api, monitor, blackbox


def _first_line(argv: list[str]) -> str:
    with contextlib.suppress(OSError):
        out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10)
        return (out.stdout or out.stderr).strip().split("\n")[0]
    return "not found"


def machine() -> dict[str, Any]:
    cpu_model = ""
    with contextlib.suppress(OSError):
        cpu_model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                          if line.startswith("model name")), "")
    pg_bin = _pg_bindir()
    try:
        ours = importlib.metadata.version("converge-monitor")
    except importlib.metadata.PackageNotFoundError:
        ours = "not installed"
    return {"nproc": os.cpu_count(), "cpu_model": cpu_model, "kernel": platform.release(),
            "python": platform.python_version(), "converge_monitor": ours,
            "prometheus": _first_line(["/usr/bin/prometheus", "--version"]),
            "alertmanager": _first_line(["/usr/bin/prometheus-alertmanager", "--version"]),
            "blackbox_exporter": _first_line(["/usr/bin/prometheus-blackbox-exporter", "--version"]),
            "postgres": _first_line([f"{pg_bin}/postgres", "--version"]),
            "redis": re.sub(r"^Redis server v=(\S+).*", r"Redis \1", _first_line(["redis-server", "--version"])),
            "shared_machine": True}


def _median(values: list[float | None], digits: int = 2) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), digits) if known else None


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ours_fire = _median([r["ours_fault_to_firing_s"] for r in rows])
    prom_fire = _median([r["prom_fault_to_firing_s"] for r in rows])
    ours_res = _median([r["ours_recovery_to_resolved_s"] for r in rows])
    prom_res = _median([r["prom_recovery_to_resolved_s"] for r in rows])
    prom_res_all = _median([r["prom_recovery_to_resolved_s"] if r["prom_resolve_waited"]
                            else r["prom_recovery_to_resolved_predicted_s"] for r in rows])
    paired = [r["ours_fault_to_firing_s"] / r["prom_fault_to_firing_s"] for r in rows
              if r["ours_fault_to_firing_s"] is not None and r["prom_fault_to_firing_s"]]
    ratio = round(ours_fire / prom_fire, 3) if ours_fire is not None and prom_fire else None
    res_ratio = round(ours_res / prom_res_all, 3) if ours_res is not None and prom_res_all else None
    return {
        "trials": len(rows),
        "ours_fault_to_firing_median_s": ours_fire, "prom_fault_to_firing_median_s": prom_fire,
        "ratio_firing_ours_over_prom": ratio,
        "paired_ratio_firing": {"median": _median(list(paired), 3), "min": round(min(paired), 3) if paired else None,
                                "max": round(max(paired), 3) if paired else None},
        "ours_recovery_to_resolved_median_s": ours_res,
        "prom_recovery_to_resolved_median_s_waited": prom_res,
        "prom_resolves_waited": sum(1 for r in rows if r["prom_resolve_waited"]),
        "prom_recovery_to_resolved_median_s_waited_or_by_construction": prom_res_all,
        "ratio_resolved_ours_over_prom": res_ratio,
        "goals": {
            "ours_firing_le_5s": None if ours_fire is None else ours_fire <= FIRING_GOAL_S,
            "ratio_le_0.25": None if ratio is None else ratio <= 0.25,
            "ours_resolved_le_10s": None if ours_res is None else ours_res <= RESOLVED_GOAL_S,
        },
    }


def _f(value: Any, spec: str = ".1f") -> str:
    return "n/a" if value is None else format(value, spec)


def markdown(report: dict[str, Any]) -> str:
    s, m, summ, ev = report["settings"], report["machine"], report["summary"], report["ours_event_settings"]
    goals = summ["goals"]

    def ok(flag: bool | None) -> str:
        return "n/a" if flag is None else ("met" if flag else "NOT met")

    lines = [
        f"# Detection latency: API down -> notification received ({report['started']})", "",
        f"{summ['trials']} trial(s) on one real Converge API, watched by both pipelines at once; SIGKILL at t0, "
        "restart once both had fired; the recovery moment is the API's first 200 on /health.", "",
        "| | converge-monitor (event mode) | Prometheus + blackbox + Alertmanager | ours / prometheus |",
        "|---|---:|---:|---:|",
        f"| fault -> firing notification, median | {_f(summ['ours_fault_to_firing_median_s'])} s "
        f"| {_f(summ['prom_fault_to_firing_median_s'])} s | {_f(summ['ratio_firing_ours_over_prom'], '.3f')} |",
        f"| recovery -> resolved notification, median | {_f(summ['ours_recovery_to_resolved_median_s'])} s "
        f"| {_f(summ['prom_recovery_to_resolved_median_s_waited_or_by_construction'])} s "
        f"({summ['prom_resolves_waited']} of {summ['trials']} waited, the rest by construction) "
        f"| {_f(summ['ratio_resolved_ours_over_prom'], '.3f')} |",
        "",
        f"Goals: ours <= {FIRING_GOAL_S:g} s to the firing notification: **{ok(goals['ours_firing_le_5s'])}**; "
        f"<= 0.25x the Prometheus pipeline: **{ok(goals['ratio_le_0.25'])}** (paired per trial: median "
        f"{_f(summ['paired_ratio_firing']['median'], '.3f')}, {_f(summ['paired_ratio_firing']['min'], '.3f')}-"
        f"{_f(summ['paired_ratio_firing']['max'], '.3f')}); recovery -> resolved <= {RESOLVED_GOAL_S:g} s: "
        f"**{ok(goals['ours_resolved_le_10s'])}**.", "",
        "Per trial (seconds; fault columns from t0, resolve columns from the recovery):", "",
        "| trial | pause | ours: 1st failed check | ours: firing | prom: 1st failed probe | prom: rule fired "
        "| prom: firing | down | ours: resolved | prom: resolved |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["trials"]:
        if r["prom_resolve_waited"]:
            predicted = _f(r["prom_recovery_to_resolved_predicted_s"])
            prom_res = f"{_f(r['prom_recovery_to_resolved_s'])} (predicted {predicted})"
        else:
            prom_res = f"not waited; by construction {_f(r['prom_recovery_to_resolved_predicted_s'])}"
        lines.append(
            f"| {r['trial']} | {_f(r['pause_s'])} | {_f(r['ours_first_failed_check_s'])} | "
            f"{_f(r['ours_fault_to_firing_s'])} | {_f(r['prom_first_failed_probe_s'])} | "
            f"{_f(r['prom_rule_fired_s'])} | "
            f"{_f(r['prom_fault_to_firing_s'])} | {_f(r['down_s'])} | {_f(r['ours_recovery_to_resolved_s'])} | "
            f"{prom_res} |")
    notes = [f"- trial {r['trial']}: {n}" for r in report["trials"] for n in r["notes"]]
    lines += ["", *(["Notes:", "", *notes, ""] if notes else [])]
    lines += [
        "Settings:", "",
        f"- ours: the shipped monitor.yml (every target, as `make demo` runs it) with an event window around today, "
        f"a webhook channel to a local recorder and every tier routed to it. Event-mode values as shipped: api-health "
        f"every {ev['api_health_event_interval']} (timeout {ev['api_health_timeout']}), ApiDown event "
        f"{json.dumps(ev['rule_event'])}, a failed check re-checked after {RECHECK_DELAY:g} s, evaluation on each "
        f"result (and every {ev['event_evaluation_interval']} as the fallback).",
        f"- Prometheus pipeline: blackbox http_2xx on /health; scrape {SCRAPE_S} s, evaluation {EVAL_S} s, "
        f"`probe_success == 0` for {FOR}; Alertmanager group_by [alertname], group_wait {GROUP_WAIT}, "
        f"group_interval {GROUP_INTERVAL_S // 60}m, webhook with send_resolved. A fresh Prometheus and Alertmanager "
        "per trial.",
        f"- random pause before each fault: 0-{FAULT_PHASE_MAX_S:.0f} s (seed {s['seed']}); time budget for the "
        f"overlapping Prometheus resolve waits: {s['budget_s']:.0f} s from the start; the run took "
        f"{report['duration_s']:.0f} s.",
        "",
        f"Machine: {m['nproc']} cores {m['cpu_model']}, kernel {m['kernel']}, Python {m['python']}; "
        f"{m['prometheus']}; {m['alertmanager']}; {m['blackbox_exporter']}; {m['postgres']}; "
        f"{m['redis']}; converge-monitor {m['converge_monitor']}. Load average before "
        f"{report['loadavg_before']}, after {report['loadavg_after']}. {SHARED_NOTE}",
    ]
    return "\n".join(lines) + "\n"


def run(trials: int, budget: float, seed: int) -> dict[str, Any]:
    started = time.time()
    deadline = started + budget
    rng = random.Random(seed)
    results: list[Trial] = []
    pending: list[tuple[Trial, Pipeline]] = []
    recorder = Recorder()
    workdir = Path(tempfile.mkdtemp(prefix="converge-bench-detection-"))
    try:
        with stack(workdir, recorder) as (api, monitor, blackbox):
            print(f"stack up after {time.time() - started:.0f} s: API {api.url}, monitor {monitor.url}", flush=True)
            event_mode = httpx.get(f"{monitor.url}/health", timeout=5).json().get("event_mode")
            if event_mode is not True:
                raise RuntimeError(f"the monitor is not in event mode (its /health says event_mode={event_mode})")
            for n in range(1, trials + 1):
                pipe = start_pipeline(n, blackbox, f"{api.url}/health", recorder)
                try:
                    trial = run_trial(n, api, monitor, pipe, recorder, rng)
                except BaseException:
                    pipe.stop()
                    raise
                results.append(trial)
                pending.append((trial, pipe))
                pending = collect_resolves(pending, recorder, deadline, final=False)
        # The stack is down; only the Alertmanagers that still owe a resolved notification run.
        left = [t.trial for t, _ in pending]
        if left:
            print(f"waiting for the Prometheus resolved notifications of trial(s) {left} that are due within "
                  f"the budget ({max(0.0, deadline - time.time()):.0f} s left)", flush=True)
        pending = collect_resolves(pending, recorder, deadline, final=True)
    except BaseException:
        print(f"logs kept in {workdir}", file=sys.stderr)
        raise
    finally:
        for _, pipe in pending:
            pipe.stop()
        recorder.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    return {"_trials": results, "event_mode": event_mode, "duration_s": round(time.time() - started, 1)}


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.detection_latency", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=3, help="faults injected one after another (default 3)")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds from the start after which outstanding Prometheus resolved notifications are "
                             "no longer waited for (default 690; the trials themselves always run)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the random pauses before the faults")
    parser.add_argument("--quick", action="store_true",
                        help="smoke check: 1 trial, no wait for the Prometheus resolve (about 3 min); "
                             "writes detection_latency-quick.json/.md")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the results files")
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so every server this run started is stopped by its PID.
    signal.signal(signal.SIGTERM, _interrupt)
    if args.quick:
        args.trials = 1
    budget = args.budget if args.budget is not None else (0.0 if args.quick else 690.0)
    if args.trials < 1 or budget < 0:
        parser.error("--trials must be >= 1 and --budget >= 0")
    seed = args.seed if args.seed is not None else int(time.time())
    for binary in ("/usr/bin/prometheus", "/usr/bin/prometheus-alertmanager", "/usr/bin/prometheus-blackbox-exporter"):
        if not os.access(binary, os.X_OK):
            parser.error(f"{binary} not found: apt-get install {Path(binary).name}")
    print(f"detection latency: {args.trials} trial(s), about {args.trials * 2.7 + 1:.0f} min plus the Prometheus "
          f"resolve waits (budget {budget:.0f} s from the start)", flush=True)
    report: dict[str, Any] = {
        "benchmark": "detection_latency",
        "started": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "settings": {"trials": args.trials, "budget_s": budget, "seed": seed, "quick": args.quick,
                     "fault": "SIGKILL of the API process", "fault_pause_max_s": FAULT_PHASE_MAX_S,
                     "prometheus": {"scrape_interval_s": SCRAPE_S, "evaluation_interval_s": EVAL_S, "for": FOR,
                                    "rule": "probe_success == 0", "blackbox_module": "http_2xx (prober: http)",
                                    "alertmanager": {"group_by": ["alertname"], "group_wait": GROUP_WAIT,
                                                     "group_interval_s": GROUP_INTERVAL_S, "repeat_interval": REPEAT,
                                                     "send_resolved": True}}},
        "ours_event_settings": shipped_event_values(),
        "machine": machine(),
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "note": SHARED_NOTE,
    }
    report.update(run(args.trials, budget, seed))
    report["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    trials: list[Trial] = report.pop("_trials")
    report["trials"] = [t.row() for t in trials]
    report["raw"] = [asdict(t) for t in trials]
    report["summary"] = summarize(report["trials"])

    write_results(args.out, "detection_latency", args.quick, report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
