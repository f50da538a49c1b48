"""What every channel model shares: ChannelBase (the per-request timeout, frozen, secrets hidden in errors)
and the URL checks. Each notifier module defines its own channel model on it (SlackChannel in slack.py, ...);
config.py gathers them into the `channels:` section."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import ConfigDict, SecretStr

from monitor.core.sections import Section
from monitor.core.targets import Duration


def http_url(value: str, what: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an http(s) URL with a host (value hidden)")


def secret_url(value: SecretStr) -> SecretStr:
    http_url(value.get_secret_value(), "must be an http(s) URL")
    return value


class ChannelBase(Section):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True, populate_by_name=True)

    timeout: Duration = 10.0  # one attempt; the outbox retries
