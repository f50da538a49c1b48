"""Shared fixtures: private PostgreSQL and Redis servers per test run, and the API under uvicorn.

Everything is started from local binaries on free loopback ports and stopped by PID at the end.
Outside CI a missing binary skips the tests that need it; with CI=true it fails them.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable, Iterator, Mapping

import httpx
import pytest

from devstack import ApiServer, MissingBinaryError, PrivatePostgres, PrivateRedis
from devstack.process import find_binary
from monitor.observation import Observation

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SEED_PASSWORD = "converge-test-pw"
SYNTHETIC_PASSWORD = "synthetic-test-pw"
SEEDED_ATTENDEES = 40


def require(exc: MissingBinaryError) -> None:
    if IN_CI:
        pytest.fail(str(exc))
    pytest.skip(str(exc))


@pytest.fixture(scope="session")
def pg() -> Iterator[PrivatePostgres]:
    """A private PostgreSQL 15 cluster with pg_stat_statements, for the whole run."""
    try:
        server = PrivatePostgres()
    except MissingBinaryError as exc:
        require(exc)
    server.start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[PrivateRedis]:
    """A private redis-server with maxmemory 64mb, for the whole run."""
    try:
        server = PrivateRedis(maxmemory="64mb")
    except MissingBinaryError as exc:
        require(exc)
    server.start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def promtool() -> str:
    """Debian's promtool (package prometheus)."""
    try:
        return find_binary("promtool", "prometheus", extra_dirs=("/usr/bin",))
    except MissingBinaryError as exc:
        require(exc)
        raise


@pytest.fixture(scope="session")
def seeded_db(pg: PrivatePostgres) -> str:
    from app.migrate import migrate
    from app.seed import seed

    migrate(pg.url)
    seed(pg.url, SEEDED_ATTENDEES, SEED_PASSWORD, SYNTHETIC_PASSWORD)
    return pg.url


_SHARED_API: list[ApiServer] = []


def _shared_api_recovered(timeout: float = 30) -> None:
    """After a fault test, the next test gets a shared API that is healthy again (its DB pool reconnected)."""
    for api in _SHARED_API:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{api.url}/health", timeout=3).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)


@pytest.fixture
def pg_fault(pg: PrivatePostgres) -> Iterator[PrivatePostgres]:
    """The run's PostgreSQL, for tests that stop it: started again afterwards whatever happens."""
    yield pg
    if not pg.running():
        pg.start()
    _shared_api_recovered()


@pytest.fixture
def redis_fault(redis_server: PrivateRedis) -> Iterator[PrivateRedis]:
    """The run's Redis, for tests that stop it: started again afterwards whatever happens."""
    yield redis_server
    if not redis_server.running():
        redis_server.start()
    _shared_api_recovered()


@pytest.fixture(scope="session")
def api(seeded_db: str, redis_server: PrivateRedis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """The Converge API under uvicorn (one worker, fault injection on) for end-to-end tests."""
    server = ApiServer(seeded_db, redis_server.url, env={"CONVERGE_FAULTS": "1"},
                       log_dir=str(tmp_path_factory.mktemp("api")))
    server.start()
    _SHARED_API.append(server)
    yield server
    _SHARED_API.remove(server)
    server.stop()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel completes them from the backlog) and never answers:
    a hung or blackholed server."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


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
