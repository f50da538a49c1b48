"""Versioned SQL migrations: app/migrations/NNNN_name.sql, each applied once, in order, in a transaction."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import psycopg

_LOCK_ID = 0x434F4E56  # "CONV": one migrator at a time across instances


def migration_files() -> list[tuple[str, str]]:
    folder = resources.files("app") / "migrations"
    files = sorted(p for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(Path(p.name).stem, p.read_text()) for p in files]


def migrate(database_url: str) -> list[str]:
    """Apply pending migrations; returns the versions applied now."""
    applied_now: list[str] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                         "version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
            done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
            for version, sql in migration_files():
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(sql.encode())
                    conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
                applied_now.append(version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied_now
