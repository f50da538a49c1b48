"""A report through the outbox: sent once per channel, and handed to the next channel when one gives up."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alerts.notifiers.errors import DeliveryError
from alerts.notifiers.outgoing import Outgoing
from alerts.outbox import DeliveryWorker
from alerts.reports import Report, report_rows
from monitor.store.sqlite import SqliteStore

T0 = 1_769_619_600.0


class SlackLike:
    name = "slack"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.posted: list[str] = []

    async def send(self, message: Outgoing) -> None:
        raise AssertionError("a report is not an alert")

    async def post_text(self, text: str) -> None:
        if self.failures:
            self.failures -= 1
            raise DeliveryError(self.name, "HTTP 500", retryable=True)
        self.posted.append(text)


class MailLike:
    name = "email"

    def __init__(self) -> None:
        self.mailed: list[tuple[str, str]] = []

    async def send(self, message: Outgoing) -> None:
        raise AssertionError("a report is not an alert")

    async def send_report(self, subject: str, text: str, html: str, *, message_id: str) -> None:
        self.mailed.append((subject, message_id))


def test_a_report_whose_only_channel_gives_up_is_mailed_once_instead(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "s.sqlite3"), retention=86400)
    clock = [T0]
    slack, mail = SlackLike(failures=100), MailLike()
    worker = DeliveryWorker(store, {"slack": slack, "email": mail}, clock=lambda: clock[0])
    report = Report("report-2026-01-28", "Daily status: 2026-01-28", "text", "slack text", "<p>html</p>")
    for _ in range(2):  # enqueued twice (a replay): still one row per channel
        store.commit_cycle("slo_report", {}, report_rows(report, ["slack"], T0))
    for _ in range(90):
        asyncio.run(worker.run_once())
        clock[0] += 1
    assert slack.posted == [] and mail.mailed == [("Daily status: 2026-01-28", "report-2026-01-28")]
