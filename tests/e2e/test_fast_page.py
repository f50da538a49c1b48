"""A page within seconds in event mode: the first failed check of a critical target is re-checked at once, and
the alerts are evaluated when that result arrives, not at the next evaluation tick.

A real `converge-monitor run` with the shipped ApiDown rule and the shipped api-health intervals watches a
small HTTP server that stops answering healthy; the page is counted at a recording webhook receiver. The
evaluation timer is set to a minute, so only evaluation-on-result can page within a few check intervals.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import yaml

from devstack import free_port
from devstack.monitor import MonitorServer
from tests.support.fakes.recorder import RecordingServer
from tests.support.paths import REPO
from tests.support.receivers import wait_for

TIMER = 60.0  # the evaluation interval: far longer than the page may take


def shipped_api_health() -> dict[str, object]:
    shipped = yaml.safe_load((REPO / "monitor.yml").read_text())
    return dict(next(t for t in shipped["targets"]["http"] if t["name"] == "api-health"))


def firing(receiver: RecordingServer, rule: str) -> list[dict[str, object]]:
    out = []
    for r in list(receiver.requests):
        body = json.loads(r.body or b"{}")
        for alert in body.get("alerts", []):
            if alert.get("labels", {}).get("alertname") == rule and alert.get("status") == "firing":
                out.append(alert)
    return out


def rechecks(monitor: MonitorServer, target: str) -> float:
    text = httpx.get(f"{monitor.url}/metrics", timeout=5).text
    m = re.search(rf'converge_monitor_probe_rechecks_total{{target="{target}"}} ([\d.e+]+)', text)
    return float(m.group(1)) if m else 0.0


def test_a_failed_critical_check_is_rechecked_and_pages_on_the_result(tmp_path: Path) -> None:
    shipped = shipped_api_health()
    event_every = float(str(shipped["event_interval"]).rstrip("s"))
    zone = "UTC"
    today = dt.datetime.now(ZoneInfo(zone)).date()
    port = free_port()
    with RecordingServer(ok_body=b'{"status": "healthy"}', content_type="application/json") as api, \
            RecordingServer() as receiver:
        config = {
            "targets": {"http": [{**shipped, "url": f"{api.url}/health"}]},
            "event": {"start": str(today - dt.timedelta(days=1)), "end": str(today + dt.timedelta(days=1)),
                      "timezone": zone},
            "store": {"backend": "sqlite", "path": str(tmp_path / "state.sqlite3")},
            "server": {"host": "127.0.0.1", "port": port},
            "alerting": {"evaluation_interval": f"{TIMER:g}s", "event_evaluation_interval": f"{TIMER:g}s",
                         "notifications_file": str(tmp_path / "notifications.jsonl")},
            "channels": {"webhook": {"url": f"{receiver.url}/hook"}},
            "routing": {tier: ["webhook"] for tier in ("critical", "high", "medium", "low", "advisory")},
        }
        (tmp_path / "monitor.yml").write_text(yaml.safe_dump(config))
        monitor = MonitorServer(tmp_path / "monitor.yml", port, log_dir=str(tmp_path))
        monitor.start()
        try:
            wait_for(lambda: any(s["signal"] == "http_up" and s["value"] == 1 for s in monitor.signals()), 20,
                     "a first healthy check")
            time.sleep(2.5)  # past the evaluation that ran at start-up: the next one is a minute away
            api.fail_next(10_000, status=503)
            fault, checks_before = time.monotonic(), len(api.requests)
            wait_for(lambda: bool(firing(receiver, "ApiDown")), 3 * event_every, "the ApiDown page at the receiver")
            paged = time.monotonic() - fault
            checks = len(api.requests) - checks_before
            confirmed = rechecks(monitor, "api-health")
        finally:
            monitor.stop()
        # The mechanism, counted where it happens: the failed check and one re-check, no third check needed,
        # and the page came long before the one-minute evaluation timer could have sent it.
        print(f"fault -> page at the receiver: {paged:.1f} s, {checks} check(s) of the failing API")
        assert checks == 2, checks
        assert paged < TIMER / 2
        assert confirmed == 1
        assert len(firing(receiver, "ApiDown")) == 1
