"""The Converge API under uvicorn on a free port, as a child process stopped by its PID."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from devstack.process import free_port, port_open, stop_process, wait_until


class ApiServer:
    def __init__(self, database_url: str, redis_url: str, port: int | None = None, workers: int = 1,
                 env: dict[str, str] | None = None, log_dir: str | None = None) -> None:
        self.port = port or free_port()
        self.workers = workers
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "JWT_SECRET": os.environ.get("JWT_SECRET", "devstack-only-secret-" + "x" * 16),
            "ENVIRONMENT": "test",
            **(env or {}),
        }
        self.log_path = Path(log_dir or tempfile.mkdtemp(prefix="converge-api-")) / f"api-{self.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    def start(self, timeout: float = 30) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(self.port), "--workers", str(self.workers)],
            env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
        )

        def up() -> bool:
            if self._proc is None or self._proc.poll() is not None:
                return True
            if not port_open(self.port):
                return False
            try:
                return httpx.get(f"{self.url}/v1/ping", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout, f"the API on port {self.port}")
        if self._proc.poll() is not None:
            raise RuntimeError(f"the API exited with {self._proc.returncode}:\n{self.logs()[-3000:]}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self._proc is not None:
            stop_process(self._proc, timeout=15)
            self._proc = None
            wait_until(lambda: not port_open(self.port), 10, "the API port to close")
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> ApiServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
