"""The outbox: nothing lost, nothing sent twice, retries with backoff, order per channel, fallback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from alerts.dispatch import Kind, Notification
from alerts.model import Tier
from alerts.notifiers.outgoing import Outgoing
from alerts.outbox import LOG_CHANNEL, DeliveryWorker, RetryPolicy, outbox_rows
from monitor.store.sqlite import SqliteStore
from tests.support.clock import Clock

T0 = 1_769_619_600.0


class Flaky:
    """A channel that fails as told: a list of exceptions to raise, then success."""

    def __init__(self, name: str, failures: list[Exception] | None = None) -> None:
        self.name = name
        self.failures = list(failures or [])
        self.received: list[str] = []
        self.attempts = 0

    async def send(self, message: Outgoing) -> None:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        self.received.append(f"{message.notification.kind}:{message.notification.group}")


class Refused(Exception):
    def __init__(self, reason: str, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.retryable, self.retry_after = reason, retryable, retry_after


def note(kind: Kind, n: int, channels: tuple[str, ...] = ("slack",), tier: Tier = Tier.HIGH) -> Notification:
    return Notification(id=f"{kind}-{n}", kind=kind, tier=tier, group=f"Rule{n}", alerts=(), channels=channels,
                        recipients=(), mention_channel=False, created_at=T0 + n)


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(str(tmp_path / "s.sqlite3"), retention=86400)


def enqueue(store: SqliteStore, *notes: Notification, configured: tuple[str, ...] = ("slack", "email", "sms")) -> None:
    store.commit_cycle("alerting", {}, [r for n in notes for r in outbox_rows(n, f"text {n.id}", configured)])


def drain(worker: DeliveryWorker, clock: Clock, seconds: float, step: float = 1.0) -> None:
    for _ in range(int(seconds / step)):
        asyncio.run(worker.run_once())
        clock.now += step


def test_retries_with_backoff_then_delivers_exactly_once_in_order(store: SqliteStore) -> None:
    clock = Clock(T0)
    slack = Flaky("slack", [Refused("500", True), Refused("500", True), Refused("500", True)])
    log = Flaky(LOG_CHANNEL)
    worker = DeliveryWorker(store, {"slack": slack, LOG_CHANNEL: log}, clock=clock)
    enqueue(store, note(Kind.FIRING, 1), note(Kind.RESOLVED, 2))
    drain(worker, clock, 20)
    assert slack.received == ["firing:Rule1", "resolved:Rule2"]  # once each, firing before resolve
    assert slack.attempts == 5  # three failures with backoff 1 s, 2 s, 4 s; nothing overtook the first
    assert log.received == ["firing:Rule1", "resolved:Rule2"]
    enqueue(store, note(Kind.FIRING, 1))  # the same decision replayed after a crash: not sent again
    drain(worker, clock, 3)
    assert slack.received == ["firing:Rule1", "resolved:Rule2"]


def test_retry_after_is_honoured(store: SqliteStore) -> None:
    clock = Clock(T0)
    slack = Flaky("slack", [Refused("429", True, retry_after=7)])
    worker = DeliveryWorker(store, {"slack": slack, LOG_CHANNEL: Flaky(LOG_CHANNEL)}, clock=clock)
    enqueue(store, note(Kind.FIRING, 1))
    drain(worker, clock, 6.5, step=0.5)
    assert slack.received == [] and slack.attempts == 1
    drain(worker, clock, 2, step=0.5)
    assert slack.received == ["firing:Rule1"]


def test_a_channel_that_keeps_failing_falls_back_and_is_reported_down(store: SqliteStore) -> None:
    clock = Clock(T0)
    sms = Flaky("sms", [Refused("503", True)] * 10)
    email = Flaky("email")
    slack = Flaky("slack")
    worker = DeliveryWorker(store, {"sms": sms, "slack": slack, "email": email, LOG_CHANNEL: Flaky(LOG_CHANNEL)},
                            policy=RetryPolicy(max_attempts=3), clock=clock)
    enqueue(store, note(Kind.FIRING, 1, channels=("sms", "slack"), tier=Tier.CRITICAL))
    drain(worker, clock, 30)
    assert sms.attempts == 3 and sms.received == []
    assert slack.received == ["firing:Rule1"]
    assert email.received == ["firing:Rule1"]  # critical falls back SMS -> (Slack already has it) -> email
    health = {o.labels["target"]: o for o in store.latest() if o.signal == "notification_channel_up"}
    assert health["sms"].value == 0 and "503" in (health["sms"].error or "")


def test_not_retryable_gives_up_at_once(store: SqliteStore) -> None:
    clock = Clock(T0)
    slack = Flaky("slack", [Refused("404 no such webhook", False)])
    email = Flaky("email")
    worker = DeliveryWorker(store, {"slack": slack, "email": email, LOG_CHANNEL: Flaky(LOG_CHANNEL)}, clock=clock)
    enqueue(store, note(Kind.FIRING, 1))
    drain(worker, clock, 3)
    assert slack.attempts == 1 and email.received == ["firing:Rule1"]
    rows = {(r.channel, r.status) for r in store.outbox_all()}
    assert ("slack", "failed") in rows and ("email", "sent") in rows


def test_pending_rows_survive_a_restart(tmp_path: Path) -> None:
    clock = Clock(T0)
    store = SqliteStore(str(tmp_path / "s.sqlite3"), retention=86400)
    enqueue(store, note(Kind.FIRING, 1))
    store.close()  # the monitor dies before delivering
    reopened = SqliteStore(str(tmp_path / "s.sqlite3"), retention=86400)
    slack = Flaky("slack")
    drain(DeliveryWorker(reopened, {"slack": slack, LOG_CHANNEL: Flaky(LOG_CHANNEL)}, clock=clock), clock, 2)
    assert slack.received == ["firing:Rule1"]


def test_only_configured_channels_get_rows_and_the_log_always(store: SqliteStore) -> None:
    rows = outbox_rows(note(Kind.FIRING, 1, channels=("sms", "slack")), "t", configured=("slack",))
    assert [r.channel for r in rows] == [LOG_CHANNEL, "slack"]


class DigestingEmail(Flaky):
    """An email-like channel: low tier goes to its digest, mailed when the batch is due."""

    def __init__(self, failures: list[Exception] | None = None) -> None:
        super().__init__("email", failures)
        self.digests_sent: list[list[str]] = []

    def digests(self, note: Notification) -> bool:
        return note.tier == Tier.LOW

    def digest_buffer(self) -> object:
        from alerts.notifiers.email import DigestBuffer

        return DigestBuffer(60)

    async def send_digest(self, batch: list[Notification]) -> None:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        self.digests_sent.append([n.id for n in batch])


def test_low_tier_email_is_batched_into_a_digest_that_survives_restart_and_failure(tmp_path: Path) -> None:
    clock = Clock(T0)
    path = str(tmp_path / "s.sqlite3")
    store = SqliteStore(path, retention=86400)
    email = DigestingEmail([Refused("SMTP down", True)])
    worker = DeliveryWorker(store, {"email": email, LOG_CHANNEL: Flaky(LOG_CHANNEL)}, clock=clock)
    enqueue(store, *(note(Kind.FIRING, n, channels=("email",), tier=Tier.LOW) for n in range(3)))
    drain(worker, clock, 10)
    assert email.received == [] and email.digests_sent == []  # buffered, not mailed one by one
    store.close()
    store = SqliteStore(path, retention=86400)  # the monitor restarts: the buffer is in the store
    worker = DeliveryWorker(store, {"email": email, LOG_CHANNEL: Flaky(LOG_CHANNEL)}, clock=clock)
    drain(worker, clock, 60)  # due after 60 s; the first attempt fails (SMTP down), the next one goes
    assert email.digests_sent == [["firing-0", "firing-1", "firing-2"]] and email.attempts == 2
    drain(worker, clock, 120)
    assert len(email.digests_sent) == 1


def test_a_replica_that_loses_the_lead_mid_backlog_stops_and_the_new_leader_sends_the_rest_once(
        store: SqliteStore) -> None:
    clock = Clock(T0)
    enqueue(store, *(note(Kind.FIRING, n) for n in range(4)))
    clock.now += 10  # every row is due
    old_slack, new_slack = Flaky("slack"), Flaky("slack")
    asked = {"n": 0}

    async def lead_for_two_notes() -> bool:  # two rows a note (log and slack): lost while the third waits
        asked["n"] += 1
        return asked["n"] <= 4

    old = DeliveryWorker(store, {"slack": old_slack, LOG_CHANNEL: Flaky(LOG_CHANNEL)}, clock=clock)
    asyncio.run(old.run_once(lead_for_two_notes))
    new = DeliveryWorker(store, {"slack": new_slack, LOG_CHANNEL: Flaky(LOG_CHANNEL)}, clock=clock)
    asyncio.run(new.run_once())
    assert old_slack.received == ["firing:Rule0", "firing:Rule1"]
    assert new_slack.received == ["firing:Rule2", "firing:Rule3"]


def test_an_old_leader_finishing_late_never_turns_a_sent_row_back_to_pending(store: SqliteStore) -> None:
    enqueue(store, note(Kind.FIRING, 1))
    stale = next(r for r in store.outbox_pending() if r.channel == "slack")  # read by the old leader
    sent = next(r for r in store.outbox_pending() if r.channel == "slack")
    sent.status, sent.attempts = "sent", 1
    store.outbox_update(sent)  # the new leader delivered it
    stale.attempts, stale.last_error = 1, "timeout"  # the old leader's send timed out: it would retry
    store.outbox_update(stale)
    assert [r.status for r in store.outbox_all() if r.channel == "slack"] == ["sent"]


def test_a_new_leader_mails_the_digest_the_old_one_had_buffered(tmp_path: Path) -> None:
    clock = Clock(T0)
    store = SqliteStore(str(tmp_path / "s.sqlite3"), retention=86400)
    follower_email = DigestingEmail()
    follower = DeliveryWorker(store, {"email": follower_email, LOG_CHANNEL: Flaky(LOG_CHANNEL)}, clock=clock)
    leader_email = DigestingEmail()
    leader = DeliveryWorker(store, {"email": leader_email, LOG_CHANNEL: Flaky(LOG_CHANNEL)}, clock=clock)
    enqueue(store, note(Kind.FIRING, 1, channels=("email",), tier=Tier.LOW))
    drain(leader, clock, 5)  # taken into the leader's digest (stored), then the leader dies
    follower.reload()  # the follower becomes leader
    drain(follower, clock, 70)
    assert follower_email.digests_sent == [["firing-1"]] and leader_email.digests_sent == []


def test_once_a_channel_is_known_down_its_backlog_falls_back_at_once(store: SqliteStore) -> None:
    clock = Clock(T0)
    sms = Flaky("sms", [Refused("503", True)] * 100)
    email = Flaky("email")
    worker = DeliveryWorker(store, {"sms": sms, "email": email, LOG_CHANNEL: Flaky(LOG_CHANNEL)},
                            policy=RetryPolicy(max_attempts=3), clock=clock)
    enqueue(store, *(note(Kind.FIRING, n, channels=("sms",), tier=Tier.CRITICAL) for n in range(5)))
    drain(worker, clock, 15)  # the first page gives up after its 3 attempts: SMS is down
    assert email.received[:1] == ["firing:Rule0"]
    drain(worker, clock, 2)
    # the other four went to email within a cycle, each without three more attempts of its own
    assert email.received == [f"firing:Rule{n}" for n in range(5)] and sms.attempts <= 3 + 2
    sms.failures.clear()  # SMS is back: the next page goes by SMS again
    enqueue(store, note(Kind.FIRING, 9, channels=("sms",), tier=Tier.CRITICAL))
    clock.now += 10
    drain(worker, clock, 2)
    assert sms.received == ["firing:Rule9"]


def test_a_send_may_take_as_long_as_its_channel_needs(store: SqliteStore) -> None:
    """An SMTP send makes several requests, each allowed the channel's timeout: cutting it at 20 s while
    its thread still mails would mail it again on the retry."""
    from alerts.notifiers.email import EmailChannel, EmailNotifier
    from alerts.templates import Templates

    email = EmailNotifier("email", EmailChannel.model_validate(
        {"host": "127.0.0.1", "port": 9, "from": "m@example.org", "to": ["o@example.org"], "timeout": "30s"}),
        Templates())
    worker = DeliveryWorker(store, {"email": email, "slack": Flaky("slack")})
    assert worker.send_timeout(email) >= 6 * 30
    assert worker.send_timeout(worker.channels["slack"]) == RetryPolicy().send_timeout  # no config: the default


def test_a_row_taken_into_the_digest_does_not_use_up_the_one_try_of_a_channel_known_down(
        store: SqliteStore) -> None:
    clock = Clock(T0)
    email = DigestingEmail([Refused("SMTP down", True)])
    worker = DeliveryWorker(store, {"email": email, LOG_CHANNEL: Flaky(LOG_CHANNEL)},
                            policy=RetryPolicy(max_attempts=1), clock=clock)
    enqueue(store, note(Kind.FIRING, 0, channels=("email",), tier=Tier.HIGH))
    drain(worker, clock, 2)  # one attempt, given up: email is known down
    enqueue(store, note(Kind.FIRING, 5, channels=("email",), tier=Tier.LOW),
            note(Kind.FIRING, 6, channels=("email",), tier=Tier.HIGH))
    clock.now += 10
    drain(worker, clock, 1)  # SMTP is back: the high page gets its try and goes by email
    assert email.received == ["firing:Rule6"]


def test_an_old_leader_giving_up_a_row_another_replica_sent_adds_no_fallback_copy(store: SqliteStore) -> None:
    clock = Clock(T0)
    enqueue(store, note(Kind.FIRING, 1, channels=("sms",), tier=Tier.CRITICAL))
    stale = next(r for r in store.outbox_pending() if r.channel == "sms")
    sent = next(r for r in store.outbox_pending() if r.channel == "sms")
    sent.status = "sent"
    assert store.outbox_update(sent)  # the new leader delivered it
    old = DeliveryWorker(store, {"sms": Flaky("sms"), "email": Flaky("email")}, clock=clock)
    old._give_up(stale, clock(), "503")  # the old leader's attempts ran out meanwhile
    assert sorted(r.channel for r in store.outbox_all()) == ["log", "sms"]  # no email copy


def test_a_critical_page_whose_channel_keeps_failing_reaches_the_next_channel_within_10_seconds(
        store: SqliteStore) -> None:
    clock = Clock(T0)
    sms = Flaky("sms", [Refused("HTTP 500", True)] * 10)
    slack = Flaky("slack")
    worker = DeliveryWorker(store, {"sms": sms, "slack": slack, LOG_CHANNEL: Flaky(LOG_CHANNEL)}, clock=clock)
    page = note(Kind.FIRING, 0, channels=("sms",), tier=Tier.CRITICAL)
    enqueue(store, page)
    drain(worker, clock, 10, step=0.5)
    assert slack.received == ["firing:Rule0"]
    assert sms.attempts < RetryPolicy().max_attempts  # sms still retrying: it gets the page too if it recovers
