"""Sentry's integration-platform webhooks as alerts of the monitor's own pipeline (spec 8.3). Pure: no I/O.

    if not signature_ok(raw_body, headers["Sentry-Hook-Signature"], client_secret): refuse 401
    change = parse(headers["Sentry-Hook-Resource"], json.loads(raw_body))
    alerts = book.decide(change, delivery_id(raw_body), now)   # -> AlertService.receive(alerts)

Resources (https://docs.sentry.io/integrations/integration-platform/webhooks/):

    issue         action created -> SentryNewIssue (medium: Slack); action unresolved with substatus
                  regressed or escalating -> SentryIssueRegressed (high: the team); resolved or archived
                  (ignored) -> both resolve
    event_alert   an issue alert rule of Sentry fired for an event: a new issue when its issue is not known yet
    metric_alert  action critical / warning -> SentryMetricAlert (high / medium); resolved -> resolves

The book remembers every issue it has seen (its last status) and the digests of the last deliveries: a
redelivered webhook (the same body) changes nothing, and a `created` for a known issue notifies nobody.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from alerts.model import Alert, State, Tier

NEW_ISSUE, REGRESSION, METRIC = "SentryNewIssue", "SentryIssueRegressed", "SentryMetricAlert"
RULES = {NEW_ISSUE: Tier.MEDIUM, REGRESSION: Tier.HIGH, METRIC: Tier.HIGH}  # metric warning: medium
RESOURCES = ("issue", "event_alert", "metric_alert")
MAX_ISSUES = 2000  # issues remembered (oldest forgotten first)
MAX_DELIVERIES = 5000  # delivery digests remembered
TEXT_LIMIT = 200  # characters of a title or culprit kept in a message
_URL = re.compile(r"^https?://[^\s<>|\"'`]{1,500}$")


class PayloadError(ValueError):
    """The webhook is not one of Sentry's shapes; the message names the field."""


def signature_ok(body: bytes, signature: str | None, secret: str) -> bool:
    """Sentry-Hook-Signature: the hex HMAC-SHA256 of the raw body with the integration's client secret."""
    if not signature or not secret:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())


def delivery_id(body: bytes) -> str:
    """A redelivery carries the same body (it is what Sentry signed): its digest identifies the delivery."""
    return hashlib.sha256(body).hexdigest()[:32]


@dataclass(frozen=True)
class Change:
    """What one webhook says. kind: new, regressed, escalating, resolved, event_alert, critical, warning,
    metric_resolved, or ignored (assigned, a resolved substatus we do not alert on...)."""

    kind: str
    key: str  # issue id, or metric alert id
    project: str = ""
    title: str = ""
    culprit: str = ""
    first_seen: str = ""
    count: float | None = None
    link: str = ""


def _text(value: Any, limit: int = TEXT_LIMIT) -> str:
    text = " ".join(str(value).split()) if value is not None else ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PayloadError(f"{where} must be an object")
    return value


def _key(value: Any, where: str) -> str:
    key = _text(value, 64)
    if not key or not re.fullmatch(r"[A-Za-z0-9_.:-]+", key):
        raise PayloadError(f"{where} must be an id (letters, digits, . _ : -)")
    return key


def _link(value: Any) -> str:
    text = str(value) if isinstance(value, str) else ""
    return text if _URL.match(text) else ""


def _count(value: Any) -> float | None:
    try:
        count = float(value)  # Sentry sends the count as a string
    except (TypeError, ValueError):
        return None
    return count if 0 <= count < 1e15 else None


def _project(issue: Mapping[str, Any]) -> str:
    project = issue.get("project")
    if isinstance(project, Mapping):
        return _text(project.get("slug") or project.get("name"), 64)
    return _text(project, 64)


def parse(resource: str | None, payload: Any) -> Change:
    """One webhook, by its Sentry-Hook-Resource header; PayloadError names what does not fit."""
    if resource not in RESOURCES:
        raise PayloadError(f"Sentry-Hook-Resource {resource!r} is not one of {', '.join(RESOURCES)}")
    body = _obj(payload, "the body")
    action = body.get("action")
    data = _obj(body.get("data"), "data")
    if resource == "issue":
        issue = _obj(data.get("issue"), "data.issue")
        kind = "ignored"
        if action == "created":
            kind = "new"
        elif action == "unresolved" and issue.get("substatus") in ("regressed", "escalating"):
            kind = str(issue["substatus"])
        elif action in ("resolved", "archived", "ignored"):
            kind = "resolved"
        return Change(kind, _key(issue.get("id"), "data.issue.id"), _project(issue), _text(issue.get("title")),
                      _text(issue.get("culprit")), _text(issue.get("firstSeen"), 40), _count(issue.get("count")),
                      _link(issue.get("permalink") or issue.get("web_url")))
    if resource == "event_alert":
        event = _obj(data.get("event"), "data.event")
        return Change("event_alert", _key(event.get("issue_id"), "data.event.issue_id"),
                      _text(event.get("project"), 64),
                      _text(event.get("title") or event.get("message")), _text(event.get("culprit")),
                      _text(event.get("datetime"), 40), None, _link(event.get("web_url")))
    metric = _obj(data.get("metric_alert"), "data.metric_alert")
    kinds = {"critical": "critical", "warning": "warning", "resolved": "metric_resolved"}
    rule = metric.get("alert_rule")
    name = rule.get("name") if isinstance(rule, Mapping) else None
    return Change(kinds.get(str(action), "ignored"), _key(metric.get("id"), "data.metric_alert.id"), "",
                  _text(data.get("description_title") or name or metric.get("title")),
                  _text(data.get("description_text")), _text(metric.get("date_started"), 40), None,
                  _link(data.get("web_url")))


