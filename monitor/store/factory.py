from __future__ import annotations

import dataclasses
from typing import Any

from monitor.store.base import Store
from monitor.store.retention import Retention

# Retention field -> `store:` config key
CONFIG_KEYS = {"raw": "raw_retention", "minute": "minute_rollups", "coarse": "coarse_rollup",
               "counts": "counts_retention", "outbox": "outbox_retention"}


def retention_of(config: Any) -> Retention:
    """The retention a `store:` section asks for (a namespace with only `retention` gets the defaults)."""
    given = {field: getattr(config, key) for field, key in CONFIG_KEYS.items()
             if getattr(config, key, None) is not None}
    return dataclasses.replace(Retention.for_history(config.retention), **given)


def open_store(config: Any) -> Store:
    """Open the store a `store:` config section describes (backend, path or dsn, retention)."""
    policy = retention_of(config)
    if config.backend == "postgres":
        from monitor.store.postgres import PostgresStore

        return PostgresStore(config.dsn.get_secret_value(), config.retention, policy)
    from monitor.store.sqlite import SqliteStore

    return SqliteStore(config.path, config.retention, policy)
