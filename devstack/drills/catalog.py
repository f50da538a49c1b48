"""The drills: what each one breaks, which alert must page, and what it needs from the stack."""

from __future__ import annotations

from dataclasses import dataclass

# What a stack can offer a drill (see Stack.missing): stopping/starting a process, the API's fault
# injection, its pool-holding fault, a database/Redis to connect to, the API's /metrics target, a TLS target.
CONTROL_API, CONTROL_REDIS, CONTROL_POSTGRES = "control:api", "control:redis", "control:postgres"
CONTROL_FRONTEND = "control:frontend"
BACKUP_DIR = "backup_dir"
QUICK, SHIPPED = "quick", "shipped"  # the tuned config (tests) and the shipped one (the default)
BOTH = frozenset({QUICK, SHIPPED})
FAULTS, HOLD_CONNECTION, DATABASE, REDIS, API_METRICS, TLS = (
    "faults", "hold_connection", "database", "redis", "api_metrics", "tls")


@dataclass(frozen=True)
class Drill:
    name: str
    expected: tuple[str, ...]  # alert rules; the first of them to be notified is the drill's alert
    needs: tuple[str, ...]
    watches: str  # the target kind whose probe sees the fault: http, api_metrics, postgres, redis, tls, journey
    summary: str
    extra_fire: float = 0.0  # allowance beyond `for` + probe/evaluation intervals, seconds
    extra_resolve: float = 0.0
    external: bool = False  # the alert comes from outside the rule engine (Sentry's webhooks): no rule times it
    modes: frozenset[str] = BOTH
    # Seconds a windowed signal needs to cross the threshold at this fault's size with steady traffic (the
    # rate window times threshold / fault size): part of the detection bound, named in the row.
    window_fill: str = ""  # "api_window:<fraction>" or "seconds:<n>"; empty: none


_Q, _S = frozenset({QUICK}), frozenset({SHIPPED})

