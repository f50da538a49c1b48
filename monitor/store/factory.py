from __future__ import annotations

from typing import Any

from monitor.store.base import Store


def open_store(config: Any) -> Store:
    """Open the store a `store:` config section describes (backend, path or dsn, retention)."""
    if config.backend == "postgres":
        from monitor.store.postgres import PostgresStore

        return PostgresStore(config.dsn.get_secret_value(), config.retention)
    from monitor.store.sqlite import SqliteStore

    return SqliteStore(config.path, config.retention)
