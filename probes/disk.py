"""Disk usage of the filesystems holding the configured paths.

disk_used_ratio uses df's definition: used / (used + available to unprivileged users), where
used = total - free blocks. Blocks reserved for root count as neither, so a filesystem that df shows
at 100% reads 1.0 here even though root could still write. A path that cannot be read gives an
unknown series naming the path; probe_success is 1 only when every path could be read.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass

from monitor.core.observation import Observation, unknown
from monitor.core.targets import DiskTarget
from probes.base import ProbeContext

KIND = "disk"


@dataclass(frozen=True, slots=True)
class Usage:
    path: str
    ratio: float | None
    error: str | None = None
    total_bytes: int = 0
    used_bytes: int = 0
    free_bytes: int = 0


def usage(path: str) -> Usage:
    try:
        du = shutil.disk_usage(path)  # free is f_bavail, as df's "Avail" column
    except FileNotFoundError:
        return Usage(path, None, f"path {path} does not exist")
    except OSError as exc:
        return Usage(path, None, f"cannot read disk usage of {path}: {exc.strerror or type(exc).__name__}")
    if du.used + du.free <= 0:
        return Usage(path, None, f"filesystem of {path} reports no size")
    return Usage(path, du.used / (du.used + du.free), None, du.total, du.used, du.free)


async def run(target: DiskTarget, ctx: ProbeContext) -> list[Observation]:
    now = ctx.now()
    # statvfs can block on a hung network mount: keep it off the event loop.
    results = await asyncio.to_thread(lambda: [usage(p) for p in target.paths])
    observations: list[Observation] = []
    for u in results:
        labels = {"target": target.name, "path": u.path}
        if u.ratio is None:
            observations.append(unknown("disk_used_ratio", now, u.error or "unknown", labels))
        else:
            details = {"total_bytes": u.total_bytes, "used_bytes": u.used_bytes, "free_bytes": u.free_bytes}
            observations.append(Observation("disk_used_ratio", u.ratio, now, labels, details=details))
    errors = [u.error for u in results if u.ratio is None]
    observations.append(Observation("probe_success", 0.0 if errors else 1.0, now,
                                    {"target": target.name, "kind": KIND}, error="; ".join(errors) or None))
    return observations
