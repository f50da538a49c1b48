"""monitor.yml `channels:`: one entry per delivery channel, typed by `type` (by default the entry's name).

    channels:
      slack:                                   # incoming webhook ...
        webhook_url: ${SLACK_WEBHOOK_URL}
      slack-ops:                               # ... or the Web API with a bot token
        type: slack
        bot_token: ${SLACK_BOT_TOKEN}
        channel: "#ops-alerts"
      sms:
        provider: twilio
        account_sid: ${TWILIO_ACCOUNT_SID}
        auth_token: ${TWILIO_AUTH_TOKEN}
        from_number: "+14155550100"
      email:
        host: smtp.example.org
        port: 587
        starttls: true
        username: alerts@example.org
        password: ${SMTP_PASSWORD}
        from: "converge-monitor <alerts@example.org>"
        to: [team@example.org]                 # the low-tier digest, and every mail besides the on-call
        digest_interval: 1h
      webhook:
        url: ${ALERT_WEBHOOK_URL}
        bearer_token: ${ALERT_WEBHOOK_TOKEN}

    notifiers = build_notifiers(ChannelsConfig.model_validate(config.channels), config.oncall)

Every secret (webhook URLs, tokens, passwords) is a SecretStr: masked in reprs, never in an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, RootModel, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from alerts.model import Tier
from alerts.oncall import OnCallConfig
from alerts.routing import ChannelName
from alerts.templates import AckLink, Templates
from monitor.config_sections import Section
from monitor.targets import Duration

if TYPE_CHECKING:
    from alerts.service import Notifier

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s.<>]+$")
_NAMED_EMAIL = re.compile(r"^\s*(?:\"?[^\"<>]*\"?\s*)?<([^<>]+)>\s*$")  # "Name <addr@example.org>"


def _http_url(value: str, what: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an http(s) URL with a host (value hidden)")


def _secret_url(value: SecretStr) -> SecretStr:
    _http_url(value.get_secret_value(), "must be an http(s) URL")
    return value


def _problem(loc: tuple[Any, ...], template: str, **ctx: Any) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("value_error", template, ctx), loc=loc, input=None)


def email_address(value: str) -> str:
    """The bare address of `addr@x.org` or `Name <addr@x.org>`."""
    m = _NAMED_EMAIL.match(value)
    addr = m.group(1) if m else value.strip()
    if not _EMAIL.match(addr):
        raise ValueError(f"{value!r} is not an email address (name@example.org or \"Name <name@example.org>\")")
    return addr


class ChannelBase(Section):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True, populate_by_name=True)

    timeout: Duration = 10.0  # one attempt; the outbox retries


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
        return None if value is None else _secret_url(value)

    @field_validator("base_url")
    @classmethod
    def _base(cls, value: str) -> str:
        _http_url(value, "base_url")
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


class SmsChannel(ChannelBase):
    """Twilio's Messages API: texts the on-call people named by each notification."""

    type: Literal["sms"] = "sms"
    provider: Literal["twilio"] = "twilio"
    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: SecretStr
    from_number: str | None = None
    messaging_service_sid: str | None = Field(None, pattern=r"^MG[0-9a-fA-F]{32}$")
    base_url: str = "https://api.twilio.com"

    @field_validator("from_number", mode="before")
    @classmethod
    def _e164(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError("from_number must be a quoted string in E.164 form, e.g. \"+14155550100\"")
        number = re.sub(r"[\s().-]", "", value)
        if not _E164.match(number):
            raise ValueError("from_number must be in E.164 form: + then country code and number, e.g. +14155550100")
        return number

    @field_validator("base_url")
    @classmethod
    def _base(cls, value: str) -> str:
        _http_url(value, "base_url")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _sender(self) -> SmsChannel:
        if (self.from_number is None) == (self.messaging_service_sid is None):
            raise ValueError("give either from_number or messaging_service_sid: who the SMS comes from")
        return self


class EmailChannel(ChannelBase):
    """SMTP: one mail per notification to the on-call people named in it and to `to`; the tiers in
    `digest_tiers` are batched into one mail to `to` every `digest_interval`."""

    type: Literal["email"] = "email"
    host: str = Field(min_length=1)
    port: int | None = Field(None, ge=1, le=65535)  # default 465 with ssl, 587 with starttls, else 25
    starttls: bool = True
    ssl: bool = False  # implicit TLS (SMTPS, port 465) instead of STARTTLS
    ca_file: str | None = None  # a private CA for the server's certificate
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(alias="from", min_length=3)
    to: list[str] = Field(default_factory=list)
    digest_interval: Duration = 3600.0
    digest_tiers: list[Tier] = Field(default_factory=lambda: [Tier.LOW])

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        email_address(value)
        return value

    @field_validator("to")
    @classmethod
    def _to(cls, value: list[str]) -> list[str]:
        for i, item in enumerate(value):
            try:
                email_address(item)
            except ValueError as exc:
                raise ValueError(f"to[{i}]: {exc}") from None
        return value

    @model_validator(mode="after")
    def _tls_and_auth(self) -> EmailChannel:
        if self.ssl and self.starttls and "starttls" in self.model_fields_set:
            raise ValueError("ssl (implicit TLS) and starttls exclude each other: choose one")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together (SMTP AUTH), or neither")
        return self

    @property
    def use_starttls(self) -> bool:
        return self.starttls and not self.ssl

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 465 if self.ssl else 587 if self.starttls else 25


class WebhookChannel(ChannelBase):
    """POSTs the Alertmanager webhook (version 4) document, or what webhook.json.j2 renders."""

    type: Literal["webhook"] = "webhook"
    url: SecretStr  # often carries a token in its path or query
    bearer_token: SecretStr | None = None
    username: str | None = None  # HTTP basic auth
    password: SecretStr | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict)  # e.g. an API key header
    receiver: str | None = None  # the payload's `receiver` (default: the channel name)
    external_url: str | None = None  # the payload's `externalURL` (default: the ack base URL, if any)

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        return _secret_url(value)

    @model_validator(mode="after")
    def _one_auth(self) -> WebhookChannel:
        if self.bearer_token is not None and self.username is not None:
            raise ValueError("give bearer_token or username/password, not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together (HTTP basic auth), or neither")
        return self


