"""Killing a monitor child process the hard way, as a crash would."""

from __future__ import annotations

import os
import signal

from devstack.monitor import MonitorServer


def sigkill(server: MonitorServer) -> None:
    """SIGKILL, wait for it to be gone, then forget it (nothing to stop any more)."""
    assert server.pid is not None
    os.kill(server.pid, signal.SIGKILL)
    server._proc.wait(timeout=10)  # type: ignore[union-attr]
    server._proc = None
    server.stop()
