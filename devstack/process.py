"""Small process helpers shared by the private servers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Self

import httpx


class MissingBinaryError(RuntimeError):
    """A server binary is not installed; the message says which package provides it."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_binary(name: str, package: str, extra_dirs: tuple[str, ...] = ()) -> str:
    for d in extra_dirs:
        candidate = os.path.join(d, name)
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found:
        return found
    raise MissingBinaryError(f"{name} not found: install it with `apt-get install {package}`")


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it does not exit in time; always reaps the child."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


class ChildServer:
    """A server we run as a child process with its output in a log file: started, awaited, stopped by PID."""

    name = "server"

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    def running(self) -> bool:
        return self.pid is not None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _spawn(self, argv: list[str], env: Mapping[str, str] | None = None, cwd: Path | None = None,
               ready: Callable[[], bool] | None = None, timeout: float = 30) -> None:
        """Start argv and wait until `ready()` (default: the port accepts connections) or the child exits."""
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self._proc = subprocess.Popen(argv, env=dict(env) if env is not None else None, cwd=cwd,
                                      stdout=self._log, stderr=subprocess.STDOUT)
        check = ready or (lambda: port_open(self.port))
        proc = self._proc
        wait_until(lambda: proc.poll() is not None or check(), timeout, f"{self.name} on port {self.port}")
        if proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {proc.returncode}:\n{self.logs()[-3000:]}")

    def http_ok(self, path: str) -> Callable[[], bool]:
        def check() -> bool:
            if not port_open(self.port):
                return False
            try:
                return httpx.get(f"{self.url}{path}", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False
        return check

    def stop(self, timeout: float = 15) -> None:
        if self._proc is not None:
            stop_process(self._proc, timeout=timeout)
            self._proc = None
            wait_until(lambda: not port_open(self.port), 10, f"the {self.name} port to close")
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        self.start()  # type: ignore[attr-defined]
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
