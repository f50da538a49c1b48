"""Alertmanager interop, both ways, against Debian's real prometheus-alertmanager."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from alerts.alertmanager import AlertmanagerForwarder, PayloadError, from_webhook
from alerts.model import Alert, State, Tier
from devstack import MissingBinaryError, PrivateAlertmanager, free_port
from devstack.monitor import MonitorServer
from tests.support.fakes.recorder import RecordingServer
from tests.support.stack import require

TOKEN = "am-test-token-0123456789abcdef"


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {timeout}s: {what}")
        time.sleep(0.2)


def am_config(url: str, bearer: str | None = None) -> dict[str, Any]:
    hook: dict[str, Any] = {"url": url, "send_resolved": True}
    if bearer:
        hook["http_config"] = {"authorization": {"type": "Bearer", "credentials": bearer}}
    return {"route": {"receiver": "hook", "group_by": ["alertname"], "group_wait": "1s", "group_interval": "1s",
                      "repeat_interval": "1h"},
            "receivers": [{"name": "hook", "webhook_configs": [hook]}]}


def start_alertmanager(config: dict[str, Any]) -> PrivateAlertmanager:
    try:
        am = PrivateAlertmanager(config)
    except MissingBinaryError as exc:
        require(exc)
    am.start()
    return am


def test_webhook_payloads_are_validated() -> None:
    with pytest.raises(PayloadError, match="version"):
        from_webhook({"version": "3", "alerts": []})
    with pytest.raises(PayloadError, match=r"alerts\[0\].status"):
        from_webhook({"version": "4", "alerts": [{"labels": {"alertname": "X"}, "status": "maybe"}]})
    alert = from_webhook({"version": "4", "alerts": [{"status": "firing", "labels": {
        "alertname": "DiskFull", "severity": "warning", "instance": "db1"}, "annotations": {"summary": "disk"},
        "startsAt": "2026-01-28T17:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}]})[0]
    assert (alert.rule, alert.tier, alert.state) == ("DiskFull", Tier.MEDIUM, State.FIRING)
    assert alert.labels["instance"] == "db1" and alert.fired_at == 1769619600.0


@pytest.fixture
def hook() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


def webhook_statuses(hook: RecordingServer) -> list[str]:
    return [json.loads(r.body)["status"] for r in hook.requests]


def test_monitor_alerts_are_forwarded_to_a_real_alertmanager(hook: RecordingServer) -> None:
    am = start_alertmanager(am_config(hook.url + "/hook"))
    try:
        now = time.time()
        alert = Alert(rule="ApiDown", tier=Tier.CRITICAL, labels={"alertname": "ApiDown", "tier": "critical",
                                                                   "target": "api-health"},
                      state=State.FIRING, fired_at=now - 5, summary="API health check api-health is failing")

        async def send(firing: list[Alert], resolved: list[Alert]) -> bool:
            forwarder = AlertmanagerForwarder(am.url)
            try:
                return await forwarder.forward(firing, resolved, time.time())
            finally:
                await forwarder.aclose()

        assert asyncio.run(send([alert], []))
        active = am.alerts()
        assert [a["labels"]["alertname"] for a in active] == ["ApiDown"]
        assert active[0]["labels"]["severity"] == "critical" and active[0]["status"]["state"] == "active"
        wait_for(lambda: "firing" in webhook_statuses(hook), 15, "alertmanager webhook (firing)")
        alert.state, alert.resolved_at = State.RESOLVED, time.time()
        assert asyncio.run(send([], [alert]))
        wait_for(lambda: "resolved" in webhook_statuses(hook), 15, "alertmanager webhook (resolved)")
    finally:
        am.cleanup()


def test_alertmanager_webhooks_are_delivered_through_our_tiers_and_on_call(tmp_path: Path) -> None:
    port = free_port()
    notes = tmp_path / "notifications.jsonl"
    config = {
        "server": {"host": "127.0.0.1", "port": port, "api_token": TOKEN},
        "store": {"backend": "sqlite", "path": str(tmp_path / "state.sqlite3")},
        "alerting": {"evaluation_interval": "1s", "notifications_file": str(notes)},
        "oncall": {"people": [{"name": "ana", "phone": "+15555550101"}],
                   "rotation": {"order": ["ana"], "start": "2026-01-01", "timezone": "America/Los_Angeles"}},
    }
    (tmp_path / "monitor.yml").write_text(yaml.safe_dump(config))
    monitor = MonitorServer(tmp_path / "monitor.yml", port, log_dir=str(tmp_path))
    monitor.start()
    am = start_alertmanager(am_config(f"{monitor.url}/api/alertmanager", bearer=TOKEN))
    try:
        starts = time.time()
        posted = {"labels": {"alertname": "NodeDiskFull", "severity": "critical", "instance": "db1"},
                  "annotations": {"summary": "db1 disk is full", "runbook_url": "https://runbooks/disk"}}
        am.post_alerts([posted])

        def sent() -> list[dict[str, Any]]:
            return [json.loads(line) for line in notes.read_text().splitlines()] if notes.exists() else []

        wait_for(lambda: any(n["kind"] == "firing" for n in sent()), 20, "firing notification from the monitor")
        firing = next(n for n in sent() if n["kind"] == "firing")
        assert firing["tier"] == "critical" and firing["group"] == "NodeDiskFull"
        assert firing["recipients"] == ["ana"] and "db1 disk is full" in firing["text"]
        listed = httpx.get(f"{monitor.url}/api/alerts").json()["alerts"]
        assert listed[0]["labels"]["source"] == "alertmanager"
        acked = httpx.post(f"{monitor.url}/api/alerts/{listed[0]['id']}/ack", json={"by": "ana"},
                           headers={"Authorization": f"Bearer {TOKEN}"})
        assert acked.status_code == 200
        am.post_alerts([{**posted, "startsAt": _iso(starts), "endsAt": _iso(time.time())}])
        wait_for(lambda: any(n["kind"] == "resolved" for n in sent()), 20, "resolved notification")
        assert httpx.post(f"{monitor.url}/api/alertmanager", json={"version": "4", "alerts": []}).status_code == 401
    finally:
        am.cleanup()
        monitor.stop()


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"
