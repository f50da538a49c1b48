"""The backup probe against real files and real subprocesses."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from monitor.core.observation import Observation
from monitor.core.signals import CATALOG
from monitor.core.targets import BackupTarget
from probes import backup
from probes.base import ProbeContext
from probes.proc import STDERR_TAIL_LINES

NOW = 1_738_000_000.0  # a fixed clock: ages are exact


def by_signal(observations: list[Observation]) -> dict[str, Observation]:
    for o in observations:
        assert o.signal in CATALOG, o.signal
        assert set(o.labels) == set(CATALOG[o.signal].labels), o
        assert o.timestamp == NOW
    return {o.signal: o for o in observations}


def ctx() -> ProbeContext:
    return ProbeContext(clock=lambda: NOW)


def write(path: Path, size: int, mtime: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (mtime, mtime))


def script(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "check.py"
    path.write_text(body)
    return [sys.executable, str(path)]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):  # gone, possibly while we read it
        return False
    return state != "Z"


async def test_newest_matching_file_gives_age_and_size(tmp_path: Path) -> None:
    write(tmp_path / "db-2025-01-27.sql.gz", 1000, NOW - 2 * 86400)
    write(tmp_path / "db-2025-01-28.sql.gz", 4096, NOW - 3600)
    write(tmp_path / "notes.txt", 10, NOW - 60)  # newer, but does not match the pattern
    target = BackupTarget(name="db-backups", directory=str(tmp_path), pattern="*.sql.gz")
    obs = by_signal(await backup.run(target, ctx()))
    assert obs["backup_success"].value == 1
    assert obs["backup_age_seconds"].value == pytest.approx(3600)
    assert obs["backup_size_bytes"].value == 4096
    assert obs["backup_success"].details["file"] == "db-2025-01-28.sql.gz"
    assert obs["probe_success"].value == 1
    assert obs["probe_success"].labels == {"target": "db-backups", "kind": "backup"}


async def test_recursive_pattern_finds_backups_in_subfolders(tmp_path: Path) -> None:
    write(tmp_path / "2025" / "01" / "db.dump", 50, NOW - 120)
    target = BackupTarget(name="db", directory=str(tmp_path), pattern="**/*.dump")
    obs = by_signal(await backup.run(target, ctx()))
    assert obs["backup_age_seconds"].value == pytest.approx(120)
    assert obs["backup_success"].details["file"] == "2025/01/db.dump"


async def test_no_matching_backup_is_a_failure_with_unknown_age(tmp_path: Path) -> None:
    write(tmp_path / "README", 5, NOW)
    (tmp_path / "empty.sql.gz").mkdir()  # a directory is not a backup
    target = BackupTarget(name="db", directory=str(tmp_path), pattern="*.sql.gz")
    obs = by_signal(await backup.run(target, ctx()))
    assert obs["backup_success"].value == 0
    assert obs["backup_success"].error == "no backup found"
    assert obs["backup_age_seconds"].value is None and obs["backup_age_seconds"].error == "no backup found"
    assert obs["backup_size_bytes"].value is None
    assert obs["probe_success"].value == 0


async def test_missing_directory_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    target = BackupTarget(name="db", directory=str(missing))
    obs = by_signal(await backup.run(target, ctx()))
    assert obs["backup_success"].value == 0
    assert str(missing) in obs["backup_success"].error
    assert obs["backup_age_seconds"].value is None
    assert obs["probe_success"].value == 0


async def test_command_success_with_reported_age_and_size(tmp_path: Path) -> None:
    argv = script(tmp_path, 'print("checking…")\nprint(\'{"age_seconds": 5400, "size_bytes": 123456}\')\n')
    obs = by_signal(await backup.run(BackupTarget(name="pg-dump", command=argv), ctx()))
    assert obs["backup_success"].value == 1
    assert obs["backup_age_seconds"].value == 5400
    assert obs["backup_size_bytes"].value == 123456
    assert obs["probe_success"].value == 1


async def test_command_reporting_a_timestamp_gives_age_from_the_clock(tmp_path: Path) -> None:
    argv = script(tmp_path, f'import json; print(json.dumps({{"timestamp": {NOW - 900}}}))\n')
    obs = by_signal(await backup.run(BackupTarget(name="pg-dump", command=argv), ctx()))
    assert obs["backup_age_seconds"].value == pytest.approx(900)
    assert obs["backup_size_bytes"].value is None


async def test_command_success_without_json_leaves_age_unknown(tmp_path: Path) -> None:
    argv = script(tmp_path, 'print("backup ok")\n')
    obs = by_signal(await backup.run(BackupTarget(name="pg-dump", command=argv), ctx()))
    assert obs["backup_success"].value == 1
    assert obs["backup_age_seconds"].value is None
    assert "did not report" in obs["backup_age_seconds"].error


async def test_failing_command_reports_exit_code_and_stderr_tail(tmp_path: Path) -> None:
    argv = script(tmp_path, (
        "import sys\n"
        "for i in range(30):\n"
        "    print(f'progress {i}', file=sys.stderr)\n"
        "print('pg_dump: error: connection to server failed', file=sys.stderr)\n"
        "sys.exit(3)\n"
    ))
    obs = by_signal(await backup.run(BackupTarget(name="pg-dump", command=[*argv, "--password=hunter2"]), ctx()))
    success = obs["backup_success"]
    assert success.value == 0
    assert "exited with status 3" in success.error
    assert "hunter2" not in success.error
    assert success.details["exit_code"] == 3
    tail = success.details["stderr_tail"]
    assert tail[-1] == "pg_dump: error: connection to server failed"
    assert len(tail) == STDERR_TAIL_LINES
    assert obs["backup_age_seconds"].value is None
    assert obs["probe_success"].value == 0


async def test_missing_command_is_a_failure_naming_it(tmp_path: Path) -> None:
    target = BackupTarget(name="pg-dump", command=[str(tmp_path / "no-such-check"), "--token", "s3cret"])
    obs = by_signal(await backup.run(target, ctx()))
    assert obs["backup_success"].value == 0
    assert "no-such-check" in obs["backup_success"].error
    assert "s3cret" not in obs["backup_success"].error


def test_empty_command_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="command"):
        BackupTarget(name="pg-dump", command=[])


async def test_hanging_command_is_killed_with_its_children(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    sh = f"sleep 60 & echo $$ $! > {pids}; wait"
    target = BackupTarget(name="pg-dump", command=["sh", "-c", sh], timeout=0.5)
    obs = by_signal(await backup.run(target, ctx()))
    assert obs["backup_success"].value == 0
    assert "timed out" in obs["backup_success"].error
    for pid in map(int, pids.read_text().split()):
        deadline = time.monotonic() + 5
        while alive(pid) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not alive(pid), pid


async def test_cancelled_probe_kills_the_command(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    sh = f"sleep 60 & echo $$ $! > {pids}; wait"
    target = BackupTarget(name="pg-dump", command=["sh", "-c", sh], timeout=30)
    task = asyncio.create_task(backup.run(target, ctx()))
    deadline = time.monotonic() + 10
    while not (pids.exists() and len(pids.read_text().split()) == 2):
        assert time.monotonic() < deadline, "the command never started"
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for pid in map(int, pids.read_text().split()):
        deadline = time.monotonic() + 5
        while alive(pid) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not alive(pid), pid
