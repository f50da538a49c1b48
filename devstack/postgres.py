"""A private PostgreSQL cluster with pg_stat_statements, on a free port."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from devstack.process import MissingBinaryError, free_port, pid_alive, port_open, wait_until


def _pg_bindir() -> str:
    # Debian keeps the server binaries out of PATH; prefer the newest installed major.
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
    for d in reversed(dirs):
        if os.access(os.path.join(d, "initdb"), os.X_OK):
            return d
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(os.path.realpath(initdb))
    raise MissingBinaryError("PostgreSQL server binaries not found: install them with `apt-get install postgresql`")


class PrivatePostgres:
    """initdb + pg_ctl in a temporary directory; runs as `postgres` when we are root (initdb refuses root)."""

    def __init__(self, port: int | None = None, base_dir: str | None = None, dbname: str = "converge") -> None:
        self.bindir = _pg_bindir()
        self.port = port or free_port()
        self.dbname = dbname
        self._own_dir = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="converge-pg-"))
        self.data_dir = self.base_dir / "data"
        self.socket_dir = self.base_dir / "sock"
        self.log_file = self.base_dir / "postgres.log"
        self._as_user = "postgres" if os.geteuid() == 0 else None
        self.user = self._as_user or pwd.getpwuid(os.geteuid()).pw_name

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.dbname}"

    @property
    def admin_url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self._as_user:
            cmd = ["runuser", "-u", self._as_user, "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True)

    def bin(self, name: str) -> str:
        return os.path.join(self.bindir, name)

    def init(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if self._as_user:
            pw = pwd.getpwnam(self._as_user)
            os.chmod(self.base_dir, 0o755)
            for p in (self.base_dir, self.socket_dir):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        if not (self.data_dir / "PG_VERSION").exists():
            self._run(self.bin("initdb"), "-D", str(self.data_dir), "-A", "trust", "-U", self.user,
                      "-E", "UTF8", "--no-sync")
            with open(self.data_dir / "postgresql.conf", "a") as conf:
                conf.write(
                    "\n# converge devstack\n"
                    "listen_addresses = '127.0.0.1'\n"
                    f"port = {self.port}\n"
                    f"unix_socket_directories = '{self.socket_dir}'\n"
                    "shared_preload_libraries = 'pg_stat_statements'\n"
                    "pg_stat_statements.track = all\n"
                    "max_connections = 100\n"
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                )

    def start(self) -> None:
        if not (self.data_dir / "PG_VERSION").exists():
            self.init()
        res = self._run(self.bin("pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
                        "-w", "-t", "30", "start", check=False)
        if res.returncode != 0:
            log = self.log_file.read_text() if self.log_file.exists() else ""
            raise RuntimeError(f"PostgreSQL failed to start on port {self.port}: {res.stderr}\n{log[-2000:]}")
        wait_until(lambda: port_open(self.port), 15, f"PostgreSQL on port {self.port}")
        self._ensure_database()

    def _ensure_database(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.dbname,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.dbname}"')
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    def dump(self, path: Path) -> None:
        """pg_dump of the database in custom format, written to `path`."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as out:
            subprocess.run([self.bin("pg_dump"), "-Fc", self.url], check=True, stdout=out)

    @property
    def pid(self) -> int | None:
        pidfile = self.data_dir / "postmaster.pid"
        try:
            return int(pidfile.read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def running(self) -> bool:
        pid = self.pid
        return pid is not None and pid_alive(pid)

    def stop(self, mode: str = "fast") -> None:
        pid = self.pid
        if pid is None or not pid_alive(pid):
            return
        self._run(self.bin("pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "-t", "30", "stop",
                  check=False)
        if pid_alive(pid):  # pg_ctl gave up: stop it by PID
            os.kill(pid, 9)
            wait_until(lambda: not pid_alive(pid), 10, "PostgreSQL to exit")
        wait_until(lambda: not port_open(self.port), 10, "PostgreSQL port to close")

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop(mode="immediate")
        if self._own_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def wait_for_postgres(url: str, timeout: float = 15) -> None:
    import psycopg

    def ok() -> bool:
        try:
            with psycopg.connect(url, connect_timeout=1):
                return True
        except psycopg.OperationalError:
            return False

    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            raise TimeoutError(f"PostgreSQL at {url} not reachable")
        time.sleep(0.1)
