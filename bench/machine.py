"""What every benchmark records about the machine it ran on."""

from __future__ import annotations

import contextlib
import importlib.metadata
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


def package_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return ""


def tool_version(cmd: list[str]) -> str:
    """The first line a tool prints about its version (stdout or stderr), or 'unknown'."""
    with contextlib.suppress(OSError, subprocess.TimeoutExpired, IndexError):
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=10)
        return (done.stdout or done.stderr).strip().splitlines()[0]
    return "unknown"


def loadavg_text(before: Sequence[float], after: Sequence[float]) -> str:
    """'0.12 0.27 0.27 / 0.82 0.78 0.55': the load averages around a run, as the results state them."""
    return f"{' '.join(f'{x:.2f}' for x in before)} / {' '.join(f'{x:.2f}' for x in after)}"


def packages_text(packages: Mapping[str, str]) -> str:
    return "Packages: " + ", ".join(f"{k} {v}" for k, v in packages.items()) + "."
