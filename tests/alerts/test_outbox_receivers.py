"""The outbox against the recording Twilio and SMTP servers: what a receiver accepted is recorded in the row
at once, so neither a failure for the next part, nor a failing QUIT, nor a restart sends it twice.

Counted where a person counts: the texts Twilio accepted per number, the mails the SMTP server accepted."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.dispatch import Kind, Notification, alert_view
from alerts.model import Alert, State, Tier
from alerts.notifiers.email import EmailChannel, EmailNotifier
from alerts.notifiers.jsonl import JsonLinesNotifier
from alerts.notifiers.sms import SmsChannel, SmsNotifier
from alerts.oncall import OnCallConfig
from alerts.outbox import LOG_CHANNEL, DeliveryWorker, outbox_rows
from alerts.templates import Templates
from monitor.store.base import OutboxRow
from monitor.store.sqlite import SqliteStore
from tests.support.clock import Clock
from tests.support.fakes.recorder import Failure
from tests.support.fakes.smtp import SmtpServer
from tests.support.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, OK_BODY, FakeTwilio

T0 = 1_769_619_600.0
ALICE, BOB = "+14155550100", "+14155550101"
ONCALL = OnCallConfig.model_validate({
    "people": [{"name": "alice", "phone": ALICE, "email": "alice@example.org"}, {"name": "bob", "phone": BOB}],
    "rotation": {"timezone": "UTC", "start": "2025-01-01", "order": ["alice", "bob"]}})


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def page(channel: str) -> Notification:
    """A page to alice and bob on one channel (high: no early hand-off to another channel)."""
    alert = Alert("RedisDown", Tier.HIGH, {"alertname": "RedisDown", "tier": "high", "target": "redis"},
                  state=State.FIRING, value=0.0, threshold=1.0, fired_at=T0 - 60, summary="Redis is down")
    return Notification(id="n-redis-down", kind=Kind.ESCALATION, tier=Tier.HIGH, group="RedisDown",
                        alerts=(alert_view(alert),), channels=(channel,), recipients=("alice", "bob"),
                        mention_channel=False, created_at=T0)


def texter(twilio: FakeTwilio) -> SmsNotifier:
    cfg = SmsChannel(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_number="+14155550199",
                     base_url=twilio.url, timeout=5)
    return SmsNotifier("sms", cfg, Templates(), oncall=ONCALL)


def mailer(smtp: SmtpServer) -> EmailNotifier:
    cfg = EmailChannel.model_validate({"host": "127.0.0.1", "port": smtp.port, "starttls": False,
                                       "from": "alerts@example.org", "to": ["team@example.org"], "timeout": 5})
    return EmailNotifier("email", cfg, Templates(), oncall=ONCALL)


def monitor(path: Path, channel: str, notifier: SmsNotifier | EmailNotifier,
            clock: Clock) -> tuple[SqliteStore, DeliveryWorker]:
    """A monitor's store and delivery worker as a (re)start builds them: new objects over the store's file."""
    store = SqliteStore(str(path / "state.sqlite3"), retention=86400)
    log = JsonLinesNotifier(path / "notifications.jsonl")
    return store, DeliveryWorker(store, {channel: notifier, LOG_CHANNEL: log}, clock=clock)


def the_row(store: SqliteStore, channel: str) -> OutboxRow:
    [row] = [r for r in store.outbox_all() if r.channel == channel]
    return row


def test_sms_to_two_people_after_a_twilio_500_and_a_restart_texts_each_of_them_once(twilio: FakeTwilio,
                                                                                  tmp_path: Path) -> None:
    clock = Clock(T0)
    store, worker = monitor(tmp_path, "sms", texter(twilio), clock)
    store.commit_cycle("alerting", {}, outbox_rows(page("sms"), "", {"sms"}))
    twilio.respond_next([Failure(201, body=OK_BODY), Failure(500)])  # alice's text accepted, bob's not
    asyncio.run(worker.run_once())
    assert [m["To"] for m in twilio.messages()] == [ALICE]
    row = the_row(store, "sms")
    assert row.status == "pending" and "500" in (row.last_error or "")
    assert ALICE not in json.dumps(row.payload) and BOB not in json.dumps(row.payload)  # no number in the store
    store.close()

    # The monitor restarts before the retry is due: a new store, worker and notifier over the same file.
    clock.now += 30
    store, worker = monitor(tmp_path, "sms", texter(twilio), clock)
    asyncio.run(worker.run_once())
    assert Counter(m["To"] for m in twilio.messages()) == {ALICE: 1, BOB: 1}
    assert the_row(store, "sms").status == "sent"
    store.close()


@pytest.mark.parametrize("reply", ["421 4.3.2 shutting down", "554 5.0.0 transaction failed"])
def test_a_mail_whose_quit_fails_after_data_was_accepted_is_sent_once_and_not_retried(smtp: SmtpServer,
                                                                                    tmp_path: Path,
                                                                                    reply: str) -> None:
    smtp.inbox.quit_reply = reply
    clock = Clock(T0)
    store, worker = monitor(tmp_path, "email", mailer(smtp), clock)
    store.commit_cycle("alerting", {}, outbox_rows(page("email"), "", {"email"}))
    asyncio.run(worker.run_once())
    assert smtp.inbox.quit_seen.is_set() and len(smtp.inbox.mails) == 1
    row = the_row(store, "email")
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
    clock.now += 120  # past every retry the policy would make
    asyncio.run(worker.run_once())
    assert len(smtp.inbox.mails) == 1
    assert {r.channel for r in store.outbox_all()} == {"email", LOG_CHANNEL}  # handed to no other channel
    store.close()


def test_a_monitor_killed_while_quit_is_unanswered_does_not_mail_again_after_the_restart(smtp: SmtpServer,
                                                                                         tmp_path: Path) -> None:
    release = threading.Event()
    smtp.inbox.hold_quit = release  # the server accepted the DATA; its answer to QUIT does not come
    clock = Clock(T0)
    store, worker = monitor(tmp_path, "email", mailer(smtp), clock)
    store.commit_cycle("alerting", {}, outbox_rows(page("email"), "", {"email"}))

    async def killed_at_quit() -> None:
        sending = asyncio.create_task(worker.run_once())
        assert await asyncio.to_thread(smtp.inbox.quit_seen.wait, 10)
        sending.cancel()  # the monitor dies here: nothing of it runs on (its SMTP thread only hears QUIT's answer)
        with contextlib.suppress(asyncio.CancelledError):
            await sending
        release.set()

    asyncio.run(killed_at_quit())
    assert len(smtp.inbox.mails) == 1
    store.close()

    clock.now += 30
    store, worker = monitor(tmp_path, "email", mailer(smtp), clock)
    asyncio.run(worker.run_once())
    assert len(smtp.inbox.mails) == 1
    assert the_row(store, "email").status == "sent"
    store.close()
