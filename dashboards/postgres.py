"""2. PostgreSQL: the API's pool, connections, slow queries, cache hit ratio, longest transaction, backups."""

from __future__ import annotations

from typing import Any

from dashboards import signal_panels as s
from dashboards.builder import GREEN, OK_FAILED, ORANGE, RED, YELLOW, Q, build_dashboard, timeseries_panel

UID = "converge-postgres"
DAY = 86400.0


def build() -> dict[str, Any]:
    status = [
        s.latest("postgres_up", "PostgreSQL", width=4),
        s.latest("postgres_connections_ratio", "Connections / max", width=4, decimals=1,
                 steps=[(None, GREEN), (0.7, ORANGE), (0.9, RED)]),
        s.latest("postgres_cache_hit_ratio", "Cache hit ratio", width=4, decimals=2,
                 steps=[(None, RED), (0.9, ORANGE), (0.99, GREEN)]),
        s.latest("postgres_slow_queries", "Slow statements", width=4, steps=[(None, GREEN), (1, ORANGE)]),
        s.latest("postgres_longest_transaction_seconds", "Longest transaction", width=4,
                 steps=[(None, GREEN), (60, ORANGE), (300, RED)]),
        s.latest("api_db_pool_waiting", "Requests waiting for the pool", width=4, steps=[(None, GREEN), (1, RED)]),
    ]
    pool = [
        timeseries_panel("API connection pool", [
            Q("sum(converge_db_pool_in_use)", "in use"),
            Q("sum(converge_db_pool_size)", "open"),
            Q("sum(converge_db_pool_max)", "max"),
            Q("sum(converge_db_pool_waiting)", "waiting")], min_value=0, width=8,
            description="converge_db_pool_*: the API's psycopg pool, summed over instances."),
        s.graph("api_db_pool_utilization", "Pool in use / max (monitor)", width=8,
                steps=[(None, GREEN), (0.8, ORANGE), (1.0, RED)]),
        s.graph("postgres_connections_in_use", "Backends connected", width=8),
        s.graph("postgres_connections_ratio", "Backends / max_connections", width=8,
                steps=[(None, GREEN), (0.7, ORANGE), (0.9, RED)]),
        s.graph("postgres_slow_queries", "Slow statements (pg_stat_statements)", width=8),
        s.graph("postgres_longest_transaction_seconds", "Longest open transaction", width=8,
                steps=[(None, GREEN), (60, ORANGE), (300, RED)]),
    ]
    storage = [
        s.graph("postgres_cache_hit_ratio", "Buffer cache hit ratio", width=6, min_value=None, max_value=1,
                steps=[(None, RED), (0.9, ORANGE), (0.99, GREEN)]),
        s.graph("postgres_database_size_bytes", "Database size", width=6),
        s.graph("postgres_wal_archive_failures", "WAL archive failures", width=6),
        s.graph("postgres_wal_archive_failing", "WAL archiving failing (newest attempt failed)", width=6),
    ]
    backups = [
        s.latest("backup_success", "Newest backup", width=6, mappings=OK_FAILED),
        s.latest("backup_age_seconds", "Backup age", width=6,
                 steps=[(None, GREEN), (DAY, ORANGE), (2 * DAY, RED)]),
        s.latest("backup_size_bytes", "Backup size", width=6),
        s.graph("backup_age_seconds", "Backup age over time", width=6, steps=[(None, GREEN), (DAY, YELLOW)]),
    ]
    return build_dashboard(
        UID, "Converge PostgreSQL",
        "The API's database: connection pool and backends, slow statements, cache hit ratio, longest "
        "transaction, size, WAL archiving and backups, as the monitor's postgres and backup probes see them.",
        [(None, status), ("Connections and queries", pool), ("Storage", storage), ("Backups", backups)],
        tags=("postgresql",))
