"""Every notification's words come from jinja2 templates in alerts/templates/, which a user can override.

    templates = Templates(override_dir="./my-templates", timezone="America/Los_Angeles")
    text = templates.render("sms.txt.j2", **message_context(note, ack_link))

A file of the same name in the override folder wins over the built-in one, so a user changes one
message without copying the rest. HTML templates (*.html.j2) are autoescaped: an alert summary or a
label cannot inject markup into an email. JSON templates (Slack blocks, webhook) use `tojson` for
every value. Undefined variables are errors, so a typo in a user's template fails loudly (the
notifier turns it into a non-retryable DeliveryError and the outbox falls back to another channel).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from alerts.ack import note_ref
from alerts.dispatch import Kind, Notification
from alerts.escape import one_line, plain, safe_link
from alerts.model import Tier

BUILTIN_DIR = Path(__file__).resolve().parent / "templates"
FIRING_KINDS = (Kind.FIRING, Kind.REMINDER, Kind.ESCALATION)
AckLink = Callable[[str, float], "str | None"]  # AlertService.ack_link(alert_id, now)


class TemplateProblem(Exception):
    """A template that is missing, does not parse, or fails to render (names the template, never the data)."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"template {name}: {detail}")
        self.name = name
        self.detail = detail


class Templates:
    def __init__(self, override_dir: str | os.PathLike[str] | None = None, timezone: str | tzinfo = "UTC") -> None:
        loaders: list[jinja2.BaseLoader] = []
        if override_dir is not None:
            folder = Path(override_dir)
            if not folder.is_dir():
                raise ValueError(f"templates_dir {str(folder)!r} is not a directory")
            loaders.append(jinja2.FileSystemLoader(folder))
        loaders.append(jinja2.FileSystemLoader(BUILTIN_DIR))
        self.override_dir = Path(override_dir) if override_dir is not None else None
        self.zone: tzinfo = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html", "htm", "html.j2", "htm.j2"),
                                                default_for_string=False),
            undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.filters.update(when=self._when, clock=self._clock, num=format_number, slack=slack_escape,
                                duration=format_duration, short_link=short_link)

    # -- filters ---------------------------------------------------------------------------------------
    def _when(self, ts: float | None) -> str:
        """A full local date and time: 2025-01-28 14:02:03 PST."""
        if ts is None:
            return "?"
        return datetime.fromtimestamp(ts, self.zone).strftime("%Y-%m-%d %H:%M:%S %Z").strip()

    def _clock(self, ts: float | None) -> str:
        """Just the local time, for SMS: 14:02 PST."""
        if ts is None:
            return "?"
        return datetime.fromtimestamp(ts, self.zone).strftime("%H:%M %Z").strip()

    # -- rendering -------------------------------------------------------------------------------------
    def render(self, name: str, **context: Any) -> str:
        try:
            return self.env.get_template(name).render(**context).strip()
        except jinja2.TemplateNotFound:
            raise TemplateProblem(name, "not found") from None
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateProblem(name, f"syntax error at line {exc.lineno}: {exc.message}") from None
        except jinja2.TemplateError as exc:
            raise TemplateProblem(name, f"{type(exc).__name__}: {exc.message}") from None

    def render_json(self, name: str, **context: Any) -> Any:
        text = self.render(name, **context)
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise TemplateProblem(name, f"did not render valid JSON (line {exc.lineno} column {exc.colno}: "
                                        f"{exc.msg})") from None

    def names(self) -> list[str]:
        return sorted(n for n in self.env.list_templates() if n.endswith(".j2"))

    def check(self) -> list[str]:
        """Render every template with a sample notification: the problems, one line each (empty when fine)."""
        problems = []
        ctx = message_context(sample_notification(), lambda _id, _now: "https://monitor.example/api/ack/TOKEN")
        digest = digest_context([sample_notification()], lambda _id, _now: None)
        for name in self.names():
            if name.startswith("_"):
                continue  # macros, imported by the others
            try:
                if name.endswith(".json.j2"):
                    self.render_json(name, **ctx, payload={}, level=0)
                else:
                    self.render(name, **ctx, **digest, level=0, a=ctx["alerts"][0])
            except TemplateProblem as exc:
                problems.append(str(exc))
        return problems


