"""The API's configuration, read from environment variables.

A missing or malformed variable raises SettingsError naming the variable, so `python -m app` and
`uvicorn app.main:app` both stop with one clear line instead of a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str
    jwt_secret: str
    sentry_dsn: str | None = None
    environment: str = "development"
    service_name: str = "converge-api"
    log_level: str = "INFO"
    trusted_proxy_header: str | None = None
    db_pool_min: int = 2
    db_pool_max: int = 10
    db_pool_timeout: float = 2.0
    health_check_timeout: float = 1.0
    sessions_cache_ttl: int = 300
    ip_counter_ttl: int = 180
    token_ttl: int = 24 * 3600
    sentry_traces_sample_rate: float = 0.0

    def __repr__(self) -> str:  # never print the secrets
        return f"Settings(environment={self.environment!r}, service_name={self.service_name!r})"


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is required (for example {schemes[0]}://127.0.0.1/...)")
    parsed = urlsplit(value)
    if parsed.scheme not in schemes or not parsed.hostname:
        raise SettingsError(f"{name} must be a {' or '.join(schemes)} URL with a host")
    return value


def _number(env: Mapping[str, str], name: str, default: float, kind: type, minimum: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a {kind.__name__}, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {raw!r}")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    secret = env.get("JWT_SECRET", "")
    if len(secret) < 16:
        raise SettingsError("JWT_SECRET is required and must be at least 16 characters")
    dsn = env.get("SENTRY_DSN") or None
    if dsn is not None:
        parsed = urlsplit(dsn)
        if parsed.scheme not in ("http", "https") or not parsed.username or not parsed.path.strip("/"):
            raise SettingsError("SENTRY_DSN must look like https://<key>@<host>/<project id>")
    pool_min = int(_number(env, "DB_POOL_MIN", 2, int, 0))
    pool_max = int(_number(env, "DB_POOL_MAX", 10, int, 1))
    if pool_max < pool_min:
        raise SettingsError(f"DB_POOL_MAX ({pool_max}) must be >= DB_POOL_MIN ({pool_min})")
    header = (env.get("TRUSTED_PROXY_HEADER") or "").strip().lower() or None
    return Settings(
        database_url=_url(env, "DATABASE_URL", ("postgresql", "postgres")),
        redis_url=_url(env, "REDIS_URL", ("redis", "rediss")),
        jwt_secret=secret,
        sentry_dsn=dsn,
        environment=env.get("ENVIRONMENT", "development"),
        service_name=env.get("SERVICE_NAME", "converge-api"),
        log_level=env.get("LOG_LEVEL", "INFO").upper(),
        trusted_proxy_header=header,
        db_pool_min=pool_min,
        db_pool_max=pool_max,
        db_pool_timeout=_number(env, "DB_POOL_TIMEOUT", 2.0, float, 0.1),
        health_check_timeout=_number(env, "HEALTH_CHECK_TIMEOUT", 1.0, float, 0.05),
        sessions_cache_ttl=int(_number(env, "SESSIONS_CACHE_TTL", 300, int, 1)),
        sentry_traces_sample_rate=_number(env, "SENTRY_TRACES_SAMPLE_RATE", 0.0, float, 0.0),
    )
