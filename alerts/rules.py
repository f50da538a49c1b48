"""The rule catalog: the spec's 8.6 tiers and 9.3 scaling triggers as data, and the user's overrides.

    rules = load_rules(config.rules)       # DEFAULT_RULES with monitor.yml's `rules:` section applied

A rule compares one signal (from monitor/signals.py) of every matching series with a threshold:

    name, tier, signal, labels       which series (labels: equality matchers, {} = every series)
    comparison, threshold            when the condition holds (comparison "unknown": the value is unknown)
    for                              how long it must hold before the alert fires (0 = at once)
    clear_threshold                  hysteresis: a firing alert resolves only once the value is back past it
    keep_firing_for                  and only after the condition last held this long ago
    event                            the same four numbers during the event window (any subset)

monitor.yml's `rules:` section:

    rules:
      overrides:                     # any field of a default rule, by rule name
        ErrorRateHigh: {threshold: 0.03, for: 2m}
        ApiDown: {labels: {target: prod-health}, event: {for: 5s}}
      disabled: [ScaleDownCpu]       # same as overrides: {ScaleDownCpu: {enabled: false}}
      custom:                        # new rules, every field as in the catalog
        - {name: SyntheticLoginFailing, tier: high, signal: synthetic_success, comparison: "==", threshold: 0, for: 2m}

Overriding `labels` replaces the matcher; overriding `event` merges field by field (`event: null` removes it).
Changing `threshold` without `clear_threshold` keeps the rule's hysteresis band in proportion
(ErrorRateHigh 5% / clear 4% -> threshold 3% clears at 2.4%); the same holds for an event `threshold`.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from alerts.model import Tier
from monitor.signals import CATALOG
from monitor.targets import parse_duration

Comparison = Literal[">", ">=", "<", "<=", "==", "!=", "unknown"]
OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
}
_ABOVE = (">", ">=")  # fires high: healthy (clear) side is below
_BELOW = ("<", "<=")


def _non_negative_duration(value: object) -> float:
    # monitor.targets.Duration refuses 0, but `for: 0` (fire at once) is a meaningful rule setting.
    if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
        return 0.0
    if isinstance(value, str) and re.fullmatch(r"\s*0+(?:\.0+)?\s*(ms|s|m|h|d)?\s*", value):
        return 0.0
    return parse_duration(value)


NonNegDuration = Annotated[float, BeforeValidator(_non_negative_duration)]
RuleName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,79}$")]
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_FIXED_PLACEHOLDERS = ("value", "threshold", "target")


@dataclass(frozen=True, slots=True)
class Params:
    """A rule's numbers in one mode (normal or event)."""

    threshold: float | None
    for_: float
    clear_threshold: float | None  # None only for comparison "unknown"
    keep_firing_for: float


def derive_clear(old_threshold: float, old_clear: float | None, new_threshold: float, comparison: str) -> float:
    """The clear threshold that keeps a rule's hysteresis band in proportion when its threshold moves."""
    if old_clear is None or old_clear == old_threshold:
        return new_threshold
    if old_threshold != 0:
        clear = round(new_threshold * old_clear / old_threshold, 12)
    else:
        clear = new_threshold + (old_clear - old_threshold)
    if (comparison in _ABOVE and clear > new_threshold) or (comparison in _BELOW and clear < new_threshold):
        return new_threshold  # the scaled band flipped sides (signs differ): no hysteresis rather than a wrong one
    return clear


