"""The monitor's notifications JSON-lines file (`alerting.notifications_file`), read as it grows.

Every notification the monitor delivers is appended there whatever the channels, so it is the one place
that shows what the on-call received, and when.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Seen:
    kind: str  # firing, resolved, reminder, escalation
    rules: tuple[str, ...]
    tier: str
    channels: tuple[str, ...]
    created_at: float  # the monitor's dispatch time
    seen_at: float  # when the line was in the file

    @classmethod
    def from_record(cls, record: dict[str, Any], seen_at: float) -> Seen:
        rules = tuple(str(a.get("rule", "")) for a in record.get("alerts", ()))
        return cls(str(record.get("kind", "")), rules, str(record.get("tier", "")),
                   tuple(str(c) for c in record.get("channels", ())), float(record.get("created_at", 0.0)), seen_at)


class NotificationLog:
    """Reads the complete lines appended since it was created (older notifications are not this run's)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0
        self.seen: list[Seen] = []

    def poll(self) -> list[Seen]:
        """New notifications since the last poll (also kept in `seen`)."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line being written is read next time
        self.offset += len(complete)
        now = time.time()
        new = []
        for line in complete.splitlines():
            try:
                new.append(Seen.from_record(json.loads(line), now))
            except (ValueError, TypeError, AttributeError):
                continue
        self.seen += new
        return new

    def mark(self) -> int:
        """Read what is there; returns the index in `seen` from which later notifications start."""
        self.poll()
        return len(self.seen)

    def first(self, kind: str, rules: tuple[str, ...], start: int) -> tuple[str, Seen] | None:
        """The first notification of `kind` for one of `rules` from index `start`, with the rule it names."""
        for note in self.seen[start:]:
            if note.kind != kind:
                continue
            for rule in note.rules:
                if rule in rules:
                    return rule, note
        return None
