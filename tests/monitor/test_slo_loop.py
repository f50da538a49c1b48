"""The daily status report goes out once, at its time, to Slack (text) and email (HTML), and to the log."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from alerts.notifiers.config import build_notifiers
from monitor.config import load_config
from monitor.slo_loop import send_report_if_due
from monitor.store.sqlite import SqliteStore
from slo.service import SloService
from tests.support.fakes.slack import FakeSlack
from tests.support.fakes.smtp import SmtpServer


def test_report_is_sent_once_to_slack_and_email(tmp_path: Path) -> None:
    zone = ZoneInfo("America/Los_Angeles")
    today = datetime.now(zone).date()
    with FakeSlack() as slack, SmtpServer() as smtp:
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
        config = load_config(config_file, environ={})
        store = SqliteStore(str(tmp_path / "state.sqlite3"), retention=86400)
        slos = SloService.from_config(config, store)
        channels = dict(build_notifiers(config.channels, config.oncall))
        now = datetime.now(zone).timestamp()
        sent = asyncio.run(send_report_if_due(config, store, slos, channels, now))
        again = asyncio.run(send_report_if_due(config, store, slos, channels, now + 60))
        assert sent == today and again is None  # once a day
        slack.wait_for(1)
        assert "daily status" in slack.messages()[0]["text"].lower()
        assert len(smtp.inbox.mails) == 1
        mail = smtp.inbox.mails[0].message
        assert mail.get_content_type() == "multipart/alternative" and today.isoformat() in mail["Subject"]
        assert (tmp_path / "reports" / f"{today.isoformat()}.html").exists()
