"""The daily status report goes out once, at its time, to Slack (text) and email (HTML), and to the log, through
the outbox: a receiver failing for a while delays it, never loses it or sends it twice."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from alerts.notifiers.config import build_notifiers
from alerts.outbox import DeliveryWorker
from monitor.config import load_config
from monitor.slo_loop import send_report_if_due
from monitor.store.sqlite import SqliteStore
from slo.service import SloService
from tests.support.clock import Clock
from tests.support.fakes.slack import FakeSlack
from tests.support.fakes.smtp import SmtpServer


def report_config(tmp_path: Path, slack: FakeSlack, smtp: SmtpServer) -> Any:
    zone = ZoneInfo("America/Los_Angeles")
    today = datetime.now(zone).date()
    config_file = tmp_path / "monitor.yml"
    config_file.write_text(yaml.safe_dump({
        "targets": {"api_metrics": [{"name": "api-metrics", "urls": ["http://127.0.0.1:9/metrics"]}]},
        "event": {"start": str(today - timedelta(days=1)), "end": str(today + timedelta(days=1)),
                  "timezone": "America/Los_Angeles"},
        "alerting": {"notifications_file": str(tmp_path / "notifications.jsonl")},
        "slos": {"report": {"time": "00:00", "channels": ["slack", "email"]}},
        "channels": {"slack": {"webhook_url": slack.webhook_url()},
                     "email": {"host": "127.0.0.1", "port": smtp.port, "starttls": False,
                               "from": "monitor@example.org", "to": ["stakeholders@example.org"]}},
    }))
    return load_config(config_file, environ={})


def deliver(worker: DeliveryWorker, clock: Clock, seconds: float) -> None:
    for _ in range(int(seconds)):
        asyncio.run(worker.run_once())
        clock.now += 1


def test_report_is_sent_once_to_slack_and_email(tmp_path: Path) -> None:
    zone = ZoneInfo("America/Los_Angeles")
    today = datetime.now(zone).date()
    with FakeSlack() as slack, SmtpServer() as smtp:
        config = report_config(tmp_path, slack, smtp)
        store = SqliteStore(str(tmp_path / "state.sqlite3"), retention=86400)
        slos = SloService.from_config(config, store)
        channels = dict(build_notifiers(config.channels, config.oncall))
        now = datetime.now(zone).timestamp()
        clock = Clock(now)
        worker = DeliveryWorker(store, channels, config.routing, clock=clock)
        sent = asyncio.run(send_report_if_due(config, store, slos, channels, now))
        again = asyncio.run(send_report_if_due(config, store, slos, channels, now + 60))
        assert sent == today and again is None  # once a day
        deliver(worker, clock, 3)
        slack.wait_for(1)
        assert "daily status" in slack.messages()[0]["text"].lower()
        assert len(smtp.inbox.mails) == 1
        mail = smtp.inbox.mails[0].message
        assert mail.get_content_type() == "multipart/alternative" and today.isoformat() in mail["Subject"]
        assert (tmp_path / "reports" / f"{today.isoformat()}.html").exists()


def test_a_slack_500_delays_the_report_and_it_arrives_exactly_once(tmp_path: Path) -> None:
    zone = ZoneInfo("America/Los_Angeles")
    with FakeSlack() as slack, SmtpServer() as smtp:
        config = report_config(tmp_path, slack, smtp)
        store = SqliteStore(str(tmp_path / "state.sqlite3"), retention=86400)
        slos = SloService.from_config(config, store)
        channels = dict(build_notifiers(config.channels, config.oncall))
        now = datetime.now(zone).timestamp()
        clock = Clock(now)
        worker = DeliveryWorker(store, channels, config.routing, clock=clock)
        slack.fail_next(2, 500)  # Slack fails, then recovers
        asyncio.run(send_report_if_due(config, store, slos, channels, now))
        deliver(worker, clock, 10)
        asyncio.run(send_report_if_due(config, store, slos, channels, now + 60))  # marked sent: not made again
        deliver(worker, clock, 10)
        reports = [m for m in slack.messages() if "daily status" in m.get("text", "").lower()]
        assert len(reports) == 1 and len(slack.requests) == 3  # two refused, then the one that arrived
        assert len(smtp.inbox.mails) == 1
