"""Typed target configs, one model per probe kind. monitor/config composes them into the file's schema.

Durations accept seconds or strings like "30s", "5m", "1h", "1d". Secrets are SecretStr: their repr
and str are masked; `.get_secret_value()` is called only where the value is used.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Literal

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import AnyHttpUrl, BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, model_validator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
# Ten years: longer than any interval, retention or silence anyone means, short enough that adding it to a
# timestamp or building a timedelta from it cannot overflow (99999999999999d would, at run time).
MAX_DURATION = 3650 * 86400.0


def parse_duration(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '30s', '5m', '1h'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError(f"invalid duration {value!r}: use seconds or a string like '30s', '5m', '1h'")
    if math.isnan(seconds):
        raise ValueError("duration must be a number of seconds, got NaN")
    if seconds <= 0:
        raise ValueError(f"duration must be positive, got {value!r}")
    if seconds > MAX_DURATION:
        raise ValueError(f"duration {value!r} is longer than the 3650d maximum")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")]


class TargetBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    interval: Duration = 30.0
    # Inside the event window the scheduler uses this shorter interval (default: interval / 3, >= 5 s).
    event_interval: Duration | None = None
    timeout: Duration = 5.0
    enabled: bool = True

    @model_validator(mode="after")
    def _timeout_fits(self) -> TargetBase:
        if self.timeout > self.interval:
            raise ValueError(f"timeout ({self.timeout:g}s) must not exceed interval ({self.interval:g}s)")
        if self.event_interval is not None and self.timeout > self.event_interval:
            raise ValueError(f"timeout ({self.timeout:g}s) must not exceed event_interval ({self.event_interval:g}s)")
        return self

    def effective_interval(self, in_event: bool) -> float:
        if not in_event:
            return self.interval
        return self.event_interval or max(5.0, self.interval / 3)


class JsonCondition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(min_length=1, description="dotted path into the JSON body, e.g. checks.database.ok")
    equals: str | int | float | bool | None = None
    exists: bool | None = None


class HttpTarget(TargetBase):
    kind: Literal["http"] = "http"
    url: AnyHttpUrl
    method: Literal["GET", "HEAD", "POST"] = "GET"
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    expect_status: list[int] = Field(default_factory=lambda: [200])
    body_contains: str | None = None
    json_checks: list[JsonCondition] = Field(default_factory=list)
    follow_redirects: bool = True
    max_redirects: int = Field(5, ge=0, le=20)
    verify_tls: bool = True
    ca_file: str | None = None


class SyntheticStep(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    method: Literal["GET", "POST", "PUT", "DELETE"] = "GET"
    path: str = Field(min_length=1, description="appended to the flow's base_url; may use {variables}")
    json_body: dict[str, SecretStr | str | int | float | bool] | None = Field(None, alias="json")
    headers: dict[str, str] = Field(default_factory=dict)
    expect_status: list[int] = Field(default_factory=lambda: [200])
    # variable name -> dotted JSON path in this step's response, usable as {name} in later steps
    extract: dict[str, str] = Field(default_factory=dict)


class SyntheticTarget(TargetBase):
    kind: Literal["synthetic"] = "synthetic"
    base_url: AnyHttpUrl
    steps: list[SyntheticStep] = Field(min_length=1)
    verify_tls: bool = True


class JourneyTarget(TargetBase):
    """The critical features as one synthetic user (probes/journey.py): log in, list the sessions, RSVP,
    connect by QR code with the synthetic peer, send it a message and receive it over its websocket."""

    kind: Literal["journey"] = "journey"
    interval: Duration = 120.0
    timeout: Duration = 30.0
    base_url: AnyHttpUrl
    email: str = Field(min_length=3)
    password: SecretStr
    # The second synthetic account: the QR connection's and the message's other side.
    peer_email: str = Field(min_length=3)
    peer_password: SecretStr
    peer_qr_code: str = Field(min_length=1, max_length=64)
    verify_tls: bool = True

    @model_validator(mode="after")
    def _two_accounts(self) -> JourneyTarget:
        if self.email.lower() == self.peer_email.lower():
            raise ValueError("peer_email must be another account than email (a QR connection needs two)")
        return self


class BrowserTarget(TargetBase):
    """A page loaded in headless Chromium (probes/browser.py): timings, Core Web Vitals, failures."""

    kind: Literal["browser"] = "browser"
    interval: Duration = 120.0
    timeout: Duration = 30.0
    url: AnyHttpUrl
    executable: str = "/usr/bin/chromium"
    # After the load event, wait this long for late layout shifts and the final LCP candidate.
    settle: Duration = 0.5
    memory_mb: int = Field(768, ge=128, le=8192)  # the browser's processes together; killed above it
    viewport: tuple[int, int] = (1280, 800)


class ApiMetricsTarget(TargetBase):
    kind: Literal["api_metrics"] = "api_metrics"
    # One /metrics URL per API instance; requests per instance = total / number of instances.
    urls: list[AnyHttpUrl] = Field(min_length=1)
    window: Duration = 300.0
    # The replica bounds scaling advice respects (spec 11.2: 2..5): no scale-down at the floor, no scale-up
    # at the ceiling.
    min_replicas: int = Field(2, ge=1, le=1000)
    max_replicas: int = Field(5, ge=1, le=1000)

    @model_validator(mode="after")
    def _bounds(self) -> ApiMetricsTarget:
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"max_replicas: {self.max_replicas} is below min_replicas {self.min_replicas}")
        return self


class PostgresTarget(TargetBase):
    kind: Literal["postgres"] = "postgres"
    dsn: SecretStr
    slow_query_ms: float = Field(1000.0, gt=0)
    slow_query_limit: int = Field(10, ge=1, le=100)
    query_text_max: int = Field(200, ge=20, le=2000)


class RedisTarget(TargetBase):
    kind: Literal["redis"] = "redis"
    url: SecretStr
    ip_counter_prefix: str = "converge:ipreq:"
    top_clients: int = Field(5, ge=1, le=50)


class BackupTarget(TargetBase):
    kind: Literal["backup"] = "backup"
    directory: str | None = None
    pattern: str = "*"
    command: list[str] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one_source(self) -> BackupTarget:
        if (self.directory is None) == (self.command is None):
            raise ValueError("set exactly one of directory or command")
        return self


_RESTORE_TABLES = ["attendees", "sessions", "rsvps", "connections", "messages"]
Identifier = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")]


def dsn_database(dsn: str) -> tuple[str, str, str]:
    """(host, port, database) a libpq DSN (URL or key=value) points at, with libpq's defaults filled in."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error:
        raise ValueError("is not a valid PostgreSQL DSN (value hidden)") from None
    host = str(params.get("host") or "localhost")
    host = "localhost" if host in ("127.0.0.1", "::1") or host.startswith("/") else host.lower()
    return host, str(params.get("port") or "5432"), str(params.get("dbname") or params.get("user") or "")


