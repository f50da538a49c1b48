"""Sentry's `issue` webhook as Sentry sends it (docs.sentry.io, integration platform, webhooks/issues), signed
with the integration's client secret: what the Sentry drill posts to the monitor, and what the board's tests use."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any


def issue_payload(action: str, issue_id: str, *, substatus: str = "new", title: str = "", count: str = "1",
                  permalink: str | None = None, project: str = "converge-api") -> dict[str, Any]:
    return {
        "action": action,
        "installation": {"uuid": "7a485448-a9e2-4c85-8a3c-4f44175783c9"},
        "data": {"issue": {
            "id": issue_id, "shortId": f"CONVERGE-API-{issue_id}", "title": title,
            "culprit": "POST /v1/connections/scan",
            "level": "error", "status": "resolved" if action == "resolved" else "unresolved", "substatus": substatus,
            "firstSeen": "2026-01-28T17:02:11.123000Z", "lastSeen": "2026-01-28T17:05:00Z", "count": count,
            "userCount": 1, "permalink": permalink if permalink is not None else
            f"https://converge.sentry.io/issues/{issue_id}/",
            "project": {"id": "2", "name": project, "slug": project, "platform": "python"},
        }},
        "actor": {"type": "application", "id": "sentry", "name": "Sentry"},
    }


def signed(payload: dict[str, Any], secret: str, resource: str = "issue") -> tuple[bytes, dict[str, str]]:
    """(raw body, headers): Sentry-Hook-Signature is the hex HMAC-SHA256 of the raw body."""
    raw = json.dumps(payload).encode()
    return raw, {"Content-Type": "application/json", "Sentry-Hook-Resource": resource,
                 "Sentry-Hook-Timestamp": str(int(time.time())),
                 "Sentry-Hook-Signature": hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()}
