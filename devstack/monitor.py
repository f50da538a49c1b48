"""`converge-monitor run` as a child process on a free port, stopped by its PID."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from pathlib import Path

import httpx

from devstack.process import ChildServer


class MonitorServer(ChildServer):
    name = "the monitor"

    def __init__(self, config_path: str | os.PathLike[str], port: int, env: dict[str, str] | None = None,
                 log_dir: str | None = None) -> None:
        super().__init__(port, Path(log_dir or tempfile.mkdtemp(prefix="converge-monitor-")) / f"monitor-{port}.log")
        self.config_path = str(config_path)
        self.env = {**os.environ, **(env or {})}

    def start(self, timeout: float = 30) -> None:
        self._spawn([sys.executable, "-m", "monitor.cli", "run", "--config", self.config_path], env=self.env,
                    timeout=timeout)

    def signals(self) -> list[dict[str, object]]:
        return list(httpx.get(f"{self.url}/api/signals", timeout=5).json()["signals"])

    def terminate(self, timeout: float = 20) -> int:
        """SIGTERM and wait: returns the exit code."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGTERM)
        code = self._proc.wait(timeout=timeout)
        self._proc = None
        self.stop()
        return code
