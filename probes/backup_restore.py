"""Backups verified, not just present: restore the newest dump into a scratch database and check it.

One run: find the newest dump in `directory` (probes/backup.py's rule: newest regular file matching
`pattern`), create the scratch database on the server of `scratch_dsn` (marked with a comment, so the
check only ever drops a database it created), `pg_restore --exit-on-error` the dump into it, compare it
with what the dump should hold, and drop it again, whatever happened. What it should hold: the tables and
row counts `python -m app backup` recorded at dump time in `<dump>.counts.json` (every table present, the key
tables' counts exact), so a database that grows fast during the event does not fail a healthy dump; for a dump
without that file (older dumps, other tools), the live source database (every table present, the key tables'
counts within `row_tolerance`). The details say which (`rows_compared_with`). The target refuses a scratch
database that is the source (monitor/core/targets.py), and a scratch database that exists without our mark is
left alone.

Signals: backup_restore_success, backup_restore_seconds (pg_restore's wall time, against the RTO),
backup_restore_age_seconds (the dump's age, against the RPO), backup_restore_tables_missing,
backup_restore_row_deviation_ratio. Thresholds are the rules' business.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from monitor.core.observation import Observation, unknown
from monitor.core.targets import BackupRestoreTarget
from probes.backup import newest_file
from probes.base import ProbeContext
from probes.postgres import APPLICATION_NAME, scrub_secrets
from probes.proc import TIMEOUT_SHARE, describe_exit, run_command

KIND = "backup_restore"
MARK = "converge-monitor restore check scratch database"
COUNTS_SUFFIX = ".counts.json"  # app/backup.py's sidecar: {"rows": {"schema.table": rows}} at dump time
_CONNECT_TIMEOUT = 10
_TABLES = sql.SQL("SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                  "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                  "AND n.nspname NOT LIKE 'pg\\_%'")


class RestoreFailure(Exception):
    """The check failed; the message says where and why (no secrets)."""


@dataclass
class _Result:
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    age: float | None = None
    restore_seconds: float | None = None
    tables_missing: float | None = None
    deviation: float | None = None


def find_pg_restore(name: str) -> str:
    """A path as given; else the name on PATH; else the newest Debian /usr/lib/postgresql/*/bin/NAME."""
    if os.sep in name:
        return name
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[-3]))
    if not candidates:
        raise RestoreFailure(f"{name} not found: install postgresql-client or set pg_restore to its path")
    return candidates[-1]


def _without_password(dsn: str, dbname: str | None = None) -> tuple[str, dict[str, str]]:
    """(conninfo without the password, the environment carrying it as PGPASSWORD) for a child process."""
    params = conninfo_to_dict(dsn)
    password = params.pop("password", None)
    if dbname is not None:
        params["dbname"] = dbname
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = str(password)
    return make_conninfo(**params), env


async def _connect(dsn: str, dbname: str | None = None) -> psycopg.AsyncConnection[Any]:
    kwargs: dict[str, Any] = {"autocommit": True, "connect_timeout": _CONNECT_TIMEOUT,
                              "application_name": APPLICATION_NAME}
    if dbname is not None:
        kwargs["dbname"] = dbname
    return await psycopg.AsyncConnection.connect(dsn, **kwargs)


async def _table_counts(dsn: str, dbname: str | None, key_tables: list[str]) -> tuple[set[str], dict[str, int]]:
    """Every user table (schema.name) and the row counts of the key tables that exist (public schema)."""
    async with await _connect(dsn, dbname) as conn:
        tables = {row[0] for row in await (await conn.execute(_TABLES)).fetchall()}
        counts: dict[str, int] = {}
        for name in key_tables:
            if f"public.{name}" in tables:
                row = await (await conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("public", name)))).fetchone()
                counts[name] = int(row[0]) if row else 0
    return tables, counts


def recorded_counts(dump: Path) -> dict[str, int] | None:
    """The row counts recorded next to the dump ({schema.table: rows}); None when it has none (older dumps)."""
    sidecar = dump.with_name(dump.name + COUNTS_SUFFIX)
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RestoreFailure(f"the row counts recorded with {dump.name} ({sidecar.name}) are unreadable: "
                             f"{type(exc).__name__}") from None
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, dict) or not all(isinstance(k, str) and type(v) is int and v >= 0
                                             for k, v in rows.items()):
        raise RestoreFailure(f"the row counts recorded with {dump.name} ({sidecar.name}) are not "
                             '{"rows": {"schema.table": count}}')
    return rows


async def _create_scratch(admin: psycopg.AsyncConnection[Any], name: str) -> None:
    row = await (await admin.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,))).fetchone()
    if row is not None:
        if row[0] != MARK:
            raise RestoreFailure(f"scratch database {name} exists and was not created by the restore check: "
                                 "it is left alone; name another scratch_database")
        await admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    await admin.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(MARK)))


async def _drop_scratch(dsn: str, name: str) -> None:
    with contextlib.suppress(psycopg.Error, OSError):
        async with await _connect(dsn) as admin:
            row = await (await admin.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                (name,))).fetchone()
            if row is not None and row[0] == MARK:
                await admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


async def _restore(target: BackupRestoreTarget, dump: Path, result: _Result, deadline: float) -> None:
    scratch_dsn = target.scratch_dsn.get_secret_value()
    source_dsn = target.source_dsn.get_secret_value()
    pg_restore = find_pg_restore(target.pg_restore)
    async with await _connect(scratch_dsn) as admin:
        await _create_scratch(admin, target.scratch_database)
    conninfo, env = _without_password(scratch_dsn, target.scratch_database)
    argv = [pg_restore, "--exit-on-error", "--no-owner", "--no-privileges", "--dbname", conninfo, str(dump)]
    budget = max(deadline - time.monotonic(), 1.0)
    started = time.monotonic()
    try:
        done = await run_command(argv, budget, env)
    except OSError as exc:
        raise RestoreFailure(f"cannot run pg_restore: {exc.strerror or type(exc).__name__}") from None
    result.restore_seconds = time.monotonic() - started
    if done.returncode != 0:
        result.details["stderr_tail"] = [scrub_secrets(line, scratch_dsn) for line in done.stderr_tail(5)]
        raise RestoreFailure(f"restore of {dump.name} failed: {describe_exit(done, 'pg_restore', budget)}")
    recorded = recorded_counts(dump)
    if recorded is None:  # a dump without recorded counts: the live source, which may have grown since
        source_tables, source_counts = await _table_counts(source_dsn, None, target.key_tables)
        basis, tolerance = "the live source database (no counts recorded with the dump)", target.row_tolerance
    else:
        source_tables = set(recorded)
        source_counts = {name: recorded[f"public.{name}"] for name in target.key_tables if f"public.{name}" in recorded}
        basis, tolerance = "the counts recorded at dump time", 0.0
    restored_tables, restored_counts = await _table_counts(scratch_dsn, target.scratch_database, target.key_tables)
    missing = sorted(source_tables - restored_tables)
    result.tables_missing = float(len(missing))
    deviations = {name: abs(restored_counts.get(name, 0) - count) / max(count, 1)
                  for name, count in source_counts.items()}
    result.deviation = max(deviations.values(), default=0.0)
    result.details.update({"tables_restored": len(restored_tables), "rows_compared_with": basis,
                           "rows_source": source_counts, "rows_restored": restored_counts})
    if missing:
        result.details["missing_tables"] = missing[:20]
        raise RestoreFailure(f"the restored copy of {dump.name} lacks {len(missing)} table(s): "
                             f"{', '.join(missing[:5])}")
    off = sorted(name for name, d in deviations.items() if d > tolerance)
    if off:
        raise RestoreFailure(f"row counts of {', '.join(off)} in the restored copy of {dump.name} differ from "
                             f"{basis}" + (f" by more than {tolerance:.0%}" if tolerance else ""))


async def _check(target: BackupRestoreTarget, now: float) -> _Result:
    result = _Result()
    found = await asyncio.to_thread(newest_file, target.directory, target.pattern, now)
    result.details.update(found.details)
    result.age = found.age
    if not found.success:
        result.error = found.error
        return result
    dump = Path(target.directory) / str(found.details["file"])
    deadline = time.monotonic() + target.timeout * TIMEOUT_SHARE
    try:
        await _restore(target, dump, result, deadline)
    except RestoreFailure as exc:
        result.error = str(exc)
    except (psycopg.Error, OSError) as exc:
        message = scrub_secrets(str(exc), target.scratch_dsn.get_secret_value())
        result.error = scrub_secrets(f"database error during the restore check: {message}",
                                     target.source_dsn.get_secret_value())
    finally:
        await asyncio.shield(_drop_scratch(target.scratch_dsn.get_secret_value(), target.scratch_database))
    return result


async def run(target: BackupRestoreTarget, ctx: ProbeContext) -> list[Observation]:
    now = ctx.now()
    result = await _check(target, now)
    labels = {"target": target.name}
    success = 0.0 if result.error else 1.0
    why = result.error or "not measured"

    def obs(name: str, value: float | None) -> Observation:
        return Observation(name, value, now, labels) if value is not None else unknown(name, now, why, labels)

    return [
        Observation("backup_restore_success", success, now, labels, error=result.error, details=result.details),
        obs("backup_restore_seconds", result.restore_seconds),
        obs("backup_restore_age_seconds", result.age),
        obs("backup_restore_tables_missing", result.tables_missing),
        obs("backup_restore_row_deviation_ratio", result.deviation),
        Observation("probe_success", success, now, {"target": target.name, "kind": KIND}, error=result.error),
    ]
