"""The default rule catalog: the spec's 8.6 tiers and 9.3 scaling triggers, as data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from alerts.rules.model import Rule

# --------------------------------------------------------------------------------------------------
# The default catalog. Probes run every 30 s normally and every 5-10 s in the event window (monitor.yml);
# api_metrics values are already computed over a 5-minute window, so their `for` confirms, not smooths.
# Event overrides: shorter `for` everywhere it matters and lower thresholds for latency and error rate,
# so the on-call hears sooner during Jan 28-30. Deploy overrides: the deployment-day checklist's thresholds
# (error rate < 1%, p95 < 500 ms) for the window after a deploy (deploys.window, 24 h by default).

DEFAULT_RULE_DATA: list[dict[str, Any]] = [
    # ---- critical: pages the on-call ----
    {"name": "ApiDown", "tier": "critical", "signal": "http_up", "labels": {"target": "api-health"},
     "comparison": "==", "threshold": 0, "for": "30s", "keep_firing_for": "30s",
     # In the event the monitor re-checks a failed critical check 1.5 s later (monitor/scheduler.py) and
     # evaluates on each result: two failed checks 1.5 s apart page, in ~4 s from the fault
     # (bench/detection_latency). Prometheus, without the re-check, fires on its second failed evaluation.
     "event": {"for": "1s", "keep_firing_for": "10s"},
     "summary": "API health check {target} is failing",
     "runbook": "Open /health: it reports PostgreSQL and Redis. Check the platform status and the last deploy; "
                "roll back if a deploy just went out. Restart the API instances if they are wedged."},
    {"name": "DbPoolExhausted", "tier": "critical", "signal": "api_db_pool_utilization",
     "comparison": ">=", "threshold": 1.0, "clear_threshold": 0.9, "for": "1m", "keep_firing_for": "2m",
     "event": {"for": "20s"},
     "summary": "DB connection pool of {target} is exhausted ({value} in use)",
     "runbook": "Look for long transactions and slow queries (PostgreSQL panel); add API instances or raise "
                "the pool size if the database has headroom."},
    {"name": "DbPoolRequestsWaiting", "tier": "critical", "signal": "api_db_pool_waiting",
     "comparison": ">", "threshold": 0, "for": "1m", "keep_firing_for": "2m",
     "event": {"for": "20s"},
     "summary": "{value} requests of {target} are waiting for a DB connection",
     "runbook": "The pool is exhausted: see DbPoolExhausted. Kill runaway queries, scale the API out."},
    {"name": "ErrorRateCritical", "tier": "critical", "signal": "api_error_ratio",
     "comparison": ">", "threshold": 0.10, "clear_threshold": 0.08, "for": "2m", "keep_firing_for": "5m",
     "event": {"for": "30s"},
     "summary": "{value} of requests to {target} fail with 5xx (threshold {threshold})",
     "runbook": "Check Sentry for the failing routes, the last deploy (roll back), and the database and Redis "
                "alerts."},
    {"name": "DdosSuspected", "tier": "critical", "signal": "redis_top_client_requests_per_minute",
     "comparison": ">", "threshold": 10000, "clear_threshold": 8000, "for": "1m", "keep_firing_for": "5m",
     "event": {"for": "0s"},
     "summary": "The busiest client IP is at {value} (threshold {threshold}; {target})",
     "runbook": "Find the IP in the converge:ipreq:* sorted sets; block or rate-limit it at CloudFlare "
                "(WAF rule), then watch the request rate."},
    {"name": "ErrorSpike", "tier": "critical", "signal": "api_unhandled_errors_per_minute",
     "comparison": ">", "threshold": 10, "clear_threshold": 5, "for": "1m", "keep_firing_for": "5m",
     "event": {"for": "15s"},
     "summary": "{value} unhandled exceptions at {target}",
     "runbook": "Open Sentry: group by exception and route. Roll back the last deploy if it started then."},
    # Spec 8.5 watches the frontend and the login endpoint besides /health. Critical: to a user an unreachable
    # web app or a failing login is the product down; the critical routing makes it Slack and email outside
    # the event and a page inside it. The normal `for` waits for three failed 1-minute checks.
    {"name": "FrontendDown", "tier": "critical", "signal": "http_up", "labels": {"target": "frontend"},
     "comparison": "==", "threshold": 0, "for": "2m", "keep_firing_for": "1m",
     "event": {"for": "30s", "keep_firing_for": "30s"},
     "summary": "The frontend {target} is down: its check fails",
     "runbook": "Open the frontend URL; check the hosting (Vercel) status and the last frontend deploy; roll it "
                "back. If only the API is down too, follow ApiDown."},
    {"name": "LoginFlowFailing", "tier": "critical", "signal": "synthetic_success",
     "comparison": "==", "threshold": 0, "for": "2m", "keep_firing_for": "1m",
     "event": {"for": "30s", "keep_firing_for": "30s"},
     "summary": "The synthetic user flow {flow} (log in, then list the sessions) fails",
     "runbook": "See the failing step in the probe's details (status, latency). Try /v1/auth/login by hand; check "
                "the auth service, the database and Redis alerts, and the last deploy; roll back if it broke login."},
    # The deployment checklist's "Verify critical features (login, QR scan, RSVP, messaging)", every couple of
    # minutes by the synthetic journey (probes/journey.py). Critical: it pages inside the event window.
    {"name": "CriticalJourneyFailing", "tier": "critical", "signal": "journey_success",
     "comparison": "==", "threshold": 0, "for": "4m", "keep_firing_for": "2m",
     "event": {"for": "1m", "keep_firing_for": "1m"},
     "summary": "The critical-feature journey {journey} fails (login, sessions, RSVP, QR connection, messaging)",
     "runbook": "The probe's details name the failing step and why (status, timeout, no websocket delivery). Try that "
                "feature by hand; check the database, Redis and the last deploy; roll back if a deploy broke it."},
    # ---- high: Slack ----
    # Spec 1: "< 2 s page load", measured in a real browser (probes/browser.py). A page that does not load at all,
    # or takes over 4 s, is high; over 2 s medium (below). Browser loads run every 2 min, every minute in the event.
    {"name": "PageLoadFailed", "tier": "high", "signal": "browser_page_ok", "comparison": "==", "threshold": 0,
     "for": "4m", "keep_firing_for": "2m", "event": {"for": "1m", "keep_firing_for": "1m"},
     "summary": "The page {target} does not load in a real browser",
     "runbook": "The probe's details say why (status, timeout, connection). Open the page; check the frontend "
                "hosting, the CDN and the last frontend deploy."},
    {"name": "PageLoadVerySlow", "tier": "high", "signal": "browser_load_seconds",
     "comparison": ">", "threshold": 4.0, "clear_threshold": 3.5, "for": "6m", "keep_firing_for": "4m",
     "event": {"for": "2m", "keep_firing_for": "2m"},
     "summary": "The page {target} takes {value} to load (threshold {threshold})",
     "runbook": "See the probe's time to first byte (server) against the load time (assets); the failed requests "
                "and console errors; the API's p95 and the CDN."},
    # Spec 10: "Daily backups + verification", "Backup restoration tested" (probes/backup_restore.py).
    {"name": "BackupRestoreFailed", "tier": "high", "signal": "backup_restore_success", "comparison": "==",
     "threshold": 0, "keep_firing_for": "30m",
     "summary": "The newest backup of {target} does not restore or fails its integrity checks",
     "runbook": "The probe's details say which: pg_restore's error (a damaged or truncated dump), missing tables or "
                "row counts off. Take a fresh backup now (`python -m app backup`) and check that one restores."},
    {"name": "LatencyP95High", "tier": "high", "signal": "api_latency_p95_seconds", "labels": {"route": "*"},
     "comparison": ">", "threshold": 2.0, "clear_threshold": 1.8, "for": "5m", "keep_firing_for": "5m",
     "event": {"threshold": 1.5, "clear_threshold": 1.3, "for": "2m"},
     "summary": "p95 latency of {target} is {value} (threshold {threshold})",
     "runbook": "Check CPU, the DB pool and slow queries; scale out if CPU-bound (spec 9.3)."},
    {"name": "ErrorRateHigh", "tier": "high", "signal": "api_error_ratio",
     "comparison": ">", "threshold": 0.05, "clear_threshold": 0.04, "for": "5m", "keep_firing_for": "5m",
     "event": {"threshold": 0.03, "clear_threshold": 0.025, "for": "2m"},
     # Deployment-day checklist: "Monitor error rates (<1%)", watched closely for 24 h after a deploy.
     "deploy": {"threshold": 0.01, "clear_threshold": 0.008, "for": "2m"},
     "summary": "{value} of requests to {target} fail with 5xx (threshold {threshold})",
     "runbook": "Investigate, do not auto-scale (spec 9.3): Sentry, the last deploy, dependencies. Within 24 h of a "
                "deploy (threshold 1%): roll the deploy back if it started with it."},
    {"name": "RedisDown", "tier": "high", "signal": "redis_up", "comparison": "==", "threshold": 0,
     "for": "1m", "keep_firing_for": "30s", "event": {"for": "20s", "keep_firing_for": "10s"},
     "summary": "Redis {target} does not answer",
     "runbook": "Check the Redis service and its memory (maxmemory, evictions); restart it. The API degrades "
                "(sessions, rate limits) while Redis is down."},
    # A notification channel that keeps failing: its notifications already fell back to the next channel.
    {"name": "NotificationChannelFailing", "tier": "high", "signal": "notification_channel_up",
     "comparison": "==", "threshold": 0, "for": "0s", "keep_firing_for": "5m",
     "summary": "Notification channel {target} keeps failing; its messages go to the fallback channel",
     "runbook": "Check the channel's credentials and the provider's status page; `converge-monitor test-notify "
                "{target}` sends a test message and says what went wrong."},
    # Not in the spec's list. High, not critical: users feel a database outage through /health, which pages
    # as ApiDown; this one names the cause and inhibits the pool and slow-query alerts.
    {"name": "PostgresDown", "tier": "high", "signal": "postgres_up", "comparison": "==", "threshold": 0,
     "for": "1m", "keep_firing_for": "30s", "event": {"for": "20s", "keep_firing_for": "10s"},
     "summary": "PostgreSQL {target} does not answer",
     "runbook": "Check the database provider's status and connection limits; fail over per the DR plan (spec 10)."},
    {"name": "TlsCertExpiring", "tier": "high", "signal": "tls_cert_days_left",
     "comparison": "<", "threshold": 7, "for": "5m",
     "event": {"threshold": 14},  # nobody should renew certificates mid-event: warn earlier
     "summary": "TLS certificate of {target} expires in {value}",
     "runbook": "Renew the certificate (or fix the auto-renewal) and redeploy it."},
    {"name": "MemoryHigh", "tier": "high", "signal": "api_memory_ratio",
     "comparison": ">", "threshold": 0.90, "clear_threshold": 0.85, "for": "5m", "keep_firing_for": "5m",
     "event": {"for": "2m"},
     "summary": "Memory of {target} at {value} of its limit",
     "runbook": "Look for a leak (memory growing since the last deploy); restart instances one at a time; scale."},
    {"name": "ProbeUnknown", "tier": "high", "signal": "probe_success", "comparison": "unknown",
     "for": "5m", "keep_firing_for": "1m", "event": {"for": "1m"},
     "summary": "The {kind} check {target} cannot run: its result is unknown",
     "runbook": "The monitor cannot tell whether this target is healthy. Check the monitor's logs for the "
                "probe error (timeout, bad credentials, missing tool) and the network path to the target."},
    # The API answers but its /metrics does not: latency, error-rate, pool and scaling alerts are blind.
    {"name": "ApiMetricsDown", "tier": "high", "signal": "api_up", "comparison": "==", "threshold": 0,
     "for": "2m", "keep_firing_for": "1m", "event": {"for": "30s", "keep_firing_for": "30s"},
     "summary": "The API's /metrics at {target} cannot be scraped: latency and error-rate alerts are blind",
     "runbook": "Open each /metrics URL of the target (the probe's details name the failing instance); check the "
                "instance is up and the metrics endpoint is not blocked or crashing."},
    # Spec 10.1: daily backups, hourly during the event (RPO < 1 h). 26 h leaves the daily job 2 h of slack;
    # 75 min in the event leaves the hourly job 15 min.
    {"name": "BackupStale", "tier": "high", "signal": "backup_age_seconds",
     "comparison": ">", "threshold": 93600, "keep_firing_for": "5m", "event": {"threshold": 4500},
     "summary": "The newest backup of {target} is {value} old (threshold {threshold})",
     "runbook": "Check the backup job (its schedule: daily, hourly during the event) and the provider's backup "
                "settings; run a backup by hand now (spec 10.1)."},
    {"name": "BackupEmpty", "tier": "high", "signal": "backup_size_bytes", "comparison": "==", "threshold": 0,
     "keep_firing_for": "5m",
     "summary": "The newest backup of {target} is empty (0 bytes)",
     "runbook": "The dump wrote nothing: check the backup job's log and its database credentials; run a backup by "
                "hand and check it restores (spec 10.3)."},
    {"name": "WalArchiveFailing", "tier": "high", "signal": "postgres_wal_archive_failing",
     "comparison": "==", "threshold": 1, "for": "5m", "keep_firing_for": "5m", "event": {"for": "1m"},
     "summary": "WAL archiving of {target} is failing: point-in-time recovery falls behind",
     "runbook": "Read last_failed_wal in the probe's details and the PostgreSQL log for archive_command's error "
                "(storage full, credentials); WAL piles up on disk until it succeeds."},
    # Spec 5: max_connections 200; past it PostgreSQL refuses new connections.
    {"name": "PostgresConnectionsNearLimit", "tier": "high", "signal": "postgres_connections_ratio",
     "comparison": ">", "threshold": 0.95, "clear_threshold": 0.90, "for": "1m", "keep_firing_for": "2m",
     "event": {"for": "20s"},
     "summary": "{target} uses {value} of max_connections: new connections are about to be refused",
     "runbook": "Find who holds the connections (pg_stat_activity by application_name); kill idle ones; lower the "
                "API's pool size per instance or add a connection pooler."},
    # Sessions live in Redis (spec 6.2): an eviction can log users out.
    {"name": "RedisEvictingKeys", "tier": "high", "signal": "redis_evicted_keys_per_second",
     "comparison": ">", "threshold": 0, "for": "2m", "keep_firing_for": "5m", "event": {"for": "30s"},
     "summary": "Redis {target} evicts keys ({value}): sessions may be lost",
     "runbook": "Redis is at maxmemory: raise maxmemory or find the keys that grew (per-IP counters, caches); "
                "check RedisMemoryHigh."},
    {"name": "RedisSnapshotFailing", "tier": "high", "signal": "redis_rdb_last_bgsave_ok",
     "comparison": "==", "threshold": 0, "for": "1m", "keep_firing_for": "5m",
     "summary": "The last RDB snapshot of Redis {target} failed",
     "runbook": "Read the Redis log for the bgsave error (disk full, fork failed: memory); with "
                "stop-writes-on-bgsave-error Redis refuses writes until a snapshot succeeds."},
    {"name": "RedisAofWriteFailing", "tier": "high", "signal": "redis_aof_last_write_ok",
     "comparison": "==", "threshold": 0, "for": "1m", "keep_firing_for": "5m",
     "summary": "The last AOF write of Redis {target} failed",
     "runbook": "Read the Redis log for the AOF error (disk full, permissions); until it is fixed Redis refuses "
                "writes and recent changes are not durable."},
    # ---- medium: Slack, low priority ----
    {"name": "PageLoadSlow", "tier": "medium", "signal": "browser_load_seconds",
     "comparison": ">", "threshold": 2.0, "clear_threshold": 1.8, "for": "10m", "keep_firing_for": "4m",
     "event": {"for": "3m", "keep_firing_for": "2m"},
     "summary": "The page {target} takes {value} to load (spec: under {threshold})",
     "runbook": "Compare time to first byte with the load time: a slow server or slow assets (size, CDN). Check the "
                "LCP and the failed requests in the probe's details."},
    # RTO (spec 10): critical services < 1 h, < 15 min during the event. The restore of the dump is its part.
    {"name": "BackupRestoreSlowerThanRto", "tier": "medium", "signal": "backup_restore_seconds",
     "comparison": ">", "threshold": 3600, "keep_firing_for": "1h", "event": {"threshold": 900},
     "summary": "Restoring the newest backup of {target} took {value}, over the RTO of {threshold}",
     "runbook": "The database outgrew the recovery objective: restore into a larger instance, trim or archive old "
                "data, or rely on a replica/point-in-time recovery for the event."},
    # RPO from dumps (spec 10.3): daily backups normally (26 h with slack), hourly during the event (1 h); the event's
    # 15-minute RPO comes from WAL archiving on top of the hourly dumps (WalArchiveFailing).
    {"name": "BackupRestoreOlderThanRpo", "tier": "medium", "signal": "backup_restore_age_seconds",
     "comparison": ">", "threshold": 93600, "keep_firing_for": "30m", "event": {"threshold": 3600},
     "summary": "The newest restorable backup of {target} is {value} old (RPO {threshold})",
     "runbook": "The backup job is behind its schedule (hourly during the event): run `python -m app backup` now and "
                "check the job's schedule and log."},
    {"name": "LatencyP95Elevated", "tier": "medium", "signal": "api_latency_p95_seconds", "labels": {"route": "*"},
     "comparison": ">", "threshold": 1.0, "clear_threshold": 0.9, "for": "5m", "keep_firing_for": "5m",
     "event": {"threshold": 0.8, "clear_threshold": 0.7, "for": "2m"},
     # Deployment-day checklist: "Monitor response times (p95 <500ms)" for 24 h after a deploy.
     "deploy": {"threshold": 0.5, "clear_threshold": 0.45, "for": "2m"},
     "summary": "p95 latency of {target} is {value} (threshold {threshold})",
     "runbook": "Check which routes are slow (per-route p95) and the slow-query list; within 24 h of a deploy "
                "(threshold 500 ms) compare with the previous version and roll back if it regressed."},
    {"name": "DbPoolHigh", "tier": "medium", "signal": "api_db_pool_utilization",
     "comparison": ">", "threshold": 0.80, "clear_threshold": 0.70, "for": "5m", "keep_firing_for": "5m",
     "event": {"for": "2m"},
     "summary": "DB pool of {target} at {value}",
     "runbook": "Pool use is high: check slow queries and long transactions before it is exhausted."},
    {"name": "MemoryElevated", "tier": "medium", "signal": "api_memory_ratio",
     "comparison": ">", "threshold": 0.80, "clear_threshold": 0.75, "for": "5m", "keep_firing_for": "5m",
     "event": {"for": "2m"},
     "summary": "Memory of {target} at {value} of its limit",
     "runbook": "Watch the trend; scale out or restart before it reaches 90%."},
    {"name": "CpuHigh", "tier": "medium", "signal": "api_cpu_ratio",
     "comparison": ">", "threshold": 0.80, "clear_threshold": 0.70, "for": "5m", "keep_firing_for": "5m",
     "event": {"for": "2m"},
     "summary": "CPU of {target} at {value}",
     "runbook": "Scale out (spec 9.3); look for a hot route in the per-route request rates."},
    {"name": "RedisMemoryHigh", "tier": "medium", "signal": "redis_memory_ratio",
     "comparison": ">", "threshold": 0.80, "clear_threshold": 0.75, "for": "5m", "keep_firing_for": "5m",
     "event": {"for": "2m"},
     "summary": "Redis {target} uses {value} of maxmemory",
     "runbook": "Check key counts and TTLs (per-IP counters expire); raise maxmemory or evict stale keys."},
    {"name": "BackupFailed", "tier": "medium", "signal": "backup_success", "comparison": "==", "threshold": 0,
     "keep_firing_for": "10m",  # a check that alternates fail/pass stays one alert
     "summary": "Backup check {target} failed",
     "runbook": "See the probe's error: stale or missing backup, or the backup command failed. Run a backup "
                "by hand and check the provider's backup settings (spec 10)."},
    {"name": "SlowQueries", "tier": "medium", "signal": "postgres_slow_queries", "comparison": ">", "threshold": 0,
     "for": "5m", "keep_firing_for": "10m", "event": {"for": "2m"},
     "summary": "{value} slow statements in {target}",
     "runbook": "Read pg_stat_statements ordered by mean time; add the missing index or fix the query."},
    {"name": "PostgresConnectionsHigh", "tier": "medium", "signal": "postgres_connections_ratio",
     "comparison": ">", "threshold": 0.80, "clear_threshold": 0.70, "for": "5m", "keep_firing_for": "5m",
     "event": {"for": "2m"},
     "summary": "{target} uses {value} of max_connections",
     "runbook": "Check the API's pool sizes times its instances against max_connections (200, spec 5), and idle "
                "connections in pg_stat_activity."},
    # Spec 10.1: RDB snapshots at least daily (the redis.conf `save` lines snapshot every 15 min with changes).
    {"name": "RedisSnapshotStale", "tier": "medium", "signal": "redis_unsaved_seconds",
     "comparison": ">", "threshold": 93600, "keep_firing_for": "5m", "event": {"threshold": 3600},
     "summary": "Redis {target} has unsaved changes since its last snapshot {value} ago",
     "runbook": "Check the `save` settings and the last bgsave in the Redis log; run BGSAVE by hand."},
    # ---- low: email ----
    {"name": "DiskUsageHigh", "tier": "low", "signal": "disk_used_ratio",
     "comparison": ">", "threshold": 0.75, "clear_threshold": 0.72, "for": "10m", "keep_firing_for": "10m",
     "event": {"for": "5m"},
     "summary": "Disk {path} of {target} is {value} full",
     "runbook": "Clean old logs and backups, or grow the volume."},
    {"name": "DependencyVulnerability", "tier": "low", "signal": "dependency_vulnerabilities",
     "comparison": ">", "threshold": 0,
     "summary": "{value} known vulnerabilities in the dependencies ({target})",
     "runbook": "Run the audit locally, upgrade the affected packages, and deploy after the tests pass."},
    # ---- advisory: the spec's 9.3 scaling triggers (Slack, never pages) ----
    # Each knows the replica bounds of spec 11.2 (2..5, the api_metrics target's min/max_replicas): no advice to
    # go below the floor or above the ceiling, and advice already given resolves once a replica was added or
    # removed to the bound.
    {"name": "ScaleUpCpu", "tier": "advisory", "signal": "api_cpu_ratio",
     "comparison": ">", "threshold": 0.70, "clear_threshold": 0.65, "for": "5m", "keep_firing_for": "5m",
     "event": {"for": "2m"},
     "only_if": {"signal": "api_scale_up_room", "comparison": ">", "threshold": 0},
     "summary": "Scale up: CPU of {target} at {value} (> {threshold} for 5 min)",
     "runbook": "Add a replica (max 5, spec 11.2)."},
    {"name": "ScaleDownCpu", "tier": "advisory", "signal": "api_cpu_ratio",
     "comparison": "<", "threshold": 0.30, "clear_threshold": 0.35, "for": "15m", "keep_firing_for": "5m",
     "only_if": {"signal": "api_scale_down_room", "comparison": ">", "threshold": 0},
     "summary": "Scale down: CPU of {target} at {value} (< {threshold} for 15 min)",
     "runbook": "Remove a replica (min 2, spec 11.2); not during the event."},
    {"name": "ScaleUpMemory", "tier": "advisory", "signal": "api_memory_ratio",
     "comparison": ">", "threshold": 0.80, "clear_threshold": 0.75, "for": "5m", "keep_firing_for": "5m",
     "event": {"for": "2m"},
     "only_if": {"signal": "api_scale_up_room", "comparison": ">", "threshold": 0},
     "summary": "Scale up: memory of {target} at {value} (> {threshold} for 5 min)",
     "runbook": "Add a replica (max 5, spec 11.2)."},
    {"name": "ScaleDownMemory", "tier": "advisory", "signal": "api_memory_ratio",
     "comparison": "<", "threshold": 0.50, "clear_threshold": 0.55, "for": "15m", "keep_firing_for": "5m",
     "only_if": {"signal": "api_scale_down_room", "comparison": ">", "threshold": 0},
     "summary": "Scale down: memory of {target} at {value} (< {threshold} for 15 min)",
     "runbook": "Remove a replica (min 2, spec 11.2); not during the event."},
    {"name": "ScaleUpRequestRate", "tier": "advisory", "signal": "api_requests_per_minute_per_instance",
     "comparison": ">", "threshold": 500, "clear_threshold": 450, "for": "5m", "keep_firing_for": "5m",
     "event": {"for": "2m"},
     "only_if": {"signal": "api_scale_up_room", "comparison": ">", "threshold": 0},
     "summary": "Scale up: {value} per instance at {target} (> {threshold})",
     "runbook": "Add a replica (max 5, spec 11.2)."},
    {"name": "ScaleDownRequestRate", "tier": "advisory", "signal": "api_requests_per_minute_per_instance",
     "comparison": "<", "threshold": 200, "clear_threshold": 250, "for": "15m", "keep_firing_for": "5m",
     "only_if": {"signal": "api_scale_down_room", "comparison": ">", "threshold": 0},
     "summary": "Scale down: {value} per instance at {target} (< {threshold})",
     "runbook": "Remove a replica (min 2, spec 11.2); not during the event."},
    {"name": "ScaleUpLatency", "tier": "advisory", "signal": "api_latency_p95_seconds", "labels": {"route": "*"},
     "comparison": ">", "threshold": 1.0, "clear_threshold": 0.9, "for": "10m", "keep_firing_for": "5m",
     "event": {"for": "5m"},
     "only_if": {"signal": "api_scale_up_room", "comparison": ">", "threshold": 0},
     "summary": "Scale up: p95 of {target} at {value} (> {threshold} for 10 min)",
     "runbook": "Add a replica if CPU or the pool is the bottleneck; a slow query is not fixed by replicas."},
    {"name": "ScaleDownLatency", "tier": "advisory", "signal": "api_latency_p95_seconds", "labels": {"route": "*"},
     "comparison": "<", "threshold": 0.5, "clear_threshold": 0.6, "for": "20m", "keep_firing_for": "5m",
     "only_if": {"signal": "api_scale_down_room", "comparison": ">", "threshold": 0},
     "summary": "Scale down: p95 of {target} at {value} (< {threshold} for 20 min)",
     "runbook": "Remove a replica (min 2, spec 11.2); not during the event."},
    {"name": "HighRequestRate", "tier": "advisory", "signal": "api_requests_per_minute",
     "comparison": ">", "threshold": 1000, "clear_threshold": 900, "for": "5m", "keep_firing_for": "5m",
     "event": {"for": "2m"},
     "summary": "{target} serves {value} (> {threshold})",
     "runbook": "Expected during the event peaks; check the scale-up triggers and the DB pool."},
    {"name": "WebsocketsHigh", "tier": "advisory", "signal": "api_websocket_connections",
     "comparison": ">", "threshold": 500, "clear_threshold": 450, "for": "5m", "keep_firing_for": "5m",
     "event": {"for": "2m"},
     "summary": "{value} open websockets at {target} (> {threshold})",
     "runbook": "Check memory per instance; add a replica before memory alerts start."},
]


def _validate_defaults(data: Sequence[Mapping[str, Any]]) -> list[Rule]:
    rules = [Rule.model_validate(d) for d in data]
    names = [r.name for r in rules]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"duplicate default rule names: {dupes}")
    return rules


DEFAULT_RULES: list[Rule] = _validate_defaults(DEFAULT_RULE_DATA)
