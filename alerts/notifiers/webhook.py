"""A generic webhook: POSTs the Alertmanager webhook (version 4) document, so anything that already
receives Alertmanager notifications receives ours. webhook.json.j2 renders the body (override it to post
another shape); each alert's `description` annotation comes from webhook_description.txt.j2.

https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator

from alerts.dispatch import Kind, Notification
from alerts.escape import safe_link
from alerts.notifiers.channel import ChannelBase, secret_url
from alerts.notifiers.errors import RAW_BODY, DeliveryError, Scrubber, http_status_error, redact_logs
from alerts.notifiers.outgoing import Outgoing
from alerts.templates import AckLink, TemplateProblem, Templates, alert_context, message_context

TEMPLATE = "webhook.json.j2"
DESCRIPTION = "webhook_description.txt.j2"
ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt for an alert that has not ended


def rfc3339(ts: float | None) -> str:
    if ts is None:
        return ZERO_TIME
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _common(dicts: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not dicts:
        return {}
    first = dicts[0]
    return {k: v for k, v in sorted(first.items()) if all(d.get(k) == v for d in dicts[1:])}


def alertmanager_payload(note: Notification, *, receiver: str, external_url: str = "",
                         describe: Any = None) -> dict[str, Any]:
    """The version 4 document for one notification. `describe(alert_view) -> str` gives the description
    annotation. Labels carry `severity` (the tier) as Prometheus rules usually do."""
    alerts = []
    for a in note.alerts:
        labels = {str(k): str(v) for k, v in (a.get("labels") or {}).items()}
        labels.setdefault("alertname", a["rule"])
        labels.setdefault("severity", str(a.get("tier") or note.tier))
        annotations = {"summary": a.get("summary") or a["rule"]}
        if describe is not None and (text := describe(a)):
            annotations["description"] = text
        if runbook := safe_link(a.get("runbook")):
            annotations["runbook_url"] = runbook
        ended = note.kind == Kind.RESOLVED or a.get("resolved_at") is not None
        alerts.append({
            "status": "resolved" if ended else "firing", "labels": labels, "annotations": annotations,
            "startsAt": rfc3339(a.get("fired_at") if a.get("fired_at") is not None else note.created_at),
            "endsAt": rfc3339(a.get("resolved_at") or note.created_at) if ended else ZERO_TIME,
            "generatorURL": external_url, "fingerprint": a["id"],
        })
    status = "resolved" if all(x["status"] == "resolved" for x in alerts) else "firing"
    return {
        "version": "4", "groupKey": f'{{}}:{{alertname="{note.group}"}}', "truncatedAlerts": 0, "status": status,
        "receiver": receiver, "groupLabels": {"alertname": note.group},
        "commonLabels": _common([x["labels"] for x in alerts]),
        "commonAnnotations": _common([x["annotations"] for x in alerts]),
        "externalURL": external_url, "alerts": alerts,
    }


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
        return secret_url(value)

    @model_validator(mode="after")
    def _one_auth(self) -> WebhookChannel:
        if self.bearer_token is not None and self.username is not None:
            raise ValueError("give bearer_token or username/password, not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together (HTTP basic auth), or neither")
        return self


class WebhookNotifier:
    def __init__(self, name: str, config: WebhookChannel, templates: Templates, *,
                 ack_link: AckLink | None = None) -> None:
        self.name = name
        self.config = config
        self.templates = templates
        self.ack_link = ack_link
        self.requests_per_send = 1  # one POST a send
        self.scrub = Scrubber([config.url, config.bearer_token, config.password, *config.headers.values()])
        redact_logs(config.url, config.bearer_token, config.password, *config.headers.values())

    def describe(self) -> str:
        return "webhook (Alertmanager version 4 payload)"

    async def send(self, message: Outgoing) -> None:
        await self.deliver(message.notification)

    def render(self, note: Notification, *, test: bool = False) -> str:
        def describe(alert: Mapping[str, Any]) -> str:
            return self.templates.render(DESCRIPTION, a=alert_context(alert, None, note.created_at),
                                         kind=str(note.kind))

        try:
            payload = alertmanager_payload(note, receiver=self.config.receiver or self.name,
                                           external_url=self.config.external_url or "", describe=describe)
            ctx = message_context(note, self.ack_link, test=test)
            return json.dumps(self.templates.render_json(TEMPLATE, **ctx, payload=payload), separators=(",", ":"))
        except TemplateProblem as exc:
            raise DeliveryError(self.name, str(exc), retryable=False) from None

    async def deliver(self, note: Notification, *, test: bool = False) -> None:
        body = self.render(note, test=test)
        cfg = self.config
        headers = {"Content-Type": "application/json", "User-Agent": "converge-monitor",
                   **{k: v.get_secret_value() for k, v in cfg.headers.items()}}
        auth: httpx.BasicAuth | None = None
        if cfg.bearer_token is not None:
            headers["Authorization"] = f"Bearer {cfg.bearer_token.get_secret_value()}"
        elif cfg.username is not None and cfg.password is not None:
            auth = httpx.BasicAuth(cfg.username, cfg.password.get_secret_value())
        try:
            async with httpx.AsyncClient(timeout=cfg.timeout, follow_redirects=False) as client:
                resp = await client.post(cfg.url.get_secret_value(), content=body.encode(), headers=headers,
                                         auth=auth)
        except httpx.HTTPError as exc:
            reason = f"cannot reach the webhook: {type(exc).__name__}: {exc}"
            raise DeliveryError(self.name, self.scrub(reason), retryable=True) from None
        if not 200 <= resp.status_code < 300:
            raise http_status_error(self.name, resp.status_code, resp.text[:RAW_BODY], resp.headers.get("Retry-After"),
                                    self.scrub)
