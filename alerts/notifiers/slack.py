"""Slack: Block Kit messages through an incoming webhook or chat.postMessage (slack-sdk), from slack.json.j2.

One attempt per send: the SDK's own retry handlers are switched off, and every failure is a
DeliveryError the outbox acts on (429 -> retryable with the Retry-After delay; 5xx and network
errors -> retryable; a bad webhook, a revoked token or an unknown channel -> not retryable).
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any, Literal

import aiohttp
from pydantic import Field, SecretStr, field_validator, model_validator
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from alerts.dispatch import Kind, Notification
from alerts.notifiers.channel import ChannelBase, http_url, secret_url
from alerts.notifiers.errors import (
    RAW_BODY,
    DeliveryError,
    Scrubber,
    http_status_error,
    redact_logs,
    retry_after_seconds,
)
from alerts.notifiers.outgoing import Outgoing
from alerts.oncall import OnCallConfig
from alerts.templates import AckLink, TemplateProblem, Templates, message_context

TEMPLATE = "slack.json.j2"
# slack-sdk logs request URLs (the webhook's secret) and headers (the bot token) at DEBUG whenever its
# logger's own level is unset: give it a logger of its own that stays at WARNING.
_SDK_LOG = logging.getLogger("converge.alerts.slack.sdk")
_SDK_LOG.setLevel(logging.WARNING)
_MEMBER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
# chat.postMessage errors that are Slack's trouble, not ours (https://api.slack.com/methods/chat.postMessage)
RETRYABLE_API_ERRORS = frozenset({"ratelimited", "rate_limited", "service_unavailable", "internal_error",
                                  "fatal_error", "request_timeout", "team_added_to_org"})


class SlackChannel(ChannelBase):
    """An incoming webhook URL, or a bot token and a channel (chat.postMessage)."""

    type: Literal["slack"] = "slack"
    webhook_url: SecretStr | None = None  # the URL is the credential
    bot_token: SecretStr | None = None
    channel: str | None = Field(None, pattern=r"^[#@]?[\w.-]{1,80}$")  # "#alerts" or a channel id C0123ABCD
    base_url: str = "https://slack.com/api/"  # the Web API; tests point it at a local fake

    @field_validator("webhook_url")
    @classmethod
    def _webhook(cls, value: SecretStr | None) -> SecretStr | None:
        return None if value is None else secret_url(value)

    @field_validator("base_url")
    @classmethod
    def _base(cls, value: str) -> str:
        http_url(value, "base_url")
        return value if value.endswith("/") else value + "/"

    @model_validator(mode="after")
    def _one_way(self) -> SlackChannel:
        if (self.webhook_url is None) == (self.bot_token is None):
            raise ValueError("give either webhook_url (incoming webhook) or bot_token and channel (chat.postMessage)")
        if self.bot_token is not None and not self.channel:
            raise ValueError("bot_token needs channel: the Slack channel to post in, e.g. \"#alerts\"")
        if self.webhook_url is not None and self.channel:
            raise ValueError("channel is only for bot_token: an incoming webhook posts to its own channel")
        return self


class SlackNotifier:
    def __init__(self, name: str, config: SlackChannel, templates: Templates, *, oncall: OnCallConfig | None = None,
                 ack_link: AckLink | None = None) -> None:
        self.name = name
        self.config = config
        self.templates = templates
        self.oncall = oncall
        self.ack_link = ack_link
        self.requests_per_send = 1  # one POST a send
        self.scrub = Scrubber([config.webhook_url, config.bot_token])
        redact_logs(config.webhook_url, config.bot_token)

    def describe(self) -> str:
        if self.config.webhook_url is not None:
            return "Slack incoming webhook"
        return f"Slack chat.postMessage to {self.config.channel}"

    async def send(self, message: Outgoing) -> None:
        await self.deliver(message.notification)

    async def deliver(self, note: Notification, *, test: bool = False) -> None:
        payload = self.render(note, test=test)
        if self.config.webhook_url is not None:
            await self._webhook(payload)
        else:
            await self._post_message(payload)

    # -- the message -------------------------------------------------------------------------------------
    def render(self, note: Notification, *, test: bool = False) -> dict[str, Any]:
        """{"text": plain-text fallback, "blocks": Block Kit blocks}."""
        try:
            payload = self.templates.render_json(TEMPLATE, **message_context(
                note, self.ack_link, mentions=self._mentions(note), test=test))
        except TemplateProblem as exc:
            raise DeliveryError(self.name, str(exc), retryable=False) from None
        if not (isinstance(payload, dict) and isinstance(payload.get("text"), str)
                and isinstance(payload.get("blocks", []), list)):
            raise DeliveryError(self.name, f"template {TEMPLATE}: must render an object with a text string "
                                           "and a blocks list", retryable=False)
        return payload

    def _mentions(self, note: Notification) -> list[str]:
        """The paged people's Slack member ids, on a page that calls for attention (a handle cannot be
        mentioned through the API; only an id like U0123ABCD can)."""
        if self.oncall is None or not (note.mention_channel or note.kind == Kind.ESCALATION):
            return []
        people = {p.name: p for p in self.oncall.people}
        return [f"<@{p.slack}>" for name in note.recipients
                if (p := people.get(name)) is not None and p.slack and _MEMBER_ID.match(p.slack)]

    async def post_text(self, text: str) -> None:
        """A plain message that is not an alert (the daily status report)."""
        payload = {"text": text}
        await (self._webhook(payload) if self.config.webhook_url is not None else self._post_message(payload))

    # -- the two ways in -----------------------------------------------------------------------------------
    async def _webhook(self, payload: dict[str, Any]) -> None:
        assert self.config.webhook_url is not None
        client = AsyncWebhookClient(self.config.webhook_url.get_secret_value(), timeout=self._timeout(),
                                    logger=_SDK_LOG, retry_handlers=[])
        try:
            resp = await client.send(text=payload["text"], blocks=payload.get("blocks"), unfurl_links=False,
                                     unfurl_media=False)
        except Exception as exc:
            raise self._transport_error(exc) from None
        if resp.status_code != 200:
            raise http_status_error(self.name, resp.status_code, (resp.body or "")[:RAW_BODY],
                                    resp.headers.get("Retry-After"), self.scrub)

    async def _post_message(self, payload: dict[str, Any]) -> None:
        assert self.config.bot_token is not None and self.config.channel is not None
        client = AsyncWebClient(token=self.config.bot_token.get_secret_value(), base_url=self.config.base_url,
                                timeout=self._timeout(), logger=_SDK_LOG, retry_handlers=[])
        try:
            await client.chat_postMessage(channel=self.config.channel, text=payload["text"],
                                          blocks=payload.get("blocks"), unfurl_links=False, unfurl_media=False)
        except SlackApiError as exc:
            raise self._api_error(exc) from None
        except Exception as exc:
            raise self._transport_error(exc) from None

    # -- failures ------------------------------------------------------------------------------------------
    def _timeout(self) -> int:
        return max(1, math.ceil(self.config.timeout))

    def _transport_error(self, exc: Exception) -> DeliveryError:
        retryable = isinstance(exc, aiohttp.ClientError | TimeoutError | OSError)
        detail = str(exc) or type(exc).__name__
        what = "cannot reach Slack" if retryable else "cannot send to Slack"
        return DeliveryError(self.name, self.scrub(f"{what}: {type(exc).__name__}: {detail}"), retryable=retryable)

    def _api_error(self, exc: SlackApiError) -> DeliveryError:
        resp = exc.response
        # a SlackResponse; or, when the body was not JSON (a proxy's error page), the raw aiohttp response
        status = int(getattr(resp, "status_code", None) or getattr(resp, "status", 0) or 0)
        data = getattr(resp, "data", None)
        error = str(data.get("error") or "") if isinstance(data, dict) else ("non-JSON answer" if status < 400 else "")
        if status == 429 or status >= 500:
            return http_status_error(self.name, status, error, resp.headers.get("Retry-After"), self.scrub)
        retryable = error in RETRYABLE_API_ERRORS
        retry_after = retry_after_seconds(resp.headers.get("Retry-After")) if retryable else None
        reason = f"chat.postMessage failed: {error or f'HTTP {status}'}"
        if error in ("channel_not_found", "not_in_channel"):
            reason += f" (channel {self.config.channel}: invite the bot, or check the name)"
        return DeliveryError(self.name, self.scrub(reason), retryable=retryable, retry_after=retry_after,
                             status=status)
