"""SMS notifier against a fake Twilio Messages API on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from alerts.dispatch import Kind, Notification, alert_view
from alerts.model import Alert, State, Tier
from alerts.notifiers.config import ChannelsConfig
from alerts.notifiers.errors import DeliveryError
from alerts.notifiers.outgoing import LocalProgress, Outgoing
from alerts.notifiers.sms import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    SEGMENT,
    SmsChannel,
    SmsNotifier,
    fit_sms,
    septets,
    to_gsm7,
)
from alerts.oncall import OnCallConfig
from alerts.templates import Templates
from tests.support.cli import run_cli
from tests.support.fakes.recorder import Failure
from tests.support.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

FIRED = 1738101720.0  # 14:02 PST
ALICE, BOB = "+14155550100", "+14155550101"
ONCALL = OnCallConfig.model_validate({
    "people": [{"name": "alice", "phone": "+1 (415) 555-0100", "email": "alice@example.org"},
               {"name": "bob", "phone": BOB}],
    "rotation": {"timezone": "America/Los_Angeles", "start": "2025-01-01", "order": ["alice", "bob"]}})
# A real ack link: base URL + /api/ack/ + a 53-character token (alerts/ack.py).
ACK = "https://monitor.converge.example.org/api/ack/" + "Ab3_" * 13 + "x"


@pytest.fixture(scope="module")
def twilio_server() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def twilio(twilio_server: FakeTwilio) -> FakeTwilio:
    twilio_server.reset()
    return twilio_server


def note(summary: str = "API health check failing", kind: Kind = Kind.FIRING, recipients: tuple[str, ...] = ("alice",),
         nid: str = "n1", target: str = "prod-health") -> Notification:
    a = Alert("ApiDown", Tier.CRITICAL, {"alertname": "ApiDown", "tier": "critical", "target": target},
              state=State.FIRING, value=0.0, threshold=1.0, fired_at=FIRED, summary=summary,
              runbook="https://runbooks.example.org/api-down")
    return Notification(id=nid, kind=kind, tier=Tier.CRITICAL, group="ApiDown", alerts=(alert_view(a),),
                        channels=("sms", "slack"), recipients=recipients, mention_channel=True, created_at=FIRED + 5)


def sms(fake: FakeTwilio, oncall: OnCallConfig | None = ONCALL) -> SmsNotifier:
    cfg = SmsChannel(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_number="+1 415 555 0199", base_url=fake.url)
    return SmsNotifier("sms", cfg, Templates(timezone="America/Los_Angeles"), oncall=oncall,
                       ack_link=lambda _id, _now: ACK)


def gsm_only(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


async def test_the_on_call_gets_one_segment_with_tier_rule_target_and_ack_link(twilio: FakeTwilio) -> None:
    await sms(twilio).send(Outgoing(note(), "ignored"))
    [msg] = twilio.messages()
    assert msg["_path"] == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert (msg["_user"], msg["_password"]) == (ACCOUNT_SID, AUTH_TOKEN)
    assert msg["To"] == ALICE and msg["From"] == "+14155550199"
    body = msg["Body"]
    assert septets(body) <= SEGMENT and gsm_only(body)
    # a real ack link takes 98 of the 160 characters: the short form (tier, rule, target, value, time) is used
    assert body.startswith("CRIT FIRING ApiDown prod-health 0 vs 1 14:02 PST")
    assert body.endswith(ACK)


async def test_with_a_short_ack_link_the_summary_is_included(twilio: FakeTwilio) -> None:
    notifier = sms(twilio)
    notifier.ack_link = lambda _id, _now: "https://m.example/a/x1"
    await notifier.deliver(note())
    body = twilio.messages()[0]["Body"]
    assert body == ("CRITICAL FIRING ApiDown prod-health: API health check failing. 0 (threshold 1), since 14:02 PST "
                    "Ack: https://m.example/a/x1")


async def test_a_long_summary_with_unicode_is_shortened_to_one_gsm_segment(twilio: FakeTwilio) -> None:
    summary = "p95 latency 2.3 s ≥ 1 s on /v1/sessions — users “see” timeouts… 🔥 " * 3
    await sms(twilio).deliver(note(summary=summary, target="prod-api-east-1"))
    body = twilio.messages()[0]["Body"]
    assert septets(body) <= SEGMENT and gsm_only(body)
    assert "ApiDown" in body and "prod-api-east-1" in body and ACK in body  # the ack link survives whole


def test_fit_keeps_the_link_whole_when_even_the_shortest_level_is_too_long() -> None:
    link = "https://m.example.org/api/ack/" + "z" * 60
    long_name = "Rule" + "X" * 150
    text = fit_sms(lambda level: f"CRIT FIRING {long_name} {link}", keep=(link,))
    assert septets(text) <= SEGMENT and text.endswith(link) and text.startswith("CRIT FIRING RuleXXX")
    assert ".. " in text


def test_gsm7_counting_and_cleaning() -> None:
    assert septets("a[b]€") == 1 + 2 + 1 + 2 + 2  # extension characters take two septets
    assert to_gsm7("Café “ok” — naïve ≥ 5…") == 'Café "ok" - naive >= 5...'
    assert to_gsm7("🔥") == "?"


async def test_escalation_texts_every_paged_person_once_even_when_retried(twilio: FakeTwilio) -> None:
    notifier = sms(twilio)
    n = note(kind=Kind.ESCALATION, recipients=("alice", "bob"))
    # alice's text goes through, bob's hits a 503: the outbox will retry the whole notification
    twilio.failures.extend([Failure(201, body=b'{"sid": "SM1"}'), Failure(503)])
    progress = LocalProgress()  # the outbox passes one kept in the row (tests/alerts/test_outbox_receivers.py)
    with pytest.raises(DeliveryError) as err:
        await notifier.resume(Outgoing(n, ""), progress)
    assert err.value.retryable and "texting bob" in err.value.reason and "already sent to alice" in err.value.reason
    await notifier.resume(Outgoing(n, ""), progress)  # the retry
    sent = [m["To"] for m in twilio.messages()]
    assert sent == [ALICE, BOB]  # alice once, bob once
    assert "ESCALATED" in twilio.messages()[1]["Body"]


@pytest.mark.parametrize("status", [503, 500, 429])
async def test_server_errors_and_throttling_are_retryable(twilio: FakeTwilio, status: int) -> None:
    twilio.fail_next(1, status, {"Retry-After": "12"} if status == 429 else None)
    with pytest.raises(DeliveryError) as err:
        await sms(twilio).deliver(note())
    assert err.value.retryable and err.value.status == status
    assert err.value.retry_after == (12 if status == 429 else None)
    assert len(twilio.requests) == 1  # one attempt: the outbox retries


async def test_a_bad_number_is_not_retryable_and_no_secret_or_number_leaks(twilio: FakeTwilio,
                                                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    twilio.fail_error(400, 21211, f"The 'To' number {ALICE} is not a valid phone number.")
    with pytest.raises(DeliveryError) as err:
        await sms(twilio).deliver(note())
    assert not err.value.retryable and "Twilio error 21211" in err.value.reason and "texting alice" in err.value.reason
    for text in (str(err.value), repr(err.value), caplog.text):
        assert AUTH_TOKEN not in text and ALICE not in text


async def test_without_named_recipients_the_primary_at_that_time_is_texted(twilio: FakeTwilio) -> None:
    await sms(twilio).deliver(note(recipients=()))
    assert [m["To"] for m in twilio.messages()] == [ONCALL.who(FIRED + 5).primary.phone.get_secret_value()]


async def test_no_on_call_configured_is_a_permanent_failure(twilio: FakeTwilio) -> None:
    with pytest.raises(DeliveryError, match="no recipient") as err:
        await sms(twilio, oncall=None).deliver(note())
    assert not err.value.retryable and not twilio.requests


async def test_twilio_unreachable_is_retryable() -> None:
    from devstack import free_port

    cfg = SmsChannel(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_number="+14155550199",
                     base_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(DeliveryError) as err:
        await SmsNotifier("sms", cfg, Templates(), oncall=ONCALL).deliver(note())
    assert err.value.retryable and "cannot reach Twilio" in err.value.reason


def test_config_errors_name_the_field_and_hide_the_token() -> None:
    base = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": "+14155550199"}
    with pytest.raises(ValueError, match="account_sid"):
        ChannelsConfig.model_validate({"sms": {**base, "account_sid": "nope"}})
    with pytest.raises(ValueError, match=r"from_number must be in E\.164"):
        ChannelsConfig.model_validate({"sms": {**base, "from_number": "555-0199"}})
    with pytest.raises(ValueError, match="auth_token") as err:
        ChannelsConfig.model_validate({"sms": {k: v for k, v in base.items() if k != "auth_token"}})
    with pytest.raises(ValueError, match="provider"):
        ChannelsConfig.model_validate({"sms": {**base, "provider": "nexmo"}})
    cfg = ChannelsConfig.model_validate({"pager": {**base, "type": "sms"}})
    assert AUTH_TOKEN not in repr(cfg) and AUTH_TOKEN not in str(err.value)


def test_test_notify_texts_the_primary_and_names_them(twilio: FakeTwilio, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "monitor.yml"
    path.write_text(yaml.safe_dump({
        "channels": {"sms": {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": "+14155550199",
                             "base_url": twilio.url}},
        "oncall": {"people": [{"name": "alice", "phone": ALICE}, {"name": "bob", "phone": BOB}],
                   "rotation": {"timezone": "UTC", "start": "2025-01-01", "order": ["alice", "bob"]}}}))
    assert run_cli(["--config", str(path), "test-notify", "sms", "--to", "bob"]) == 0
    out = capsys.readouterr().out
    assert "sms: sent a test message via Twilio SMS from +14155550199 to bob" in out and BOB not in out
    [msg] = twilio.messages()
    assert msg["To"] == BOB and "test" in msg["Body"]
    twilio.fail_next(1, 503)
    assert run_cli(["--config", str(path), "test-notify", "sms"]) == 1
    assert "temporary" in capsys.readouterr().out
