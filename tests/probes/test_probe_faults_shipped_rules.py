"""Faults the spec names, measured by the real probes and judged by the shipped rules (monitor.yml).

Each fault is made real (a closed port, a wrong password at the real API, a 10-day-old empty dump, a
WAL archive_command that fails), the probe runs at the shipped interval on a simulated clock, and the real
engine with the shipped catalog must fire the rule within `interval x 2 + for`, in normal and event mode.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr

from devstack import ApiServer, PrivatePostgres
from monitor.core.observation import Observation
from monitor.core.targets import BackupTarget
from probes import api_metrics, backup, http, postgres, synthetic
from probes.base import ProbeContext
from tests.support.shipped import ShippedRules, shipped_config
from tests.support.stack import SYNTHETIC_PASSWORD

T0 = 1_769_600_000.0
MODES = pytest.mark.parametrize("in_event", [False, True], ids=["normal", "event"])


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def detection(rule_name: str, run: Callable[[ProbeContext], Awaitable[list[Observation]]], interval: float,
                    in_event: bool, horizon: float) -> tuple[float | None, list[Observation]]:
    """Seconds from the first probe run until `rule_name` fires (None within `horizon`), and the last run."""
    clock = [T0]
    ctx = ProbeContext(clock=lambda: clock[0])
    rules = ShippedRules(in_event)
    last: list[Observation] = []
    while clock[0] - T0 <= horizon:
        last = await run(ctx)
        if rule_name in rules.evaluate(last, clock[0]):
            return clock[0] - T0, last
        clock[0] += interval
    return None, last


def bound(rule_name: str, interval: float, in_event: bool) -> float:
    rule = next(r for r in shipped_config().effective_rules() if r.name == rule_name)
    return 2 * interval + rule.params(in_event).for_


@MODES
async def test_frontend_down_fires(in_event: bool) -> None:
    config = shipped_config({"FRONTEND_URL": f"http://127.0.0.1:{closed_port()}/"})
    target = next(t for t in config.targets.http if t.name == "frontend")
    interval = target.effective_interval(in_event)
    limit = bound("FrontendDown", interval, in_event)
    took, last = await detection("FrontendDown", lambda ctx: http.run(target, ctx), interval, in_event, limit)
    assert took is not None and took <= limit, last


@MODES
async def test_login_flow_failing_at_the_real_api_fires(api: ApiServer, in_event: bool) -> None:
    config = shipped_config({"CONVERGE_API_URL": api.url, "SYNTHETIC_PASSWORD": "not-the-password"})
    [target] = config.targets.synthetic
    interval = target.effective_interval(in_event)
    limit = bound("LoginFlowFailing", interval, in_event)
    took, last = await detection("LoginFlowFailing", lambda ctx: synthetic.run(target, ctx), interval, in_event,
                                 limit)
    assert took is not None and took <= limit, last
    success = next(o for o in last if o.signal == "synthetic_success")
    assert success.value == 0


async def test_login_flow_passing_stays_silent(api: ApiServer) -> None:
    # The test stack seeds the synthetic account with its own password, as a deployment sets SYNTHETIC_PASSWORD.
    [target] = shipped_config({"CONVERGE_API_URL": api.url, "SYNTHETIC_PASSWORD": SYNTHETIC_PASSWORD}).targets.synthetic
    took, last = await detection("LoginFlowFailing", lambda ctx: synthetic.run(target, ctx),
                                 target.effective_interval(True), True, 300)
    assert took is None and next(o for o in last if o.signal == "synthetic_success").value == 1, last


@MODES
async def test_broken_metrics_scrape_fires(in_event: bool) -> None:
    config = shipped_config({"CONVERGE_API_URL": f"http://127.0.0.1:{closed_port()}"})
    [target] = config.targets.api_metrics
    interval = target.effective_interval(in_event)
    limit = bound("ApiMetricsDown", interval, in_event)
    took, last = await detection("ApiMetricsDown", lambda ctx: api_metrics.run(target, ctx), interval, in_event,
                                 limit)
    assert took is not None and took <= limit, last


def backups_target(directory: Path) -> BackupTarget:
    return shipped_config({"BACKUP_DIR": str(directory)}).backups[0]


async def test_ten_day_old_empty_backup_is_a_failure_and_fires_stale_and_empty(tmp_path: Path) -> None:
    dump = tmp_path / "converge-2026-01-18.dump"
    dump.write_bytes(b"")
    os.utime(dump, (T0 - 10 * 86400, T0 - 10 * 86400))
    target = backups_target(tmp_path)
    rules = ShippedRules(in_event=False)
    observations = await backup.run(target, ProbeContext(clock=lambda: T0))
    by = {o.signal: o for o in observations}
    assert by["backup_success"].value == 0 and "empty" in (by["backup_success"].error or "")
    assert by["backup_size_bytes"].value == 0
    assert {"BackupStale", "BackupEmpty", "BackupFailed"} <= rules.evaluate(observations, T0)


@pytest.mark.parametrize(("age_hours", "in_event", "fires"), [
    (27, False, True), (20, False, False),  # daily backups: 26 h
    (2, True, True), (0.5, True, False),  # hourly in the event: 75 min
])
async def test_backup_age_against_the_schedule(tmp_path: Path, age_hours: float, in_event: bool,
                                               fires: bool) -> None:
    dump = tmp_path / "converge.dump"
    dump.write_bytes(b"PGDMP" + b"\0" * 100)
    os.utime(dump, (T0 - age_hours * 3600, T0 - age_hours * 3600))
    observations = await backup.run(backups_target(tmp_path), ProbeContext(clock=lambda: T0))
    firing = ShippedRules(in_event).evaluate(observations, T0)
    assert ("BackupStale" in firing) is fires
    assert "BackupEmpty" not in firing and "BackupFailed" not in firing


@pytest.fixture
def archiving_pg() -> Iterator[PrivatePostgres]:
    """A private PostgreSQL whose archive_command always fails."""
    server = PrivatePostgres()
    server.start()
    try:
        with psycopg.connect(server.admin_url, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET archive_mode = on")
            conn.execute("ALTER SYSTEM SET archive_command = 'false'")
        server.restart()
        yield server
    finally:
        server.cleanup()


async def test_failing_wal_archiving_fires(archiving_pg: PrivatePostgres) -> None:
    with psycopg.connect(archiving_pg.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE filler AS SELECT generate_series(1, 1000) AS n")
        conn.execute("SELECT pg_switch_wal()")
    target = shipped_config().database[0].model_copy(update={"dsn": SecretStr(archiving_pg.url)})
    for _ in range(100):  # the archiver tries within a second or so of the switch
        observations = await postgres.run(target, ProbeContext(clock=lambda: T0))
        failing = next(o for o in observations if o.signal == "postgres_wal_archive_failing")
        if failing.value == 1:
            break
        await asyncio.sleep(0.1)
    assert failing.value == 1, failing
    for in_event in (False, True):
        interval = target.effective_interval(in_event)
        limit = bound("WalArchiveFailing", interval, in_event)
        took, last = await detection("WalArchiveFailing", lambda ctx: postgres.run(target, ctx), interval,
                                     in_event, limit)
        assert took is not None and took <= limit, last
