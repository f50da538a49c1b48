"""The signal catalog: every signal a probe emits, declared once.

The exporter names each series `converge_<name>`; the alert rules, SLOs, dashboards and docs read
this catalog, and tests fail when anything names a signal that is not here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Signal:
    name: str
    unit: str  # "ratio" (0-1), "factor", "seconds", "bytes", "count", "per_minute", "per_second", "days", "bool"
    labels: tuple[str, ...]
    help: str

    @property
    def metric_name(self) -> str:
        return f"converge_{self.name}"


_T = ("target",)

# Names other modules refer to: the SLO pipeline's inputs (probes/request_counts.py counts them from the
# API's /metrics) and its outputs (slo/evaluate.py; the burn-rate rules of slo/alerting.py read them).
SIGNAL_REQUESTS = "api_requests_counted"
SIGNAL_5XX = "api_requests_5xx_counted"
SIGNAL_LE = "api_requests_le_counted"
SLI = "slo_sli"
BUDGET_REMAINING = "slo_error_budget_remaining"
BUDGET_REMAINING_SECONDS = "slo_error_budget_remaining_seconds"
BURN_RATE = "slo_burn_rate"
MULTIWINDOW_BURN_RATE = "slo_multiwindow_burn_rate"
DEPLOY_WINDOW, DEPLOY_LAST, DEPLOY_INFO = "deploy_window", "deploy_last_timestamp_seconds", "deploy_info"
SENTRY_OPEN = "sentry_open_alerts"
SLO_SIGNAL_NAMES = (SIGNAL_REQUESTS, SIGNAL_5XX, SIGNAL_LE, SLI, BUDGET_REMAINING, BUDGET_REMAINING_SECONDS,
                    BURN_RATE, MULTIWINDOW_BURN_RATE)

SIGNALS: tuple[Signal, ...] = (
    # Every probe: did the check pass (1) or fail (0); unknown when the probe itself could not run.
    Signal("probe_success", "bool", ("target", "kind"), "1 when the target's check passed, 0 when it failed"),
    Signal("probe_duration_seconds", "seconds", ("target", "kind"), "How long the probe run took"),
    # http
    Signal("http_up", "bool", _T, "1 when the HTTP check met every condition"),
    Signal("http_status_code", "count", _T, "HTTP status code of the last check"),
    Signal("http_latency_seconds", "seconds", _T, "Time to the full HTTP response"),
    Signal("tls_cert_days_left", "days", _T, "Days until the TLS certificate expires"),
    # synthetic user flows
    Signal("synthetic_success", "bool", ("flow",), "1 when every step of the synthetic flow passed"),
    Signal("synthetic_step_latency_seconds", "seconds", ("flow", "step"), "Latency of one synthetic flow step"),
    Signal("synthetic_duration_seconds", "seconds", ("flow",), "Total time of the synthetic flow"),
    # browser: a real page load in headless Chromium (spec 1 "< 2 s page load", 8.4 Core Web Vitals)
    Signal("browser_page_ok", "bool", _T,
           "1 when the page loaded (main document answered < 400 and the load event fired in time)"),
    Signal("browser_ttfb_seconds", "seconds", _T, "Time to the first byte of the main document"),
    Signal("browser_dom_content_loaded_seconds", "seconds", _T, "Time to DOMContentLoaded"),
    Signal("browser_load_seconds", "seconds", _T, "Time to the load event: the page load time"),
    Signal("browser_lcp_seconds", "seconds", _T, "Largest Contentful Paint"),
    Signal("browser_cls", "factor", _T, "Cumulative Layout Shift (unitless; good below 0.1)"),
    Signal("browser_failed_requests", "count", _T, "Requests of the page that failed or answered >= 400"),
    Signal("browser_console_errors", "count", _T, "Console errors and uncaught exceptions during the load"),
    # journey: the critical features in one synthetic run (login, sessions, RSVP, QR connection, messaging)
    Signal("journey_success", "bool", ("journey",), "1 when every step of the critical-feature journey passed"),
    Signal("journey_step_latency_seconds", "seconds", ("journey", "step"), "Latency of one journey step"),
    Signal("journey_duration_seconds", "seconds", ("journey",), "Total time of the journey"),
    # api_metrics: computed from the API's /metrics over a window, the Prometheus way
    Signal("api_up", "bool", _T, "1 when the API's /metrics could be scraped"),
    Signal("api_latency_p50_seconds", "seconds", ("target", "route"), "p50 request latency (route '*' = all)"),
    Signal("api_latency_p95_seconds", "seconds", ("target", "route"), "p95 request latency (route '*' = all)"),
    Signal("api_latency_p99_seconds", "seconds", ("target", "route"), "p99 request latency (route '*' = all)"),
    Signal("api_error_ratio", "ratio", _T, "5xx responses / all responses over the window"),
    Signal("api_requests_per_minute", "per_minute", _T, "Requests per minute over the window, all instances"),
    Signal("api_requests_per_minute_per_instance", "per_minute", _T,
           "Requests per minute per API instance (total / instances)"),
    Signal("api_unhandled_errors_per_minute", "per_minute", _T, "Unhandled exceptions per minute"),
    Signal("api_cpu_ratio", "ratio", _T, "CPU used / CPU available to the instance"),
    Signal("api_memory_ratio", "ratio", _T, "Resident memory / memory available to the instance"),
    Signal("api_websocket_connections", "count", _T, "Open websocket connections"),
    Signal("api_requests_in_flight", "count", _T, "Requests being served"),
    Signal("api_db_pool_utilization", "ratio", _T, "DB pool connections in use / pool maximum"),
    Signal("api_db_pool_waiting", "count", _T, "Requests waiting for a DB pool connection"),
    Signal("api_instances", "count", _T, "API instances the target watches (one /metrics URL each)"),
    Signal("api_scale_down_room", "count", _T,
           "Replicas that can be removed: instances - min_replicas (spec 11.2: at least 2); <= 0 at the floor"),
    Signal("api_scale_up_room", "count", _T,
           "Replicas that can be added: max_replicas - instances (spec 11.2: at most 5); <= 0 at the ceiling"),
    # postgres
    Signal("postgres_up", "bool", _T, "1 when PostgreSQL answered"),
    Signal("postgres_connections_in_use", "count", _T, "Backends connected"),
    Signal("postgres_connections_ratio", "ratio", _T, "Backends connected / max_connections"),
    Signal("postgres_longest_transaction_seconds", "seconds", _T, "Age of the oldest open transaction"),
    Signal("postgres_slow_queries", "count", _T,
           "Statements whose mean execution time over the calls since the previous run exceeds the threshold "
           "(pg_stat_statements)"),
    Signal("postgres_cache_hit_ratio", "ratio", _T, "Buffer cache hits / block reads"),
    Signal("postgres_database_size_bytes", "bytes", _T, "Size of the database"),
    Signal("postgres_wal_archive_failures", "count", _T, "Failed WAL archive attempts (pg_stat_archiver)"),
    Signal("postgres_wal_archive_failing", "bool", _T,
           "1 when the newest WAL archive attempt failed (pg_stat_archiver: last failure after last success)"),
    # redis
    Signal("redis_up", "bool", _T, "1 when Redis answered PING"),
    Signal("redis_memory_used_bytes", "bytes", _T, "used_memory"),
    Signal("redis_memory_ratio", "ratio", _T, "used_memory / maxmemory; unknown when no limit is set"),
    Signal("redis_fragmentation_ratio", "factor", _T, "mem_fragmentation_ratio (RSS / used memory)"),
    Signal("redis_evicted_keys_per_second", "per_second", _T, "Keys evicted per second since the last run"),
    Signal("redis_connected_clients", "count", _T, "Connected clients"),
    Signal("redis_rdb_last_bgsave_ok", "bool", _T, "1 when the last RDB snapshot succeeded (rdb_last_bgsave_status)"),
    Signal("redis_aof_last_write_ok", "bool", _T,
           "1 when the last AOF write succeeded (aof_last_write_status); unknown when AOF is off"),
    Signal("redis_unsaved_seconds", "seconds", _T,
           "Seconds since the last RDB snapshot while changes wait to be saved; 0 when nothing changed since; "
           "unknown when snapshots are off"),
    Signal("redis_top_client_requests_per_minute", "per_minute", _T,
           "Requests in the trailing 60 s from the busiest client IP, from the API's per-IP counters"),
    # backups, disks, dependencies
    Signal("backup_success", "bool", _T, "1 when the newest backup is fresh enough / the command succeeded"),
    Signal("backup_age_seconds", "seconds", _T, "Age of the newest backup"),
    Signal("backup_size_bytes", "bytes", _T, "Size of the newest backup"),
    # backup_restore: the newest dump restored into a scratch database and checked
    Signal("backup_restore_success", "bool", _T,
           "1 when the newest dump restored into the scratch database and passed the integrity checks"),
    Signal("backup_restore_seconds", "seconds", _T, "How long pg_restore of the newest dump took (the RTO's part)"),
    Signal("backup_restore_age_seconds", "seconds", _T, "Age of the newest dump, the one the check restored (RPO)"),
    Signal("backup_restore_tables_missing", "count", _T,
           "Tables of the source database missing from the restored copy"),
    Signal("backup_restore_row_deviation_ratio", "ratio", _T,
           "The largest |restored - source| / source row count among the key tables"),
    Signal("disk_used_ratio", "ratio", ("target", "path"),
           "Used / (used + available) space of the filesystem, as df's Use%"),
    Signal("dependency_vulnerabilities", "count", _T, "Known vulnerabilities in the dependencies"),
    # the monitor's own delivery: target = channel name
    Signal("notification_channel_up", "bool", _T, "0 when a notification channel gave up on a message"),
    # deploy watch (monitor/deploys.py): the window after a deploy in which the rules' deploy values apply
    Signal(DEPLOY_WINDOW, "bool", (), "1 while the window after the last deploy is open (deploy rule values apply)"),
    Signal(DEPLOY_LAST, "seconds", (), "Unix time of the last recorded deploy (0: none yet)"),
    Signal(DEPLOY_INFO, "bool", ("version",), "1 for the version of the last recorded deploy, 0 for earlier ones"),
    # Sentry webhooks (POST /api/sentry): issues whose alert is open, by kind (new, regressed, metric)
    Signal(SENTRY_OPEN, "count", ("kind",), "Sentry issues and metric alerts whose alert is firing, by kind"),
    # api_metrics: exact request counts for the SLOs (probes/request_counts.py), cumulative since the monitor started
    Signal(SIGNAL_REQUESTS, "count", _T,
           "Requests counted by the monitor since it started, all instances (/metrics excluded)"),
    Signal(SIGNAL_5XX, "count", _T, "Requests answered 5xx, counted by the monitor since it started"),
    Signal(SIGNAL_LE, "count", ("target", "le"),
           "Requests that took at most `le` seconds, counted by the monitor since it started"),
    # SLOs (slo/): budgets, burn rates and the burn-rate alerts' values, from the SLO evaluator
    Signal(SLI, "ratio", ("slo", "period"), "Good events / all events over the SLO period so far"),
    Signal(BUDGET_REMAINING, "ratio", ("slo", "period"),
           "Error budget left: 1 untouched, 0 spent, below 0 overspent"),
    Signal(BUDGET_REMAINING_SECONDS, "seconds", ("slo", "period"),
           "Error budget left as time of full outage at the window's average traffic"),
    Signal(BURN_RATE, "factor", ("slo", "window"),
           "Error budget burn rate over a trailing window (1 = spends exactly the budget over the period)"),
    Signal(MULTIWINDOW_BURN_RATE, "factor", ("slo", "period", "windows"),
           "The lower of the long- and short-window burn rates of a burn-rate alert (it fires above its factor)"),
)

CATALOG: dict[str, Signal] = {s.name: s for s in SIGNALS}
SLO_SIGNALS: tuple[Signal, ...] = tuple(CATALOG[name] for name in SLO_SIGNAL_NAMES)


def signal(name: str) -> Signal:
    try:
        return CATALOG[name]
    except KeyError:
        raise KeyError(f"unknown signal {name!r}: declare it in monitor/core/signals.py") from None