DRILLS: tuple[Drill, ...] = (
    Drill("api-down", ("ApiDown",), (CONTROL_API,), "http",
          "stop the API process; start it again", extra_resolve=10),
    Drill("redis-down", ("RedisDown",), (CONTROL_REDIS, REDIS), "redis",
          "stop Redis; start it again", extra_resolve=5),
    Drill("db-down", ("PostgresDown", "ApiDown"), (CONTROL_POSTGRES, DATABASE), "postgres",
          "stop PostgreSQL; start it again", extra_resolve=15),
    Drill("slow-queries", ("SlowQueries",), (DATABASE,), "postgres",
          "run SELECT pg_sleep() slower than slow_query_ms in a loop; stop, pg_stat_statements_reset()",
          extra_fire=5, modes=_Q),
    Drill("slow-statement", ("SlowQueries",), (DATABASE,), "postgres",
          "300 fast calls of a statement, then the same statement taking 1.5 s, again and again; stop it",
          modes=_S),
    Drill("pool-exhaustion", ("DbPoolExhausted", "DbPoolRequestsWaiting"), (FAULTS, HOLD_CONNECTION, API_METRICS),
          "api_metrics", "pool size + 3 concurrent requests each holding a DB pool connection; stop them"),
    Drill("latency", ("LatencyP95High", "LatencyP95Elevated"), (FAULTS, API_METRICS), "api_metrics",
          "server-side delay above the p95 threshold on /v1/ (PUT /internal/faults) under load; remove it",
          extra_fire=10, modes=_Q),
    Drill("latency-1s", ("LatencyP95Elevated",), (FAULTS, API_METRICS), "api_metrics",
          "every /v1/ request takes 1.2 s (p95 above 1 s) under load; remove it", modes=_S,
          window_fill="api_window:0.05"),
    Drill("latency-2s", ("LatencyP95High",), (FAULTS, API_METRICS), "api_metrics",
          "every /v1/ request takes 2.5 s (p95 above 2 s) under load; remove it", modes=_S,
          window_fill="api_window:0.05"),
    Drill("error-burst", ("ErrorRateCritical", "ErrorSpike"), (FAULTS, API_METRICS), "api_metrics",
          "half of /v1/ requests fail with 500 (PUT /internal/faults) under load; remove it", modes=_Q),
    Drill("errors-6pct", ("ErrorRateHigh",), (FAULTS, API_METRICS), "api_metrics",
          "6% of /v1/ requests fail with 500 under load; remove it", modes=_S,
          window_fill="api_window:ErrorRateHigh/0.06"),
    Drill("errors-12pct", ("ErrorRateCritical",), (FAULTS, API_METRICS), "api_metrics",
          "12% of /v1/ requests fail with 500 under load; remove it", modes=_S,
          window_fill="api_window:ErrorRateCritical/0.12"),
    Drill("ip-flood", ("DdosSuspected",), (REDIS,), "redis",
          "a burst from one IP (X-Forwarded-For) above the per-minute threshold; drop its count",
          extra_resolve=60, modes=_Q),  # when the IP cannot be dropped, the count falls when the minute rolls over
    Drill("ip-flood-12k", ("DdosSuspected",), (REDIS,), "redis",
          "one IP (X-Forwarded-For) sends 12,000 requests/min, sustained; stop it and drop its count", modes=_S,
          window_fill="seconds:DdosSuspected/200"),  # the trailing minute reaches the threshold at 200/s
    Drill("redis-memory", ("RedisMemoryHigh",), (REDIS,), "redis",
          "fill Redis to 85% of maxmemory with expiring keys; delete them"),
    Drill("backup-stale", ("BackupStale",), (BACKUP_DIR,), "backups",
          "the newest backup is 26 hours old; a fresh one is written", modes=_S),
    Drill("backup-empty", ("BackupEmpty",), (BACKUP_DIR,), "backups",
          "the newest backup is 0 bytes; a good one is written", modes=_S),
    Drill("login-failing", ("LoginFlowFailing",), (FAULTS,), "synthetic",
          "POST /v1/auth/login answers 500 (PUT /internal/faults); remove it", modes=_S),
    Drill("frontend-down", ("FrontendDown",), (CONTROL_FRONTEND,), "frontend",
          "stop the frontend's server; start it again", modes=_S),
    Drill("journey-step", ("CriticalJourneyFailing",), (FAULTS,), "journey",
          "the journey's QR-connection step answers 500 (PUT /internal/faults on /v1/connections); remove it"),
    Drill("cert-expiry", ("TlsCertExpiring",), (TLS,), "tls",
          "serve a certificate expiring in 5 days; swap in a fresh one"),
    Drill("sentry-regression", ("SentryIssueRegressed",), (), "sentry",
          "POST a signed Sentry `issue` webhook (unresolved, substatus regressed); then one saying resolved",
          external=True, modes=_Q),
    Drill("slow-page", ("PageLoadVerySlow",), (), "browser",
          "the page the browser target loads answers 0.5 s after PageLoadVerySlow's threshold; remove the delay",
          modes=_Q),
    Drill("broken-backup", ("BackupRestoreFailed",), (), "backup_restore",
          "a dump cut off halfway becomes the newest in the restore check's folder; delete it", modes=_Q),
    # Last: the deploy window it opens makes the error-rate and p95 rules stricter until it closes.
    Drill("deploy-errors", ("ErrorRateHigh",), (FAULTS, API_METRICS), "api_metrics",
          "deploy mark, then 2% of /v1/ requests fail under load (PUT /internal/faults); remove it",
          modes=_Q),
)


def drills(mode: str) -> tuple[Drill, ...]:
    return tuple(d for d in DRILLS if mode in d.modes)


BY_NAME: dict[str, Drill] = {d.name: d for d in DRILLS}
QUICK_DRILLS, SHIPPED_DRILLS = drills(QUICK), drills(SHIPPED)
# Every alert a drill expects: before a drill starts, none of them may be pending or firing.
DRILL_RULES: frozenset[str] = frozenset(r for d in QUICK_DRILLS for r in d.expected)
