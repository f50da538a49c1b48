"""A private redis-server with a maxmemory limit, on a free port."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from devstack.process import find_binary, free_port, port_open, stop_process, wait_until


class PrivateRedis:
    def __init__(self, port: int | None = None, maxmemory: str = "64mb",
                 policy: str = "allkeys-lru", base_dir: str | None = None) -> None:
        self.binary = find_binary("redis-server", "redis-server")
        self.port = port or free_port()
        self.maxmemory = maxmemory
        self.policy = policy
        self._own_dir = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="converge-redis-"))
        self.log_file = self.base_dir / "redis.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    def running(self) -> bool:
        return self.pid is not None

    def start(self) -> None:
        if self.running():
            return
        self.base_dir.mkdir(parents=True, exist_ok=True)
        # Not daemonized, so we own the PID; nothing persisted, so a restart starts empty.
        self._proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.base_dir), "--logfile", str(self.log_file),
             "--maxmemory", self.maxmemory, "--maxmemory-policy", self.policy],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: port_open(self.port) or self._proc.poll() is not None, 10,
                   f"redis-server on port {self.port}")
        if self._proc.poll() is not None:
            log = self.log_file.read_text() if self.log_file.exists() else ""
            raise RuntimeError(f"redis-server exited with {self._proc.returncode}: {log[-2000:]}")

    def stop(self) -> None:
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None
            wait_until(lambda: not port_open(self.port), 10, "redis port to close")

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> PrivateRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
