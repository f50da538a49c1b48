"""Shared fixtures: private PostgreSQL and Redis servers per test run, and the API under uvicorn.

Everything is started from local binaries on free loopback ports and stopped by PID at the end.
Outside CI a missing binary skips the tests that need it; with CI=true it fails them.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from devstack import ApiServer, MissingBinaryError, PrivatePostgres, PrivateRedis
from devstack.process import find_binary
from devstack.stack import PrivateStack, Seed
from tests.support.stack import SEED_PASSWORD, SEEDED_ATTENDEES, SYNTHETIC_PASSWORD, require


@pytest.fixture(scope="session")
def private_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateStack]:
    """The run's stack (devstack/stack.py): each part starts when a fixture below first asks for it, and
    everything started is stopped by PID at the end of the run."""
    stack = PrivateStack(seed=Seed(SEEDED_ATTENDEES, SEED_PASSWORD, SYNTHETIC_PASSWORD), redis_maxmemory="64mb",
                         faults=True, log_dir=tmp_path_factory.mktemp("api"))
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def stack_binaries() -> None:
    """PostgreSQL, Redis (and pg_dump) as a private stack needs them, for tests that start their own stack."""
    try:
        PrivateStack().check_binaries()
    except MissingBinaryError as exc:
        require(exc)


@pytest.fixture(scope="session")
def pg(private_stack: PrivateStack) -> PrivatePostgres:
    """A private PostgreSQL 15 cluster with pg_stat_statements, for the whole run."""
    try:
        return private_stack.start_postgres()
    except MissingBinaryError as exc:
        require(exc)
        raise


@pytest.fixture(scope="session")
def redis_server(private_stack: PrivateStack) -> PrivateRedis:
    """A private redis-server with maxmemory 64mb, for the whole run."""
    try:
        return private_stack.start_redis()
    except MissingBinaryError as exc:
        require(exc)
        raise


@pytest.fixture(scope="session")
def promtool() -> str:
    """Debian's promtool (package prometheus)."""
    try:
        return find_binary("promtool", "prometheus", extra_dirs=("/usr/bin",))
    except MissingBinaryError as exc:
        require(exc)
        raise


@pytest.fixture(scope="session")
def seeded_db(pg: PrivatePostgres, private_stack: PrivateStack) -> str:
    """The run's database, migrated and seeded by `python -m app migrate` and `seed`: its URL."""
    return private_stack.prepare_database()


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
def api(seeded_db: str, redis_server: PrivateRedis, private_stack: PrivateStack) -> Iterator[ApiServer]:
    """The Converge API under uvicorn (one worker, fault injection on) for end-to-end tests."""
    server = private_stack.start_api()
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


