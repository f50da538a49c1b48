"""The store tests run on SQLite and on the run's private PostgreSQL alike."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr

from devstack import PrivatePostgres
from monitor.store import Store, open_store

DAY = 86400.0


@pytest.fixture(params=["sqlite", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Store]]:
    if request.param == "sqlite":
        cfg = SimpleNamespace(backend="sqlite", path=str(tmp_path / "state.sqlite3"), retention=30 * DAY)
    else:
        pg: PrivatePostgres = request.getfixturevalue("pg")
        with psycopg.connect(pg.admin_url, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS monitor_state")
            conn.execute("CREATE DATABASE monitor_state")
        dsn = pg.admin_url.rsplit("/", 1)[0] + "/monitor_state"
        cfg = SimpleNamespace(backend="postgres", dsn=SecretStr(dsn), retention=30 * DAY)
    opened: list[Store] = []

    def make(**retention: Any) -> Store:
        """Options of the `store:` section (raw_retention=..., minute_rollups=...) on top of the defaults."""
        opened.append(open_store(SimpleNamespace(**{**vars(cfg), **retention})))
        return opened[-1]

    yield make
    for store in opened:
        with contextlib.suppress(Exception):  # some were closed by the test already
            store.close()


