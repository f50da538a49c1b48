"""Slack notifier against a fake Slack on 127.0.0.1 (incoming webhook and Web API chat.postMessage)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts.dispatch import Kind, Notification, alert_view
from alerts.model import Alert, State, Tier
from alerts.notifiers.config import ChannelsConfig, build_notifiers
from alerts.notifiers.errors import DeliveryError
from alerts.notifiers.outgoing import Outgoing
from alerts.notifiers.slack import SlackChannel, SlackNotifier
from alerts.oncall import OnCallConfig
from alerts.templates import Templates
from tests.support.cli import run_cli
from tests.support.fakes.recorder import Failure
from tests.support.fakes.slack import FakeSlack

TOKEN = "hooksecret-Zq8Kx2Lm9Np4"
BOT_TOKEN = "xoxb-1111-2222-botsecret"
FIRED = 1738101720.0
ONCALL = OnCallConfig.model_validate({
    "people": [{"name": "alice", "phone": "+14155550100", "slack": "U0ALICE1"},
               {"name": "bob", "phone": "+14155550101", "slack": "@bob"}],
    "rotation": {"timezone": "America/Los_Angeles", "start": "2025-01-01", "order": ["alice", "bob"]}})


@pytest.fixture(scope="module")
def slack_server() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def slack(slack_server: FakeSlack) -> FakeSlack:
    slack_server.reset()
    return slack_server


def note(tier: Tier = Tier.CRITICAL, kind: Kind = Kind.FIRING, mention: bool = True, n: int = 1,
         recipients: tuple[str, ...] = ("alice",)) -> Notification:
    alerts = []
    for i in range(n):
        a = Alert("ErrorRateHigh", tier, {"alertname": "ErrorRateHigh", "tier": str(tier), "target": f"api-{i}"},
                  state=State.RESOLVED if kind == Kind.RESOLVED else State.FIRING, value=0.072, threshold=0.05,
                  fired_at=FIRED, resolved_at=FIRED + 600 if kind == Kind.RESOLVED else None,
                  summary="5xx error ratio above 5%", runbook="https://runbooks.example.org/errors")
        alerts.append(alert_view(a))
    return Notification(id=f"{kind}-{tier}-{n}", kind=kind, tier=tier, group="ErrorRateHigh", alerts=tuple(alerts),
                        channels=("slack",), recipients=recipients, mention_channel=mention, created_at=FIRED + 30)


def ack(alert_id: str, now: float) -> str:
    return f"https://monitor.example.org/api/ack/{alert_id}-token"


def webhook(fake: FakeSlack, **kw: Any) -> SlackNotifier:
    return SlackNotifier("slack", SlackChannel(webhook_url=fake.webhook_url(TOKEN)), Templates(), ack_link=ack, **kw)


def bot(fake: FakeSlack) -> SlackNotifier:
    cfg = SlackChannel(bot_token=BOT_TOKEN, channel="#ops-alerts", base_url=fake.api_url)
    return SlackNotifier("slack", cfg, Templates(), ack_link=ack)


def texts(msg: dict[str, Any]) -> str:
    return json.dumps(msg["blocks"], ensure_ascii=False)


async def test_critical_webhook_message_has_everything_the_on_call_needs(slack: FakeSlack) -> None:
    n = note()
    await webhook(slack).send(Outgoing(n, "ignored: the blocks come from the template"))
    [msg] = slack.messages()
    assert slack.requests[0].path == f"/services/T0TEST/B0TEST/{TOKEN}"
    assert msg["text"].startswith("<!channel> [CRITICAL] FIRING: ErrorRateHigh")  # the fallback / push text
    blocks = texts(msg)
    assert "<!channel>" in blocks
    assert "CRITICAL FIRING: ErrorRateHigh" in blocks  # tier
    assert "5xx error ratio above 5%" in blocks and "api-0" in blocks  # summary, target
    assert "0.072 (threshold 0.05)" in blocks  # value vs threshold
    assert "2025-01-28 22:02:00 UTC" in blocks  # since when
    assert "<https://runbooks.example.org/errors|" in blocks  # runbook link
    [button] = [b for b in msg["blocks"] if b["type"] == "actions"]
    assert button["elements"][0]["url"] == ack(n.alerts[0]["id"], 0)  # ack link
    assert msg["unfurl_links"] is False


async def test_medium_does_not_mention_the_channel(slack: FakeSlack) -> None:
    await webhook(slack).deliver(note(tier=Tier.MEDIUM, mention=False))
    [msg] = slack.messages()
    assert "<!channel>" not in json.dumps(msg) and msg["text"].startswith("[MEDIUM] FIRING")


async def test_escalation_mentions_the_paged_person_by_member_id(slack: FakeSlack) -> None:
    await webhook(slack, oncall=ONCALL).deliver(note(kind=Kind.ESCALATION, recipients=("alice", "bob")))
    [msg] = slack.messages()
    assert "<@U0ALICE1>" in msg["text"] and "ESCALATED" in msg["text"]
    assert "@bob" not in json.dumps(msg)  # a handle cannot be mentioned through the API


async def test_resolved_message_has_no_ack_button_and_says_how_long(slack: FakeSlack) -> None:
    await webhook(slack).deliver(note(kind=Kind.RESOLVED, mention=False))
    [msg] = slack.messages()
    assert msg["text"].startswith("[CRITICAL] RESOLVED: ErrorRateHigh")
    assert not [b for b in msg["blocks"] if b["type"] == "actions"] and "lasted 10m" in texts(msg)


async def test_a_group_of_many_alerts_stays_within_slack_limits(slack: FakeSlack) -> None:
    await webhook(slack).deliver(note(n=25))
    [msg] = slack.messages()
    assert len(msg["blocks"]) <= 50 and "and 15 more" in texts(msg) and "(25 alerts)" in msg["text"]


async def test_bot_token_posts_with_chat_post_message(slack: FakeSlack) -> None:
    await bot(slack).deliver(note())
    [req] = slack.requests
    assert req.path == "/api/chat.postMessage" and req.headers["Authorization"] == f"Bearer {BOT_TOKEN}"
    body = json.loads(req.body)
    assert body["channel"] == "#ops-alerts" and body["text"].startswith("<!channel> [CRITICAL]")
    assert any(b["type"] == "actions" for b in body["blocks"])


@pytest.mark.parametrize("make", [webhook, bot], ids=["webhook", "bot"])
async def test_429_is_retryable_after_retry_after(slack: FakeSlack, make: Any) -> None:
    slack.fail_next(1, 429, {"Retry-After": "30"})
    with pytest.raises(DeliveryError) as err:
        await make(slack).deliver(note())
    assert err.value.retryable and err.value.retry_after == 30 and err.value.status == 429
    assert len(slack.requests) == 1  # no retry inside the notifier: the outbox decides


@pytest.mark.parametrize("make", [webhook, bot], ids=["webhook", "bot"])
async def test_500_is_retryable_and_the_next_send_works(slack: FakeSlack, make: Any) -> None:
    notifier = make(slack)
    slack.fail_next(3, 500)
    for _ in range(3):
        with pytest.raises(DeliveryError) as err:
            await notifier.deliver(note())
        assert err.value.retryable and err.value.status == 500
    await notifier.deliver(note())
    assert len(slack.requests) == 4 and len(slack.messages()) == 1


async def test_bad_webhook_is_not_retryable_and_the_url_is_scrubbed(slack: FakeSlack,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    slack.failures.append(Failure(404, body=f"no_service for /services/T0TEST/B0TEST/{TOKEN}".encode()))
    with pytest.raises(DeliveryError) as err:
        await webhook(slack).deliver(note())
    assert not err.value.retryable and err.value.status == 404 and "no_service" in err.value.reason
    for text in (str(err.value), repr(err.value), err.value.reason, caplog.text):
        assert TOKEN not in text


@pytest.mark.parametrize(("error", "retryable"), [("channel_not_found", False), ("invalid_auth", False),
                                                  ("ratelimited", True), ("service_unavailable", True)])
async def test_web_api_errors(slack: FakeSlack, error: str, retryable: bool, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    slack.fail_api(error)
    with pytest.raises(DeliveryError) as err:
        await bot(slack).deliver(note())
    assert err.value.retryable is retryable and error in err.value.reason
    assert BOT_TOKEN not in str(err.value) + repr(err.value) + caplog.text


async def test_slack_unreachable_is_retryable() -> None:
    from devstack import free_port

    url = f"http://127.0.0.1:{free_port()}/services/T/B/{TOKEN}"
    notifier = SlackNotifier("slack", SlackChannel(webhook_url=url), Templates())
    with pytest.raises(DeliveryError) as err:
        await notifier.deliver(note())
    assert err.value.retryable and "cannot reach Slack" in err.value.reason and TOKEN not in err.value.reason


def test_config_needs_one_way_in_and_hides_secrets() -> None:
    with pytest.raises(ValueError, match="either webhook_url"):
        ChannelsConfig.model_validate({"slack": {}})
    with pytest.raises(ValueError, match="bot_token needs channel"):
        ChannelsConfig.model_validate({"slack": {"bot_token": BOT_TOKEN}})
    with pytest.raises(ValueError, match="http\\(s\\) URL") as err:
        ChannelsConfig.model_validate({"slack": {"webhook_url": f"hooks.slack.com/{TOKEN}"}})
    assert TOKEN not in str(err.value)
    cfg = ChannelsConfig.model_validate({"slack": {"webhook_url": f"https://hooks.slack.com/services/{TOKEN}"}})
    assert TOKEN not in repr(cfg) and TOKEN not in str(cfg)
    assert isinstance(build_notifiers(cfg)["slack"], SlackNotifier)


# -- converge-monitor test-notify ---------------------------------------------------------------------------


def config_file(tmp_path: Path, channels: dict[str, Any]) -> str:
    path = tmp_path / "monitor.yml"
    path.write_text(yaml.safe_dump({"channels": channels}))
    return str(path)


def test_test_notify_sends_through_the_channel_and_says_so(slack: FakeSlack, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    config = config_file(tmp_path, {"slack": {"webhook_url": slack.webhook_url(TOKEN)}})
    assert run_cli(["--config", config, "test-notify", "slack"]) == 0
    out = capsys.readouterr().out
    assert "slack: sent a test message via Slack incoming webhook" in out
    [msg] = slack.messages()
    assert "test message from converge-monitor" in json.dumps(msg) and "<!channel>" not in json.dumps(msg)


def test_test_notify_failure_exits_non_zero_with_the_reason(slack: FakeSlack, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    config = config_file(tmp_path, {"slack": {"webhook_url": slack.webhook_url(TOKEN)}})
    slack.failures.append(Failure(403, body=b"invalid_token"))
    assert run_cli(["--config", config, "test-notify", "slack"]) == 1
    out = capsys.readouterr().out
    assert "slack: FAILED" in out and "HTTP 403: invalid_token" in out and "permanent" in out and TOKEN not in out
    assert run_cli(["--config", config, "test-notify", "pager"]) == 2
    assert "no channel 'pager'" in capsys.readouterr().err
