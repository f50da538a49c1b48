"""A JSON-lines file of every notification: what the console shows, kept for tools and tests."""

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

    async def send(self, message: Outgoing) -> None:
        record = {**message.notification.to_dict(), "text": message.text}
        line = json.dumps(record, default=str) + "\n"
        # One write per line, flushed and fsynced: a crash never leaves half a notification.
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
