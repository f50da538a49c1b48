"""What a notifier receives: the decided notification and its rendered text."""

from __future__ import annotations

from dataclasses import dataclass

from alerts.dispatch import Notification


@dataclass(frozen=True)
class Outgoing:
    notification: Notification
    text: str


class LocalProgress:
    """A Progress (alerts.notifiers.base) kept for as long as the object lives: a plain send, test-notify.
    Nothing survives a restart; the outbox resumes with its own, kept in the row (alerts.outbox.RowProgress)."""

    def __init__(self) -> None:
        self._parts: set[str] = set()

    def done(self, part: str) -> bool:
        return part in self._parts

    def accepted(self, part: str) -> None:
        self._parts.add(part)
