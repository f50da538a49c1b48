"""Running a check command: no shell, stdin closed, its whole process group killed at the timeout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

STDERR_TAIL_LINES = 10
_LINE_MAX = 300
# Kill the command a little before target.timeout so this probe, not the scheduler's hard timeout,
# reports what happened.
TIMEOUT_SHARE = 0.9


@dataclass(frozen=True, slots=True)
class CommandResult:
    returncode: int | None  # None when the command was killed at the timeout
    stdout: str
    stderr: str

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    def stderr_tail(self, lines: int = STDERR_TAIL_LINES) -> list[str]:
        kept = [line.strip()[:_LINE_MAX] for line in self.stderr.splitlines() if line.strip()]
        return kept[-lines:]


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    # The command runs in its own session, so its children (a shell's `sleep`, pip's workers) die too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


async def run_command(argv: Sequence[str], timeout: float, env: Mapping[str, str] | None = None) -> CommandResult:
    """Run argv (no shell) with stdin closed; kill its whole process group at `timeout` or on cancel.

    `env` replaces the environment (secrets such as PGPASSWORD go there, never into argv).
    Raises OSError when the executable cannot be started.
    """
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, start_new_session=True, env=None if env is None else dict(env),
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        _kill_group(proc)
        await proc.wait()
        return CommandResult(None, "", "")
    except BaseException:  # cancelled from outside: never leave the command running
        _kill_group(proc)
        raise
    return CommandResult(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


def describe_exit(result: CommandResult, what: str, timeout: float) -> str:
    if result.returncode is None:
        return f"{what} timed out after {timeout:g}s and was killed"
    if result.returncode < 0:
        return f"{what} was killed by signal {-result.returncode}"
    return f"{what} exited with status {result.returncode}"
