"""The console channel: every notification printed, the embedded default with no credentials configured."""

from __future__ import annotations

import sys
from typing import TextIO

from alerts.notifiers.outgoing import Outgoing


class ConsoleNotifier:
    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    async def send(self, message: Outgoing) -> None:
        channels = ", ".join(message.notification.channels)
        print(f"--- notification {message.notification.id} (for {channels})\n{message.text}",
              file=self.stream, flush=True)
