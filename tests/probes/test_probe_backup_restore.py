"""The restore check against the real thing: dumps made by `python -m app backup` and pg_dump of the seeded
database, restored by pg_restore into a scratch database on the private PostgreSQL, checked and dropped."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from pydantic import ValidationError

from devstack import PrivatePostgres
from devstack.stack import run_app
from monitor.core.observation import Observation
from monitor.core.targets import BackupRestoreTarget
from probes.backup_restore import MARK
from probes.backup_restore import run as restore_check
from probes.base import ProbeContext
from tests.support.shipped import fires_when_held

SCRATCH = "converge_restore_check"


def _target(pg: PrivatePostgres, source: str, directory: Path, **extra: object) -> BackupRestoreTarget:
    fields: dict[str, object] = {"scratch_dsn": pg.admin_url, **extra}
    return BackupRestoreTarget(name="restore", directory=str(directory), source_dsn=source,
                               **fields)  # type: ignore[arg-type]


def _run(target: BackupRestoreTarget) -> dict[str, Observation]:
    return {o.signal: o for o in asyncio.run(restore_check(target, ProbeContext()))}  # type: ignore[misc]


def _databases(pg: PrivatePostgres) -> set[str]:
    with psycopg.connect(pg.admin_url) as conn:
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()}


def test_app_backup_restores_and_checks_out(pg: PrivatePostgres, seeded_db: str, tmp_path: Path) -> None:
    out = run_app(seeded_db, "backup", "--dir", str(tmp_path))
    dumps = list(tmp_path.glob("converge-*.dump"))
    assert len(dumps) == 1 and "backup written" in out and not list(tmp_path.glob("*.partial"))
    obs = _run(_target(pg, seeded_db, tmp_path))
    assert obs["backup_restore_success"].value == 1, obs["backup_restore_success"]
    assert obs["backup_restore_tables_missing"].value == 0
    assert obs["backup_restore_row_deviation_ratio"].value == 0
    assert obs["backup_restore_seconds"].value is not None and obs["backup_restore_seconds"].value > 0
    assert obs["backup_restore_age_seconds"].value is not None and obs["backup_restore_age_seconds"].value < 600
    details = obs["backup_restore_success"].details
    assert details["rows_source"]["attendees"] == details["rows_restored"]["attendees"] > 0
    assert details["rows_compared_with"] == "the counts recorded at dump time"
    assert SCRATCH not in _databases(pg)  # dropped again


GROWTH = "restore check growth"


def _send_messages(database_url: str, count: int) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO messages (sender_id, recipient_id, body) SELECT a.id, b.id, %s "
                     "FROM attendees a JOIN attendees b ON b.id <> a.id LIMIT %s", (GROWTH, count))


def test_a_healthy_dump_passes_while_the_event_grows_the_source(pg: PrivatePostgres, seeded_db: str,
                                                                 tmp_path: Path) -> None:
    with psycopg.connect(seeded_db) as conn:  # other tests' messages may be there already
        before = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    try:
        _send_messages(seeded_db, 40)
        run_app(seeded_db, "backup", "--dir", str(tmp_path))
        assert len(list(tmp_path.glob("*.dump.counts.json"))) == 1
        _send_messages(seeded_db, 20)  # the event: 50% more messages since the dump was taken
        obs = _run(_target(pg, seeded_db, tmp_path))
    finally:
        with psycopg.connect(seeded_db, autocommit=True) as conn:
            conn.execute("DELETE FROM messages WHERE body = %s", (GROWTH,))
    ok = obs["backup_restore_success"]
    assert ok.value == 1, ok
    assert ok.details["rows_restored"]["messages"] == ok.details["rows_source"]["messages"] == before + 40
    assert obs["backup_restore_row_deviation_ratio"].value == 0
    assert not fires_when_held("BackupRestoreFailed", obs.values(), in_event=True, interval=1200)


def test_a_restored_table_short_of_its_recorded_rows_fails(pg: PrivatePostgres, seeded_db: str,
                                                            tmp_path: Path) -> None:
    run_app(seeded_db, "backup", "--dir", str(tmp_path))
    sidecar = next(tmp_path.glob("*.dump.counts.json"))
    recorded = json.loads(sidecar.read_text())
    recorded["rows"]["public.messages"] += 1  # the dump holds one message fewer than were there when it was taken
    sidecar.write_text(json.dumps(recorded))
    obs = _run(_target(pg, seeded_db, tmp_path))
    ok = obs["backup_restore_success"]
    assert ok.value == 0 and "messages" in (ok.error or "") and "recorded at dump time" in (ok.error or ""), ok
    assert (obs["backup_restore_row_deviation_ratio"].value or 0) > 0
    assert SCRATCH not in _databases(pg)
    assert fires_when_held("BackupRestoreFailed", obs.values(), in_event=True, interval=1200)


def test_unreadable_recorded_counts_fail_the_check(pg: PrivatePostgres, seeded_db: str, tmp_path: Path) -> None:
    run_app(seeded_db, "backup", "--dir", str(tmp_path))
    next(tmp_path.glob("*.dump.counts.json")).write_text('{"rows": {"public.messages": ')  # cut off
    ok = _run(_target(pg, seeded_db, tmp_path))["backup_restore_success"]
    assert ok.value == 0 and "unreadable" in (ok.error or ""), ok


def test_corrupted_dump_fails_the_restore(pg: PrivatePostgres, seeded_db: str, tmp_path: Path) -> None:
    run_app(seeded_db, "backup", "--dir", str(tmp_path))
    dump = next(tmp_path.glob("*.dump"))
    data = bytearray(dump.read_bytes())
    data[len(data) // 3: len(data) // 3 + 4096] = os.urandom(4096)  # a damaged stretch in the middle
    dump.write_bytes(bytes(data[: len(data) * 2 // 3]))  # and the end cut off
    obs = _run(_target(pg, seeded_db, tmp_path))
    ok = obs["backup_restore_success"]
    assert ok.value == 0 and ok.error and "pg_restore" in ok.error, ok
    assert obs["probe_success"].value == 0
    assert SCRATCH not in _databases(pg)
    assert fires_when_held("BackupRestoreFailed", obs.values(), in_event=False, interval=3600)


def test_dump_missing_a_table_fails_the_integrity_check(pg: PrivatePostgres, seeded_db: str, tmp_path: Path) -> None:
    pg_dump = os.path.join(pg.bindir, "pg_dump")
    subprocess.run([pg_dump, "-Fc", "--exclude-table=messages", "-f", str(tmp_path / "partial.dump"), seeded_db],
                   check=True)
    obs = _run(_target(pg, seeded_db, tmp_path))
    ok = obs["backup_restore_success"]
    assert ok.value == 0 and "public.messages" in (ok.error or ""), ok
    assert obs["backup_restore_tables_missing"].value == 1
    assert ok.details["missing_tables"] == ["public.messages"]
    assert ok.details["rows_compared_with"].startswith("the live source database")  # pg_dump records no counts
    assert fires_when_held("BackupRestoreFailed", obs.values(), in_event=False, interval=3600)


def test_old_and_slow_restores_are_judged_against_rpo_and_rto(pg: PrivatePostgres, seeded_db: str,
                                                              tmp_path: Path) -> None:
    run_app(seeded_db, "backup", "--dir", str(tmp_path))
    dump = next(tmp_path.glob("*.dump"))
    two_hours_ago = time.time() - 2 * 3600
    os.utime(dump, (two_hours_ago, two_hours_ago))
    obs = _run(_target(pg, seeded_db, tmp_path))
    assert obs["backup_restore_success"].value == 1
    # The event's RPO (hourly dumps) is missed by a 2-hour-old dump; the normal one (daily) is not.
    assert fires_when_held("BackupRestoreOlderThanRpo", obs.values(), in_event=True, interval=1200)
    assert not fires_when_held("BackupRestoreOlderThanRpo", obs.values(), in_event=False, interval=3600)
    assert not fires_when_held("BackupRestoreSlowerThanRto", obs.values(), in_event=True, interval=1200)


def test_a_foreign_database_under_the_scratch_name_is_left_alone(pg: PrivatePostgres, seeded_db: str,
                                                                tmp_path: Path) -> None:
    run_app(seeded_db, "backup", "--dir", str(tmp_path))
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE somebodys_data")
    try:
        obs = _run(_target(pg, seeded_db, tmp_path, scratch_database="somebodys_data"))
        assert obs["backup_restore_success"].value == 0
        assert "left alone" in (obs["backup_restore_success"].error or "")
        assert "somebodys_data" in _databases(pg)
    finally:
        with psycopg.connect(pg.admin_url, autocommit=True) as conn:
            conn.execute("DROP DATABASE somebodys_data")


def test_the_source_database_is_refused_as_scratch(pg: PrivatePostgres, seeded_db: str, tmp_path: Path) -> None:
    source = seeded_db.replace("127.0.0.1", "localhost")
    with pytest.raises(ValidationError, match="is the source database itself"):
        _target(pg, seeded_db, tmp_path, scratch_database=pg.dbname,
                scratch_dsn=source.rsplit("/", 1)[0] + "/postgres")


def test_no_dump_is_a_failure(pg: PrivatePostgres, seeded_db: str, tmp_path: Path) -> None:
    obs = _run(_target(pg, seeded_db, tmp_path))
    assert obs["backup_restore_success"].value == 0 and obs["backup_restore_success"].error == "no backup found"
    assert obs["backup_restore_seconds"].value is None


def test_the_scratch_database_left_by_a_killed_run_is_replaced(pg: PrivatePostgres, seeded_db: str,
                                                                 tmp_path: Path) -> None:
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {SCRATCH}")
        conn.execute(f"COMMENT ON DATABASE {SCRATCH} IS '{MARK}'")
    run_app(seeded_db, "backup", "--dir", str(tmp_path))
    assert _run(_target(pg, seeded_db, tmp_path))["backup_restore_success"].value == 1
    assert SCRATCH not in _databases(pg)
