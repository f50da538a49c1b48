"""The monitor end to end: `converge-monitor run` against the private PostgreSQL, Redis and API.

Redis and PostgreSQL go down and come back; a hung target times out without delaying the others;
the monitor keeps recording and serving with both down; a real Prometheus scrapes it; SIGTERM
stops it cleanly with the history kept.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from devstack import ApiServer, PrivatePostgres, PrivatePrometheus, PrivateRedis, free_port
from devstack.monitor import MonitorServer
from monitor.core.signals import CATALOG
from monitor.store.sqlite import SqliteStore

INTERVAL = 1.0
API_TOKEN = "e2e-api-token-0123456789"


@pytest.fixture(scope="module")
def monitor(api: ApiServer, pg: PrivatePostgres, redis_server: PrivateRedis,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[MonitorServer]:
    import socket

    silent = socket.socket()  # a target that accepts connections and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    base = tmp_path_factory.mktemp("monitor")
    every = {"interval": INTERVAL, "timeout": 0.8}
    config = {
        "targets": {
            "http": [{"name": "api-health", "url": f"{api.url}/health", **every},
                     {"name": "hung", "url": f"http://127.0.0.1:{silent.getsockname()[1]}/", "interval": INTERVAL,
                      "timeout": 0.5}],
            "api_metrics": [{"name": "api-metrics", "urls": [f"{api.url}/metrics"], "window": "30s", **every}],
        },
        "database": [{"name": "postgres", "dsn": "${MONITORED_DSN}", **every}],
        "redis": [{"name": "redis", "url": "${MONITORED_REDIS}", **every}],
        "disks": [{"name": "disks", "paths": [str(base)], **every}],
        "store": {"backend": "sqlite", "path": str(base / "state.sqlite3")},
        "server": {"host": "127.0.0.1", "port": free_port(), "api_token": API_TOKEN},
        "alerting": {"evaluation_interval": "1s", "notifications_file": str(base / "notifications.jsonl")},
        "rules": {"overrides": {"RedisDown": {"for": "1s", "keep_firing_for": "1s"}}},
    }
    path = base / "monitor.yml"
    path.write_text(yaml.safe_dump(config))
    server = MonitorServer(path, config["server"]["port"],  # type: ignore[index]
                           env={"MONITORED_DSN": pg.url, "MONITORED_REDIS": redis_server.url}, log_dir=str(base))
    server.start()
    server.store_path = base / "state.sqlite3"  # type: ignore[attr-defined]
    server.config_file = path  # type: ignore[attr-defined]
    server.notifications = base / "notifications.jsonl"  # type: ignore[attr-defined]
    yield server
    server.stop()
    silent.close()


def latest(monitor: MonitorServer, signal: str, target: str) -> dict[str, Any] | None:
    for s in monitor.signals():
        if s["signal"] == signal and s["labels"].get("target") == target:
            return s
    return None


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not seen within {timeout}s: {what}")
        time.sleep(0.1)
    return time.monotonic() - start


def value_is(monitor: MonitorServer, signal: str, target: str, expected: float) -> Callable[[], bool]:
    def check() -> bool:
        s = latest(monitor, signal, target)
        return s is not None and s["value"] == expected
    return check


def test_everything_up_at_first(monitor: MonitorServer) -> None:
    wait_for(value_is(monitor, "redis_up", "redis", 1), 10, "redis up")
    wait_for(value_is(monitor, "postgres_up", "postgres", 1), 10, "postgres up")
    wait_for(value_is(monitor, "http_up", "api-health", 1), 10, "api healthy")
    wait_for(value_is(monitor, "api_up", "api-metrics", 1), 10, "api metrics scraped")
    assert httpx.get(f"{monitor.url}/health").status_code == 200


def test_every_recorded_series_is_in_the_signal_catalog(monitor: MonitorServer) -> None:
    wait_for(lambda: latest(monitor, "api_latency_p95_seconds", "api-metrics") is not None, 10, "api metrics")
    for s in monitor.signals():
        assert s["signal"] in CATALOG, s["signal"]
        assert set(s["labels"]) == set(CATALOG[s["signal"]].labels), s


def test_redis_down_is_seen_within_three_intervals_then_recovers(monitor: MonitorServer,
                                                                 redis_fault: PrivateRedis) -> None:
    wait_for(value_is(monitor, "redis_up", "redis", 1), 10, "redis up")
    redis_fault.stop()
    wait_for(value_is(monitor, "redis_up", "redis", 0), 3 * INTERVAL + 1, "redis down")
    wait_for(value_is(monitor, "http_up", "api-health", 0), 3 * INTERVAL + 1, "api health down")
    assert latest(monitor, "redis_memory_used_bytes", "redis")["value"] is None  # type: ignore[index]
    redis_fault.start()
    wait_for(value_is(monitor, "redis_up", "redis", 1), 3 * INTERVAL + 2, "redis back")
    wait_for(value_is(monitor, "http_up", "api-health", 1), 3 * INTERVAL + 5, "api health back")


def test_postgres_down_is_seen_within_three_intervals_then_recovers(monitor: MonitorServer,
                                                                    pg_fault: PrivatePostgres) -> None:
    wait_for(value_is(monitor, "postgres_up", "postgres", 1), 10, "postgres up")
    pg_fault.stop()
    wait_for(value_is(monitor, "postgres_up", "postgres", 0), 3 * INTERVAL + 1, "postgres down")
    wait_for(value_is(monitor, "http_up", "api-health", 0), 3 * INTERVAL + 1, "api health down")
    pg_fault.start()
    wait_for(value_is(monitor, "postgres_up", "postgres", 1), 3 * INTERVAL + 2, "postgres back")
    wait_for(value_is(monitor, "http_up", "api-health", 1), 3 * INTERVAL + 10, "api health back")


def runs(monitor: MonitorServer, target: str) -> float:
    text = httpx.get(f"{monitor.url}/metrics").text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("converge_monitor_probe_runs_total{") and f'target="{target}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_hung_target_times_out_without_delaying_others(monitor: MonitorServer) -> None:
    wait_for(lambda: (latest(monitor, "http_up", "hung") or {}).get("error") is not None, 10, "hung timed out")
    hung = latest(monitor, "http_up", "hung")
    assert hung is not None and hung["value"] == 0 and hung["error"] == "timeout"
    before = {t: runs(monitor, t) for t in ("api-health", "redis", "hung")}
    time.sleep(4 * INTERVAL)
    after = {t: runs(monitor, t) for t in ("api-health", "redis", "hung")}
    # Every target kept its pace: about one run per interval each, the hung one included.
    assert all(after[t] - before[t] >= 2 for t in before), (before, after)


def test_keeps_recording_and_serving_with_postgres_and_redis_both_down(
        monitor: MonitorServer, pg_fault: PrivatePostgres, redis_fault: PrivateRedis) -> None:
    pg_fault.stop()
    redis_fault.stop()
    wait_for(value_is(monitor, "postgres_up", "postgres", 0), 5, "postgres down")
    wait_for(value_is(monitor, "redis_up", "redis", 0), 5, "redis down")
    first = latest(monitor, "redis_up", "redis")["timestamp"]  # type: ignore[index]
    time.sleep(2 * INTERVAL + 0.5)
    assert latest(monitor, "redis_up", "redis")["timestamp"] > first  # type: ignore[index]
    assert httpx.get(f"{monitor.url}/health").status_code == 200
    assert "converge_postgres_up" in httpx.get(f"{monitor.url}/metrics").text
    pg_fault.start()
    redis_fault.start()


def test_real_prometheus_scrapes_the_monitor(monitor: MonitorServer) -> None:
    config = {"global": {"scrape_interval": "1s"},
              "scrape_configs": [{"job_name": "converge-monitor",
                                  "static_configs": [{"targets": [f"127.0.0.1:{monitor.port}"]}]}]}
    with PrivatePrometheus(config) as prom:
        wait_for(prom.targets_up, 15, "prometheus target up")
        wait_for(lambda: bool(prom.query("converge_redis_up")), 10, "converge_redis_up in prometheus")
        health = prom.query('up{job="converge-monitor"}')
        assert health[0]["value"][1] == "1"
        assert prom.query("converge_monitor_probe_runs_total")
        errors = prom.query("prometheus_target_scrapes_sample_out_of_order_total + "
                            "prometheus_target_scrapes_sample_duplicate_timestamp_total")
        assert all(float(e["value"][1]) == 0 for e in errors)


def cli(monitor: MonitorServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args, "--config", str(monitor.config_file)],  # type: ignore[attr-defined]
                          capture_output=True, text=True, timeout=60, env=monitor.env)


def notifications(monitor: MonitorServer) -> list[dict[str, Any]]:
    path: Path = monitor.notifications  # type: ignore[attr-defined]
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_redis_down_alert_is_notified_acknowledged_and_resolved_through_the_cli(
        monitor: MonitorServer, redis_fault: PrivateRedis) -> None:
    seen = len(notifications(monitor))  # earlier tests stopped Redis too: look at what comes now

    def new(kind: str) -> bool:
        return any(n["group"] == "RedisDown" and n["kind"] == kind for n in notifications(monitor)[seen:])

    wait_for(lambda: not any(a["rule"] == "RedisDown" for a in httpx.get(f"{monitor.url}/api/alerts").json()["alerts"]),
             15, "no RedisDown alert left from earlier tests")
    redis_fault.stop()
    wait_for(lambda: new("firing"), 10, "RedisDown notified")
    listed = cli(monitor, "alerts")
    assert listed.returncode == 0 and "RedisDown" in listed.stdout and "firing" in listed.stdout
    alert_id = next(line.split()[0] for line in listed.stdout.splitlines() if "RedisDown" in line)
    acked = cli(monitor, "ack", alert_id, "--by", "ana")
    assert acked.returncode == 0 and "acknowledged RedisDown" in acked.stdout, acked.stderr
    assert "ana" in cli(monitor, "alerts").stdout
    redis_fault.start()
    wait_for(lambda: new("resolved"), 15, "RedisDown resolved")
    note = next(n for n in notifications(monitor)[seen:] if n["group"] == "RedisDown")
    assert note["tier"] == "high" and note["channels"] == ["slack"] and "RedisDown" in note["text"]
    assert API_TOKEN not in "".join(json.dumps(n) for n in notifications(monitor))
    assert API_TOKEN not in monitor.logs()


def test_silences_through_the_cli(monitor: MonitorServer) -> None:
    added = cli(monitor, "silence", "add", "-m", "alertname=DiskUsageHigh", "-d", "30m", "--reason", "resize")
    assert added.returncode == 0, added.stderr
    sid = added.stdout.split()[1]
    assert sid in cli(monitor, "silence", "list").stdout
    assert cli(monitor, "silence", "expire", sid).returncode == 0
    again = cli(monitor, "silence", "expire", sid)
    assert again.returncode == 1 and "already expired" in again.stderr
    bad = cli(monitor, "silence", "add", "-m", "alertname=X", "-d", "soon", "--reason", "r")
    assert bad.returncode == 1 and "--duration" in bad.stderr and "Traceback" not in bad.stderr


def test_probe_cli_runs_once_as_table_or_json(monitor: MonitorServer) -> None:
    table = cli(monitor, "probe", "--once", "--target", "redis", "--target", "disks")
    assert table.returncode == 0, table.stderr
    assert "redis_up" in table.stdout and "disk_used_ratio" in table.stdout and "yes" in table.stdout
    as_json = cli(monitor, "probe", "--target", "postgres", "--json")
    data = json.loads(as_json.stdout)
    assert {o["signal"]: o["value"] for o in data["postgres"]}["postgres_up"] == 1
    failing = cli(monitor, "probe", "--target", "hung")
    assert failing.returncode == 1 and "timeout" in failing.stdout
    unknown = cli(monitor, "probe", "--target", "nope")
    assert unknown.returncode == 2 and "no enabled target named nope" in unknown.stderr


def test_rules_cli_shows_overrides(monitor: MonitorServer) -> None:
    out = cli(monitor, "rules")
    assert out.returncode == 0
    line = next(line for line in out.stdout.splitlines() if line.startswith("RedisDown"))
    assert " 1s " in line and "high" in line


def test_sigterm_stops_cleanly_and_the_history_is_kept(monitor: MonitorServer) -> None:
    store_path: Path = monitor.store_path  # type: ignore[attr-defined]
    assert monitor.terminate() == 0
    logs = monitor.logs()
    assert "stopped" in logs
    # The log is for people: no line per probe run or per HTTP request from the libraries underneath.
    assert "Running job" not in logs and "HTTP Request:" not in logs
    assert "converge-monitor running" in logs
    store = SqliteStore(str(store_path), retention=86400)
    assert len(store.history("redis_up", {"target": "redis"}, since=0)) >= 5
    store.close()
