"""Dead-man's-switch ping: a GET to an external URL after each healthy cycle, so silence pages someone.

The URL usually carries a token (healthchecks.io-style `/ping/<uuid>`), so it is never logged: our
own messages use a masked form (scheme://host[:port]/***), and while a ping is in flight httpx's
"HTTP Request: GET <url>" log line is rewritten to the masked form too.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

import httpx

from monitor.core.redact import mask_url

log = logging.getLogger(__name__)

_MASKED_IN_FLIGHT: ContextVar[str | None] = ContextVar("deadman_masked_url", default=None)


class _MaskPingUrl(logging.Filter):
    """Replace the request URL in httpx's own log records emitted during a ping."""

    def filter(self, record: logging.LogRecord) -> bool:
        masked = _MASKED_IN_FLIGHT.get()
        if masked is not None and isinstance(record.args, tuple):
            record.args = tuple(masked if isinstance(a, httpx.URL) else a for a in record.args)
        return True


def _install_filter() -> None:
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, _MaskPingUrl) for f in httpx_logger.filters):
        httpx_logger.addFilter(_MaskPingUrl())


_install_filter()


async def ping(url: str, client: httpx.AsyncClient, timeout: float) -> bool:
    """GET `url`; True when it answered 2xx. Never raises (except cancellation), never logs the URL."""
    masked = mask_url(url)
    token = _MASKED_IN_FLIGHT.set(masked)
    try:
        response = await client.get(url, timeout=timeout, follow_redirects=True)
    except Exception as exc:  # the reason's text may quote the URL: log only its type
        log.warning("dead-man's-switch ping to %s failed: %s", masked, type(exc).__name__)
        return False
    finally:
        _MASKED_IN_FLIGHT.reset(token)
    if response.is_success:
        log.debug("dead-man's-switch ping to %s accepted (%d)", masked, response.status_code)
        return True
    log.warning("dead-man's-switch ping to %s refused with HTTP %d", masked, response.status_code)
    return False
