"""Email over SMTP (stdlib smtplib in a worker thread): text and HTML parts from the email*.j2 templates,
and the low-tier digest.

    notifier.send(message)             one mail: the on-call people named in it, and `to`
    buffer = notifier.digest_buffer()   the outbox keeps low-tier notifications here ...
    buffer.add(note, now); batch = buffer.due(now)
    await notifier.send_digest(batch)   ... and sends them as one mail to `to` every digest_interval

STARTTLS when configured (the certificate is verified, against ca_file if given), AUTH when a username
is set. The Message-ID is derived from the notification id, so a retried mail is recognisably the same
mail. Connection trouble and 4xx replies are retryable; 5xx replies (bad credentials, refused
recipients) are not.

A mail is sent once the server accepted its DATA (250): that is recorded in the message's Progress right
then, before QUIT, and whatever QUIT does afterwards (an error reply, a dropped connection, a timeout) is
no failure. A retry of the notification, or the monitor after a restart, sees it recorded and mails
nothing again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import smtplib
import ssl
from collections.abc import Callable, Iterable, Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from alerts.dispatch import Notification
from alerts.model import Tier
from alerts.notifiers.base import Progress
from alerts.notifiers.channel import ChannelBase
from alerts.notifiers.errors import RAW_BODY, DeliveryError, Scrubber
from alerts.notifiers.outgoing import LocalProgress, Outgoing
from alerts.oncall import OnCallConfig
from alerts.templates import AckLink, TemplateProblem, Templates, digest_context, message_context
from monitor.core.targets import Duration

log = logging.getLogger("converge.alerts.email")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s.<>]+$")
_NAMED_EMAIL = re.compile(r"^\s*(?:\"?[^\"<>]*\"?\s*)?<([^<>]+)>\s*$")  # "Name <addr@example.org>"
MAIL_PART = "mail"  # the progress key of a notification's one mail


def email_address(value: str) -> str:
    """The bare address of `addr@x.org` or `Name <addr@x.org>`."""
    m = _NAMED_EMAIL.match(value)
    addr = m.group(1) if m else value.strip()
    if not _EMAIL.match(addr):
        raise ValueError(f"{value!r} is not an email address (name@example.org or \"Name <name@example.org>\")")
    return addr


class EmailChannel(ChannelBase):
    """SMTP: one mail per notification to the on-call people named in it and to `to`; the tiers in
    `digest_tiers` are batched into one mail to `to` every `digest_interval`."""

    type: Literal["email"] = "email"
    host: str = Field(min_length=1)
    port: int | None = Field(None, ge=1, le=65535)  # default 465 with ssl, 587 with starttls, else 25
    starttls: bool = True
    ssl: bool = False  # implicit TLS (SMTPS, port 465) instead of STARTTLS
    ca_file: str | None = None  # a private CA for the server's certificate
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(alias="from", min_length=3)
    to: list[str] = Field(default_factory=list)
    digest_interval: Duration = 3600.0
    digest_tiers: list[Tier] = Field(default_factory=lambda: [Tier.LOW])

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        email_address(value)
        return value

    @field_validator("to")
    @classmethod
    def _to(cls, value: list[str]) -> list[str]:
        for i, item in enumerate(value):
            try:
                email_address(item)
            except ValueError as exc:
                raise ValueError(f"to[{i}]: {exc}") from None
        return value

    @model_validator(mode="after")
    def _tls_and_auth(self) -> EmailChannel:
        if self.ssl and self.starttls and "starttls" in self.model_fields_set:
            raise ValueError("ssl (implicit TLS) and starttls exclude each other: choose one")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together (SMTP AUTH), or neither")
        return self

    @property
    def use_starttls(self) -> bool:
        return self.starttls and not self.ssl

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 465 if self.ssl else 587 if self.starttls else 25


class EmailNotifier:
    def __init__(self, name: str, config: EmailChannel, templates: Templates, *, oncall: OnCallConfig | None = None,
                 ack_link: AckLink | None = None) -> None:
        self.name = name
        self.config = config
        self.requests_per_send = 6  # connect, EHLO, STARTTLS, AUTH, MAIL/RCPT, DATA: each may take the timeout
        self.templates = templates
        self.oncall = oncall
        self.ack_link = ack_link
        self.scrub = Scrubber([config.password])

    def describe(self) -> str:
        cfg = self.config
        how = "SSL" if cfg.ssl else "STARTTLS" if cfg.use_starttls else "plain"
        return f"SMTP {cfg.host}:{cfg.effective_port} ({how}{', AUTH' if cfg.username else ''})"

    # -- which notifications are mailed one by one, which in the digest ------------------------------------
    def digests(self, note: Notification) -> bool:
        """True for the tiers batched into the digest (low by default): the outbox buffers these."""
        return note.tier in self.config.digest_tiers

    def digest_buffer(self) -> DigestBuffer:
        return DigestBuffer(self.config.digest_interval)

    def addresses(self, note: Notification | None) -> list[str]:
        """The on-call people named by the notification who have an email address, then `to`."""
        found: list[str] = []
        if note is not None and self.oncall is not None:
            people = {p.name: p for p in self.oncall.people}
            found += [p.email for n in note.recipients if (p := people.get(n)) is not None and p.email]
        found += self.config.to
        return list(dict.fromkeys(found))

    # -- sending -------------------------------------------------------------------------------------------
    async def send(self, message: Outgoing) -> None:
        await self._deliver(message.notification, LocalProgress())

    async def resume(self, message: Outgoing, progress: Progress) -> None:
        await self._deliver(message.notification, progress)

    async def deliver(self, note: Notification, *, test: bool = False) -> None:
        await self._deliver(note, LocalProgress(), test=test)

    async def _deliver(self, note: Notification, progress: Progress, *, test: bool = False) -> None:
        if progress.done(MAIL_PART):
            return  # an earlier attempt's DATA was accepted (its QUIT failed, or the monitor died before QUIT)
        to = self.addresses(note)
        if not to:
            raise DeliveryError(self.name, "no recipient: set to: or give the on-call people an email",
                                retryable=False)
        ctx = message_context(note, self.ack_link, test=test)
        msg = self.compose("email", ctx, to, message_id=f"{note.id}.{self.name}")
        msg["X-Converge-Tier"] = str(note.tier)
        msg["X-Converge-Notification"] = note.id
        await self._send(msg, to, lambda: progress.accepted(MAIL_PART))

    async def send_digest(self, batch: Sequence[Notification]) -> None:
        """One mail with every notification of the batch, to `to` (or, without `to`, to the people named)."""
        if not batch:
            return
        to = list(self.config.to) or list(dict.fromkeys(a for n in batch for a in self.addresses(n)))
        if not to:
            raise DeliveryError(self.name, "no recipient for the digest: set to:", retryable=False)
        ctx = {**message_context(batch[0], None), **digest_context(batch, self.ack_link)}
        ids = hashlib.sha256("|".join(n.id for n in batch).encode()).hexdigest()[:20]
        msg = self.compose("digest", ctx, to, message_id=f"digest-{ids}.{self.name}")
        await self._send(msg, to)

    async def send_report(self, subject: str, text: str, html: str, *, message_id: str) -> None:
        """A mail that is not an alert (the daily status report) to the channel's `to` list."""
        msg = EmailMessage()
        msg["Subject"] = subject[:250]
        msg["From"] = self.config.sender
        msg["To"] = ", ".join(self.config.to)
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = f"<{message_id}@converge-monitor>"
        msg.set_content(text + "\n")
        msg.add_alternative(html + "\n", subtype="html")
        await self._send(msg, list(self.config.to))

    def compose(self, kind: str, ctx: Mapping[str, Any], to: Iterable[str], *, message_id: str) -> EmailMessage:
        try:
            subject = " ".join(self.templates.render(f"{kind}_subject.txt.j2", **ctx).split())
            text = self.templates.render(f"{kind}.txt.j2", **ctx)
            html = self.templates.render(f"{kind}.html.j2", **ctx)
        except TemplateProblem as exc:
            raise DeliveryError(self.name, str(exc), retryable=False) from None
        msg = EmailMessage()
        msg["Subject"] = subject[:250]
        msg["From"] = self.config.sender
        msg["To"] = ", ".join(to)
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = f"<{message_id}@converge-monitor>"
        msg.set_content(text + "\n")
        msg.add_alternative(html + "\n", subtype="html")
        return msg

    async def _send(self, msg: EmailMessage, to: list[str], accepted: Callable[[], None] | None = None) -> None:
        """Mail `msg`; `accepted` is called (in the SMTP thread) as soon as the server accepted the DATA."""
        try:
            refused = await asyncio.to_thread(self._smtp, msg, [email_address(a) for a in to], accepted)
        except DeliveryError:
            raise
        except Exception as exc:
            raise self._error(exc) from None
        if refused:  # some got it, so this is not a failure: a retry would mail the others twice
            log.warning("mail to %s delivered, but %d of %d recipients refused it: %s", self.name, len(refused),
                        len(to), self.scrub(_text(str(next(iter(refused.values()), "")))),
                        extra={"channel": self.name, "refused": len(refused)})

    def _smtp(self, msg: EmailMessage, to: list[str], accepted: Callable[[], None] | None) -> dict[str, Any]:
        cfg = self.config
        context = ssl.create_default_context(cafile=cfg.ca_file) if cfg.ssl or cfg.use_starttls else None
        server: smtplib.SMTP
        if cfg.ssl:
            server = smtplib.SMTP_SSL(cfg.host, cfg.effective_port, timeout=cfg.timeout, context=context)
        else:
            server = smtplib.SMTP(cfg.host, cfg.effective_port, timeout=cfg.timeout)
        try:
            server.ehlo()
            if cfg.use_starttls:
                if not server.has_extn("starttls"):
                    raise DeliveryError(self.name, f"{cfg.host} does not offer STARTTLS (set starttls: false only "
                                                   "for a server on a trusted network)", retryable=False)
                server.starttls(context=context)
                server.ehlo()
            if cfg.username and cfg.password is not None:
                server.login(cfg.username, cfg.password.get_secret_value())
            refused = dict(server.send_message(msg, from_addr=email_address(cfg.sender), to_addrs=to))
        except BaseException:
            server.close()
            raise
        # The server took the mail (250 after DATA): recorded before QUIT, which can no longer make it a failure.
        try:
            if accepted is not None:
                accepted()
            self._quit(server)
        finally:
            server.close()
        return refused

    def _quit(self, server: smtplib.SMTP) -> None:
        """QUIT after an accepted mail: an error reply, a dropped connection or a timeout is only logged."""
        try:
            code, reply = server.docmd("QUIT")
        except (smtplib.SMTPException, OSError) as exc:
            log.info("%s: the mail was accepted; QUIT failed: %s", self.name,
                     self.scrub(f"{type(exc).__name__}: {exc}"), extra={"channel": self.name})
            return
        if code != 221:
            log.info("%s: the mail was accepted; QUIT answered %s %s", self.name, code, self.scrub(_text(reply)),
                     extra={"channel": self.name})

    def _error(self, exc: Exception) -> DeliveryError:
        where = f"{self.config.host}:{self.config.effective_port}"
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            codes = [code for code, _ in exc.recipients.values()]
            first = next(iter(exc.recipients.values()), (0, b""))
            reason = f"all recipients refused: {first[0]} {_text(first[1])}"
            return DeliveryError(self.name, self.scrub(reason), retryable=all(400 <= c < 500 for c in codes),
                                 status=first[0] or None)
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return DeliveryError(self.name, self.scrub(f"{where} refused the login: {exc.smtp_code} "
                                                       f"{_text(exc.smtp_error)}"),
                                 retryable=400 <= exc.smtp_code < 500, status=exc.smtp_code)
        if isinstance(exc, smtplib.SMTPResponseException):
            return DeliveryError(self.name, self.scrub(f"{where} answered {exc.smtp_code} {_text(exc.smtp_error)}"),
                                 retryable=not 500 <= exc.smtp_code < 600, status=exc.smtp_code)
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return DeliveryError(self.name, self.scrub(f"{where}: {exc}"), retryable=False)
        if isinstance(exc, ssl.SSLCertVerificationError):
            return DeliveryError(self.name, self.scrub(f"{where}: TLS certificate not trusted: {exc.verify_message}"),
                                 retryable=False)
        if isinstance(exc, smtplib.SMTPServerDisconnected | OSError | TimeoutError):
            return DeliveryError(self.name, self.scrub(f"cannot reach {where}: {type(exc).__name__}: {exc}"),
                                 retryable=True)
        return DeliveryError(self.name, self.scrub(f"{where}: {type(exc).__name__}: {exc}"), retryable=False)


