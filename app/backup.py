"""`python -m app backup`: a pg_dump custom-format dump of DATABASE_URL into a folder.

The dump is written under a temporary name and renamed when pg_dump succeeded, so a reader of the folder
(the monitor's backup and restore checks) never sees half a dump. The password goes to pg_dump through
PGPASSWORD, not its command line, where `ps` would show it.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from pathlib import Path

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
    argv = [find_pg_dump(), "--format=custom", "--file", str(partial), "--dbname", make_conninfo(**params)]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        tail = " ".join(result.stderr.strip().splitlines()[-2:])
        raise SettingsError(f"pg_dump exited with status {result.returncode}: {tail}")
    os.replace(partial, final)
    return final
