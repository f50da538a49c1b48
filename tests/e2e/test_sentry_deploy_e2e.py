"""Sentry webhooks and deploy marks through a running monitor (`converge-monitor run`), counted at the
recording Slack receiver: a new issue alerts Slack once with its title, culprit, first seen, count and link; a
redelivery notifies nobody; a regression alerts at high; Sentry resolving the issue resolves the alert; a
deploy opens the window the rules' deploy values apply in."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from devstack import free_port
from devstack.monitor import MonitorServer
from tests.support.fakes.slack import FakeSlack

SECRET = "sentry-client-secret-0123456789abcdef"
API_TOKEN = "e2e-api-token-0123456789"


def issue_payload(action: str, issue_id: str = "4711", substatus: str = "new", count: str = "3",
                  title: str = "TypeError: Cannot read properties of undefined (reading 'qr')") -> dict[str, Any]:
    """The shape of Sentry's `issue` webhook (docs.sentry.io, integration platform, webhooks/issues)."""
    return {
        "action": action,
        "installation": {"uuid": "7a485448-a9e2-4c85-8a3c-4f44175783c9"},
        "data": {"issue": {
            "id": issue_id, "shortId": "CONVERGE-API-1A", "title": title, "culprit": "POST /v1/connections/scan",
            "level": "error", "status": "resolved" if action == "resolved" else "unresolved",
            "substatus": substatus, "firstSeen": "2026-01-28T17:02:11.123000Z", "lastSeen": "2026-01-28T17:05:00Z",
            "count": count, "userCount": 2, "permalink": f"https://converge.sentry.io/issues/{issue_id}/",
            "project": {"id": "2", "name": "converge-api", "slug": "converge-api", "platform": "python"},
        }},
        "actor": {"type": "application", "id": "sentry", "name": "Sentry"},
    }


def post_sentry(monitor: MonitorServer, payload: dict[str, Any], resource: str = "issue",
                secret: str | None = SECRET, body: bytes | None = None) -> httpx.Response:
    raw = body if body is not None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "Request-ID": "b1e5c3a0-0000-4000-8000-000000000001",
               "Sentry-Hook-Resource": resource, "Sentry-Hook-Timestamp": str(int(time.time()))}
    if secret is not None:
        headers["Sentry-Hook-Signature"] = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return httpx.post(f"{monitor.url}/api/sentry", content=raw, headers=headers, timeout=5)


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {timeout}s: {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MonitorServer, FakeSlack, Path]]:
    base = tmp_path_factory.mktemp("sentry")
    with FakeSlack() as slack:
        port = free_port()
        config = {
            "disks": [{"name": "disks", "paths": [str(base)], "interval": 1, "timeout": 0.8}],
            "store": {"backend": "sqlite", "path": str(base / "state.sqlite3")},
            "server": {"host": "127.0.0.1", "port": port, "api_token": API_TOKEN},
            "alerting": {"evaluation_interval": "1s", "notifications_file": str(base / "notifications.jsonl")},
            "sentry": {"client_secret": "${SENTRY_CLIENT_SECRET}"},
            "channels": {"slack": {"webhook_url": slack.webhook_url()}},
        }
        (base / "monitor.yml").write_text(yaml.safe_dump(config))
        monitor = MonitorServer(base / "monitor.yml", port, env={"SENTRY_CLIENT_SECRET": SECRET}, log_dir=str(base))
        monitor.start()
        try:
            yield monitor, slack, base
        finally:
            monitor.stop()


def texts(slack: FakeSlack, word: str) -> list[str]:
    return [m.get("text", "") for m in slack.messages() if word in json.dumps(m)]


def test_unsigned_wrongly_signed_oversized_and_malformed_webhooks_are_refused(stack: Any) -> None:
    monitor, slack, _ = stack
    payload = issue_payload("created", "9001")
    assert post_sentry(monitor, payload, secret=None).status_code == 401
    assert post_sentry(monitor, payload, secret="not-the-secret-0123456789").status_code == 401
    assert post_sentry(monitor, {}, body=b"x" * (300 * 1024)).status_code == 413
    assert post_sentry(monitor, {}, body=b"{not json").status_code == 422
    assert post_sentry(monitor, {"action": "created", "data": {}}).status_code == 422
    assert post_sentry(monitor, payload, resource="installation").status_code == 422
    time.sleep(2.5)
    assert not texts(slack, "9001")  # none of them reached anybody


