"""A JSON-lines file of every notification: what the console shows, kept for tools and tests.

Idempotent: a notification id already in the file is not written again, so a monitor killed between
writing a line and marking it delivered (or a replica taking over) never duplicates a line. The file
is rescanned from where this process last read it, so lines written by another replica count too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from alerts.notifiers.outgoing import Outgoing


class JsonLinesNotifier:
    name = "jsonl"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._written: set[str] = set()
        self._offset = 0

    def _sync(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a torn last line (crash mid-write) is not counted
        self._offset += len(complete)
        for line in complete.splitlines():
            try:
                self._written.add(json.loads(line)["id"])
            except (ValueError, KeyError, TypeError):
                continue

    async def send(self, message: Outgoing) -> None:
        self._sync()
        if message.notification.id in self._written:
            return
        record = {**message.notification.to_dict(), "text": message.text}
        line = (json.dumps(record, default=str) + "\n").encode()
        # One write per line, flushed and fsynced: a crash never leaves half a notification behind it.
        with open(self.path, "ab") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self._written.add(message.notification.id)
