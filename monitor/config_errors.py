"""Config problems: one message per problem, naming the field path and, where known, the file line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Loc = tuple[str | int, ...]


def format_loc(loc: Loc) -> str:
    """("targets", "http", 1, "timeout") -> "targets.http[1].timeout"."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass(frozen=True, slots=True)
class Problem:
    path: str  # "" when the problem is about the whole file
    message: str
    line: int | None = None
    column: int | None = None

    def render(self, source: str) -> str:
        where = source
        if self.line is not None:
            where += f":{self.line}" + (f":{self.column}" if self.column is not None else "")
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    """The config could not be loaded; `problems` holds every problem found, in file order."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__(self.render())

    def render(self) -> str:
        lines = [p.render(self.source) for p in self.problems]
        if len(lines) > 1:
            lines.append(f"{self.source}: {len(lines)} problems; the configuration is invalid")
        return "\n".join(lines)
