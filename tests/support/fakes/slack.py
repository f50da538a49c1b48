"""A fake Slack on 127.0.0.1: incoming webhooks (POST /services/...) and the Web API's chat.postMessage.

Records every request; `messages()` gives the posted JSON bodies. Failures: `fail_next(n, status, headers)`
for HTTP errors (500, 429 with Retry-After), `fail_api(error)` for a Web API {"ok": false} answer.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.fakes.recorder import Failure, RecordingServer

OK_BODY = json.dumps({"ok": True, "channel": "C0TEST", "ts": "1700000000.000100"}).encode()


class FakeSlack(RecordingServer):
    def __init__(self) -> None:
        super().__init__(ok_status=200, ok_body=OK_BODY, content_type="application/json; charset=utf-8")

    def webhook_url(self, token: str = "xoxwebhooksecret0123456789") -> str:
        return f"{self.url}/services/T0TEST/B0TEST/{token}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def fail_api(self, error: str, count: int = 1, headers: dict[str, str] | None = None) -> None:
        """The Web API's way to fail: HTTP 200 with {"ok": false, "error": ...}."""
        body = json.dumps({"ok": False, "error": error}).encode()
        for _ in range(count):
            self.failures.append(Failure(200, headers or {}, body=body))

    def messages(self) -> list[dict[str, Any]]:
        """The JSON bodies of the requests that succeeded, in arrival order."""
        return [json.loads(r.body) for r in list(self.requests) if r.status == 200 and r.body
                and not r.body.startswith(b'{"ok": false')]
