"""Configuration errors name the variable, exit 2, and print no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from app.settings import SettingsError, load_settings

GOOD = {"DATABASE_URL": "postgresql://u@127.0.0.1/db", "REDIS_URL": "redis://127.0.0.1:6379/0",
        "JWT_SECRET": "a-long-enough-secret"}


@pytest.mark.parametrize(("change", "named"), [
    ({"DATABASE_URL": ""}, "DATABASE_URL"),
    ({"DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL"),
    ({"REDIS_URL": "not a url"}, "REDIS_URL"),
    ({"JWT_SECRET": "short"}, "JWT_SECRET"),
    ({"SENTRY_DSN": "https://sentry.example.com"}, "SENTRY_DSN"),
    ({"DB_POOL_MAX": "many"}, "DB_POOL_MAX"),
    ({"DB_POOL_MIN": "5", "DB_POOL_MAX": "2"}, "DB_POOL_MAX"),
    ({"HEALTH_CHECK_TIMEOUT": "-1"}, "HEALTH_CHECK_TIMEOUT"),
])
def test_bad_variable_is_named(change: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings({**GOOD, **change})


def test_defaults_and_secret_free_repr() -> None:
    s = load_settings(GOOD)
    assert (s.db_pool_max, s.sessions_cache_ttl, s.trusted_proxy_header) == (10, 300, None)
    assert "a-long-enough-secret" not in repr(s)


@pytest.mark.parametrize("argv", [
    [sys.executable, "-m", "app", "serve"],
    [sys.executable, "-m", "app", "migrate"],
    [sys.executable, "-m", "uvicorn", "app.main:app"],
])
def test_cli_exits_2_with_one_clear_line(argv: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "JWT_SECRET")}
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "DATABASE_URL is required" in proc.stderr or "JWT_SECRET is required" in proc.stderr
    assert "Traceback" not in proc.stderr
