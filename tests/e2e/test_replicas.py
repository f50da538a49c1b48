"""Two monitor replicas on one PostgreSQL store split the targets: each target is probed by exactly one of them,
and when one dies (SIGKILL) the other probes its targets within two intervals.

Counted at the probed server (requests per target path) and in each replica's own run counters.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import httpx
import psycopg
import yaml

from devstack import PrivatePostgres, free_port
from devstack.monitor import MonitorServer
from tests.support.fakes.recorder import RecordingServer
from tests.support.processes import sigkill
from tests.support.receivers import wait_for

TARGETS = 24
INTERVAL = 5.0
WINDOW = 3 * INTERVAL


def ran(server: MonitorServer) -> Counter[str]:
    """Probe runs per target, from the replica's /metrics."""
    text = httpx.get(f"{server.url}/metrics", timeout=5).text
    out: Counter[str] = Counter()
    for target, value in re.findall(r'converge_monitor_probe_runs_total\{kind="http",outcome="\w+",target="(t\d+)"\} '
                                    r'([\d.e+]+)', text):
        out[target] += int(float(value))
    return out


def live_replicas(server: MonitorServer) -> int:
    try:
        text = httpx.get(f"{server.url}/metrics", timeout=3).text
    except httpx.HTTPError:
        return 0
    m = re.search(r"^converge_monitor_replicas ([\d.]+)$", text, re.M)
    return int(float(m.group(1))) if m else 0


def hits(api: RecordingServer, since: int = 0) -> Counter[str]:
    return Counter(r.path.strip("/") for r in list(api.requests)[since:])


def test_two_replicas_split_the_targets_and_one_takes_over_when_the_other_dies(pg: PrivatePostgres,
                                                                               tmp_path: Path) -> None:
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS monitor_shared")
        conn.execute("CREATE DATABASE monitor_shared")
    names = [f"t{i:02d}" for i in range(TARGETS)]
    with RecordingServer() as api:
        replicas = []
        for which in ("a", "b"):
            port = free_port()
            config = {
                "targets": {"http": [{"name": n, "url": f"{api.url}/{n}", "interval": f"{INTERVAL:g}s",
                                      "timeout": "2s"} for n in names]},
                "store": {"backend": "postgres", "dsn": pg.admin_url.rsplit("/", 1)[0] + "/monitor_shared"},
                "server": {"host": "127.0.0.1", "port": port},
                "alerting": {"notifications_file": str(tmp_path / f"notifications-{which}.jsonl")},
            }
            (tmp_path / f"monitor-{which}.yml").write_text(yaml.safe_dump(config))
            replicas.append(MonitorServer(tmp_path / f"monitor-{which}.yml", port, log_dir=str(tmp_path)))
        a, b = replicas
        try:
            a.start()
            b.start()
            wait_for(lambda: live_replicas(a) == 2 and live_replicas(b) == 2, 20, "both replicas see each other")
            time.sleep(INTERVAL)  # a start-up run of a target the other replica owns is over by now
            before_a, before_b, mark = ran(a), ran(b), len(api.requests)
            time.sleep(WINDOW)
            by_a = {t for t, n in (ran(a) - before_a).items() if n}
            by_b = {t for t, n in (ran(b) - before_b).items() if n}
            seen = hits(api, mark)
            # Each target probed by exactly one replica, and all of them by one of the two.
            assert by_a and by_b, (by_a, by_b)
            assert not by_a & by_b, by_a & by_b
            assert by_a | by_b == set(names)
            # At the server: one prober's worth of checks per target, not two.
            assert set(seen) == set(names)
            assert max(seen.values()) <= WINDOW / INTERVAL + 1, seen

            sigkill(a)
            killed, mark = time.monotonic(), len(api.requests)
            wait_for(lambda: by_a <= set(hits(api, mark)), 4 * INTERVAL, "b probes a's targets")
            taken_over = time.monotonic() - killed
            print(f"a's {len(by_a)} targets probed again by b {taken_over:.1f} s after the SIGKILL")
            assert taken_over <= 2 * INTERVAL + 1.0  # two intervals, and the server's slack
            wait_for(lambda: live_replicas(b) == 1, 10, "b alone")
            before_b = ran(b)
            time.sleep(2 * INTERVAL)
            assert {t for t, n in (ran(b) - before_b).items() if n} == set(names)
            assert httpx.get(f"{b.url}/health", timeout=5).json()["stale"] == []
        finally:
            for r in replicas:
                r.stop()
