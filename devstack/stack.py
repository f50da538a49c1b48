"""One private stack: PostgreSQL, Redis and the Converge API, the one place that starts them.

The tests, the fault drills, `make demo` / `python -m devstack up` and the benchmarks all start their stack
here. Each server runs from the local binaries on a free loopback port (or the one asked for), in its own
temporary directory, and is stopped by its PID. The API is the app as a process, as it is deployed:
`python -m app migrate`, `python -m app seed ...`, then `python -m app serve` (devstack/api.py); nothing of
the app is imported here.

    with PrivateStack(seed=Seed(attendees=50), faults=True) as stack:
        httpx.get(f"{stack.api.url}/health")

`start()` is all or nothing: every chosen part's binary is looked up before any process starts (so a
missing one raises MissingBinaryError having started nothing), and a part that fails to come up stops the
ones already running. The parts can also be started one at a time (`start_postgres()`, `start_redis()`,
`prepare_database()`, `start_api()`, each a no-op when already done), as the test fixtures do. `stop()`
stops what was started, the API first and PostgreSQL last, and removes their temporary directories.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Self, TypeVar

from devstack.api import ApiServer
from devstack.postgres import PrivatePostgres
from devstack.postgres import _pg_bindir as pg_bindir
from devstack.process import find_binary
from devstack.redis import PrivateRedis
from devstack.seeded import SEED_PASSWORD, SYNTHETIC_PASSWORD

T = TypeVar("T")


class AppCommandError(RuntimeError):
    """`python -m app <command>` exited non-zero; the message ends with what it printed."""


@dataclass(frozen=True)
class Seed:
    """What `python -m app seed` loads: N attendees sharing one password, and the synthetic monitoring account."""

    attendees: int = 200
    password: str = SEED_PASSWORD
    synthetic_password: str = SYNTHETIC_PASSWORD

    def argv(self) -> list[str]:
        return ["seed", "--attendees", str(self.attendees), "--password", self.password,
                "--synthetic-password", self.synthetic_password]


def run_app(database_url: str, *args: str, env: dict[str, str] | None = None) -> str:
    """`python -m app ARGS` against `database_url`, to completion: what it printed, or AppCommandError."""
    res = subprocess.run([sys.executable, "-m", "app", *args],
                         env={**os.environ, **(env or {}), "DATABASE_URL": database_url},
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        out = (res.stdout + res.stderr).strip()
        raise AppCommandError(f"`python -m app {args[0]}` exited with {res.returncode}: {out[-3000:]}")
    return res.stdout


class PrivateStack:
    """PostgreSQL (migrated and seeded), Redis and the API, each optional; the API needs the other two.

    Knobs: which parts (`postgres`, `redis`, `api`); their ports (None: a free one); `seed` (None: `Seed()`);
    `redis_maxmemory`; the API's `workers`, `faults` (CONVERGE_FAULTS=1: PUT /internal/faults) and any
    other environment in `api_env` (JWT_SECRET, TRUSTED_PROXY_HEADER, DB_POOL_MAX, ...); `log_dir` for the
    API's log (None: a temporary directory); `backup_dir`: a fresh `python -m app backup` lands there once the
    database is seeded, as a deployment's backup check expects; `echo`: print what migrate and seed print.
    """

    def __init__(self, *, postgres: bool = True, redis: bool = True, api: bool = True, seed: Seed | None = None,
                 postgres_port: int | None = None, redis_port: int | None = None, redis_maxmemory: str = "64mb",
                 api_port: int | None = None, workers: int = 1, faults: bool = False,
                 api_env: Mapping[str, str] | None = None, log_dir: str | os.PathLike[str] | None = None,
                 backup_dir: str | os.PathLike[str] | None = None, echo: bool = False) -> None:
        if api and not (postgres and redis):
            raise ValueError("the API needs PostgreSQL and Redis in the stack")
        self.parts = {"postgres": postgres, "redis": redis, "api": api}
        self.seed = seed if seed is not None else Seed()
        self.postgres_port, self.redis_port, self.api_port = postgres_port, redis_port, api_port
        self.redis_maxmemory = redis_maxmemory
        self.workers = workers
        self.api_env = {**({"CONVERGE_FAULTS": "1"} if faults else {}), **(api_env or {})}
        self.log_dir = str(log_dir) if log_dir is not None else None
        self.backup_dir = Path(backup_dir) if backup_dir is not None else None
        self.echo = echo
        self._postgres: PrivatePostgres | None = None
        self._redis: PrivateRedis | None = None
        self._api: ApiServer | None = None
        self._prepared = False
        self._cleanup = contextlib.ExitStack()  # unwinds in reverse: the API, Redis, PostgreSQL

    # -- the parts ----------------------------------------------------------------------------------
    @property
    def postgres(self) -> PrivatePostgres:
        return _started(self._postgres, "PostgreSQL")

    @property
    def redis(self) -> PrivateRedis:
        return _started(self._redis, "Redis")

    @property
    def api(self) -> ApiServer:
        return _started(self._api, "the API")

    def _new_postgres(self) -> PrivatePostgres:
        if self._postgres is None:
            self._postgres = PrivatePostgres(port=self.postgres_port)
            self._cleanup.callback(self._postgres.cleanup)
        return self._postgres

    def _new_redis(self) -> PrivateRedis:
        if self._redis is None:
            self._redis = PrivateRedis(port=self.redis_port, maxmemory=self.redis_maxmemory)
            self._cleanup.callback(self._redis.cleanup)
        return self._redis

    def _new_api(self) -> ApiServer:
        if self._api is None:
            pg, redis = self._new_postgres(), self._new_redis()
            self._api = ApiServer(pg.url, redis.url, port=self.api_port, workers=self.workers, env=self.api_env,
                                  log_dir=self.log_dir)
            self._cleanup.callback(self._api.stop)
        return self._api

    # -- starting and stopping ----------------------------------------------------------------------
    def start(self) -> Self:
        """Every chosen part, in order: PostgreSQL (migrated, seeded), Redis, the API. All or nothing."""
        self.check_binaries()
        try:
            if self.parts["postgres"]:
                self.prepare_database()
            if self.parts["redis"]:
                self.start_redis()
            if self.parts["api"]:
                self.start_api()
        except BaseException:
            self.stop()
            raise
        return self

    def check_binaries(self) -> None:
        """MissingBinaryError, naming the package to install, when a chosen server's binary is not here."""
        if self.parts["postgres"]:
            pg_bindir()
        if self.parts["redis"]:
            find_binary("redis-server", "redis-server")

    def start_postgres(self) -> PrivatePostgres:
        pg = self._new_postgres()
        if not pg.running():
            pg.start()
        return pg

    def prepare_database(self) -> str:
        """PostgreSQL started, `python -m app migrate` and `seed` run once (and the backup dumped): its URL."""
        pg = self.start_postgres()
        if not self._prepared:
            for argv in (["migrate"], self.seed.argv()):
                out = run_app(pg.url, *argv)
                if self.echo:
                    print(out, end="", flush=True)
            if self.backup_dir is not None:
                # The API's own backup, as a deployment makes it: the dump and the row counts of its snapshot,
                # which the restore check compares with (a bare pg_dump has none: it would be compared with
                # the live database, which an event's traffic moves away from it within minutes).
                run_app(pg.url, "backup", "--dir", str(self.backup_dir), env={"PG_DUMP": pg.bin("pg_dump")})
            self._prepared = True
        return pg.url

    def start_redis(self) -> PrivateRedis:
        redis = self._new_redis()
        redis.start()  # a no-op when it runs
        return redis

    def start_api(self) -> ApiServer:
        """The API on the prepared database and Redis (started first when they are not yet)."""
        self.prepare_database()
        self.start_redis()
        api = self._new_api()
        if not api.running():
            api.start()
        return api

    def stop(self) -> None:
        """Stop every part started, the API first, and remove their temporary directories."""
        try:
            self._cleanup.close()
        finally:
            self._cleanup = contextlib.ExitStack()
            self._postgres = self._redis = self._api = None
            self._prepared = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what callers read --------------------------------------------------------------------------
    def pids(self) -> dict[str, int]:
        """The running parts' PIDs by name (postgres, redis, api)."""
        parts = {"postgres": self._postgres, "redis": self._redis, "api": self._api}
        return {name: pid for name, part in parts.items() if part is not None and (pid := part.pid) is not None}

    def env(self) -> dict[str, str]:
        """The environment monitor.yml reads to watch this stack (its started parts)."""
        env: dict[str, str] = {}
        if self._postgres is not None:
            env["DATABASE_URL"] = self._postgres.url
        if self._redis is not None:
            env["REDIS_URL"] = self._redis.url
        if self._api is not None:
            env["CONVERGE_API_URL"] = self._api.url
        if self._prepared:
            env["SYNTHETIC_PASSWORD"] = self.seed.synthetic_password
        if self.backup_dir is not None:
            env["BACKUP_DIR"] = str(self.backup_dir)
        return env


def _started(part: T | None, name: str) -> T:
    if part is None:
        raise RuntimeError(f"{name} is not started in this stack")
    return part
