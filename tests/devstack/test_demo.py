"""`make demo`, the README's first command: the private stack and the monitor on its embedded default config come
up, the monitor watches the API, nothing is notified on the healthy stack, and Ctrl-C stops every process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from devstack.process import port_open
from tests.support.paths import REPO


def _api_health_up(monitor: str) -> bool:
    items = httpx.get(f"{monitor}/api/signals", timeout=5).json()["signals"]
    return any(o.get("signal") == "http_up" and o.get("labels", {}).get("target") == "api-health"
               and o.get("value") == 1 for o in items)


def test_the_demo_runs_watches_quietly_and_stops_everything_on_ctrl_c(stack_binaries: None, tmp_path: Path) -> None:
    demo = subprocess.Popen([sys.executable, "-m", "devstack", "demo"], cwd=REPO, text=True,
                            env={**os.environ, "CONVERGE_DEMO_DIR": str(tmp_path)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        printed = ""
        assert demo.stdout is not None
        for line in demo.stdout:  # blocks until the demo prints; it prints the banner once everything is up
            printed += line
            if "Press Ctrl-C" in line:
                break
        api = re.search(r"Converge API\s+(http://\S+)", printed)
        monitor = re.search(r"status board (http://\S+)/board", printed)
        assert api and monitor, printed
        assert httpx.get(f"{api.group(1)}/health", timeout=5).status_code == 200
        assert httpx.get(f"{monitor.group(1)}/board", timeout=5).status_code == 200
        deadline = time.monotonic() + 60
        while not _api_health_up(monitor.group(1)):
            assert time.monotonic() < deadline, "the monitor never saw the API's health check pass"
            time.sleep(1)
        time.sleep(10)  # the start-up runs of every check (the backup and its restore check among them)
        children = psutil.Process(demo.pid).children(recursive=True)
        assert len(children) >= 3  # Redis, the API and the monitor (pg_ctl detaches PostgreSQL: its port, below)
        pg_port = re.search(r"PostgreSQL\s+postgresql://\S+@127\.0\.0\.1:(\d+)/", printed)
        assert pg_port and port_open(int(pg_port.group(1)))
        notes = tmp_path / "notifications.jsonl"
        assert not notes.exists() or notes.read_text() == "", notes.read_text()  # a healthy stack: nobody told
        demo.send_signal(signal.SIGINT)
        rest, _ = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
    assert demo.returncode == 0 and "stopped." in rest, rest
    time.sleep(0.5)
    assert [p.pid for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    assert not port_open(int(pg_port.group(1)))
