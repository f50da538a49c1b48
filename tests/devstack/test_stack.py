"""devstack/stack.py: a private stack's API answers /health from the stack's own PostgreSQL and Redis, is
seeded with the credentials devstack knows, and stopping the stack (or a start that fails) leaves no process,
port or directory behind. Real processes throughout."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
import redis

from app import seed as app_seed
from devstack import PrivatePostgres, PrivateRedis, PrivateStack, Seed, free_port, seeded
from devstack.process import pid_alive, port_open
from devstack.stack import AppCommandError, run_app


@pytest.fixture(autouse=True, scope="module")
def binaries(stack_binaries: None) -> None:
    """Every test here starts stacks of its own."""


class Footprint:
    """Every process, port and directory a running stack owns, to check that none outlives it."""

    def __init__(self, stack: PrivateStack) -> None:
        running = stack.pids()
        self.pids = set(running.values())
        for pid in list(self.pids):  # PostgreSQL serves each connection in a child of the postmaster
            self.pids |= {p.pid for p in psutil.Process(pid).children(recursive=True)}
        servers: list[PrivatePostgres | PrivateRedis] = [stack.postgres] if "postgres" in running else []
        servers += [stack.redis] if "redis" in running else []
        self.ports = {s.port for s in servers} | ({stack.api.port} if "api" in running else set())
        self.dirs = [s.base_dir for s in servers]

    def assert_gone(self) -> None:
        assert self.pids and self.ports and self.dirs
        deadline = time.monotonic() + 15
        while any(pid_alive(p) for p in self.pids) or any(port_open(p) for p in self.ports):
            left = [p for p in self.pids if pid_alive(p)], [p for p in self.ports if port_open(p)]
            assert time.monotonic() < deadline, f"still running: pids, ports {left}"
            time.sleep(0.2)
        assert not [d for d in self.dirs if d.exists()]
        owned = [str(d) for d in self.dirs]
        assert not [p.info for p in psutil.process_iter(["pid", "cmdline"])
                    if any(d in arg for arg in p.info["cmdline"] or () for d in owned)]


@pytest.fixture
def started(tmp_path: Path) -> Iterator[PrivateStack]:
    """A whole stack, seeded with three attendees and our own passwords, fault injection on."""
    with PrivateStack(seed=Seed(3, "stack-test-pw", "stack-synthetic-pw"), faults=True,
                      api_env={"JWT_SECRET": "stack-test-secret-" + "s" * 16}, log_dir=tmp_path) as stack:
        yield stack


def test_the_api_answers_health_with_the_stacks_postgres_and_redis(started: PrivateStack, tmp_path: Path) -> None:
    pg, cache, api = started.postgres, started.redis, started.api
    assert set(started.pids()) == {"postgres", "redis", "api"}
    resp = httpx.get(f"{api.url}/health", timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.json()["checks"]["database"]["ok"] and resp.json()["checks"]["redis"]["ok"]
    # ... and those are this stack's servers: the API holds connections to both.
    with psycopg.connect(pg.url) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                           (pg.dbname,)).fetchone()
    assert row is not None and row[0] >= 1
    client = redis.Redis.from_url(cache.url)
    try:
        assert len(client.client_list()) >= 2  # ours and the API's
    finally:
        client.close()
    assert started.env() == {"DATABASE_URL": pg.url, "REDIS_URL": cache.url, "CONVERGE_API_URL": api.url,
                             "SYNTHETIC_PASSWORD": "stack-synthetic-pw"}
    assert api.log_path.parent == tmp_path


def test_the_api_is_seeded_with_the_credentials_devstack_knows(started: PrivateStack) -> None:
    url = started.api.url
    for email, password in ((seeded.attendee_email(3), "stack-test-pw"),
                            (seeded.SYNTHETIC_EMAIL, "stack-synthetic-pw"),
                            (seeded.SYNTHETIC_PEER_EMAIL, "stack-synthetic-pw")):
        r = httpx.post(f"{url}/v1/auth/login", json={"email": email, "password": password}, timeout=10)
        assert r.status_code == 200, (email, r.text)
    assert httpx.post(f"{url}/v1/auth/login", timeout=10,
                      json={"email": seeded.attendee_email(4), "password": "stack-test-pw"}).status_code == 401
    assert httpx.put(f"{url}/internal/faults", json={}, timeout=10).status_code == 200  # faults=True


def test_devstack_mirrors_the_apps_seed_data() -> None:
    assert seeded.SYNTHETIC_EMAIL == app_seed.SYNTHETIC_EMAIL
    assert (seeded.SYNTHETIC_PEER_EMAIL, seeded.SYNTHETIC_PEER_QR) == (app_seed.SYNTHETIC_PEER_EMAIL,
                                                                       app_seed.SYNTHETIC_PEER_QR)
    for i in (1, 42, 99999):
        assert seeded.attendee_email(i) == app_seed.attendee_email(i)
        assert seeded.attendee_qr(i) == app_seed.attendee_qr(i)


def test_stopping_a_stack_leaves_nothing_behind(tmp_path: Path) -> None:
    stack = PrivateStack(seed=Seed(1), log_dir=tmp_path)
    with stack:
        footprint = Footprint(stack)
        assert len(footprint.pids) > 3  # the postmaster's children are counted too
    footprint.assert_gone()
    assert stack.pids() == {} and stack.env() == {}
    with pytest.raises(RuntimeError, match="not started"):
        _ = stack.api


def test_parts_start_one_at_a_time_and_stop_together() -> None:
    stack = PrivateStack(api=False, seed=Seed(2))
    try:
        stack.start_redis()
        assert set(stack.pids()) == {"redis"}
        stack.start()  # adds PostgreSQL, migrated and seeded; Redis is left running
        assert set(stack.pids()) == {"postgres", "redis"}
        with psycopg.connect(stack.postgres.url) as conn:
            assert conn.execute("SELECT count(*) FROM attendees").fetchone() == (4,)  # + the two synthetic accounts
        footprint = Footprint(stack)
    finally:
        stack.stop()
    footprint.assert_gone()
    with pytest.raises(ValueError, match="needs PostgreSQL and Redis"):
        PrivateStack(redis=False)


def test_a_start_that_fails_stops_what_it_started(tmp_path: Path) -> None:
    pg_port = free_port()
    redis_port = next(p for p in iter(free_port, None) if p != pg_port)
    stack = PrivateStack(seed=Seed(1), postgres_port=pg_port, redis_port=redis_port,
                         api_env={"JWT_SECRET": "short"}, log_dir=tmp_path)  # the API refuses to start on it
    with pytest.raises(RuntimeError, match="JWT_SECRET"):  # so PostgreSQL and Redis were up
        stack.start()
    assert stack.pids() == {}
    assert not port_open(pg_port) and not port_open(redis_port)


def test_an_app_command_that_fails_says_why() -> None:
    with pytest.raises(AppCommandError, match=r"python -m app migrate.*database error"):
        run_app("postgresql://nobody@127.0.0.1:1/none", "migrate")


def test_the_stacks_backup_is_the_apps_with_the_row_counts_of_its_snapshot(tmp_path: Path) -> None:
    # The soak's stack dumped with a bare pg_dump: no counts beside it, so the restore check compared the dump
    # with the live database, which the event's traffic had moved on from, and BackupRestoreFailed paged.
    stack = PrivateStack(api=False, seed=Seed(2), backup_dir=tmp_path)
    try:
        stack.prepare_database()
        with psycopg.connect(stack.postgres.url) as conn:
            attendees = conn.execute("SELECT count(*) FROM attendees").fetchone()[0]
    finally:
        stack.stop()
    dumps = list(tmp_path.glob("converge-*.dump"))
    assert len(dumps) == 1 and dumps[0].stat().st_size > 0
    counts = json.loads(dumps[0].with_name(dumps[0].name + ".counts.json").read_text())
    assert counts["rows"]["public.attendees"] == attendees == 4
