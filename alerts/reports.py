"""Messages that are not alerts (the daily status report), delivered through the outbox like alerts.

    rows = report_rows(Report(key, subject, text, slack_text, html), ["slack", "email"], now)
    store.commit_cycle(...rows)       # the outbox sends each row: retried, handed on, once per channel

Slack gets the plain text (TextNotifier), email a text and HTML mail (ReportNotifier); other channels
cannot carry one.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from alerts.notifiers.base import Notifier, ReportNotifier, TextNotifier
from alerts.notifiers.errors import DeliveryError
from monitor.store import OutboxRow

REPORT_TIER = "advisory"  # a report never pages: when its channel gives up, the advisory fallback order applies


@dataclass(frozen=True)
class Report:
    """A message that is not an alert (the daily status report): a subject, text (with a Slack variant)
    and HTML; `key` makes it one row per channel however often it is enqueued."""

    key: str
    subject: str
    text: str
    slack_text: str
    html: str

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "subject": self.subject, "text": self.text, "slack_text": self.slack_text,
                "html": self.html}


def can_carry_report(notifier: Notifier | None) -> bool:
    return isinstance(notifier, TextNotifier | ReportNotifier)


def report_rows(report: Report, channels: Collection[str], now: float) -> list[OutboxRow]:
    """The rows of a report, one per channel (no log row: the report is printed and filed when made)."""
    payload = {"report": report.to_dict(), "route": {"tier": REPORT_TIER, "channels": list(channels)}}
    return [OutboxRow(report.key, c, now, payload) for c in channels]


async def send_report(notifier: Notifier, report: Mapping[str, str]) -> None:
    """Slack gets the plain text; email the text and HTML mail."""
    if isinstance(notifier, TextNotifier):
        await notifier.post_text(report["slack_text"])
    elif isinstance(notifier, ReportNotifier):
        await notifier.send_report(report["subject"], report["text"], report["html"], message_id=report["key"])
    else:
        raise DeliveryError(notifier.name, "this channel cannot carry a report", retryable=False)
