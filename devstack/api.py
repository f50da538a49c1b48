"""The Converge API under uvicorn on a free port, as a child process stopped by its PID."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from devstack.process import ChildServer, free_port


class ApiServer(ChildServer):
    name = "the API"

    def __init__(self, database_url: str, redis_url: str, port: int | None = None, workers: int = 1,
                 env: dict[str, str] | None = None, log_dir: str | None = None) -> None:
        port = port or free_port()
        super().__init__(port, Path(log_dir or tempfile.mkdtemp(prefix="converge-api-")) / f"api-{port}.log")
        self.workers = workers
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "JWT_SECRET": os.environ.get("JWT_SECRET", "devstack-only-secret-" + "x" * 16),
            "ENVIRONMENT": "test",
            **(env or {}),
        }

    def start(self, timeout: float = 30) -> None:
        self._spawn([sys.executable, "-m", "app", "serve", "--port", str(self.port), "--workers", str(self.workers)],
                    env=self.env, ready=self.http_ok("/v1/ping"), timeout=timeout)
