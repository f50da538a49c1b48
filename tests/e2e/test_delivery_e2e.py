"""Delivery end to end with real monitor processes: SIGKILL mid-incident, and two replicas sharing PostgreSQL.

Counted where a person counts: the requests the recording Slack, Twilio and SMTP servers accepted, per alert
and state (never the monitor's own notifications file, which drops a repeated id): 0 lost, 0 duplicate.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml

from devstack import PrivatePostgres, PrivateRedis, free_port
from devstack.monitor import MonitorServer
from tests.support.fakes.slack import FakeSlack
from tests.support.fakes.smtp import SmtpServer
from tests.support.fakes.twilio import FakeTwilio
from tests.support.processes import sigkill
from tests.support.receivers import accepted, once_each, wait_for


@dataclass
class Receivers:
    slack: FakeSlack
    twilio: FakeTwilio
    smtp: SmtpServer

    def redis_down(self) -> Counter[tuple[str, str]]:
        return accepted(self.slack, self.twilio, self.smtp, "RedisDown")

    def seen(self, state: str) -> bool:
        return sum(n for (_, s), n in self.redis_down().items() if s == state) >= 3  # at all three receivers


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    with FakeSlack() as slack, FakeTwilio() as twilio, SmtpServer() as smtp:
        yield Receivers(slack, twilio, smtp)


def write_config(path: Path, redis_url: str, notifications: Path, store: dict[str, Any], port: int,
                 receivers: Receivers) -> Path:
    config = {
        "redis": [{"name": "redis", "url": redis_url, "interval": 1, "timeout": 0.8}],
        "store": store,
        "server": {"host": "127.0.0.1", "port": port},
        "alerting": {"evaluation_interval": "1s", "notifications_file": str(notifications)},
        "rules": {"overrides": {"RedisDown": {"for": "1s", "keep_firing_for": "1s"}}},
        # RedisDown is high: to every kind of receiver here, so each one counts it
        "routing": {"high": {"channels": ["slack", "sms", "email"]}},
        "oncall": {"people": [{"name": "ana", "phone": "+15555550101", "email": "ana@example.org"}],
                   "rotation": {"order": ["ana"], "start": "2026-01-01", "timezone": "UTC"}},
        "channels": {
            "slack": {"webhook_url": receivers.slack.webhook_url()},
            "sms": {"account_sid": "AC" + "0" * 32, "auth_token": "twilio-token-e2e-0123456789",
                    "from_number": "+15555550100", "base_url": receivers.twilio.url},
            "email": {"host": "127.0.0.1", "port": receivers.smtp.port, "starttls": False,
                      "from": "monitor@example.org", "to": ["team@example.org"]}},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_sigkill_mid_incident_loses_and_duplicates_nothing(redis_fault: PrivateRedis, receivers: Receivers,
                                                           tmp_path: Path) -> None:
    port = free_port()
    cfg = write_config(tmp_path / "monitor.yml", redis_fault.url, tmp_path / "notifications.jsonl",
                       {"backend": "sqlite", "path": str(tmp_path / "state.sqlite3")}, port, receivers)
    monitor = MonitorServer(cfg, port, log_dir=str(tmp_path))
    monitor.start()
    try:
        time.sleep(2)
        redis_fault.stop()
        wait_for(lambda: receivers.seen("firing"), 15, "RedisDown firing at every receiver")
        # Killed once the sends are recorded: a kill between a receiver's accept and that record resends (the
        # at-least-once window the README states); every kill below lands mid-incident, outside that window.
        wait_for(lambda: recorded_sent(monitor, ("slack", "sms", "email")), 10, "the firing sends recorded")
        for pause in (0.3, 1.1, 0.7):  # killed at different moments of the incident, restarted each time
            time.sleep(pause)
            sigkill(monitor)
            monitor.start()
        time.sleep(3)
        redis_fault.start()
        wait_for(lambda: receivers.seen("resolved"), 20, "RedisDown resolved at every receiver")
        wait_for(lambda: recorded_sent(monitor, ("slack", "sms", "email")), 10, "the resolve sends recorded")
        sigkill(monitor)
        monitor.start()
        time.sleep(3)  # anything sent twice would arrive now
    finally:
        monitor.stop()
    assert receivers.redis_down() == once_each("firing", "resolved")


def recorded_sent(server: MonitorServer, channels: tuple[str, ...]) -> bool:
    """Whether the monitor recorded a sent notification on each channel (it counts a send once it is stored)."""
    try:
        text = httpx.get(f"{server.url}/metrics", timeout=3).text
    except httpx.HTTPError:
        return False
    return all(f'converge_monitor_notifications_total{{channel="{c}",outcome="sent"}}' in text for c in channels)


def leader(server: MonitorServer) -> bool:
    try:
        text = httpx.get(f"{server.url}/metrics", timeout=3).text
    except httpx.HTTPError:
        return False
    return "converge_monitor_leader 1.0" in text


def test_two_replicas_one_delivers_and_the_other_takes_over(pg: PrivatePostgres, redis_fault: PrivateRedis,
                                                            receivers: Receivers, tmp_path: Path) -> None:
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS monitor_replicas")
        conn.execute("CREATE DATABASE monitor_replicas")
    store = {"backend": "postgres", "dsn": pg.admin_url.rsplit("/", 1)[0] + "/monitor_replicas"}
    replicas = []
    for name in ("a", "b"):
        port = free_port()
        cfg = write_config(tmp_path / f"monitor-{name}.yml", redis_fault.url, tmp_path / f"notifications-{name}.jsonl",
                           store, port, receivers)
        replicas.append(MonitorServer(cfg, port, log_dir=str(tmp_path)))
    try:
        replicas[0].start()
        wait_for(lambda: leader(replicas[0]), 15, "replica a leads")
        replicas[1].start()
        time.sleep(3)
        assert not leader(replicas[1])
        redis_fault.stop()
        wait_for(lambda: receivers.seen("firing"), 15, "RedisDown firing at every receiver")
        # a takeover after the leader recorded its sends (a kill between a receiver's accept and that record is
        # the at-least-once window test_sigkill_mid_incident_loses_and_duplicates_nothing covers)
        wait_for(lambda: recorded_sent(replicas[0], ("slack", "sms", "email")), 10, "a's sends recorded")
        sigkill(replicas[0])
        killed = time.monotonic()
        wait_for(lambda: leader(replicas[1]), 10, "replica b takes over")
        assert time.monotonic() - killed <= 2 * 1.0 + 1.5  # two evaluation intervals, and a scrape's slack
        time.sleep(2)
        redis_fault.start()
        wait_for(lambda: receivers.seen("resolved"), 20, "RedisDown resolved by b at every receiver")
        time.sleep(3)  # anything sent twice would arrive now
    finally:
        for r in replicas:
            r.stop()
    assert receivers.redis_down() == once_each("firing", "resolved")
