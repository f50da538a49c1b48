"""Backup freshness: the newest backup file in a directory, or the verdict of a check command.

Directory mode: the newest regular file matching `pattern` (a glob relative to `directory`, `**`
allowed) gives backup_age_seconds (now - mtime), backup_size_bytes and backup_success 1; none found,
the directory unreadable, or the newest file empty (0 bytes: a dump that wrote nothing) gives
backup_success 0. Command mode: `command` (an argv list, no shell)
exits 0 -> backup_success 1, anything else -> 0 with the exit status and the end of stderr in the
details. The command may print one JSON object on stdout with `age_seconds`, `size_bytes` and/or
`timestamp` (epoch seconds of the newest backup); otherwise age and size are unknown. A reported
size_bytes of 0 is a failed backup, whatever the exit status.
Freshness thresholds (the spec's RPO) are the alert rules' business, not the probe's.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.core.observation import Observation, unknown
from monitor.core.targets import BackupTarget
from probes.base import ProbeContext
from probes.proc import TIMEOUT_SHARE, describe_exit, run_command

KIND = "backup"


@dataclass(frozen=True, slots=True)
class _Verdict:
    success: bool
    error: str | None = None
    age: float | None = None
    size: float | None = None
    age_error: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


def newest_file(directory: str, pattern: str, now: float) -> _Verdict:
    root = Path(directory)
    if not root.exists():
        return _Verdict(False, f"backup directory {directory} does not exist")
    if not root.is_dir():
        return _Verdict(False, f"backup directory {directory} is not a directory")
    if not os.access(root, os.R_OK | os.X_OK):
        return _Verdict(False, f"backup directory {directory} is not readable")
    newest: tuple[float, int, Path] | None = None
    try:
        candidates = list(root.glob(pattern))
    except (ValueError, NotImplementedError) as exc:
        return _Verdict(False, f"invalid backup pattern {pattern!r}: {exc}")
    for path in candidates:
        try:
            st = path.stat()
        except OSError:  # removed or rotated while we looked
            continue
        if path.is_file() and (newest is None or st.st_mtime > newest[0]):
            newest = (st.st_mtime, st.st_size, path)
    if newest is None:
        return _Verdict(False, "no backup found", details={"directory": directory, "pattern": pattern})
    mtime, size, path = newest
    details = {"file": str(path.relative_to(root)), "mtime": mtime}
    if size == 0:
        return _Verdict(False, f"the newest backup {details['file']} is empty (0 bytes)", age=max(0.0, now - mtime),
                        size=0.0, details=details)
    return _Verdict(True, age=max(0.0, now - mtime), size=float(size), details=details)


def _reported_numbers(stdout: str, now: float) -> tuple[float | None, float | None]:
    """(age, size) from a JSON object printed by the command: the whole stdout or its last line."""
    text = stdout.strip()
    doc: object = None
    for candidate in (text, text.splitlines()[-1] if text else ""):
        try:
            doc = json.loads(candidate)
            break
        except ValueError:
            continue
    if not isinstance(doc, dict):
        return None, None

    def number(key: str) -> float | None:
        value = doc.get(key)
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    age, size, stamp = number("age_seconds"), number("size_bytes"), number("timestamp")
    if age is None and stamp is not None:
        age = max(0.0, now - stamp)
    return age, size


async def _command_verdict(target: BackupTarget, argv: list[str], now: float) -> _Verdict:
    if not argv:
        return _Verdict(False, "backup command is empty: set command to an argv list")
    what = f"backup command {os.path.basename(argv[0])}"  # not the arguments: they may carry secrets
    timeout = target.timeout * TIMEOUT_SHARE
    try:
        result = await run_command(argv, timeout)
    except OSError as exc:
        return _Verdict(False, f"cannot run {what}: {exc.strerror or type(exc).__name__}")
    if result.returncode != 0:
        details: dict[str, Any] = {"exit_code": result.returncode, "stderr_tail": result.stderr_tail()}
        return _Verdict(False, describe_exit(result, what, timeout), details=details)
    age, size = _reported_numbers(result.stdout, now)
    if size == 0:
        return _Verdict(False, f"{what} reports an empty backup (size_bytes 0)", age=age, size=size,
                        details={"exit_code": 0})
    return _Verdict(True, age=age, size=size, age_error=f"{what} did not report age_seconds/size_bytes",
                    details={"exit_code": 0})


async def run(target: BackupTarget, ctx: ProbeContext) -> list[Observation]:
    now = ctx.now()
    if target.command is not None:
        verdict = await _command_verdict(target, list(target.command), now)
    else:
        assert target.directory is not None  # BackupTarget guarantees exactly one source
        verdict = await asyncio.to_thread(newest_file, target.directory, target.pattern, now)
    labels = {"target": target.name}
    why_unknown = verdict.error or verdict.age_error or "not reported"
    details = dict(verdict.details)
    success = 1.0 if verdict.success else 0.0
    return [
        Observation("backup_success", success, now, labels, error=verdict.error, details=details),
        Observation("backup_age_seconds", verdict.age, now, labels)
        if verdict.age is not None else unknown("backup_age_seconds", now, why_unknown, labels),
        Observation("backup_size_bytes", verdict.size, now, labels)
        if verdict.size is not None else unknown("backup_size_bytes", now, why_unknown, labels),
        Observation("probe_success", success, now, {"target": target.name, "kind": KIND}, error=verdict.error),
    ]
