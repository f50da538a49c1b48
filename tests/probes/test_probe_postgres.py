"""The postgres probe against the run's private PostgreSQL (pg_stat_statements preloaded)."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from devstack import PrivatePostgres
from monitor.core.observation import Observation
from monitor.core.signals import CATALOG
from monitor.core.targets import PostgresTarget
from probes import postgres
from probes.base import ProbeContext
from probes.postgres import scrub_secrets, scrub_sql
from tests.support.stack import assert_errors

NOW = 1_738_000_000.0
OTHER_SIGNALS = postgres.SIGNALS


def by_signal(observations: list[Observation]) -> dict[str, Observation]:
    for o in observations:
        assert o.signal in CATALOG, o.signal
        assert set(o.labels) == set(CATALOG[o.signal].labels), o
        assert o.timestamp == NOW
    found = {o.signal: o for o in observations}
    assert set(found) == {"postgres_up", "probe_success", *OTHER_SIGNALS}
    return found


async def probe(dsn: str, ctx: ProbeContext | None = None, **fields: object) -> dict[str, Observation]:
    target = PostgresTarget(name="db", dsn=dsn, **fields)
    return by_signal(await postgres.run(target, ctx or ProbeContext(clock=lambda: NOW)))


async def scalar(dsn: str, query: str) -> object:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        row = await (await conn.execute(query)).fetchone()
        assert row is not None
        return row[0]


async def test_healthy_server_reports_sane_values(seeded_db: str) -> None:
    ctx = ProbeContext(clock=lambda: NOW)
    first = await probe(seeded_db, ctx)
    # Slow statements are judged on the calls since the previous run: the first run is the baseline.
    assert first["postgres_slow_queries"].value is None
    assert "need two samples" in (first["postgres_slow_queries"].error or "")
    obs = await probe(seeded_db, ctx)
    assert obs["postgres_up"].value == 1 and obs["postgres_up"].error is None
    assert obs["probe_success"].value == 1 and obs["probe_success"].labels == {"target": "db", "kind": "postgres"}
    in_use = obs["postgres_connections_in_use"].value
    assert in_use is not None and in_use >= 1  # at least the probe's own connection
    max_conn = await scalar(seeded_db, "SELECT current_setting('max_connections')::int")
    assert max_conn == 100
    assert obs["postgres_connections_ratio"].value == pytest.approx(in_use / 100)
    hit = obs["postgres_cache_hit_ratio"].value
    assert hit is not None and 0 < hit <= 1
    size = await scalar(seeded_db, "SELECT pg_database_size(current_database())")
    assert isinstance(size, int)
    assert obs["postgres_database_size_bytes"].value == pytest.approx(size, abs=1 << 20)
    archiver = obs["postgres_wal_archive_failures"]
    assert archiver.value == 0 and archiver.details and archiver.details["archive_mode"] == "off"
    assert obs["postgres_longest_transaction_seconds"].value is not None
    slow = obs["postgres_slow_queries"]
    assert slow.value is not None and slow.error is None


async def test_slow_statements_are_reported_without_literal_values(seeded_db: str) -> None:
    ctx = ProbeContext(clock=lambda: NOW)
    await probe(seeded_db, ctx, slow_query_ms=500, slow_query_limit=100)
    async with await psycopg.AsyncConnection.connect(seeded_db, autocommit=True) as conn:
        # Column aliases do not change a statement's queryid: these differ in shape, not just in name.
        await conn.execute("SELECT count(*) FROM pg_sleep(0.7)")
        await conn.execute("SELECT pg_sleep(0.6) AS slow_probe_where WHERE 'secret-literal' = 'secret-literal'")
        # A utility statement: pg_stat_statements keeps its text verbatim, literals included.
        await conn.execute("DO $$ BEGIN PERFORM pg_sleep(0.55); PERFORM 'do-secret'; END $$")
        await conn.execute("SELECT 1 AS fast_probe_statement")

    obs = await probe(seeded_db, ctx, slow_query_ms=500, slow_query_limit=100)
    slow = obs["postgres_slow_queries"]
    assert slow.details is not None
    queries = slow.details["queries"]
    assert slow.value is not None and slow.value == len(queries) >= 3
    texts = [q["query"] for q in queries]
    assert "SELECT count(*) FROM pg_sleep($1)" in texts
    assert any("slow_probe_where" in t for t in texts)
    assert "DO ?" in texts
    assert not any("fast_probe_statement" in t for t in texts)
    shown = " | ".join(texts)
    for literal in ("0.7", "0.6", "0.55", "secret-literal", "do-secret"):
        assert literal not in shown
    means = [q["mean_ms"] for q in queries]
    assert means == sorted(means, reverse=True) and min(means) > 500
    for q in queries:
        assert q["calls"] == 1 and q["total_ms"] >= q["mean_ms"] and q["queryid"]


async def run_some_statements(dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        for i in range(1, 5):  # four shapes: four queryids
            columns = ", ".join(f"repeat('x', {n}) AS column_{n}" for n in range(i))
            await conn.execute(f"SELECT {columns}, 'a long enough statement' AS statement_{i}")


async def test_slow_query_report_is_limited_truncated_and_skips_the_monitor(seeded_db: str) -> None:
    ctx = ProbeContext(clock=lambda: NOW)
    await probe(seeded_db, ctx)  # the baseline; the monitor's own statements are now in pg_stat_statements
    await run_some_statements(seeded_db)
    obs = await probe(seeded_db, ctx, slow_query_ms=0.0001, slow_query_limit=100, query_text_max=40)
    slow = obs["postgres_slow_queries"]
    assert slow.details is not None
    queries = slow.details["queries"]
    assert len(queries) >= 4 and all(len(q["query"]) <= 40 for q in queries)
    assert not any("pg_stat_activity" in q["query"] or "pg_stat_archiver" in q["query"] for q in queries)
    await run_some_statements(seeded_db)
    limited = await probe(seeded_db, ctx, slow_query_ms=0.0001, slow_query_limit=2)
    assert limited["postgres_slow_queries"].details is not None
    assert len(limited["postgres_slow_queries"].details["queries"]) == 2
    assert limited["postgres_slow_queries"].value is not None and limited["postgres_slow_queries"].value >= 4


async def test_long_open_transaction_is_measured(seeded_db: str) -> None:
    async with await psycopg.AsyncConnection.connect(seeded_db) as other:
        await other.execute("SELECT 1")  # opens the transaction: autocommit is off
        opened = time.monotonic()
        await asyncio.sleep(0.5)
        obs = await probe(seeded_db)
        waited = time.monotonic() - opened
        longest = obs["postgres_longest_transaction_seconds"]
        assert longest.value is not None and 0.5 <= longest.value <= waited + 0.5
        assert longest.details is not None
        assert longest.details["pid"] == other.info.backend_pid
        assert longest.details["state"] == "idle in transaction"
        await other.rollback()
    obs = await probe(seeded_db)
    assert (obs["postgres_longest_transaction_seconds"].value or 0) < 0.5


async def test_without_pg_stat_statements_slow_queries_are_unknown_not_zero(pg: PrivatePostgres) -> None:
    async with await psycopg.AsyncConnection.connect(pg.admin_url, autocommit=True) as admin:
        await admin.execute("DROP DATABASE IF EXISTS probe_noext")
        await admin.execute("CREATE DATABASE probe_noext")
        try:
            obs = await probe(pg.admin_url.rsplit("/", 1)[0] + "/probe_noext")
        finally:
            await admin.execute("DROP DATABASE probe_noext")
    slow = obs["postgres_slow_queries"]
    assert slow.value is None
    assert slow.error and "pg_stat_statements is not installed" in slow.error
    assert obs["postgres_up"].value == 1 and obs["postgres_database_size_bytes"].value


async def test_stopped_server_is_down_with_every_signal_unknown_then_up_again(pg_fault: PrivatePostgres) -> None:
    pg_fault.stop()
    started = time.monotonic()
    obs = await probe(pg_fault.url, timeout=2)
    assert time.monotonic() - started < 2
    assert obs["postgres_up"].value == 0 and obs["probe_success"].value == 0
    assert obs["postgres_up"].error and obs["postgres_up"].error.startswith("connect:")
    assert_errors(obs, OTHER_SIGNALS, "connect:")
    pg_fault.start()
    obs = await probe(pg_fault.url, timeout=2)
    assert obs["postgres_up"].value == 1 and obs["probe_success"].value == 1


async def test_silent_port_gives_timeout_within_the_target_timeout(silent_port: int) -> None:
    started = time.monotonic()
    obs = await probe(f"postgresql://u:pw@127.0.0.1:{silent_port}/db", timeout=1)
    assert time.monotonic() - started < 1
    assert obs["postgres_up"].value == 0
    assert_errors(obs, OTHER_SIGNALS, "timeout:", unknown=False)


async def test_auth_failure_is_classified_and_the_password_never_shows(pg: PrivatePostgres) -> None:
    password = "Sup3r-Secret-pw"
    dsn = f"postgresql://nobody:{password}@127.0.0.1:{pg.port}/{pg.dbname}"
    obs = await probe(dsn)
    assert obs["postgres_up"].value == 0
    assert obs["postgres_up"].error and obs["postgres_up"].error.startswith("auth:")
    assert password not in repr(list(obs.values()))


async def test_malformed_dsn_is_a_config_error_without_its_text() -> None:
    obs = await probe("host=127.0.0.1 password=Sup3r-Secret-pw garbage")
    error = obs["postgres_up"].error
    assert error and error.startswith("config:")
    assert "Sup3r" not in repr(list(obs.values())) and "garbage" not in error


@pytest.mark.parametrize(("text", "expected"), [
    ("SELECT pg_sleep(1.2)", "SELECT pg_sleep(?)"),
    ("SELECT * FROM t1 WHERE a = 'it''s' AND b = E'x\\'y' AND c = -3.5e-3 AND d = $1",
     "SELECT * FROM t1 WHERE a = ? AND b = ? AND c = -? AND d = $1"),
    ('SELECT "col 2", x::int4 FROM t -- note \'c\'\nWHERE y = 0x1F /* 42 */',
     'SELECT "col 2", x::int4 FROM t WHERE y = ?'),
    ("DO $body$ BEGIN PERFORM 'x'; END $body$", "DO ?"),
    ("ALTER ROLE app PASSWORD 'hunter2'", "ALTER ROLE app PASSWORD ?"),
    ("SELECT B'0101', X'1F', .5, 1_000", "SELECT ?, ?, ?, ?"),
    ("SELECT * FROM t WHERE name = 'cut off in the midd", "SELECT * FROM t WHERE name = ?"),
    ("SELECT $$unterminated", "SELECT ?"),
])
def test_scrub_sql_removes_literals(text: str, expected: str) -> None:
    assert scrub_sql(text, 200) == expected


def test_scrub_sql_truncates_to_the_limit() -> None:
    out = scrub_sql("SELECT " + "x, " * 100 + "y", 20)
    assert len(out) == 20 and out.endswith("…")


def test_scrub_secrets_hides_dsn_and_password_in_every_form() -> None:
    dsn = "postgresql://app:p%40ss-w0rd@db.internal:5432/converge"
    message = f"could not use {dsn}; password p@ss-w0rd; postgresql://x:other@h/d; password=abc"
    out = scrub_secrets(message, dsn)
    for leaked in ("p%40ss", "p@ss-w0rd", "other", "abc"):
        assert leaked not in out
