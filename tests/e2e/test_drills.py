"""`converge-monitor drill`: every fault drill passes end to end on the drill's own stack, a config's stack
is drilled as far as it can be (and refused when it is not on loopback), Ctrl-C leaves nothing running,
and the API's hold_connection fault really holds the DB pool.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from alerts.rules import DEFAULT_RULES
from devstack import ApiServer, PrivateRedis, free_port
from devstack.drills.catalog import DRILL_RULES, QUICK_DRILLS
from devstack.drills.drill_config import RULE_OVERRIDES, drill_config
from devstack.drills.runner import Row, render_table
from devstack.process import pid_alive, port_open
from monitor.cli.drill import main
from monitor.config import load_config
from tests.support.metrics_text import scrape, value
from tests.support.paths import REPO


@pytest.fixture(scope="module")
def binaries(stack_binaries: None) -> None:
    """The drills start a private stack of their own."""


class DrillProcess:
    """`converge-monitor drill ...` as a user runs it, its output in files so a test can follow it."""

    def __init__(self, tmp: Path, *args: str) -> None:
        self.out, self.err = tmp / "drill.out", tmp / "drill.err"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "monitor.cli.drill", *args], cwd=REPO,
                                         stdout=out, stderr=err, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_for_line(self, pattern: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.stderr(), re.MULTILINE):
            assert self.proc.poll() is None, f"drill exited early:\n{self.stderr()}"
            assert time.monotonic() < deadline, f"not seen within {timeout}s: {pattern}\n{self.stderr()}"
            time.sleep(0.2)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def stack_pids_and_ports(self) -> tuple[list[int], list[int]]:
        """The PIDs and ports the drill printed for its stack (PostgreSQL, Redis, API, TLS target, monitor)."""
        text = self.stderr()
        pids = [int(p) for p in re.findall(r" pid (\d+)", text)]
        ports = [int(p) for p in re.findall(r"^\S+(?: target)?\s+\S+://[^:/\s]+:(\d+)", text, re.MULTILINE)]
        return pids, ports


def assert_nothing_left(pids: list[int], ports: list[int]) -> None:
    assert pids and ports
    deadline = time.monotonic() + 15
    while any(pid_alive(p) for p in pids) or any(port_open(p) for p in ports):
        assert time.monotonic() < deadline, (
            f"still running: pids {[p for p in pids if pid_alive(p)]}, ports {[p for p in ports if port_open(p)]}")
        time.sleep(0.2)


# ---- end to end ------------------------------------------------------------------------------------

@pytest.mark.timeout(480)
def test_drill_all_passes_on_its_own_stack_and_stops_everything(binaries: None, tmp_path: Path) -> None:
    drill = DrillProcess(tmp_path, "all", "--quick", "--work-dir", str(tmp_path / "work"))
    try:
        code = drill.wait(timeout=420)
    finally:
        if drill.proc.poll() is None:
            drill.proc.kill()
    table = drill.stdout()
    assert code == 0, f"{table}\n{drill.stderr()[-5000:]}"
    rows = {line.split()[0]: line for line in table.splitlines() if line.split() and line.split()[0] in
            {d.name for d in QUICK_DRILLS}}
    assert set(rows) == {d.name for d in QUICK_DRILLS}
    for d in QUICK_DRILLS:
        line = rows[d.name]
        assert " pass" in line and any(alert in line for alert in d.expected), line
        # fired after, the bound (or "-" where no rule times the alert: Sentry's), resolved after
        assert re.search(r"\d+\.\ds\s+(\d+\.\ds \([^)]*\)|-)\s+\d+\.\ds", line), line
    assert "sms, slack" in rows["api-down"]  # critical in the event window pages
    assert f"{len(QUICK_DRILLS)} passed, 0 failed, 0 not run" in table
    notes = [json.loads(line) for line in (tmp_path / "work" / "notifications.jsonl").read_text().splitlines()]
    fired = {a["rule"] for n in notes if n["kind"] == "firing" for a in n["alerts"]} & DRILL_RULES
    resolved = {a["rule"] for n in notes if n["kind"] == "resolved" for a in n["alerts"]}
    assert fired <= resolved  # whatever a fault set off also resolved: the stack ended healthy
    assert_nothing_left(*drill.stack_pids_and_ports())


@pytest.mark.timeout(240)
def test_ctrl_c_during_a_drill_removes_the_fault_and_stops_every_process(binaries: None, tmp_path: Path) -> None:
    drill = DrillProcess(tmp_path, "db-down", "--quick", "--work-dir", str(tmp_path / "work"))
    try:
        drill.wait_for_line(r"^db-down: stop PostgreSQL", timeout=150)
        pids, ports = drill.stack_pids_and_ports()
        drill.proc.send_signal(signal.SIGINT)
        assert drill.wait(timeout=90) == 130
    finally:
        if drill.proc.poll() is None:
            drill.proc.kill()
    assert_nothing_left(pids, ports)


@pytest.mark.timeout(240)
def test_a_config_stack_is_drilled_where_it_can_be(seeded_db: str, redis_server: PrivateRedis,
                                                   tmp_path: Path) -> None:
    api = ApiServer(seeded_db, redis_server.url, env={"CONVERGE_FAULTS": "1"}, log_dir=str(tmp_path))
    api.start()
    port = free_port()
    every = {"interval": 1, "event_interval": 1, "timeout": 1}
    fast = {name: RULE_OVERRIDES[name][0] for name in ("ApiDown", "ErrorRateCritical", "ErrorSpike")}
    config = {
        "targets": {"http": [{"name": "api-health", "url": f"{api.url}/health", **every}],
                    "api_metrics": [{"name": "api-metrics", "urls": [f"{api.url}/metrics"], "window": "10s",
                                     **every}]},
        "store": {"backend": "sqlite", "path": str(tmp_path / "state.sqlite3")},
        "server": {"host": "127.0.0.1", "port": port},
        "alerting": {"evaluation_interval": "1s", "group_interval": "1s",
                     "notifications_file": str(tmp_path / "notifications.jsonl")},
        "rules": {"overrides": fast},
    }
    path = tmp_path / "monitor.yml"
    path.write_text(yaml.safe_dump(config))
    drill = DrillProcess(tmp_path, "api-down", "error-burst", "--json", "--config", str(path),
                         "--work-dir", str(tmp_path / "work"))
    try:
        code = drill.wait(timeout=200)
        assert httpx.get(f"{api.url}/health").status_code == 200  # the API was not stopped
        faults = httpx.put(f"{api.url}/internal/faults", json={}).json()  # and its fault was removed
    finally:
        if drill.proc.poll() is None:
            drill.proc.kill()
        api.stop()
    rows = {r["drill"]: r for r in json.loads(drill.stdout())["drills"]}
    assert code == 1, drill.stderr()  # not everything passed: api-down could not run
    assert rows["api-down"]["result"] == "not run"
    assert "stop and start the API" in rows["api-down"]["note"]
    assert rows["error-burst"]["result"] == "pass", (rows, drill.stderr()[-3000:])
    assert rows["error-burst"]["alert"] in ("ErrorRateCritical", "ErrorSpike")
    assert rows["error-burst"]["channels"] == "slack, email"  # critical outside the event window
    assert faults["error_ratio"] == 0
    assert "started for the drill" in drill.stderr()
    assert not port_open(port)  # the monitor the drill started is stopped


# ---- refusing and explaining ------------------------------------------------------------------------

def test_a_config_naming_a_remote_host_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    config = {"targets": {"http": [{"name": "api-health", "url": "https://converge.example.org/health"}]},
              "database": [{"name": "postgres", "dsn": "postgresql://monitor:hunter2-secret@127.0.0.1/converge"}]}
    path = tmp_path / "remote.yml"
    path.write_text(yaml.safe_dump(config))
    assert main(["all", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "refusing to run: targets.http[0].url: host 'converge.example.org' is not a loopback address" in err

    config = {"database": [{"name": "db", "dsn": "postgresql://monitor:hunter2-secret@db.internal:5432/converge"}]}
    path.write_text(yaml.safe_dump(config))
    assert main(["slow-queries", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "database[0].dsn: host 'db.internal' is not a loopback address" in err
    assert "hunter2" not in err

    assert main(["all", "--config", str(tmp_path / "missing.yml")]) == 2
    assert "config file not found" in capsys.readouterr().err
    assert not list(scratch.iterdir())  # no work directory left behind


def test_an_unknown_drill_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["api-dwon"]) == 2
    err = capsys.readouterr().err
    assert "unknown drill 'api-dwon'" in err and "api-down" in err and "cert-expiry" in err


def test_the_drill_config_tunes_exactly_the_rules_the_drills_expect(tmp_path: Path) -> None:
    # Every rule a drill expects is tuned; Sentry's alerts come from its webhooks, not from a rule.
    assert set(RULE_OVERRIDES) == {r for d in QUICK_DRILLS if not d.external for r in d.expected}
    (tmp_path / "ca.pem").write_text("")  # check-config refuses a CA file that does not exist
    data = drill_config(api_url="http://127.0.0.1:1", tls_url="https://127.0.0.1:2/", ca_file=tmp_path / "ca.pem",
                        work_dir=tmp_path, monitor_port=3)
    path = tmp_path / "drill.yml"
    path.write_text(yaml.safe_dump(data))
    config = load_config(path, environ={"DRILL_DATABASE_URL": "postgresql://u@127.0.0.1/db",
                                        "DRILL_REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert config.event is not None and config.event.contains(time.time())
    defaults = {r.name: r for r in DEFAULT_RULES}
    for rule in config.effective_rules():
        p = rule.params(True)
        if rule.name in DRILL_RULES:
            assert p.for_ <= 2 and p.keep_firing_for <= 1, rule.name
        elif rule.name in defaults:  # untouched: stays quiet during a run of minutes
            assert rule == defaults[rule.name]
    error_rate = next(r for r in config.effective_rules() if r.name == "ErrorRateHigh")
    after_deploy = error_rate.params(True, True)  # the deploy drill's 2% fires only under the deploy threshold
    assert after_deploy.threshold == 0.01 and after_deploy.for_ <= 2 and error_rate.params(True).threshold > 0.02
    assert config.sentry is not None and config.restore_checks and config.targets.browser
    ddos = next(r for r in config.effective_rules() if r.name == "DdosSuspected")
    assert ddos.params(True).threshold == 600 and ddos.params(True).clear_threshold == 480


def test_the_table_shows_every_column() -> None:
    rows = [Row("api-down", "ApiDown", "critical", "sms, slack", 3.62, 1.2, "pass"),
            Row("cert-expiry", "TlsCertExpiring", result="not run", note="needs the drill's own TLS target")]
    table = render_table(rows)
    lines = table.splitlines()
    assert lines[0].split() == ["drill", "expected", "alert", "tier", "channel(s)", "fired", "after", "bound",
                                "resolved", "after", "result", "note"]
    assert lines[2].split() == ["api-down", "ApiDown", "critical", "sms,", "slack", "3.6s", "-", "1.2s", "pass"]
    assert "not run" in lines[3] and "needs the drill's own TLS target" in lines[3]
    assert "1 passed, 0 failed, 1 not run" in table


# ---- the API's hold_connection fault (app/faults.py) ---------------------------------------------------

@pytest.fixture
def small_pool_api(seeded_db: str, redis_server: PrivateRedis, tmp_path: Path) -> Iterator[ApiServer]:
    server = ApiServer(seeded_db, redis_server.url, env={"CONVERGE_FAULTS": "1", "DB_POOL_MAX": "2"},
                       log_dir=str(tmp_path))
    server.start()
    yield server
    server.stop()


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.05)


async def test_hold_connection_spends_the_delay_holding_a_pool_connection(small_pool_api: ApiServer) -> None:
    url = small_pool_api.url
    plain = httpx.put(f"{url}/internal/faults", json={"latency_ms": 1500, "prefix": "/v1/sessions/999/"}).json()
    assert plain["hold_connection"] is False  # off unless asked for

    async def held_requests(n: int) -> list[int]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            return [r.status_code for r in await asyncio.gather(
                *(client.post("/v1/sessions/999/rsvp") for _ in range(n)))]

    def pool() -> tuple[float, float]:
        samples = scrape(url)
        return value(samples, "converge_db_pool_in_use"), value(samples, "converge_db_pool_waiting")

    # Without it the delay holds nothing.
    task = asyncio.create_task(held_requests(3))
    await asyncio.sleep(0.7)
    assert (await asyncio.to_thread(pool))[1] == 0
    await task

    httpx.put(f"{url}/internal/faults",
              json={"latency_ms": 1500, "prefix": "/v1/sessions/999/", "hold_connection": True}).raise_for_status()
    task = asyncio.create_task(held_requests(3))
    await asyncio.to_thread(wait_for, lambda: pool() == (2, 1), 10, "2 connections in use and 1 request waiting")
    statuses = await task
    assert statuses == [401, 401, 401]  # each held, then answered as usual (no token)
    httpx.put(f"{url}/internal/faults", json={}).raise_for_status()
    assert pool() == (0, 0)
