"""`converge-monitor run` as a child process on a free port, stopped by its PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from devstack.process import port_open, stop_process, wait_until


class MonitorServer:
    def __init__(self, config_path: str | os.PathLike[str], port: int, env: dict[str, str] | None = None,
                 log_dir: str | None = None) -> None:
        self.config_path = str(config_path)
        self.port = port
        self.env = {**os.environ, **(env or {})}
        self.log_path = Path(log_dir or tempfile.mkdtemp(prefix="converge-monitor-")) / f"monitor-{port}.log"
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
        self._proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "run", "--config", self.config_path],
                                      env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        wait_until(lambda: self._proc is None or self._proc.poll() is not None or port_open(self.port), timeout,
                   f"the monitor on port {self.port}")
        if self._proc.poll() is not None:
            raise RuntimeError(f"the monitor exited with {self._proc.returncode}:\n{self.logs()[-3000:]}")

    def signals(self) -> list[dict[str, object]]:
        return list(httpx.get(f"{self.url}/api/signals", timeout=5).json()["signals"])

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def terminate(self, timeout: float = 20) -> int:
        """SIGTERM and wait: returns the exit code."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGTERM)
        code = self._proc.wait(timeout=timeout)
        self._proc = None
        self._close_log()
        return code

    def stop(self) -> None:
        if self._proc is not None:
            stop_process(self._proc, timeout=20)
            self._proc = None
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> MonitorServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
