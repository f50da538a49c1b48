"""Delivery end to end with real monitor processes: SIGKILL mid-incident, and two replicas sharing PostgreSQL.

Counted at the receiver (the notifications file every delivered notification is written to, once per id).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import yaml

from devstack import PrivatePostgres, PrivateRedis, free_port
from devstack.monitor import MonitorServer


def write_config(path: Path, redis_url: str, notifications: Path, store: dict[str, Any], port: int) -> Path:
    config = {
        "redis": [{"name": "redis", "url": redis_url, "interval": 1, "timeout": 0.8}],
        "store": store,
        "server": {"host": "127.0.0.1", "port": port},
        "alerting": {"evaluation_interval": "1s", "notifications_file": str(notifications)},
        "rules": {"overrides": {"RedisDown": {"for": "1s", "keep_firing_for": "1s"}}},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {timeout}s: {what}")
        time.sleep(0.1)


def redis_down_notes(path: Path) -> Counter[str]:
    return Counter(n["kind"] for n in lines(path) if n["group"] == "RedisDown")


def kill(server: MonitorServer) -> None:
    assert server.pid is not None
    os.kill(server.pid, signal.SIGKILL)
    server._proc.wait(timeout=10)  # type: ignore[union-attr]
    server._proc = None
    server.stop()


def test_sigkill_mid_incident_loses_and_duplicates_nothing(redis_fault: PrivateRedis, tmp_path: Path) -> None:
    notes = tmp_path / "notifications.jsonl"
    port = free_port()
    cfg = write_config(tmp_path / "monitor.yml", redis_fault.url, notes,
                       {"backend": "sqlite", "path": str(tmp_path / "state.sqlite3")}, port)
    monitor = MonitorServer(cfg, port, log_dir=str(tmp_path))
    monitor.start()
    try:
        time.sleep(2)
        redis_fault.stop()
        wait_for(lambda: redis_down_notes(notes)["firing"] == 1, 15, "RedisDown firing")
        for pause in (0.3, 1.1, 0.7):  # killed at different moments of the incident, restarted each time
            time.sleep(pause)
            kill(monitor)
            monitor.start()
        time.sleep(3)
        redis_fault.start()
        wait_for(lambda: redis_down_notes(notes)["resolved"] == 1, 20, "RedisDown resolved")
        kill(monitor)
        monitor.start()
        time.sleep(3)
    finally:
        monitor.stop()
    assert redis_down_notes(notes) == Counter({"firing": 1, "resolved": 1})
    ids = [n["id"] for n in lines(notes)]
    assert len(ids) == len(set(ids))


def leader(server: MonitorServer) -> bool:
    try:
        text = httpx.get(f"{server.url}/metrics", timeout=3).text
    except httpx.HTTPError:
        return False
    return "converge_monitor_leader 1.0" in text


def test_two_replicas_one_delivers_and_the_other_takes_over(pg: PrivatePostgres, redis_fault: PrivateRedis,
                                                            tmp_path: Path) -> None:
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS monitor_replicas")
        conn.execute("CREATE DATABASE monitor_replicas")
    store = {"backend": "postgres", "dsn": pg.admin_url.rsplit("/", 1)[0] + "/monitor_replicas"}
    notes = tmp_path / "notifications.jsonl"
    replicas = []
    for name in ("a", "b"):
        port = free_port()
        cfg = write_config(tmp_path / f"monitor-{name}.yml", redis_fault.url, notes, store, port)
        replicas.append(MonitorServer(cfg, port, log_dir=str(tmp_path)))
    try:
        replicas[0].start()
        wait_for(lambda: leader(replicas[0]), 15, "replica a leads")
        replicas[1].start()
        time.sleep(3)
        assert not leader(replicas[1])
        redis_fault.stop()
        wait_for(lambda: redis_down_notes(notes)["firing"] == 1, 15, "RedisDown firing")
        kill(replicas[0])
        killed = time.monotonic()
        wait_for(lambda: leader(replicas[1]), 10, "replica b takes over")
        assert time.monotonic() - killed <= 2 * 1.0 + 1.5  # two evaluation intervals, and a scrape's slack
        time.sleep(2)
        redis_fault.start()
        wait_for(lambda: redis_down_notes(notes)["resolved"] == 1, 20, "RedisDown resolved by b")
        time.sleep(2)
    finally:
        for r in replicas:
            r.stop()
    assert redis_down_notes(notes) == Counter({"firing": 1, "resolved": 1})