AnyChannel = SlackChannel | SmsChannel | EmailChannel | WebhookChannel
CHANNEL_TYPES: dict[str, type[ChannelBase]] = {"slack": SlackChannel, "sms": SmsChannel, "email": EmailChannel,
                                               "webhook": WebhookChannel}


class ChannelsConfig(RootModel[dict[ChannelName, AnyChannel]]):
    """The `channels:` section: channel name -> its config."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    @model_validator(mode="before")
    @classmethod
    def _typed(cls, data: Any) -> Any:
        # Each entry is validated as the model its `type` names, so an error's path is
        # channels.<name>.<field> (a tagged union would add the tag: channels.sms.sms.account_sid).
        if data is None:
            return {}
        if not isinstance(data, Mapping):
            return data
        out: dict[Any, Any] = {}
        errors: list[InitErrorDetails] = []
        for name, entry in data.items():
            if not isinstance(entry, Mapping):
                errors.append(_problem((name,), "must be a mapping of the channel's settings"))
                continue
            kind = entry.get("type", name if name in CHANNEL_TYPES else None)
            if kind not in CHANNEL_TYPES:
                where = (name, "type") if "type" in entry else (name,)
                errors.append(_problem(where, "{what} needs a type: one of {types}",
                                       what=f"channel {name!r}", types=", ".join(CHANNEL_TYPES)))
                continue
            try:
                out[name] = CHANNEL_TYPES[kind].model_validate({**entry, "type": kind})
            except ValidationError as exc:
                errors += [InitErrorDetails(type=e["type"], loc=(name, *e["loc"]), input=None,
                                            ctx=e.get("ctx") or {})
                           for e in exc.errors(include_url=False, include_input=False)]
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors, hide_input=True)
        return out

    def names(self) -> list[str]:
        return list(self.root)

    def __getitem__(self, name: str) -> AnyChannel:
        return self.root[name]

    def __contains__(self, name: object) -> bool:
        return name in self.root

    def secrets(self) -> list[SecretStr]:
        """Every secret in the section, for the scrubbers and the "grep for secrets" tests."""
        found: list[SecretStr] = []
        for channel in self.root.values():
            for value in channel.__dict__.values():
                if isinstance(value, SecretStr):
                    found.append(value)
                elif isinstance(value, dict):
                    found.extend(v for v in value.values() if isinstance(v, SecretStr))
        return found


def build_notifiers(channels: ChannelsConfig | Mapping[str, Any] | None, oncall: OnCallConfig | None = None, *,
                    templates: Templates | None = None, ack_link: AckLink | None = None) -> dict[str, Notifier]:
    """One notifier per configured channel, by channel name (what routing and the outbox use).

    `ack_link` is AlertService.ack_link(alert_id, now): the Slack button, SMS and email links.
    `templates` defaults to the built-in ones (pass Templates(config.alerting.templates_dir) to override)."""
    from alerts.notifiers.email import EmailNotifier
    from alerts.notifiers.slack import SlackNotifier
    from alerts.notifiers.sms import SmsNotifier
    from alerts.notifiers.webhook import WebhookNotifier

    if not isinstance(channels, ChannelsConfig):
        channels = ChannelsConfig.model_validate(channels or {})
    templates = templates or Templates()
    out: dict[str, Notifier] = {}
    for name, cfg in channels.root.items():
        if isinstance(cfg, SlackChannel):
            out[name] = SlackNotifier(name, cfg, templates, oncall=oncall, ack_link=ack_link)
        elif isinstance(cfg, SmsChannel):
            out[name] = SmsNotifier(name, cfg, templates, oncall=oncall, ack_link=ack_link)
        elif isinstance(cfg, EmailChannel):
            out[name] = EmailNotifier(name, cfg, templates, oncall=oncall, ack_link=ack_link)
        else:
            out[name] = WebhookNotifier(name, cfg, templates, ack_link=ack_link)
    return out
