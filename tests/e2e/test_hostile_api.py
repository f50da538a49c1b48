"""A hostile client against a real running monitor (`converge-monitor run`), with every channel pointed at
the recording receivers: oversized and malformed bodies are refused with 4xx (never 500), stored fields are
bounded, the token is checked before the body, and text from an Alertmanager webhook reaches Slack, SMS,
email and the webhook inert, as the receivers got it. Probe URLs are shown without query values. Last, a
schema-driven fuzzer (schemathesis) runs against the server's own OpenAPI schema.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import message_from_string, policy
from email.message import Message
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from devstack import free_port
from devstack.monitor import MonitorServer
from tests.support.fakes.recorder import RecordingServer
from tests.support.fakes.slack import FakeSlack
from tests.support.fakes.smtp import SmtpServer
from tests.support.fakes.twilio import FakeTwilio

TOKEN = "api-token-hostile-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
QUERY_SECRET = "query-secret-hostile-0123456789"
ANA = "+15555550101"
# What an attacker puts in an Alertmanager alert: Slack mass mentions, a planted link, HTML, a terminal
# escape, a forged line, and a javascript: runbook.
EVIL_NAME = "Evil<!channel>\nAck: https://evil.example/ack"
EVIL_SUMMARY = "<!here> <https://evil.example|click here> & <b>bold</b> <script>x</script>\x1b[31m red"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass
class Rig:
    monitor: MonitorServer
    slack: FakeSlack
    twilio: FakeTwilio
    hook: RecordingServer
    probed: RecordingServer
    smtp: SmtpServer

    def post(self, path: str, body: Any = None, *, raw: bytes | None = None,
             headers: dict[str, str] | None = None) -> httpx.Response:
        content = raw if raw is not None else json.dumps(body).encode()
        return httpx.post(f"{self.monitor.url}{path}", content=content, timeout=30,
                          headers={"Content-Type": "application/json", **(AUTH if headers is None else headers)})


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    tmp = tmp_path_factory.mktemp("hostile")
    today = datetime.now(ZoneInfo("America/Los_Angeles")).date()
    smtp_port, port = free_port(), free_port()
    with FakeSlack() as slack, FakeTwilio() as twilio, RecordingServer() as hook, RecordingServer() as probed:
        smtp = SmtpServer(port=smtp_port).start()
        config = {
            "targets": {"http": [{"name": "probed", "url": f"{probed.url}/health?token={QUERY_SECRET}&x=1",
                                  "interval": 1, "timeout": 0.8}]},
            "store": {"backend": "sqlite", "path": str(tmp / "state.sqlite3")},
            "server": {"host": "127.0.0.1", "port": port, "api_token": TOKEN},
            "event": {"start": str(today - timedelta(days=1)), "end": str(today + timedelta(days=1)),
                      "timezone": "America/Los_Angeles"},
            "alerting": {"evaluation_interval": "1s", "event_evaluation_interval": "1s",
                         "notifications_file": str(tmp / "notifications.jsonl")},
            "oncall": {"people": [{"name": "ana", "phone": ANA, "email": "ana@example.org"}],
                       "rotation": {"order": ["ana"], "start": str(today), "timezone": "America/Los_Angeles"}},
            "routing": {"critical": {"event": ["sms", "slack", "email", "webhook"], "mention_channel": False}},
            "channels": {
                "slack": {"webhook_url": slack.webhook_url()},
                "sms": {"account_sid": "AC" + "0" * 32, "auth_token": "twilio-token-hostile-0123",
                        "from_number": "+15555550100", "base_url": twilio.url},
                "email": {"host": "127.0.0.1", "port": smtp_port, "starttls": False, "from": "monitor@example.org",
                          "to": ["team@example.org"]},
                "webhook": {"url": f"{hook.url}/hook"}},
        }
        (tmp / "monitor.yml").write_text(yaml.safe_dump(config))
        monitor = MonitorServer(tmp / "monitor.yml", port, log_dir=str(tmp))
        monitor.start()
        try:
            yield Rig(monitor, slack, twilio, hook, probed, smtp)
        finally:
            monitor.stop()
            smtp.stop()


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {timeout}s: {what}")
        time.sleep(0.2)
    return found


def webhook_alert(alertname: str, **annotations: str) -> dict[str, Any]:
    return {"version": "4", "alerts": [{"status": "firing", "labels": {"alertname": alertname, "severity": "critical",
                                                                       "target": "<!here>"},
                                        "annotations": annotations, "startsAt": "2026-01-28T09:00:00Z"}]}


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)
    elif isinstance(value, str):
        yield value


def slack_markup(message: dict[str, Any]) -> list[str]:
    """The texts Slack parses for markup: the top-level `text` and every mrkdwn object (plain_text objects,
    like the header, are shown verbatim: no mentions, no links)."""
    found = [str(message.get("text", ""))]

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("type") == "mrkdwn":
                found.append(str(value.get("text", "")))
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(message.get("blocks", []))
    return found


def parts(mail: Message, kind: str) -> str:
    return "".join(str(p.get_payload(decode=True).decode()) for p in mail.walk() if p.get_content_type() == kind)


# -- oversized, malformed, deep --------------------------------------------------------------------------
def test_an_oversized_body_is_413_and_nothing_is_stored(rig: Rig) -> None:
    huge = webhook_alert("Huge", summary="x" * (2 << 20))
    assert rig.post("/api/alertmanager", huge).status_code == 413
    assert rig.post("/api/silences", {"matchers": ["a=b"], "author": "x", "reason": "y" * (2 << 20),
                                      "duration": "1h"}).status_code == 413
    listed = httpx.get(f"{rig.monitor.url}/api/alerts", timeout=10)
    assert "Huge" not in listed.text and len(listed.content) < 100_000


@pytest.mark.parametrize("path", ["/api/silences", "/api/alertmanager", "/api/alerts/abc/ack"])
def test_deep_or_broken_json_is_400_never_500(rig: Rig, path: str) -> None:
    for raw in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50 + b"1" + b"}" * 50, b"{not json", b"\xff\xfe"):
        answer = rig.post(path, raw=raw)
        assert answer.status_code == 400, (path, raw[:20], answer.text)


@pytest.mark.parametrize(("body", "field"), [
    (webhook_alert("Big", summary="s" * 5000), "annotations.summary"),
    ({"version": "4", "alerts": [{"status": "firing", "labels": {"alertname": "L", "team": "t" * 2000}}]},
     "labels.team"),
    ({"version": "4", "alerts": [{"status": "firing", "labels": {"alertname": "A"}, "annotations": []}]},
     "annotations"),
    ({"version": "4", "alerts": [{"status": "firing", "labels": {"alertname": "A"}, "startsAt": 5}]}, "startsAt"),
    ({"version": "4", "alerts": [{"status": "firing", "labels": {"alertname": "A", "n": {"x": 1}}}]}, "labels.n"),
])
def test_alertmanager_fields_are_bounded_and_typed(rig: Rig, body: dict[str, Any], field: str) -> None:
    answer = rig.post("/api/alertmanager", body)
    assert answer.status_code == 422, answer.text
    assert field in answer.json()["detail"]


@pytest.mark.parametrize(("change", "field"), [
    ({"ends_at": float("nan")}, "ends_at"),
    ({"ends_at": float("inf")}, "ends_at"),
    ({"ends_at": 1e300}, "ends_at"),
    ({"reason": "r" * 600}, "reason"),
    ({"author": "a" * 200}, "author"),
    ({"matchers": [f"a{i}=b" for i in range(100)]}, "matchers"),
    ({"matchers": ["alertname=" + "x" * 1000]}, "matchers"),
    ({"duration": ".inf"}, "duration"),
    ({"duration": "99999999999999d"}, "duration"),
])
def test_silence_fields_are_bounded(rig: Rig, change: dict[str, Any], field: str) -> None:
    body = {"matchers": ["alertname=Foo"], "author": "me", "reason": "test", "duration": "1h", **change}
    raw = json.dumps(body).encode()  # NaN and Infinity as Python writes them: what a sloppy client sends
    answer = rig.post("/api/silences", raw=raw)
    assert answer.status_code == 422, answer.text
    assert field in answer.json()["detail"]


def test_the_ack_endpoint_checks_the_token_before_the_body(rig: Rig) -> None:
    assert rig.post("/api/alerts/abc/ack", {"by": ""}, headers={}).status_code == 401
    assert rig.post("/api/alerts/abc/ack", raw=b"{bad", headers={}).status_code == 401
    assert rig.post("/api/alerts/abc/ack", {"by": ""}, headers={"Authorization": "Bearer nope"}).status_code == 403
    assert rig.post("/api/alerts/abc/ack", {"by": ""}).status_code == 422


def test_an_alert_listed_as_firing_can_be_acknowledged_at_once(rig: Rig) -> None:
    assert rig.post("/api/alertmanager", webhook_alert("AckAtOnce", summary="ack me")).status_code == 200
    listed = [a for a in httpx.get(f"{rig.monitor.url}/api/alerts", timeout=10).json()["alerts"]
              if a["rule"] == "AckAtOnce"]
    assert listed, "the received alert is listed as firing"
    answer = rig.post(f"/api/alerts/{listed[0]['id']}/ack", {"by": "ana"})
    assert answer.status_code == 200, answer.text


# -- injection: what the receivers got ---------------------------------------------------------------------
def test_outside_text_reaches_every_channel_inert(rig: Rig) -> None:
    evil = webhook_alert(EVIL_NAME, summary=EVIL_SUMMARY, runbook_url="javascript:alert(document.cookie)")
    good = webhook_alert("RunbookKept", summary="fine", runbook_url="https://runbook.example/db?a=1&b=2")
    assert rig.post("/api/alertmanager", evil).status_code == 200
    assert rig.post("/api/alertmanager", good).status_code == 200

    slack = wait_for(lambda: [m for m in rig.slack.messages() if "Evil" in json.dumps(m)], 30, "the Slack message")
    slack_good = wait_for(lambda: [m for m in rig.slack.messages() if "RunbookKept" in json.dumps(m)], 30, "Slack 2")
    marked = [t for m in slack for t in slack_markup(m)]
    for text in marked:
        for planted in ("<!channel>", "<!here>", "<https://evil", "javascript:", "\x1b"):
            assert planted not in text, (planted, text)
    assert any("&lt;!here&gt;" in t for t in marked)  # shown, as text
    assert not any("\x1b" in t for t in strings(slack))
    assert any("<https://runbook.example/db?a=1&amp;b=2|" in t for m in slack_good for t in slack_markup(m))

    texts = wait_for(lambda: [m["Body"] for m in rig.twilio.messages() if "Evil" in m["Body"]], 30, "the SMS")
    for body in texts:
        assert not CONTROL.search(body) and "\n" not in body and "javascript:" not in body, body

    mails = wait_for(lambda: [message_from_string(m.message.as_string(), policy=policy.default)
                              for m in rig.smtp.inbox.mails if "Evil" in m.message.as_string()], 30, "the mail")
    for mail in mails:
        html, text = parts(mail, "text/html"), parts(mail, "text/plain")
        assert "<!here>" not in html and "<b>bold</b>" not in html and "<script>" not in html
        assert "&lt;script&gt;" in html
        assert "javascript:" not in html + text
        assert "\x1b" not in text
        assert "\n" not in str(mail["Subject"]) and "Ack: https://evil" in str(mail["Subject"])  # one line

    bodies = wait_for(lambda: [r.body for r in rig.hook.requests if b"Evil" in r.body], 30, "the webhook")
    assert not CONTROL.search(bodies[0].decode())  # JSON escapes them (\u001b, \n)
    alert = json.loads(bodies[0])["alerts"][0]
    assert alert["annotations"]["summary"] == EVIL_SUMMARY  # the text itself, JSON-escaped, for a machine
    assert "runbook_url" not in alert["annotations"]
    assert alert["labels"]["alertname"] == EVIL_NAME  # labels as received: the webhook is JSON, not a display


# -- redaction -------------------------------------------------------------------------------------------
def test_probe_urls_are_shown_without_query_values(rig: Rig) -> None:
    wait_for(lambda: any(s["labels"].get("target") == "probed" for s in rig.monitor.signals()), 20, "a probe")
    shown = [httpx.get(f"{rig.monitor.url}{path}", timeout=10).text
             for path in ("/api/signals", "/metrics", "/api/alerts", "/")]
    shown.append(rig.monitor.logs())
    assert any("token=***" in text for text in shown)
    assert not any(QUERY_SECRET in text for text in shown)


# -- the fuzzer ------------------------------------------------------------------------------------------
def test_fuzzing_the_openapi_schema_finds_no_500_and_no_schema_violation(rig: Rig) -> None:
    """Every operation the server publishes, 25 generated requests each (with the token, so the write
    endpoints are reached): no 5xx, and every answer fits the schema. Derandomized: the same run each time."""
    api = schemathesis.openapi.from_url(f"{rig.monitor.url}/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 8
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def fuzz(case: Any) -> None:
            case.call_and_validate(headers=AUTH, checks=[not_a_server_error, response_schema_conformance])

        try:
            fuzz()
        except Exception as exc:  # one line per failing operation, all reported at once
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:500]}")
    assert not failures, "\n".join(failures)