class BackupRestoreTarget(TargetBase):
    """Restore the newest dump into a scratch database, check it, time it, drop it (probes/backup_restore.py)."""

    kind: Literal["backup_restore"] = "backup_restore"
    interval: Duration = 3600.0
    timeout: Duration = 900.0
    directory: str
    pattern: str = "*.dump"
    # The database the dumps are taken of: its tables and row counts are what the restored copy must show.
    source_dsn: SecretStr
    # A database on the server that hosts the scratch copy (e.g. .../postgres); needs CREATEDB.
    scratch_dsn: SecretStr
    scratch_database: Identifier = "converge_restore_check"
    key_tables: list[Identifier] = Field(default_factory=lambda: list(_RESTORE_TABLES), min_length=1)
    row_tolerance: float = Field(0.10, ge=0, le=1)  # |restored - source| / source, per key table
    pg_restore: str = "pg_restore"  # a name looked up on PATH and in /usr/lib/postgresql/*/bin, or a path

    @model_validator(mode="after")
    def _never_the_source(self) -> BackupRestoreTarget:
        source = dsn_database(self.source_dsn.get_secret_value())
        scratch = dsn_database(self.scratch_dsn.get_secret_value())
        if source[:2] == scratch[:2] and self.scratch_database == source[2]:
            raise ValueError(f"scratch_database {self.scratch_database!r} is the source database itself: the "
                             "restore check drops it; name a scratch database of its own")
        if self.scratch_database == scratch[2]:
            raise ValueError(f"scratch_database {self.scratch_database!r} is the database scratch_dsn connects to: "
                             "name another one (scratch_dsn is where it is created and dropped from)")
        return self


class DiskTarget(TargetBase):
    kind: Literal["disk"] = "disk"
    paths: list[str] = Field(min_length=1)


class DepsTarget(TargetBase):
    kind: Literal["deps"] = "deps"
    interval: Duration = 86400.0
    timeout: Duration = 300.0
    # pip-audit: run `pip-audit -f json`; command: run it, JSON on stdout; report: read a pip-audit JSON file
    mode: Literal["pip-audit", "command", "report"] = "pip-audit"
    command: list[str] | None = None
    report_file: str | None = None
    requirements: str | None = None

    @model_validator(mode="after")
    def _mode_inputs(self) -> DepsTarget:
        if self.mode == "command" and not self.command:
            raise ValueError("mode 'command' needs command (an argv list)")
        if self.mode == "report" and not self.report_file:
            raise ValueError("mode 'report' needs report_file")
        return self


AnyTarget = (HttpTarget | SyntheticTarget | JourneyTarget | BrowserTarget | ApiMetricsTarget | PostgresTarget
             | RedisTarget | BackupTarget
             | BackupRestoreTarget | DiskTarget | DepsTarget)
