"""What the tests share about the private stack: CI strictness, the seeded accounts, and small checks."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

import httpx
import pytest

from devstack import MissingBinaryError
from monitor.core.observation import Observation

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


SEED_PASSWORD = "converge-test-pw"


SYNTHETIC_PASSWORD = "synthetic-test-pw"


SEEDED_ATTENDEES = 40


def require(exc: MissingBinaryError) -> None:
    if IN_CI:
        pytest.fail(str(exc))
    pytest.skip(str(exc))


def assert_errors(observations: Mapping[str, Observation], names: Iterable[str], prefix: str,
                  unknown: bool = True) -> None:
    """Each named signal carries an error of this class (`connect:`, `timeout:`...), and is unknown if asked."""
    for name in names:
        obs = observations[name]
        assert obs.error and obs.error.startswith(prefix), obs
        assert not unknown or obs.value is None, obs


def login(base_url: str, email: str, password: str = SEED_PASSWORD) -> str:
    r = httpx.post(f"{base_url}/v1/auth/login", json={"email": email, "password": password}, timeout=10)
    r.raise_for_status()
    return str(r.json()["access_token"])
