"""How a notifier says a delivery failed: one exception type the outbox reads to decide what to do next.

Notifiers never retry: they raise DeliveryError and the outbox retries (retryable, honouring
retry_after), gives up, or falls back to another channel. The reason is shown in logs, the outbox row
and `test-notify`, so it is scrubbed of every secret the notifier holds (webhook URLs, tokens,
passwords, phone numbers) before the exception is built.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from email.utils import parsedate_to_datetime
from urllib.parse import quote, urlsplit

from pydantic import SecretStr

REDACTED = "[redacted]"
MAX_REASON = 300
# Response bodies are read this far before scrubbing; cut to MAX_REASON only after it, so a secret
# split by the cut cannot escape the scrubber half-written.
RAW_BODY = 4000


class DeliveryError(Exception):
    """A notification that did not reach `channel`. `retryable`: trying again later may work (5xx, 429,
    connection refused, timeout); `retry_after`: seconds the receiver asked us to wait (429)."""

    def __init__(self, channel: str, reason: str, *, retryable: bool, retry_after: float | None = None,
                 status: int | None = None) -> None:
        reason = reason[:MAX_REASON]
        super().__init__(f"{channel}: {reason}")
        self.channel = channel
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status

    def __repr__(self) -> str:
        return (f"DeliveryError(channel={self.channel!r}, reason={self.reason!r}, retryable={self.retryable}, "
                f"retry_after={self.retry_after!r}, status={self.status!r})")


class Scrubber:
    """Replaces every known secret (and simple transformations of it) in a text with [redacted]."""

    def __init__(self, secrets: Iterable[SecretStr | str | None] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(*secrets)

    def add(self, *secrets: SecretStr | str | None) -> None:
        for secret in secrets:
            raw = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
            if not raw or len(raw) < 4:
                continue
            self._secrets.update({raw, quote(raw, safe=""), quote(raw)})
            parts = urlsplit(raw)
            if parts.scheme in ("http", "https"):
                # A URL's path and query are its secret part (hooks.slack.com/services/T/B/token):
                # an error message may quote only the path.
                for piece in (parts.path, parts.query, parts.password, parts.username):
                    if piece and len(piece) >= 8:
                        self._secrets.add(piece)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):  # longest first: a URL before its path
            text = text.replace(secret, REDACTED)
        return text


class _RedactingFilter(logging.Filter):
    """Scrubs the notifiers' secrets from third-party log records: httpx logs every request URL at INFO,
    and a webhook URL is a credential."""

    def __init__(self) -> None:
        super().__init__()
        self.scrub = Scrubber()

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        clean = self.scrub(text)
        if clean != text:
            record.msg, record.args = clean, ()
        return True


_LOG_FILTER = _RedactingFilter()
REDACTED_LOGGERS = ("httpx", "slack_sdk", "aiohttp.client", "aiohttp.internal")


def redact_logs(*secrets: SecretStr | str | None) -> None:
    """Keep these secrets out of the records of the HTTP libraries the notifiers use."""
    _LOG_FILTER.scrub.add(*secrets)
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if _LOG_FILTER not in logger.filters:
            logger.addFilter(_LOG_FILTER)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """The Retry-After header (RFC 9110 10.2.3): delay seconds or an HTTP date; None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def http_status_error(channel: str, status: int, detail: str, retry_after: str | None,
                      scrub: Scrubber) -> DeliveryError:
    """The usual HTTP classification: 429 and 5xx (and 408) are worth retrying, other 4xx are our mistake."""
    retryable = status in (408, 425, 429) or status >= 500
    reason = f"HTTP {status}" + (f": {detail.strip()}" if detail and detail.strip() else "")
    return DeliveryError(channel, scrub(reason), retryable=retryable, status=status,
                         retry_after=retry_after_seconds(retry_after) if retryable else None)
