"""Delivery keeps its own time, end to end with a real monitor process and the shipped evaluation interval (5 s):
a critical page whose first channel fails reaches the next channel within 10 s, and every delivery log line
names the channel, the attempt and the reason, without the secret.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import yaml

from devstack import free_port
from devstack.monitor import MonitorServer
from monitor.config import load_config
from tests.support.fakes.slack import FakeSlack
from tests.support.fakes.twilio import FakeTwilio
from tests.support.paths import REPO
from tests.support.receivers import wait_for

TWILIO_TOKEN = "twilio-auth-token-fallback-0123456789"
API_TOKEN = "api-token-fallback-0123456789abcdef"
FALLBACK_BOUND = 10.0  # issue 11: a critical page reaches the next channel within 10 s


def test_a_critical_page_whose_sms_fails_reaches_slack_within_10_seconds(tmp_path: Path) -> None:
    shipped = load_config(REPO / "monitor.yml", environ={}).alerting.evaluation_interval
    assert shipped == 5.0
    port = free_port()
    with FakeSlack() as slack, FakeTwilio() as twilio:
        twilio.fail_error(500, 20500, "Internal Server Error", count=1000)  # Twilio is down for good
        config = {
            "disks": [{"name": "disks", "paths": [str(tmp_path)], "interval": 5, "timeout": 2}],
            "store": {"backend": "sqlite", "path": str(tmp_path / "state.sqlite3")},
            "server": {"host": "127.0.0.1", "port": port, "api_token": API_TOKEN},
            "alerting": {"evaluation_interval": f"{shipped:g}s",
                         "notifications_file": str(tmp_path / "notifications.jsonl")},
            "routing": {"critical": {"channels": ["sms"]}},  # fallback order (shipped): sms, slack, email
            "oncall": {"people": [{"name": "ana", "phone": "+15555550101"}],
                       "rotation": {"order": ["ana"], "start": "2026-01-01", "timezone": "UTC"}},
            "channels": {
                "slack": {"webhook_url": slack.webhook_url()},
                "sms": {"account_sid": "AC" + "0" * 32, "auth_token": TWILIO_TOKEN, "from_number": "+15555550100",
                        "base_url": twilio.url}},
        }
        (tmp_path / "monitor.yml").write_text(yaml.safe_dump(config))
        monitor = MonitorServer(tmp_path / "monitor.yml", port, log_dir=str(tmp_path))
        monitor.start()
        try:
            page = {"version": "4", "status": "firing", "alerts": [{
                "status": "firing", "labels": {"alertname": "ApiDown", "severity": "critical", "target": "api"},
                "annotations": {"summary": "API health check api is failing"},
                "startsAt": datetime.now(UTC).isoformat().replace("+00:00", "Z")}]}
            r = httpx.post(f"{monitor.url}/api/alertmanager", json=page,
                           headers={"Authorization": f"Bearer {API_TOKEN}"})
            assert r.status_code == 200, r.text
            wait_for(lambda: bool(twilio.requests), 3 * shipped, "the first SMS attempt")
            failed_at = time.monotonic()
            wait_for(lambda: any("ApiDown" in m.get("text", "") for m in slack.messages()), 60, "the Slack fallback")
            assert time.monotonic() - failed_at <= FALLBACK_BOUND
            wait_for(lambda: "attempt 3 of 6" in monitor.logs(), 20, "the third attempt's log line")
        finally:
            monitor.stop()
        logs = monitor.logs()
        assert "delivery failed, will retry" not in logs
        first = next(line for line in logs.splitlines() if "to sms failed (attempt 1 of 6)" in line)
        assert "HTTP 500" in first and "next try in" in first, first
        assert TWILIO_TOKEN not in logs
        assert len([m for m in slack.messages() if "ApiDown" in m.get("text", "")]) == 1
