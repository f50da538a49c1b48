"""Typed target configs, one model per probe kind. monitor/config composes them into the file's schema.

Durations accept seconds or strings like "30s", "5m", "1h", "1d". Secrets are SecretStr: their repr
and str are masked; `.get_secret_value()` is called only where the value is used.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Literal

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


AnyTarget = (HttpTarget | SyntheticTarget | ApiMetricsTarget | PostgresTarget | RedisTarget | BackupTarget
             | DiskTarget | DepsTarget)