def _text(raw: bytes | str) -> str:
    return (raw.decode(errors="replace") if isinstance(raw, bytes) else raw).replace("\n", " ")[:RAW_BODY]


class DigestBuffer:
    """Notifications waiting for the next digest mail. Pure: the caller gives the time and persists
    snapshot(). The first notification opens a batch; the batch is due `interval` seconds later, so a
    low-tier alert waits at most one interval. The same notification added twice (a replay) is kept once."""

    def __init__(self, interval: float) -> None:
        self.interval = float(interval)
        self.opened_at: float | None = None
        self._items: dict[str, Notification] = {}

    def __len__(self) -> int:
        return len(self._items)

    def add(self, note: Notification, now: float) -> None:
        if note.id in self._items:
            return
        if not self._items:
            self.opened_at = now
        self._items[note.id] = note

    def next_due(self) -> float | None:
        return None if self.opened_at is None else self.opened_at + self.interval

    def due(self, now: float, *, force: bool = False) -> list[Notification]:
        """The batch, emptied from the buffer, when its time has come (or `force`, e.g. on shutdown); else []."""
        when = self.next_due()
        if when is None or (now < when and not force):
            return []
        batch = list(self._items.values())
        self._items.clear()
        self.opened_at = None
        return batch

    def pending(self) -> list[Notification]:
        return list(self._items.values())

    def snapshot(self) -> dict[str, Any]:
        return {"opened_at": self.opened_at, "items": [n.to_dict() for n in self._items.values()]}

    def restore(self, data: Mapping[str, Any] | None) -> None:
        if not data:
            return
        self._items = {}
        for item in data.get("items", []):
            note = Notification.from_dict(item)
            self._items[note.id] = note
        self.opened_at = data.get("opened_at") if self._items else None
