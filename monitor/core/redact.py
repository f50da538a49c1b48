"""One redaction rule for every place a URL is shown: logs, details, labels, messages, the board.

redact_text: free text (an error reason, a log line) with every URL in it masked as mask_url does.
safe_url: enough to recognise the URL, nothing to steal (user-info password and every query value
masked; a string that is not a URL, like a key=value DSN, is masked whole). mask_url: for URLs that
are secrets themselves (a dead man's switch ping URL carries its token in the path).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

import httpx


def safe_url(url: object) -> str:
    """The URL without password or query values: enough to recognise it, nothing to steal."""
    try:
        parts = urlsplit(str(url))
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "***"
    if not parts.scheme or not host:
        return "***"  # e.g. a key=value PostgreSQL DSN: may hold a password anywhere
    user = f"{parts.username}:***@" if parts.password is not None else (f"{parts.username}@" if parts.username else "")
    query = "&".join(f"{kv.split('=', 1)[0]}=***" for kv in parts.query.split("&") if kv) if parts.query else ""
    if ":" in host:
        host = f"[{host}]"
    return urlunsplit((parts.scheme, f"{user}{host}{port}", parts.path, query, ""))


def mask_url(url: str) -> str:
    """scheme://host[:port]/*** — no user info, path or query, which is where tokens live."""
    try:
        parsed = httpx.URL(url)
    except Exception:
        return "<invalid url>"
    if not parsed.scheme or not parsed.host:
        return "<invalid url>"
    port = f":{parsed.port}" if parsed.port is not None else ""
    return f"{parsed.scheme}://{parsed.host}{port}/***"


_URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")


def redact_text(text: str) -> str:
    """Every URL in a free text masked (mask_url): an error message may quote a webhook URL or a DSN."""
    return _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), text)
