"""`python -m app backup`: a pg_dump custom-format dump of DATABASE_URL into a folder.

The dump is written under a temporary name and renamed when pg_dump succeeded, so a reader of the folder
(the monitor's backup and restore checks) never sees half a dump. The password goes to pg_dump through
PGPASSWORD, not its command line, where `ps` would show it.

Next to the dump, `<dump>.counts.json` records every user table's row count in the dump: counted in a
transaction whose snapshot pg_dump takes (`--snapshot`), so they are exactly the dump's rows, however fast the
database grows meanwhile. The restore check compares the restored copy with them, not with the live database.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from app.settings import SettingsError


def find_pg_dump() -> str:
    """$PG_DUMP, else pg_dump on PATH, else the newest /usr/lib/postgresql/*/bin/pg_dump (Debian)."""
    configured = os.environ.get("PG_DUMP", "").strip()
    if configured:
        return configured
    found = shutil.which("pg_dump")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"), key=lambda p: int(p.split("/")[-3]))
    if candidates:
        return candidates[-1]
    raise SettingsError("pg_dump not found: install postgresql-client or set PG_DUMP")


COUNTS_SUFFIX = ".counts.json"
_TABLES = ("SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
           "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
           "AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2")


def _row_counts(conn: psycopg.Connection) -> dict[str, int]:
    """{schema.table: rows} of every user table, in the connection's open transaction."""
    counts: dict[str, int] = {}
    for schema, table in conn.execute(_TABLES).fetchall():
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))).fetchone()
        counts[f"{schema}.{table}"] = int(row[0]) if row else 0
    return counts


def backup(database_url: str, directory: str, prefix: str = "converge") -> Path:
    """Dump the database into DIRECTORY/PREFIX-YYYYmmdd-HHMMSS.dump; returns the file. Raises SettingsError."""
    params = conninfo_to_dict(database_url)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = str(password)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.dump"
    partial = final.with_suffix(".dump.partial")
    counts_final = final.with_name(final.name + COUNTS_SUFFIX)
    counts_partial = counts_final.with_name(counts_final.name + ".partial")
    pg_dump = find_pg_dump()
    try:
        # The snapshot stays exported while this transaction is open: pg_dump dumps what was counted.
        with psycopg.connect(database_url) as conn:
            conn.read_only = True
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            row = conn.execute("SELECT pg_export_snapshot()").fetchone()
            snapshot = str(row[0]) if row else ""
            counts_partial.write_text(json.dumps({"rows": _row_counts(conn)}, indent=1, sort_keys=True))
            argv = [pg_dump, "--format=custom", "--snapshot", snapshot, "--file", str(partial),
                    "--dbname", make_conninfo(**params)]
            result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    except psycopg.Error as exc:
        partial.unlink(missing_ok=True)
        counts_partial.unlink(missing_ok=True)
        raise SettingsError(f"cannot count the rows to dump: {type(exc).__name__}") from None
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        counts_partial.unlink(missing_ok=True)
        tail = " ".join(result.stderr.strip().splitlines()[-2:])
        raise SettingsError(f"pg_dump exited with status {result.returncode}: {tail}")
    os.replace(counts_partial, counts_final)  # first: a dump a reader sees has its counts beside it
    os.replace(partial, final)
    return final