def _when(text: str) -> str:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return text


def summary(change: Change) -> str:
    """Title, culprit, first seen, event count and link: what the person reading Slack needs."""
    if change.kind in ("critical", "warning"):
        head = f"Sentry metric alert ({change.kind}): {change.title or change.key}"
        return " — ".join(filter(None, (head, change.culprit, change.link)))
    what = {"regressed": "Regression", "escalating": "Escalating issue"}.get(change.kind, "New error")
    where = f" in {change.project}" if change.project else ""
    parts = [f"{what}{where}: {change.title or 'issue ' + change.key}"]
    if change.culprit:
        parts.append(f"at {change.culprit}")
    facts = [f"first seen {_when(change.first_seen)}" if change.first_seen else "",
             f"{change.count:g} events" if change.count is not None else ""]
    if any(facts):
        parts.append("(" + ", ".join(f for f in facts if f) + ")")
    if change.link:
        parts.append(change.link)
    return " ".join(parts)


def _alert(rule: str, tier: Tier, change: Change, state: State, now: float) -> Alert:
    labels = {"alertname": rule, "tier": str(tier), "source": "sentry",
              ("issue" if rule != METRIC else "metric_alert"): change.key}
    if change.project:
        labels["project"] = change.project
    return Alert(rule=rule, tier=tier, labels=labels, state=state, value=change.count,
                 fired_at=now, active_since=now, resolved_at=now if state == State.RESOLVED else None,
                 summary=summary(change), runbook=change.link)


@dataclass
class SentryBook:
    """Issues seen (id -> last status and its alert's labels) and recent deliveries: the dedup memory."""

    issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any) -> SentryBook:
        if not isinstance(data, Mapping):
            return cls()
        return cls(dict(data.get("issues", {})), dict(data.get("deliveries", {})))

    def to_dict(self) -> dict[str, Any]:
        return {"issues": self.issues, "deliveries": self.deliveries}

    def open_counts(self) -> dict[str, int]:
        """Issues and metric alerts whose alert fires, by kind: new, regressed (or escalating), metric."""
        counts = {"new": 0, "regressed": 0, "metric": 0}
        for item in self.issues.values():
            status = item.get("status")
            kind = {"new": "new", "regressed": "regressed", "escalating": "regressed",
                    "critical": "metric", "warning": "metric"}.get(status)
            if kind:
                counts[kind] += 1
        return counts

    def seen(self, delivery: str) -> bool:
        return delivery in self.deliveries

    def decide(self, change: Change, delivery: str, now: float) -> list[Alert]:
        """The alerts (firing or resolved) this webhook means; [] for a redelivery or a known issue."""
        if delivery in self.deliveries:
            return []
        self.deliveries[delivery] = now
        out = self._decide(change, now)
        self._bound()
        return out

    def _decide(self, change: Change, now: float) -> list[Alert]:
        kind, key = change.kind, change.key
        if kind == "ignored":
            return []
        book_key = ("metric:" if kind in ("critical", "warning", "metric_resolved") else "issue:") + key
        known = self.issues.get(book_key)
        status = known["status"] if known else None
        if kind in ("new", "event_alert"):
            if known is not None:
                return []  # the issue was announced (or resolved) already
            self.issues[book_key] = {"status": "new", "at": now, "rule": NEW_ISSUE, "project": change.project}
            return [_alert(NEW_ISSUE, RULES[NEW_ISSUE], change, State.FIRING, now)]
        if kind in ("regressed", "escalating"):
            if status in ("regressed", "escalating"):
                return []
            out = self._resolve(book_key, change, now)
            self.issues[book_key] = {"status": kind, "at": now, "rule": REGRESSION, "project": change.project}
            return [*out, _alert(REGRESSION, RULES[REGRESSION], change, State.FIRING, now)]
        if kind in ("critical", "warning"):
            tier = Tier.HIGH if kind == "critical" else Tier.MEDIUM
            if status == kind:
                return []
            out = self._resolve(book_key, change, now)
            self.issues[book_key] = {"status": kind, "at": now, "rule": METRIC, "tier": str(tier), "project": ""}
            return [*out, _alert(METRIC, tier, change, State.FIRING, now)]
        # resolved / metric_resolved
        out = self._resolve(book_key, change, now)
        self.issues[book_key] = {"status": "resolved", "at": now, "project": change.project}
        return out

    def _resolve(self, book_key: str, change: Change, now: float) -> list[Alert]:
        """The resolve of the alert this issue has firing, if any (its labels as when it fired)."""
        known = self.issues.get(book_key)
        if not known or "rule" not in known:
            return []
        rule = known["rule"]
        tier = Tier(known.get("tier", RULES[rule]))
        fired = Change(change.kind, change.key, known.get("project", ""), change.title, change.culprit,
                       change.first_seen, change.count, change.link)
        return [_alert(rule, tier, fired, State.RESOLVED, now)]

    def _bound(self) -> None:
        for book, limit in ((self.deliveries, MAX_DELIVERIES), (self.issues, MAX_ISSUES)):
            if len(book) > limit:
                oldest = sorted(book, key=lambda k: book[k] if isinstance(book[k], float) else book[k]["at"])
                for k in oldest[: len(book) - limit]:
                    del book[k]
