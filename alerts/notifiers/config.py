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

Each channel model lives in its notifier's module (SlackChannel in slack.py, SmsChannel in sms.py, ...); this
module gathers them into the section and builds the notifiers. Every secret (webhook URLs, tokens, passwords)
is a SecretStr: masked in reprs, never in an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ConfigDict, RootModel, SecretStr, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from alerts.notifiers.base import ChannelNotifier
from alerts.notifiers.channel import ChannelBase
from alerts.notifiers.email import EmailChannel, EmailNotifier
from alerts.notifiers.slack import SlackChannel, SlackNotifier
from alerts.notifiers.sms import SmsChannel, SmsNotifier
from alerts.notifiers.webhook import WebhookChannel, WebhookNotifier
from alerts.oncall import OnCallConfig
from alerts.routing import ChannelName
from alerts.templates import AckLink, Templates


def _problem(loc: tuple[Any, ...], template: str, **ctx: Any) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("value_error", template, ctx), loc=loc, input=None)


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
                    templates: Templates | None = None, ack_link: AckLink | None = None) -> dict[str, ChannelNotifier]:
    """One notifier per configured channel, by channel name (what routing and the outbox use).

    `ack_link` is AlertService.ack_link(alert_id, now): the Slack button, SMS and email links.
    `templates` defaults to the built-in ones (pass Templates(config.alerting.templates_dir) to override)."""
    if not isinstance(channels, ChannelsConfig):
        channels = ChannelsConfig.model_validate(channels or {})
    templates = templates or Templates()
    out: dict[str, ChannelNotifier] = {}
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