# -- what templates see ------------------------------------------------------------------------------------
def message_context(note: Notification, ack_link: AckLink | None = None, **extra: Any) -> dict[str, Any]:
    """The variables of a notification's templates: the notification, and one dict per alert with its
    value and threshold formatted, its target, its ack link (firing kinds only), `recovered` ("ApiDown on
    api-health recovered after 4m12s") and `line`: its summary, or in a resolve what recovered."""
    firing = note.kind in FIRING_KINDS
    alerts = [alert_context(a, ack_link if firing else None, note.created_at) for a in note.alerts]
    if note.kind == Kind.RESOLVED:
        alerts = [{**a, "line": a["recovered"]} for a in alerts]
    # One link for the whole notification (an SMS has room for one): with several alerts it acknowledges
    # every one of them that this notification carried.
    whole = (ack_link(note_ref(note.id), note.created_at) if ack_link and firing and len(alerts) > 1
             else (alerts[0]["ack_link"] if alerts else "")) or ""
    return {
        "note": note, "id": note.id, "kind": str(note.kind), "tier": str(note.tier), "group": one_line(note.group),
        "alerts": alerts, "count": len(alerts), "firing": firing, "resolved": note.kind == Kind.RESOLVED,
        "ack_link": whole,
        "mention_channel": note.mention_channel, "recipients": list(note.recipients), "step": note.step,
        "created_at": note.created_at, "test": False, "mentions": [], **extra,
    }


def alert_context(alert: Mapping[str, Any], ack_link: AckLink | None, now: float) -> dict[str, Any]:
    # Labels and summaries may come from outside (an Alertmanager webhook): no control characters in any
    # format, no link but an http(s) one; each template escapes its own markup on top (slack, HTML, JSON).
    labels = {one_line(k): one_line(v) for k, v in (alert.get("labels") or {}).items()}
    target = labels.get("target") or next((v for k, v in sorted(labels.items())
                                           if k not in ("alertname", "tier")), "")
    value, threshold = alert.get("value"), alert.get("threshold")
    fired, resolved = alert.get("fired_at"), alert.get("resolved_at")
    lasted = (resolved - fired) if fired is not None and resolved is not None else None
    rule = one_line(alert.get("rule", ""))
    summary = plain(alert.get("summary") or alert.get("rule", ""))
    # A resolve says what recovered and after how long; repeating the failure summary reads like a page.
    recovered = (f"{rule}{f' on {one_line(target)}' if target else ''} recovered"
                 + (f" after {format_duration(lasted)}" if lasted is not None else ""))
    return {
        **alert, "labels": labels, "target": target, "rule": rule, "summary": summary, "recovered": recovered,
        "line": summary,  # what the message says of it: message_context makes it `recovered` in a resolve
        "runbook": safe_link(alert.get("runbook")), "value_text": format_number(value),
        "threshold_text": format_number(threshold) if threshold is not None else "",
        "known": value is not None, "fired_at": fired, "resolved_at": resolved,
        "lasted": lasted,
        "ack_link": (ack_link(alert["id"], now) if ack_link else None) or "",
    }


def digest_context(notes: Iterable[Notification], ack_link: AckLink | None = None) -> dict[str, Any]:
    items = [message_context(n, ack_link) for n in notes]
    return {"digest": items, "digest_count": sum(i["count"] for i in items),
            "digest_from": min((n["created_at"] for n in items), default=None),
            "digest_to": max((n["created_at"] for n in items), default=None)}


def sample_notification(now: float | None = None, tier: str = "medium", test: bool = False) -> Notification:
    """A made-up notification: `test-notify` sends it, and `check()` renders every template with it."""
    now = datetime.now(UTC).timestamp() if now is None else now
    alert = {"id": "0000000000000000", "rule": "TestNotification", "tier": tier,
             "labels": {"alertname": "TestNotification", "tier": tier, "target": "converge-monitor"},
             "state": "firing", "value": 1.0, "threshold": 1.0,
             "summary": "Test message from converge-monitor: this channel works" if test else "Sample alert",
             "runbook": "", "fired_at": now, "resolved_at": None}
    return Notification(id=f"test-{int(now)}", kind=Kind.FIRING, tier=Tier(tier), group="TestNotification",
                        alerts=(alert,), channels=(), recipients=(), mention_channel=False, created_at=now)


# -- filters (also used by the notifiers) ----------------------------------------------------------------
def format_number(value: float | None) -> str:
    if value is None:
        return "unknown"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m" + (f"{s % 60}s" if s % 60 and s < 600 else "")
    if s < 86400:
        return f"{s // 3600}h" + (f"{s % 3600 // 60}m" if s % 3600 // 60 else "")
    return f"{s // 86400}d" + (f"{s % 86400 // 3600}h" if s % 86400 // 3600 else "")


def slack_escape(text: object) -> str:
    """Slack mrkdwn control characters (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def short_link(url: str | None) -> str:
    """A link without its https:// (phones still make it clickable): 8 characters fewer in an SMS."""
    if not url:
        return ""
    return url.removeprefix("https://")
