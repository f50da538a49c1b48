"""What a notifier receives: the decided notification and its rendered text."""

from __future__ import annotations

from dataclasses import dataclass

from alerts.dispatch import Notification


@dataclass(frozen=True)
class Outgoing:
    notification: Notification
    text: str
