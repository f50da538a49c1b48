"""A fake Twilio Messages API on 127.0.0.1: records POST /2010-04-01/Accounts/<sid>/Messages.json.

Answers 201 with a message resource like Twilio's; `fail_next(n, 503)` or `fail_error(400, 21211, ...)`
for failures. `messages()` gives the form fields of the accepted requests, with the basic-auth user.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs

from tests.support.fakes.recorder import Failure, RecordingServer

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token-0123456789abcdef"
OK_BODY = json.dumps({"sid": "SM" + "f" * 32, "status": "queued", "num_segments": "1"}).encode()


class FakeTwilio(RecordingServer):
    def __init__(self) -> None:
        super().__init__(ok_status=201, ok_body=OK_BODY, content_type="application/json")

    def fail_error(self, status: int, code: int, message: str, count: int = 1) -> None:
        body = json.dumps({"code": code, "message": message, "status": status,
                           "more_info": f"https://www.twilio.com/docs/errors/{code}"}).encode()
        for _ in range(count):
            self.failures.append(Failure(status, body=body))

    def messages(self) -> list[dict[str, str]]:
        """Accepted messages: To, From, Body (and the basic-auth user as _user, password as _password)."""
        out = []
        for r in list(self.requests):
            if r.status != 201:
                continue
            fields = {k: v[0] for k, v in parse_qs(r.body.decode(), keep_blank_values=True).items()}
            auth = r.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                fields["_user"], fields["_password"] = user, password
            fields["_path"] = r.path
            out.append(fields)
        return out