def test_new_issue_notifies_slack_once_regression_high_and_resolve_resolves(stack: Any) -> None:
    monitor, slack, _ = stack
    created = issue_payload("created", "4711")
    assert post_sentry(monitor, created).status_code == 200
    wait_for(lambda: bool(texts(slack, "issues/4711")), 15, "the new-issue message on Slack")
    for _ in range(3):  # Sentry redelivers (same body, same signature)
        assert post_sentry(monitor, created).json().get("duplicate") is True
    # a new delivery of `created` for the same issue (other count): still the same issue
    assert post_sentry(monitor, issue_payload("created", "4711", count="5")).json()["received"] == 0
    time.sleep(2.5)
    firing = [m for m in slack.messages() if "issues/4711" in json.dumps(m)]
    assert len(firing) == 1, firing
    message = json.dumps(firing[0])
    for fact in ("MEDIUM", "SentryNewIssue", "Cannot read properties", "POST /v1/connections/scan",
                 "first seen 2026-01-28 17:02 UTC", "3 events", "https://converge.sentry.io/issues/4711/"):
        assert fact in message, fact
    alerts = httpx.get(f"{monitor.url}/api/alerts", timeout=5).json()["alerts"]
    assert [a["tier"] for a in alerts if a["labels"].get("issue") == "4711"] == ["medium"]

    assert post_sentry(monitor, issue_payload("resolved", "4711", substatus="")).status_code == 200
    wait_for(lambda: any("RESOLVED" in t for t in texts(slack, "SentryNewIssue")), 15, "the resolve on Slack")

    regressed = issue_payload("unresolved", "4711", substatus="regressed", count="9")
    assert post_sentry(monitor, regressed).status_code == 200
    assert post_sentry(monitor, regressed).json().get("duplicate") is True
    wait_for(lambda: bool(texts(slack, "SentryIssueRegressed")), 15, "the regression on Slack")
    time.sleep(2.5)
    regression = [m for m in slack.messages() if "SentryIssueRegressed" in json.dumps(m)]
    assert len(regression) == 1 and "HIGH" in json.dumps(regression[0]) and "Regression" in json.dumps(regression[0])
    # resolved again: a new delivery (its body differs from the first resolve's: the count grew)
    assert post_sentry(monitor, issue_payload("resolved", "4711", substatus="", count="9")).status_code == 200
    wait_for(lambda: any("RESOLVED" in t for t in texts(slack, "SentryIssueRegressed")), 15, "regression resolved")
    assert not [a for a in httpx.get(f"{monitor.url}/api/alerts", timeout=5).json()["alerts"]
                if a["labels"].get("issue") == "4711"]


def test_text_from_sentry_is_escaped_in_slack(stack: Any) -> None:
    monitor, slack, _ = stack
    evil = issue_payload("created", "666", title="<!channel> <https://evil.example|click> & more")
    assert post_sentry(monitor, evil).status_code == 200
    wait_for(lambda: bool(texts(slack, "issues/666")), 15, "the message")
    body = json.dumps(texts(slack, "issues/666"))
    assert "<!channel>" not in body and "&lt;!channel&gt;" in body


def test_a_deploy_mark_opens_the_window_on_metrics_and_the_api(stack: Any) -> None:
    monitor, _, base = stack
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    assert httpx.post(f"{monitor.url}/api/deploys", json={"version": "v2.0.0"}, timeout=5).status_code == 401
    assert httpx.post(f"{monitor.url}/api/deploys", json={"version": "bad version"}, headers=auth,
                      timeout=5).status_code == 422
    wait_for(lambda: "converge_deploy_window 0.0" in httpx.get(f"{monitor.url}/metrics", timeout=5).text, 10,
             "the closed window exported")
    cli = subprocess.run([sys.executable, "-m", "monitor.cli", "deploy", "--config", str(base / "monitor.yml"),
                          "mark", "--version", "v1.9.0", "--by", "ci"], capture_output=True, text=True,
                         env={**monitor.env}, timeout=60)
    assert cli.returncode == 0, cli.stderr
    resp = httpx.post(f"{monitor.url}/api/deploys", json={"version": "v2.0.0", "by": "ci"}, headers=auth, timeout=5)
    assert resp.status_code == 201
    listed = httpx.get(f"{monitor.url}/api/deploys", timeout=5).json()
    assert [d["version"] for d in listed["deploys"]] == ["v1.9.0", "v2.0.0"] and listed["window_open"]
    metrics = httpx.get(f"{monitor.url}/metrics", timeout=5).text
    assert "converge_deploy_window 1.0" in metrics
    assert 'converge_deploy_info{version="v2.0.0"} 1.0' in metrics
    assert 'converge_deploy_info{version="v1.9.0"} 0.0' in metrics
