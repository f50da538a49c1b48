"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every accepted mail."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from devstack import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    authenticated: bool


@dataclass
class Inbox:
    """aiosmtpd handler: keeps every accepted mail; `refuse_rcpt` answers RCPT with that reply instead;
    `quit_reply` answers QUIT with that reply instead of 221; while `hold_quit` is not set QUIT goes
    unanswered. `quit_seen` is set once a QUIT arrived."""

    mails: list[Received] = field(default_factory=list)
    refuse_rcpt: str | None = None
    quit_reply: str | None = None
    hold_quit: threading.Event | None = None
    quit_seen: threading.Event = field(default_factory=threading.Event)

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        self.quit_seen.set()
        while self.hold_quit is not None and not self.hold_quit.is_set():
            await asyncio.sleep(0.02)
        return self.quit_reply or "221 Bye"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        self.mails.append(Received(envelope.mail_from, list(envelope.rcpt_tos), msg,  # type: ignore[arg-type]
                                   session.ssl is not None, bool(session.authenticated)))
        return "250 Message accepted"


class SmtpServer:
    def __init__(self, port: int | None = None, **kwargs: Any) -> None:
        self.inbox = Inbox()
        self.port = port or free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **kwargs)
        self.started = False

    def start(self) -> SmtpServer:
        if not self.started:
            self.controller.start()
            self.started = True
        return self

    def stop(self) -> None:
        if self.started:
            self.controller.stop()
            self.started = False

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
