"""The notifier protocols (alerts/notifiers/base.py): each notifier satisfies the ones it is used through,
with the protocol's signature, and has none of the capabilities it does not implement."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from alerts.notifiers.base import (
    AddressNotifier,
    ChannelNotifier,
    DigestNotifier,
    DigestQueue,
    Notifier,
    Progress,
    RecipientNotifier,
    ReportNotifier,
    ResumableNotifier,
    TextNotifier,
    TimedNotifier,
)
from alerts.notifiers.config import build_notifiers
from alerts.notifiers.console import ConsoleNotifier
from alerts.notifiers.email import EmailNotifier
from alerts.notifiers.jsonl import JsonLinesNotifier
from alerts.notifiers.outgoing import LocalProgress, Outgoing
from alerts.notifiers.slack import SlackNotifier
from alerts.notifiers.sms import SmsNotifier
from alerts.notifiers.webhook import WebhookNotifier
from alerts.outbox import LOG_CHANNEL, FanOut, RowProgress
from monitor.store import OutboxRow
from monitor.store.sqlite import SqliteStore

CHANNELS = {
    "slack": {"webhook_url": "https://hooks.example.org/services/T/B/secret"},
    "sms": {"account_sid": "AC" + "0" * 32, "auth_token": "twilio-token-0123456789", "from_number": "+14155550100"},
    "email": {"host": "smtp.example.org", "from": "m@example.org", "to": ["team@example.org"]},
    "webhook": {"url": "https://hooks.example.org/alerts"},
}
CAPABILITIES: tuple[type, ...] = (DigestNotifier, ReportNotifier, TextNotifier, RecipientNotifier, AddressNotifier,
                                  ResumableNotifier)
# What each channel notifier is used through beyond sending: the outbox digests email's low tier, the daily
# report goes to Slack as text and to email as HTML, test-notify names SMS's people and email's addresses,
# the outbox resumes SMS's and email's sends where an earlier attempt stopped.
EXPECTED: dict[str, tuple[type, set[type]]] = {
    "slack": (SlackNotifier, {TextNotifier}),
    "sms": (SmsNotifier, {RecipientNotifier, ResumableNotifier}),
    "email": (EmailNotifier, {DigestNotifier, ReportNotifier, AddressNotifier, ResumableNotifier}),
    "webhook": (WebhookNotifier, set()),
}


@pytest.fixture(scope="module")
def built() -> dict[str, Any]:
    return build_notifiers(CHANNELS)


def _own_methods(protocol: type) -> dict[str, Any]:
    """The methods a protocol declares (its own and inherited protocols'), not its data members."""
    found: dict[str, Any] = {}
    for klass in reversed(protocol.__mro__):
        if klass is object or klass.__name__ in ("Protocol", "Generic"):
            continue
        for name, value in vars(klass).items():
            if not name.startswith("_") and inspect.isfunction(value):
                found[name] = value
    return found


def _shape(fn: Any) -> tuple[bool, list[tuple[str, Any]]]:
    params = list(inspect.signature(fn).parameters.values())[1:]  # without self
    return inspect.iscoroutinefunction(fn), [(p.name, p.kind) for p in params]


def assert_implements(obj: object, protocol: type) -> None:
    assert isinstance(obj, protocol), f"{type(obj).__name__} is not a {protocol.__name__}"
    for name, declared in _own_methods(protocol).items():
        implemented = getattr(type(obj), name)
        assert _shape(implemented) == _shape(declared), f"{type(obj).__name__}.{name} differs from {protocol.__name__}"


def test_build_notifiers_gives_each_channel_its_notifier(built: dict[str, Any]) -> None:
    assert {name: type(n) for name, n in built.items()} == {name: cls for name, (cls, _) in EXPECTED.items()}


@pytest.mark.parametrize("channel", list(EXPECTED))
def test_every_channel_notifier_sends_is_timed_and_can_send_a_test_message(built: dict[str, Any],
                                                                          channel: str) -> None:
    notifier = built[channel]
    for protocol in (Notifier, TimedNotifier, ChannelNotifier):
        assert_implements(notifier, protocol)
    assert notifier.name == channel
    assert notifier.config.timeout == 10.0 and notifier.requests_per_send >= 1
    assert isinstance(notifier.describe(), str)


@pytest.mark.parametrize("channel", list(EXPECTED))
def test_each_channel_notifier_has_exactly_the_capabilities_it_is_used_through(built: dict[str, Any],
                                                                               channel: str) -> None:
    notifier = built[channel]
    _, expected = EXPECTED[channel]
    for protocol in expected:
        assert_implements(notifier, protocol)
    assert {p for p in CAPABILITIES if isinstance(notifier, p)} == expected


def test_the_email_digest_buffer_is_what_the_outbox_keeps(built: dict[str, Any]) -> None:
    email = built["email"]
    assert isinstance(email, DigestNotifier)
    assert_implements(email.digest_buffer(), DigestQueue)
    assert email.digest_buffer().interval == 3600.0


def test_a_resumable_notifier_reports_to_the_outbox_s_row_or_a_local_progress(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "s.sqlite3"), retention=86400)
    row = OutboxRow("n1", "sms", 0.0, {"text": "x"})
    store.outbox_add([row])
    for progress in (LocalProgress(), RowProgress(store, row)):
        assert_implements(progress, Progress)
        progress.accepted("to:1")
        assert progress.done("to:1") and not progress.done("to:2")
    assert RowProgress(store, store.outbox_pending()[0]).done("to:1")  # kept in the row: a restart reads it
    store.close()


def test_the_log_channel_notifiers_only_send(tmp_path: Path) -> None:
    console, jsonl = ConsoleNotifier(), JsonLinesNotifier(tmp_path / "notifications.jsonl")
    for notifier in (console, jsonl, FanOut(LOG_CHANNEL, [console, jsonl])):
        assert_implements(notifier, Notifier)
        assert not isinstance(notifier, TimedNotifier)  # the outbox gives them the retry policy's send_timeout
        assert not isinstance(notifier, ChannelNotifier)
        assert not any(isinstance(notifier, p) for p in CAPABILITIES)


def test_a_class_without_send_or_name_is_not_a_notifier() -> None:
    class Sends:
        name = "x"

        async def send(self, message: Outgoing) -> None:
            return None

    class NoSend:
        name = "x"

        async def deliver(self, message: Outgoing) -> None:
            return None

    class NoName:
        async def send(self, message: Outgoing) -> None:
            return None

    assert isinstance(Sends(), Notifier)
    assert not isinstance(NoSend(), Notifier)
    assert not isinstance(NoName(), Notifier)
    assert not isinstance(NoSend(), DigestNotifier | TextNotifier | ReportNotifier)


def test_a_capability_needs_sending_too() -> None:
    class OnlyPostsText:
        name = "x"

        async def post_text(self, text: str) -> None:
            return None

    class PostsAndSends(OnlyPostsText):
        async def send(self, message: Outgoing) -> None:
            return None

    assert not isinstance(OnlyPostsText(), TextNotifier)
    assert isinstance(PostsAndSends(), TextNotifier) and not isinstance(PostsAndSends(), ReportNotifier)
