"""Counting deliveries where a person would count them: the requests the recording Slack, Twilio and SMTP
servers accepted, per alert and state (firing, resolved, ...), read from the message each one carried."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable

from tests.support.fakes.slack import FakeSlack
from tests.support.fakes.smtp import SmtpServer
from tests.support.fakes.twilio import FakeTwilio

_STATE = re.compile(r"\b(STILL FIRING|STILL|ESCALATED|FIRING|RESOLVED|OK)\b")
_NAMES = {"STILL FIRING": "reminder", "STILL": "reminder", "ESCALATED": "escalation", "FIRING": "firing",
          "RESOLVED": "resolved", "OK": "resolved"}


def wait_for(check: Callable[[], bool], timeout: float, what: str, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {timeout}s: {what}")
        time.sleep(every)


def state_of(headline: str) -> str:
    found = _STATE.search(headline)
    return _NAMES[found.group(1)] if found else "?"


def accepted(slack: FakeSlack, twilio: FakeTwilio, smtp: SmtpServer, rule: str) -> Counter[tuple[str, str]]:
    """(receiver, state) -> how many messages about `rule` that receiver accepted."""
    counts: Counter[tuple[str, str]] = Counter()
    for m in slack.messages():
        if rule in m.get("text", ""):
            counts["slack", state_of(m["text"])] += 1
    for m in twilio.messages():
        if rule in m["Body"]:
            counts["sms", state_of(m["Body"])] += 1
    for mail in list(smtp.inbox.mails):
        subject = str(mail.message["Subject"])
        if rule in subject:
            counts["email", state_of(subject)] += 1
    return counts


def once_each(*states: str) -> Counter[tuple[str, str]]:
    """What every receiver should have accepted: each state exactly once."""
    return Counter({(receiver, state): 1 for receiver in ("slack", "sms", "email") for state in states})
