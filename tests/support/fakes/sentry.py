"""A fake Sentry ingest: records envelopes posted to /api/<project>/envelope/ and parses the events."""

from __future__ import annotations

import json
from typing import Any

from tests.support.fakes.recorder import RecordingServer


class FakeSentry(RecordingServer):
    def dsn(self, project: int = 1) -> str:
        return f"http://publickey@127.0.0.1:{self.port}/{project}"

    def events(self) -> list[dict[str, Any]]:
        """Every error event received, parsed from the envelope format (header line, then item pairs)."""
        found = []
        for req in list(self.requests):
            if "/envelope/" not in req.path:
                continue
            lines = req.body.split(b"\n")
            i = 1
            while i + 1 < len(lines):
                item_header = json.loads(lines[i] or b"{}")
                payload = lines[i + 1]
                if item_header.get("type") == "event":
                    found.append(json.loads(payload))
                i += 2
        return found
