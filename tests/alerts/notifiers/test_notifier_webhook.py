"""Generic webhook notifier: the Alertmanager webhook version 4 document, auth, failures, no leaked secrets."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alerts.dispatch import Kind, Notification, alert_view
from alerts.model import Alert, State, Tier
from alerts.notifiers.config import ChannelsConfig, build_notifiers
from alerts.notifiers.errors import DeliveryError
from alerts.notifiers.outgoing import Outgoing
from alerts.notifiers.webhook import WebhookChannel, WebhookNotifier
from alerts.templates import Templates
from devstack import free_port
from tests.support.fakes.recorder import Failure, RecordingServer

SECRET = "hook-token-Pd93kLq"
FIRED = 1738101720.0  # 2025-01-28T22:02:00Z


@pytest.fixture(scope="module")
def receiver_server() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


@pytest.fixture
def receiver(receiver_server: RecordingServer) -> RecordingServer:
    receiver_server.requests.clear()
    receiver_server.failures.clear()
    return receiver_server


def note(kind: Kind = Kind.FIRING, targets: tuple[str, ...] = ("api-a", "api-b")) -> Notification:
    alerts = []
    for t in targets:
        a = Alert("ErrorRateHigh", Tier.HIGH, {"alertname": "ErrorRateHigh", "tier": "high", "target": t},
                  state=State.RESOLVED if kind == Kind.RESOLVED else State.FIRING, value=0.072, threshold=0.05,
                  fired_at=FIRED, resolved_at=FIRED + 90 if kind == Kind.RESOLVED else None,
                  summary="5xx error ratio above 5%", runbook="https://runbooks.example.org/errors")
        alerts.append(alert_view(a))
    return Notification(id="n1", kind=kind, tier=Tier.HIGH, group="ErrorRateHigh", alerts=tuple(alerts),
                        channels=("webhook",), recipients=(), mention_channel=True, created_at=FIRED + 30)


def hook(server: RecordingServer, templates: Templates | None = None, **cfg: Any) -> WebhookNotifier:
    config = WebhookChannel.model_validate({"url": f"{server.url}/hooks/{SECRET}?key={SECRET}",
                                            "external_url": "https://monitor.example.org", **cfg})
    return WebhookNotifier("webhook", config, templates or Templates())


def posted(server: RecordingServer) -> dict[str, Any]:
    [req] = server.requests
    assert req.method == "POST" and req.headers["Content-Type"] == "application/json"
    return json.loads(req.body)


async def test_firing_payload_is_alertmanager_version_4(receiver: RecordingServer) -> None:
    n = note()
    await hook(receiver).send(Outgoing(n, "ignored"))
    body = posted(receiver)
    assert body["version"] == "4" and body["status"] == "firing" and body["receiver"] == "webhook"
    assert body["groupKey"] == '{}:{alertname="ErrorRateHigh"}' and body["truncatedAlerts"] == 0
    assert body["groupLabels"] == {"alertname": "ErrorRateHigh"}
    assert body["commonLabels"] == {"alertname": "ErrorRateHigh", "severity": "high", "tier": "high"}
    assert body["commonAnnotations"]["summary"] == "5xx error ratio above 5%"
    assert body["commonAnnotations"]["runbook_url"] == "https://runbooks.example.org/errors"
    assert body["externalURL"] == "https://monitor.example.org"
    first = body["alerts"][0]
    assert first["status"] == "firing" and first["labels"]["target"] == "api-a"
    assert first["startsAt"] == "2025-01-28T22:02:00.000Z" and first["endsAt"] == "0001-01-01T00:00:00Z"
    assert first["fingerprint"] == n.alerts[0]["id"] and first["generatorURL"] == "https://monitor.example.org"
    assert "0.072 (threshold 0.05)" in first["annotations"]["description"]
    assert set(first) == {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}


async def test_resolved_payload(receiver: RecordingServer) -> None:
    await hook(receiver).deliver(note(Kind.RESOLVED, targets=("api-a",)))
    body = posted(receiver)
    assert body["status"] == "resolved" and body["alerts"][0]["status"] == "resolved"
    assert body["alerts"][0]["endsAt"] == "2025-01-28T22:03:30.000Z"
    assert body["commonLabels"]["target"] == "api-a"


async def test_bearer_and_basic_auth_and_extra_headers(receiver: RecordingServer) -> None:
    await hook(receiver, bearer_token="bearer-" + SECRET, headers={"X-Api-Key": "key-" + SECRET}).deliver(note())
    await hook(receiver, username="monitor", password="pw-" + SECRET).deliver(note())
    first, second = receiver.requests
    assert first.headers["Authorization"] == f"Bearer bearer-{SECRET}" and first.headers["X-Api-Key"] == f"key-{SECRET}"
    assert second.headers["Authorization"] == "Basic " + base64.b64encode(f"monitor:pw-{SECRET}".encode()).decode()


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (503, True), (429, True), (400, False),
                                                   (401, False), (404, False)])
async def test_failures_are_classified_and_scrubbed(receiver: RecordingServer, status: int, retryable: bool,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # httpx logs every request URL at INFO
    receiver.failures.append(Failure(status, body=f"bad request to /hooks/{SECRET}".encode()))
    with pytest.raises(DeliveryError) as err:
        await hook(receiver, bearer_token="bearer-" + SECRET).deliver(note())
    assert err.value.retryable is retryable and err.value.status == status
    assert err.value.reason == f"HTTP {status}: bad request to [redacted]"
    assert "POST" in caplog.text  # httpx did log the request ...
    for text in (str(err.value), repr(err.value), caplog.text):
        assert SECRET not in text  # ... without the secret


async def test_a_secret_echoed_across_the_cut_is_not_logged_half_written(receiver: RecordingServer) -> None:
    token = "bearer-" + SECRET
    body = "x" * (200 - 10) + token + " and more"  # the token straddles the 200th character
    receiver.failures.append(Failure(500, body=body.encode()))
    with pytest.raises(DeliveryError) as err:
        await hook(receiver, bearer_token=token).deliver(note())
    assert token[:10] not in err.value.reason and "[redacted]" in err.value.reason


async def test_unreachable_is_retryable() -> None:
    config = WebhookChannel(url=f"http://127.0.0.1:{free_port()}/hooks/{SECRET}")
    with pytest.raises(DeliveryError) as err:
        await WebhookNotifier("webhook", config, Templates()).deliver(note())
    assert err.value.retryable and "cannot reach the webhook" in err.value.reason and SECRET not in str(err.value)


async def test_a_template_override_posts_another_shape(receiver: RecordingServer, tmp_path: Path) -> None:
    (tmp_path / "webhook.json.j2").write_text(
        '{"title": {{ (tier | upper ~ " " ~ group) | tojson }}, "count": {{ count }}, '
        '"status": {{ payload.status | tojson }}}')
    await hook(receiver, Templates(tmp_path)).deliver(note())
    assert posted(receiver) == {"title": "HIGH ErrorRateHigh", "count": 2, "status": "firing"}


def test_config() -> None:
    with pytest.raises(ValueError, match="bearer_token or username/password"):
        ChannelsConfig.model_validate({"webhook": {"url": "https://x.example", "bearer_token": "t", "username": "u",
                                                   "password": "p"}})
    with pytest.raises(ValueError, match="needs a type"):
        ChannelsConfig.model_validate({"ops": {"url": "https://x.example"}})
    cfg = ChannelsConfig.model_validate({"ops": {"type": "webhook", "url": f"https://x.example/{SECRET}"}})
    assert SECRET not in repr(cfg) and SECRET not in str(cfg.secrets())
    notifier = build_notifiers(cfg)["ops"]
    assert isinstance(notifier, WebhookNotifier) and notifier.name == "ops"


async def test_no_channel_leaks_a_secret_in_errors_or_logs(receiver: RecordingServer, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    """Every channel fails in a way that tempts it to echo its secrets; grep everything it said."""
    from alerts.oncall import OnCallConfig
    from tests.support.fakes.slack import FakeSlack
    from tests.support.fakes.twilio import ACCOUNT_SID, FakeTwilio

    caplog.set_level(logging.DEBUG)
    phone = "+14155550123"
    oncall = OnCallConfig.model_validate({
        "people": [{"name": "alice", "phone": phone, "email": "alice@example.org"}],
        "rotation": {"timezone": "UTC", "start": "2025-01-01", "order": ["alice"]}})
    with FakeSlack() as slack, FakeTwilio() as twilio:
        channels = ChannelsConfig.model_validate({
            "slack": {"webhook_url": slack.webhook_url("slackhook-" + SECRET)},
            "slack-bot": {"type": "slack", "bot_token": "xoxb-" + SECRET, "channel": "#alerts",
                          "base_url": slack.api_url},
            "sms": {"account_sid": ACCOUNT_SID, "auth_token": "twilio-" + SECRET, "from_number": "+14155550100",
                    "base_url": twilio.url},
            "email": {"host": "127.0.0.1", "port": free_port(), "starttls": False, "from": "m@example.org",
                      "username": "monitor", "password": "smtp-" + SECRET},
            "webhook": {"url": f"{receiver.url}/hooks/{SECRET}", "bearer_token": "bearer-" + SECRET},
        })
        secrets = [s.get_secret_value() for s in channels.secrets()] + [SECRET, phone]
        # each receiver answers with what it was sent (in channel order: slack webhook, then the bot)
        slack.failures.extend([Failure(404, body=f"no_service {slack.webhook_url('slackhook-' + SECRET)}".encode()),
                               Failure(401, body=f'{{"ok": false, "error": "invalid_auth xoxb-{SECRET}"}}'.encode())])
        twilio.failures.append(Failure(400, body=f"To {phone} with twilio-{SECRET}".encode()))
        receiver.failures.append(Failure(400, body=f"/hooks/{SECRET} Bearer bearer-{SECRET}".encode()))
        n = Notification(**{**note().__dict__, "recipients": ("alice",)})
        said: list[str] = []
        for name, notifier in build_notifiers(channels, oncall).items():
            with pytest.raises(DeliveryError) as err:
                await notifier.send(Outgoing(n, "text"))
            said += [str(err.value), repr(err.value), err.value.reason]
            assert name == err.value.channel
    everything = "\n".join(said) + caplog.text
    for secret in secrets:
        assert secret not in everything
    assert "[redacted]" in everything  # the echoes were there, and were scrubbed
