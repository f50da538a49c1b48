"""The notifier protocols: what the outbox, the daily status report and `test-notify` may ask of a notifier.

Every notifier sends (`Notifier`); the rest are capabilities only some have. Code that needs one checks
`isinstance(notifier, TheProtocol)` (each below is runtime-checkable) or is typed with it, never `hasattr`:

    protocol            implemented by                               used by
    Notifier            every notifier: Slack, SMS, email, webhook,  the outbox (DeliveryWorker, FanOut)
                        console, JSON lines, the outbox's FanOut
    TimedNotifier       Slack, SMS, email, webhook                   the outbox: how long one send may take
    ChannelNotifier     Slack, SMS, email, webhook                   build_notifiers, test-notify
    DigestNotifier      email                                        the outbox: the low-tier digest
    ReportNotifier      email                                        the daily status report (text + HTML mail)
    TextNotifier        Slack                                        the daily status report (plain text)
    RecipientNotifier   SMS                                          test-notify: who was texted (names only)
    AddressNotifier     email                                        test-notify: who was mailed
    ResumableNotifier   SMS, email                                   the outbox: a retry skips what was accepted

and one the other way round, what a ResumableNotifier is handed and reports to:

    Progress            the outbox's RowProgress (kept in the row),  SMS (per phone number), email (the mail,
                        LocalProgress (outgoing.py, one call only)   as soon as DATA was accepted, before QUIT)

A new notifier is one module in this package that owns its channel model and implements `Notifier`
(and `ChannelNotifier` when it is built from a `channels:` entry), plus the capabilities it has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from alerts.dispatch import Notification
from alerts.notifiers.outgoing import Outgoing
from alerts.oncall import Person


@runtime_checkable
class Progress(Protocol):
    """The parts of one message its receivers already accepted (a ResumableNotifier reads and reports it).
    Parts are short keys, never personal data (no phone numbers)."""

    def done(self, part: str) -> bool: ...

    def accepted(self, part: str) -> None: ...


@runtime_checkable
class Notifier(Protocol):
    """Sends one notification; raises DeliveryError (alerts.notifiers.errors) when it did not arrive.
    Implemented by every notifier; the outbox delivers through nothing else."""

    name: str

    async def send(self, message: Outgoing) -> None: ...


class ChannelSettings(Protocol):
    """What the outbox reads of a channel's config (every ChannelBase model has it)."""

    @property
    def timeout(self) -> float: ...


@runtime_checkable
class TimedNotifier(Notifier, Protocol):
    """A notifier that makes up to `requests_per_send` requests a send (SMTP's steps, one SMS per person),
    each allowed the channel's `config.timeout`. Implemented by the Slack, SMS, email and webhook notifiers;
    the outbox lets a send of theirs take that long (others get the retry policy's send_timeout)."""

    @property
    def config(self) -> ChannelSettings: ...

    @property
    def requests_per_send(self) -> int: ...


@runtime_checkable
class ChannelNotifier(TimedNotifier, Protocol):
    """A notifier built from a `channels:` entry (Slack, SMS, email, webhook): what build_notifiers returns
    and `test-notify` uses to send a test message and say how it went."""

    def describe(self) -> str:
        """How it delivers, without secrets, e.g. "Slack incoming webhook"."""
        ...

    async def deliver(self, note: Notification, *, test: bool = False) -> None: ...


@runtime_checkable
class DigestQueue(Protocol):
    """The notifications waiting for the next digest (alerts.notifiers.email.DigestBuffer); the outbox
    keeps snapshot() in the store and restores it on start-up and on taking over the lead."""

    @property
    def interval(self) -> float: ...

    def add(self, note: Notification, now: float) -> None: ...

    def due(self, now: float, *, force: bool = False) -> list[Notification]: ...

    def snapshot(self) -> dict[str, Any]: ...

    def restore(self, data: Mapping[str, Any] | None) -> None: ...


@runtime_checkable
class DigestNotifier(Notifier, Protocol):
    """A notifier that batches some notifications (`digests(note)` true) into one message sent every so
    often. Implemented by EmailNotifier (the low-tier digest); the outbox buffers those rows."""

    def digests(self, note: Notification) -> bool: ...

    def digest_buffer(self) -> DigestQueue: ...

    async def send_digest(self, batch: Sequence[Notification]) -> None: ...


@runtime_checkable
class ReportNotifier(Notifier, Protocol):
    """A notifier that sends a report that is not an alert, as text and HTML. Implemented by EmailNotifier;
    the daily status report goes through it."""

    async def send_report(self, subject: str, text: str, html: str, *, message_id: str) -> None: ...


@runtime_checkable
class TextNotifier(Notifier, Protocol):
    """A notifier that posts a plain text that is not an alert. Implemented by SlackNotifier; the daily
    status report goes through it (preferred over ReportNotifier when a channel is both)."""

    async def post_text(self, text: str) -> None: ...


@runtime_checkable
class RecipientNotifier(Notifier, Protocol):
    """A notifier that sends to on-call people by name. Implemented by SmsNotifier; test-notify shows
    the names (never the numbers)."""

    def recipients(self, note: Notification) -> list[Person]: ...


@runtime_checkable
class ResumableNotifier(Notifier, Protocol):
    """A notifier whose send has parts a receiver accepts one by one (SMS: a text per person; email: the mail,
    then QUIT). `resume` skips a part `progress` has `done` (an earlier attempt got it through, maybe before a
    restart) and calls `progress.accepted(part)` the moment the receiver accepted it, before anything else can
    fail. Implemented by SmsNotifier and EmailNotifier; the outbox resumes their rows with a Progress kept in
    the row, so a retry, by this process or the next, never sends a part again. `send` is `resume` with a
    fresh LocalProgress."""

    async def resume(self, message: Outgoing, progress: Progress) -> None: ...


@runtime_checkable
class AddressNotifier(Notifier, Protocol):
    """A notifier that sends to addresses. Implemented by EmailNotifier; test-notify shows them."""

    def addresses(self, note: Notification | None) -> list[str]: ...