class EventOverride(BaseModel):
    """What changes inside the event window; fields left out keep the rule's normal value."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True, allow_inf_nan=False)

    threshold: float | None = None
    for_: NonNegDuration | None = Field(None, alias="for")
    clear_threshold: float | None = None
    keep_firing_for: NonNegDuration | None = None


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True, allow_inf_nan=False)

    name: RuleName
    tier: Tier
    signal: str
    labels: dict[str, str] = Field(default_factory=dict)
    comparison: Comparison
    threshold: float | None = None
    for_: NonNegDuration = Field(0.0, alias="for")
    clear_threshold: float | None = None
    keep_firing_for: NonNegDuration = 0.0
    summary: str = ""
    runbook: str = ""
    event: EventOverride | None = None
    enabled: bool = True

    @field_validator("signal")
    @classmethod
    def _known_signal(cls, value: str) -> str:
        if value not in CATALOG:
            close = difflib.get_close_matches(value, CATALOG, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else " (see monitor/signals.py)"
            raise ValueError(f"unknown signal {value!r}{hint}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        declared = CATALOG[self.signal].labels
        for key in self.labels:
            if key not in declared:
                raise ValueError(f"labels: signal {self.signal!r} has no label {key!r} "
                                 f"(its labels: {', '.join(declared)})")
        allowed = (*_FIXED_PLACEHOLDERS, *declared)
        for field_name in ("summary", "runbook"):
            for name in _PLACEHOLDER.findall(getattr(self, field_name)):
                if name not in allowed:
                    raise ValueError(f"{field_name}: unknown placeholder {{{name}}}; "
                                     f"use {', '.join('{' + a + '}' for a in allowed)}")
        if self.comparison == "unknown":
            for field_name in ("threshold", "clear_threshold"):
                in_event = self.event is not None and getattr(self.event, field_name) is not None
                if getattr(self, field_name) is not None or in_event:
                    where = "event." if in_event else ""
                    raise ValueError(f"{where}{field_name}: not used with comparison 'unknown' (the condition is "
                                     "'the value is unknown'); remove it")
            return self
        if self.threshold is None:
            raise ValueError(f"threshold: required with comparison {self.comparison!r}")
        self._check_clear(self.params(False), "")
        if self.event is not None:
            self._check_clear(self.params(True), "event.")
        return self

    def _check_clear(self, p: Params, where: str) -> None:
        assert p.threshold is not None and p.clear_threshold is not None
        t, c, cmp = p.threshold, p.clear_threshold, self.comparison
        if cmp in ("==", "!=") and c != t:
            raise ValueError(f"{where}clear_threshold: comparison {cmp!r} has no hysteresis; leave it out")
        if cmp in _ABOVE and c > t:
            raise ValueError(f"{where}clear_threshold: {c:g} must be <= the threshold {t:g} for comparison {cmp!r} "
                             "(a firing alert resolves once the value is back at or below it)")
        if cmp in _BELOW and c < t:
            raise ValueError(f"{where}clear_threshold: {c:g} must be >= the threshold {t:g} for comparison {cmp!r} "
                             "(a firing alert resolves once the value is back at or above it)")

    def params(self, in_event: bool) -> Params:
        """The effective numbers: the rule's own, or inside the event window its event override on top."""
        clear = self.clear_threshold if self.clear_threshold is not None else self.threshold
        normal = Params(self.threshold, self.for_, clear, self.keep_firing_for)
        ev = self.event
        if not in_event or ev is None:
            return normal
        threshold, event_clear = self.threshold, clear
        if ev.threshold is not None:
            threshold = ev.threshold
            assert self.threshold is not None
            event_clear = derive_clear(self.threshold, clear, threshold, self.comparison)
        if ev.clear_threshold is not None:
            event_clear = ev.clear_threshold
        return Params(
            threshold,
            self.for_ if ev.for_ is None else ev.for_,
            event_clear,
            self.keep_firing_for if ev.keep_firing_for is None else ev.keep_firing_for,
        )

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.labels.items())


# --------------------------------------------------------------------------------------------------
# The default catalog. Probes run every 30 s normally and every 5-10 s in the event window (monitor.yml);
# api_metrics values are already computed over a 5-minute window, so their `for` confirms, not smooths.
# Event overrides: shorter `for` everywhere it matters and lower thresholds for latency and error rate,
# so the on-call hears sooner during Jan 28-30.

