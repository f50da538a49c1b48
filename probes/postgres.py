"""PostgreSQL health: reachability, connections, long transactions, slow statements, cache, size, archiver.

One fresh connection per run (autocommit, read-only, application_name 'converge-monitor',
statement_timeout), the whole run bounded by a share of target.timeout so this probe, not the
scheduler's hard timeout, says what went wrong. A server that cannot be reached gives postgres_up 0
and every other signal unknown with a classified error: `connect:`, `auth:`, `timeout:` or `config:`.
The DSN holds the password: it never appears in an error.

Choices:
- postgres_connections_*: client backends only (not autovacuum, walsender, ...), the monitor's
  own connection included, against max_connections.
- postgres_longest_transaction_seconds: oldest open transaction of any other *client* backend (a
  long autovacuum is not an incident); 0 when none. Needs pg_monitor / pg_read_all_stats to see
  other roles' sessions.
- postgres_slow_queries: statements of the current database whose mean execution time over the
  calls made *since the previous run* exceeds slow_query_ms. pg_stat_statements only has totals
  since its last reset, whose mean hides a statement that turns slow after many fast calls and
  keeps a one-off slow call "slow" until someone resets the statistics; so each run keeps
  (calls, total time) per queryid in ctx.state and judges the difference. A queryid first seen,
  or whose calls went down (a reset, a restart, an evicted entry), counts whole, as a counter
  reset does. The first run only takes the baseline: unknown ("need two samples"). The monitor's
  own statements (tagged with MARKER) are skipped. Query text is scrubbed of literals here too,
  because pg_stat_statements keeps utility statements (DO, SET, ALTER ROLE ... PASSWORD) verbatim.
  No extension in the database -> unknown, never 0.
- postgres_cache_hit_ratio: blks_hit / (blks_hit + blks_read) since the last stats reset; unknown
  while the database has had no block reads at all (no evidence is not a 100% hit ratio).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from monitor.core.observation import Observation, unknown
from monitor.core.targets import PostgresTarget
from probes.base import ProbeContext

KIND = "postgres"
APPLICATION_NAME = "converge-monitor"
# Leading comment on every statement the monitor sends: pg_stat_statements keeps it, so the
# slow-query report can leave the monitor's own statements out.
MARKER = "/* converge-monitor */"
TIMEOUT_SHARE = 0.9
_ERROR_MAX = 300


# --- literal scrubbing -----------------------------------------------------------------------------

_SQL_TOKENS = re.compile(
    r"""
      (?P<ident>"(?:[^"]|"")*")                                     # quoted identifier: kept
    | (?P<comment>/\*.*?\*/|--[^\n]*)                               # comments: dropped, they may hold anything
    | (?P<dollar>\$(?P<tag>[A-Za-z_][A-Za-z_0-9]*)?\$.*?\$(?P=tag)\$)  # dollar-quoted string
    | (?P<estring>[Ee]'(?:[^'\\]|''|\\.)*')                         # E'...' with backslash escapes
    | (?P<string>(?:[BbXxNn]|[Uu]&)?'(?:[^']|'')*')                 # '...', B'..', X'..', N'..', U&'..'
    | (?P<param>\$\d+)                                              # placeholders: kept
    | (?P<word>[A-Za-z_\x80-\U0010ffff][\w$\x80-\U0010ffff]*)       # keywords, identifiers (with digits)
    | (?P<number>0[xXoObB][0-9a-fA-F_]+|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?)
    """,
    re.VERBOSE | re.DOTALL,
)
# What is left of a literal the text was cut in the middle of (pg_stat_activity truncates queries).
_UNTERMINATED = re.compile(r"'|\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$")


def _scrub_token(m: re.Match[str]) -> str:
    if m.group("comment") is not None:
        return " "
    if m.group("dollar") is not None or m.group("estring") is not None or m.group("string") is not None:
        return "?"
    if m.group("number") is not None:
        return "?"
    return m.group(0)


def scrub_sql(text: str, limit: int) -> str:
    """Query text without literal values (strings, numbers) or comments, whitespace folded, cut to `limit`."""
    out = _SQL_TOKENS.sub(_scrub_token, text)
    if (cut := _UNTERMINATED.search(out)) is not None:
        out = out[: cut.start()] + "?"
    out = " ".join(out.split())
    return out if len(out) <= limit else out[: limit - 1] + "…"


# --- errors without secrets --------------------------------------------------------------------------

_URL_CREDENTIALS = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_AUTH_HINTS = re.compile(r"authentication failed|no pg_hba\.conf entry|pg_hba\.conf rejects|no password supplied"
                         r"|password is required|role \".*\" does not exist|permission denied for database")


def _secrets_of(dsn: str) -> list[str]:
    found = [dsn]
    with contextlib.suppress(psycopg.Error):
        if password := conninfo_to_dict(dsn).get("password"):
            found += [str(password), quote(str(password), safe="")]
    return sorted({s for s in found if s}, key=len, reverse=True)


def scrub_secrets(message: str, dsn: str) -> str:
    for secret in _secrets_of(dsn):
        message = message.replace(secret, "***")
    message = _URL_CREDENTIALS.sub(r"\1***@", message)
    message = _KV_PASSWORD.sub(r"\1***", message)
    message = " ".join(message.split())
    return message[:_ERROR_MAX]


def classify(exc: BaseException, connecting: bool) -> str:
    """connect / auth / timeout while connecting; timeout / query afterwards."""
    if isinstance(exc, TimeoutError | psycopg.errors.QueryCanceled):
        return "timeout"
    text = str(exc).lower()
    if "timeout expired" in text or "timed out" in text:
        return "timeout"
    if not connecting:
        return "query"
    if getattr(exc, "sqlstate", None) in ("28000", "28P01") or _AUTH_HINTS.search(text):
        return "auth"
    return "connect"


def _error(exc: BaseException, dsn: str, connecting: bool) -> str:
    kind = classify(exc, connecting)
    message = str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError) and not str(exc):
        message = "no answer within the probe's time budget"
    return f"{kind}: {scrub_secrets(message, dsn)}"


# --- collectors: one round trip each, their own signals ------------------------------------------------

Collected = dict[str, Observation]


def _q(text: str) -> sql.SQL:
    return sql.SQL(MARKER + " " + text)


async def _connections(conn: psycopg.AsyncConnection[Any], target: PostgresTarget, now: float,
                       state: dict[str, Any]) -> Collected:
    cur = await conn.execute(_q(
        "SELECT count(*) FILTER (WHERE backend_type = 'client backend'), "
        "current_setting('max_connections')::int FROM pg_stat_activity"))
    row = await cur.fetchone()  # an aggregate: always one row; max_connections is at least 1
    if row is None:
        return {}
    in_use, max_conn = row
    labels = {"target": target.name}
    details = {"max_connections": max_conn}
    return {
        "postgres_connections_in_use": Observation("postgres_connections_in_use", float(in_use), now, labels,
                                                   details=details),
        "postgres_connections_ratio": Observation("postgres_connections_ratio", in_use / max_conn, now, labels,
                                                  details=details),
    }


async def _longest_transaction(conn: psycopg.AsyncConnection[Any], target: PostgresTarget, now: float,
                               state: dict[str, Any]) -> Collected:
    cur = await conn.execute(_q(
        "SELECT pid, extract(epoch FROM clock_timestamp() - xact_start)::float8, state, application_name, query "
        "FROM pg_stat_activity WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend' ORDER BY xact_start LIMIT 1"))
    row = await cur.fetchone()
    name = "postgres_longest_transaction_seconds"
    if row is None:
        return {name: Observation(name, 0.0, now, {"target": target.name})}
    pid, age, state, app, query = row
    details = {"pid": pid, "state": state, "application_name": app,
               "query": scrub_sql(query or "", target.query_text_max)}
    return {name: Observation(name, max(0.0, float(age)), now, {"target": target.name}, details=details)}


SLOW_STATE_KEY = "slow_queries"


def calls_since(previous: dict[int, tuple[int, float]] | None,
                current: dict[int, tuple[int, float]]) -> dict[int, tuple[int, float]]:
    """(calls, total ms) per queryid made since `previous`; a new or reset entry counts whole."""
    out: dict[int, tuple[int, float]] = {}
    for qid, (calls, total) in current.items():
        before = (previous or {}).get(qid)
        if before is not None and calls >= before[0]:
            calls, total = calls - before[0], total - before[1]
        if calls > 0:
            out[qid] = (calls, total)
    return out


async def _slow_queries(conn: psycopg.AsyncConnection[Any], target: PostgresTarget, now: float,
                        state: dict[str, Any]) -> Collected:
    name = "postgres_slow_queries"
    labels = {"target": target.name}
    cur = await conn.execute(_q(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_stat_statements'"))
    schema = await cur.fetchone()
    if schema is None:
        state.pop(SLOW_STATE_KEY, None)
        return {name: unknown(name, now, "unavailable: pg_stat_statements is not installed in this database "
                              "(CREATE EXTENSION pg_stat_statements, with it in shared_preload_libraries)", labels)}
    # PostgreSQL 13 renamed the timing columns. Totals per queryid: one statement can have several rows
    # (per role, top-level or nested).
    total = "total_exec_time" if conn.info.server_version >= 130000 else "total_time"
    view = sql.Identifier(schema[0], "pg_stat_statements")
    this_db = sql.SQL("dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                      "AND queryid IS NOT NULL AND query NOT LIKE {mine}").format(mine=sql.Literal(MARKER + "%"))
    cur = await conn.execute(
        _q("SELECT queryid, sum(calls)::bigint, sum({total})::float8 FROM {view} WHERE {this_db} GROUP BY queryid")
        .format(total=sql.Identifier(total), view=view, this_db=this_db))
    current = {int(qid): (int(calls), float(total_ms)) for qid, calls, total_ms in await cur.fetchall()}
    previous = state.get(SLOW_STATE_KEY)
    state[SLOW_STATE_KEY] = {"at": now, "stats": current}
    if previous is None:
        return {name: unknown(name, now, "need two samples: first run (slow statements are judged on the calls "
                              "made since the previous run)", labels)}
    slow = sorted(((total_ms / calls, calls, total_ms, qid)
                   for qid, (calls, total_ms) in calls_since(previous["stats"], current).items()
                   if total_ms / calls > target.slow_query_ms), reverse=True)
    shown = slow[: target.slow_query_limit]
    texts: dict[int, str] = {}
    if shown:
        cur = await conn.execute(
            _q("SELECT queryid, min(query) FROM {view} WHERE {this_db} AND queryid = ANY({ids}) GROUP BY queryid")
            .format(view=view, this_db=this_db, ids=sql.Literal([qid for *_, qid in shown])))
        texts = {int(qid): text for qid, text in await cur.fetchall()}
    queries = [{"queryid": str(qid), "calls": calls, "mean_ms": round(mean_ms, 3), "total_ms": round(total_ms, 3),
                "query": scrub_sql(texts.get(qid) or "", target.query_text_max)}
               for mean_ms, calls, total_ms, qid in shown]
    details = {"threshold_ms": target.slow_query_ms, "since_seconds": round(now - previous["at"], 3),
               "queries": queries}
    return {name: Observation(name, float(len(slow)), now, labels, details=details)}


async def _database(conn: psycopg.AsyncConnection[Any], target: PostgresTarget, now: float,
                    state: dict[str, Any]) -> Collected:
    cur = await conn.execute(_q(
        "SELECT blks_hit, blks_read, pg_database_size(current_database()) "
        "FROM pg_stat_database WHERE datname = current_database()"))
    hit, read, size = await cur.fetchone() or (0, 0, None)
    labels = {"target": target.name}
    out: Collected = {}
    if hit + read > 0:
        out["postgres_cache_hit_ratio"] = Observation("postgres_cache_hit_ratio", hit / (hit + read), now, labels,
                                                      details={"blks_hit": hit, "blks_read": read})
    else:
        out["postgres_cache_hit_ratio"] = unknown("postgres_cache_hit_ratio", now,
                                                  "no data: no block reads in this database yet", labels)
    if size is not None:
        out["postgres_database_size_bytes"] = Observation("postgres_database_size_bytes", float(size), now, labels)
    return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def _archiver(conn: psycopg.AsyncConnection[Any], target: PostgresTarget, now: float,
                    state: dict[str, Any]) -> Collected:
    cur = await conn.execute(_q(
        "SELECT failed_count, last_failed_wal, last_failed_time, archived_count, last_archived_time, "
        "current_setting('archive_mode') FROM pg_stat_archiver"))
    row = await cur.fetchone()
    name = "postgres_wal_archive_failures"
    if row is None:
        return {}
    failed, failed_wal, failed_time, archived, archived_time, mode = row
    details = {"last_failed_wal": failed_wal, "last_failed_time": _iso(failed_time), "archived_count": archived,
               "last_archived_time": _iso(archived_time), "archive_mode": mode}
    labels = {"target": target.name}
    # The counter only grows: what matters now is whether the newest attempt failed (the archiver retries
    # the same segment until it succeeds, and WAL piles up meanwhile).
    failing = failed_time is not None and (archived_time is None or failed_time > archived_time)
    return {name: Observation(name, float(failed), now, labels, details=details),
            "postgres_wal_archive_failing": Observation("postgres_wal_archive_failing", 1.0 if failing else 0.0,
                                                        now, labels, details=details)}


# (connection, target, now, state kept between runs) -> observations
Collector = Callable[[psycopg.AsyncConnection[Any], PostgresTarget, float, dict[str, Any]], Awaitable[Collected]]
# Each collector with the signals it owns: when it fails, those (and only those) become unknown.
COLLECTORS: tuple[tuple[Collector, tuple[str, ...]], ...] = (
    (_connections, ("postgres_connections_in_use", "postgres_connections_ratio")),
    (_longest_transaction, ("postgres_longest_transaction_seconds",)),
    (_slow_queries, ("postgres_slow_queries",)),
    (_database, ("postgres_cache_hit_ratio", "postgres_database_size_bytes")),
    (_archiver, ("postgres_wal_archive_failures", "postgres_wal_archive_failing")),
)
SIGNALS = tuple(name for _, owned in COLLECTORS for name in owned)


# --- the probe -----------------------------------------------------------------------------------------

async def _connect(dsn: str, budget: float) -> psycopg.AsyncConnection[Any]:
    params = conninfo_to_dict(dsn)  # raises ProgrammingError on a malformed DSN
    ms = max(1, int(budget * 1000))
    options = " ".join(filter(None, [str(params.get("options") or ""),
                                     f"-c statement_timeout={ms}", "-c default_transaction_read_only=on"]))
    return await psycopg.AsyncConnection.connect(
        dsn, autocommit=True, connect_timeout=max(1, math.ceil(budget)), application_name=APPLICATION_NAME,
        options=options)


async def run(target: PostgresTarget, ctx: ProbeContext) -> list[Observation]:
    now = ctx.now()
    labels = {"target": target.name}
    dsn = target.dsn.get_secret_value()
    budget = target.timeout * TIMEOUT_SHARE
    results: Collected = {}
    down_error: str | None = None  # why postgres_up is 0
    pending_error = "timeout: no answer within the probe's time budget"  # for signals never collected
    up = False
    conn: psycopg.AsyncConnection[Any] | None = None
    try:
        async with asyncio.timeout(budget):
            try:
                conn = await _connect(dsn, budget)
                await conn.execute(_q("SELECT 1"))
                up = True
            except psycopg.ProgrammingError:
                # libpq's parse errors quote pieces of the DSN: say nothing more than this.
                down_error = "config: the dsn could not be parsed (details withheld: it may contain the password)"
            except psycopg.Error as exc:
                down_error = _error(exc, dsn, connecting=True)
            if up and conn is not None:
                for collect, owned in COLLECTORS:
                    try:
                        got = await collect(conn, target, now, ctx.state)
                    except psycopg.Error as exc:
                        failed = _error(exc, dsn, connecting=False)
                        got = {s: unknown(s, now, failed, labels) for s in owned}
                    results.update({s: got.get(s) or unknown(s, now, "query: no data returned", labels)
                                    for s in owned})
    except TimeoutError as exc:
        if not up:
            down_error = _error(exc, dsn, connecting=True)
    finally:
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    error = None if up else down_error
    observations = [Observation("postgres_up", 1.0 if up else 0.0, now, labels, error=error)]
    for name in SIGNALS:
        observations.append(results.get(name) or unknown(name, now, pending_error if up else str(error), labels))
    observations.append(Observation("probe_success", 1.0 if up else 0.0, now, {"target": target.name, "kind": KIND},
                                    error=error))
    return observations