DEFAULT_RULE_DATA: list[dict[str, Any]] = [
    # ---- critical: pages the on-call ----
    {"name": "ApiDown", "tier": "critical", "signal": "http_up", "labels": {"target": "api-health"},
     "comparison": "==", "threshold": 0, "for": "30s", "keep_firing_for": "30s",
     # 5 s `for` in the event: a failed check that is still failing 5 s of evaluations later pages; with
     # 5 s event checks, detection takes ~6-13 s (bench/detection_latency).
     "event": {"for": "5s", "keep_firing_for": "10s"},
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
    # ---- high: Slack ----
    {"name": "LatencyP95High", "tier": "high", "signal": "api_latency_p95_seconds", "labels": {"route": "*"},
     "comparison": ">", "threshold": 2.0, "clear_threshold": 1.8, "for": "5m", "keep_firing_for": "5m",
     "event": {"threshold": 1.5, "clear_threshold": 1.3, "for": "2m"},
     "summary": "p95 latency of {target} is {value} (threshold {threshold})",
     "runbook": "Check CPU, the DB pool and slow queries; scale out if CPU-bound (spec 9.3)."},
    {"name": "ErrorRateHigh", "tier": "high", "signal": "api_error_ratio",
     "comparison": ">", "threshold": 0.05, "clear_threshold": 0.04, "for": "5m", "keep_firing_for": "5m",
     "event": {"threshold": 0.03, "clear_threshold": 0.025, "for": "2m"},
     "summary": "{value} of requests to {target} fail with 5xx (threshold {threshold})",
     "runbook": "Investigate, do not auto-scale (spec 9.3): Sentry, the last deploy, dependencies."},
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
    # ---- medium: Slack, low priority ----
    {"name": "LatencyP95Elevated", "tier": "medium", "signal": "api_latency_p95_seconds", "labels": {"route": "*"},
     "comparison": ">", "threshold": 1.0, "clear_threshold": 0.9, "for": "5m", "keep_firing_for": "5m",
     "event": {"threshold": 0.8, "clear_threshold": 0.7, "for": "2m"},
     "summary": "p95 latency of {target} is {value} (threshold {threshold})",
     "runbook": "Check which routes are slow (per-route p95) and the slow-query list."},
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
    {"name": "ScaleUpCpu", "tier": "advisory", "signal": "api_cpu_ratio",
     "comparison": ">", "threshold": 0.70, "clear_threshold": 0.65, "for": "5m", "keep_firing_for": "5m",
     "event": {"for": "2m"},
     "summary": "Scale up: CPU of {target} at {value} (> {threshold} for 5 min)",
     "runbook": "Add a replica (max 5, spec 9.1)."},
    {"name": "ScaleDownCpu", "tier": "advisory", "signal": "api_cpu_ratio",
     "comparison": "<", "threshold": 0.30, "clear_threshold": 0.35, "for": "15m", "keep_firing_for": "5m",
     "summary": "Scale down: CPU of {target} at {value} (< {threshold} for 15 min)",
     "runbook": "Remove a replica, never below 2 (spec 9.1); not during the event."},
    {"name": "ScaleUpMemory", "tier": "advisory", "signal": "api_memory_ratio",
     "comparison": ">", "threshold": 0.80, "clear_threshold": 0.75, "for": "5m", "keep_firing_for": "5m",
     "event": {"for": "2m"},
     "summary": "Scale up: memory of {target} at {value} (> {threshold} for 5 min)",
     "runbook": "Add a replica (max 5, spec 9.1)."},
    {"name": "ScaleDownMemory", "tier": "advisory", "signal": "api_memory_ratio",
     "comparison": "<", "threshold": 0.50, "clear_threshold": 0.55, "for": "15m", "keep_firing_for": "5m",
     "summary": "Scale down: memory of {target} at {value} (< {threshold} for 15 min)",
     "runbook": "Remove a replica, never below 2 (spec 9.1); not during the event."},
    {"name": "ScaleUpRequestRate", "tier": "advisory", "signal": "api_requests_per_minute_per_instance",
     "comparison": ">", "threshold": 500, "clear_threshold": 450, "for": "5m", "keep_firing_for": "5m",
     "event": {"for": "2m"},
     "summary": "Scale up: {value} per instance at {target} (> {threshold})",
     "runbook": "Add a replica (max 5, spec 9.1)."},
    {"name": "ScaleDownRequestRate", "tier": "advisory", "signal": "api_requests_per_minute_per_instance",
     "comparison": "<", "threshold": 200, "clear_threshold": 250, "for": "15m", "keep_firing_for": "5m",
     "summary": "Scale down: {value} per instance at {target} (< {threshold})",
     "runbook": "Remove a replica, never below 2 (spec 9.1); not during the event."},
    {"name": "ScaleUpLatency", "tier": "advisory", "signal": "api_latency_p95_seconds", "labels": {"route": "*"},
     "comparison": ">", "threshold": 1.0, "clear_threshold": 0.9, "for": "10m", "keep_firing_for": "5m",
     "event": {"for": "5m"},
     "summary": "Scale up: p95 of {target} at {value} (> {threshold} for 10 min)",
     "runbook": "Add a replica if CPU or the pool is the bottleneck; a slow query is not fixed by replicas."},
    {"name": "ScaleDownLatency", "tier": "advisory", "signal": "api_latency_p95_seconds", "labels": {"route": "*"},
     "comparison": "<", "threshold": 0.5, "clear_threshold": 0.6, "for": "20m", "keep_firing_for": "5m",
     "summary": "Scale down: p95 of {target} at {value} (< {threshold} for 20 min)",
     "runbook": "Remove a replica, never below 2 (spec 9.1); not during the event."},
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


# --------------------------------------------------------------------------------------------------
# monitor.yml `rules:` section


class RuleOverride(BaseModel):
    """Any field of a rule but its name; fields left out keep the default."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True, allow_inf_nan=False)

    tier: Tier | None = None
    signal: str | None = None
    labels: dict[str, str] | None = None
    comparison: Comparison | None = None
    threshold: float | None = None
    for_: NonNegDuration | None = Field(None, alias="for")
    clear_threshold: float | None = None
    keep_firing_for: NonNegDuration | None = None
    summary: str | None = None
    runbook: str | None = None
    event: EventOverride | None = None
    enabled: bool | None = None


class RulesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    overrides: dict[str, RuleOverride] = Field(default_factory=dict)
    disabled: list[str] = Field(default_factory=list)
    custom: list[Rule] = Field(default_factory=list)


Loc = tuple[str | int, ...]
_FIELD_PREFIX = re.compile(r"^((?:event\.)?[a-z_]+): (.*)$", re.DOTALL)


class RulesError(ValueError):
    """The `rules:` section is invalid; `problems` holds (field path, message) for every mistake."""

    def __init__(self, problems: Sequence[tuple[Loc, str]]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(f"{_path(loc)}: {msg}" for loc, msg in self.problems))


def _path(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problems(exc: ValidationError, prefix: Loc, model: type[BaseModel]) -> list[tuple[Loc, str]]:
    out: list[tuple[Loc, str]] = []
    for err in exc.errors(include_url=False, include_input=False):
        loc: Loc = (*prefix, *err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            key = str(err["loc"][-1])
            allowed = _allowed_keys(model, err["loc"][:-1])
            close = difflib.get_close_matches(key, allowed, n=1)
            msg = f"unknown field {key!r}" + (f"; did you mean {close[0]!r}?" if close
                                              else f"; expected one of: {', '.join(allowed)}")
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "value_error" and (m := _FIELD_PREFIX.match(msg)):
            loc = (*loc, *m.group(1).split("."))  # "clear_threshold: ..." raised on the rule: point at the field
            msg = m.group(2)
        out.append((loc, msg))
    return out


def _allowed_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    # Walk the models along the error's location to list the keys allowed where the unknown one was found;
    # list indexes and dict keys (rule names) are not fields and are stepped over.
    current: Any = model
    for part in loc:
        fields = getattr(current, "model_fields", {})
        field = next((f for n, f in fields.items() if (f.alias or n) == part), None)
        if field is not None:
            current = _model_of(field.annotation)
    if current is None or not hasattr(current, "model_fields"):
        return []
    return [f.alias or n for n, f in current.model_fields.items()]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def load_rules(section: RulesConfig | Mapping[str, Any] | None = None,
               defaults: Sequence[Rule] = DEFAULT_RULES) -> list[Rule]:
    """The effective rule list: the defaults with the user's overrides, then the custom rules.

    Disabled rules stay in the list with enabled=False (so `converge-monitor rules` can show them);
    the engine skips them. Raises RulesError naming every bad rule and field (paths start at `rules`).
    """
    if section is None:
        return list(defaults)
    problems: list[tuple[Loc, str]] = []
    cfg = section if isinstance(section, RulesConfig) else _parse_section(section, problems)
    by_name = {r.name: r for r in defaults}
    result: dict[str, Rule] = dict(by_name)
    for name, override in cfg.overrides.items():
        loc: Loc = ("rules", "overrides", name)
        if name not in by_name:
            problems.append((loc, _unknown_rule(name, by_name)))
            continue
        try:
            result[name] = apply_override(by_name[name], override)
        except ValidationError as exc:
            problems += _problems(exc, loc, Rule)
    for i, name in enumerate(cfg.disabled):
        if name not in by_name:
            problems.append((("rules", "disabled", i), _unknown_rule(name, by_name)))
        else:
            result[name] = Rule.model_validate({**result[name].model_dump(by_alias=True), "enabled": False})
    seen: set[str] = set()
    for i, rule in enumerate(cfg.custom):
        loc = ("rules", "custom", i, "name")
        if rule.name in by_name:
            problems.append((loc, f"{rule.name!r} is a default rule: change it under rules.overrides"))
        elif rule.name in seen:
            problems.append((loc, f"duplicate custom rule {rule.name!r}"))
        seen.add(rule.name)
        result[rule.name] = rule
    if problems:
        raise RulesError(problems)
    return list(result.values())


def _parse_section(section: Any, problems: list[tuple[Loc, str]]) -> RulesConfig:
    """Validate each part on its own, so one mistake does not hide the others."""
    if not isinstance(section, Mapping):
        raise RulesError([(("rules",), "must be a mapping with overrides, disabled and custom")])
    allowed = list(RulesConfig.model_fields)
    for key in section:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            problems.append((("rules", str(key)), f"unknown field {key!r}" + (
                f"; did you mean {close[0]!r}?" if close else f"; expected one of: {', '.join(allowed)}")))
    overrides: dict[str, RuleOverride] = {}
    raw_overrides = section.get("overrides") or {}
    if not isinstance(raw_overrides, Mapping):
        problems.append((("rules", "overrides"), "must be a mapping of rule name -> fields to change"))
        raw_overrides = {}
    for name, body in raw_overrides.items():
        try:
            overrides[str(name)] = RuleOverride.model_validate(body if body is not None else {})
        except ValidationError as exc:
            problems += _problems(exc, ("rules", "overrides", str(name)), RuleOverride)
    disabled = section.get("disabled") or []
    if not isinstance(disabled, list) or not all(isinstance(n, str) for n in disabled):
        problems.append((("rules", "disabled"), "must be a list of rule names"))
        disabled = []
    custom: list[Rule] = []
    raw_custom = section.get("custom") or []
    if not isinstance(raw_custom, list):
        problems.append((("rules", "custom"), "must be a list of rules"))
        raw_custom = []
    for i, body in enumerate(raw_custom):
        try:
            custom.append(Rule.model_validate(body))
        except ValidationError as exc:
            problems += _problems(exc, ("rules", "custom", i), Rule)
    return RulesConfig.model_construct(overrides=overrides, disabled=disabled, custom=custom)


def _unknown_rule(name: str, known: Mapping[str, Rule]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f"unknown rule {name!r}" + (f"; did you mean {close[0]!r}?" if close else
                                       " (custom rules go under rules.custom)")


def apply_override(rule: Rule, override: RuleOverride) -> Rule:
    """`rule` with the fields the override sets; raises ValidationError if the result is not a valid rule."""
    data = rule.model_dump(by_alias=True)
    given = override.model_dump(by_alias=True, exclude_unset=True)
    event = given.pop("event", ...)
    data.update(given)
    if "clear_threshold" not in given and ("threshold" in given or "comparison" in given):
        if "comparison" in given and given["comparison"] != rule.comparison:
            data["clear_threshold"] = None  # a new direction: the old band means nothing
        elif rule.threshold is not None and data["threshold"] is not None:
            data["clear_threshold"] = derive_clear(rule.threshold, rule.clear_threshold, data["threshold"],
                                                   rule.comparison)
    if event is None:
        data["event"] = None
    elif event is not ...:
        data["event"] = {**(data["event"] or {}), **_set_fields(override.event)}
    return Rule.model_validate(data)


def _set_fields(model: BaseModel | None) -> dict[str, Any]:
    return model.model_dump(by_alias=True, exclude_unset=True) if model is not None else {}


def format_value(signal_name: str, value: float | None) -> str:
    """A value as a person reads it, by the signal's unit: 0.123 ratio -> "12.3%", 2.5 seconds -> "2.50s"."""
    if value is None:
        return "unknown"
    if not math.isfinite(value):
        return str(value)
    unit = CATALOG[signal_name].unit if signal_name in CATALOG else ""
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit == "seconds":
        return f"{value * 1000:.0f}ms" if abs(value) < 1 else f"{value:.2f}s"
    if unit == "days":
        return f"{value:.1f} days"
    if unit == "per_minute":
        return f"{value:.0f}/min"
    if unit == "per_second":
        return f"{value:.1f}/s"
    return f"{value:g}"


def render(template: str, rule: Rule, labels: Mapping[str, str], value: float | None,
           threshold: float | None) -> str:
    """Fill {value}, {threshold}, {target} and the series' label placeholders of a summary or runbook."""
    if "{" not in template:
        return template

    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key == "value":
            return format_value(rule.signal, value)
        if key == "threshold":
            return format_value(rule.signal, threshold)
        return labels.get(key, "")

    return _PLACEHOLDER.sub(sub, template)
