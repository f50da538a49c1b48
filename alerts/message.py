"""The text of a notification: one line per alert with value vs threshold, since when, runbook and ack link."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from alerts.dispatch import Kind, Notification
from alerts.templates import alert_context

HEADLINES = {Kind.FIRING: "FIRING", Kind.RESOLVED: "RESOLVED", Kind.REMINDER: "STILL FIRING",
             Kind.ESCALATION: "ESCALATED (not acknowledged)"}


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S UTC") if ts else "?"


def render_text(note: Notification, ack_link: Callable[[str], str | None] = lambda _id: None) -> str:
    head = f"[{note.tier.upper()}] {HEADLINES[note.kind]}: {note.group}"
    if len(note.alerts) > 1:
        head += f" ({len(note.alerts)} alerts)"
    if note.mention_channel:
        head = "@channel " + head
    lines = [head]
    for a in note.alerts:
        if note.kind == Kind.RESOLVED:  # what recovered and after how long, not the failure summary again
            what = alert_context(a, None, note.created_at)["recovered"]
            lines.append(f"- {what}" + _value(a, last=True) + f", firing since {_when(a['fired_at'])}, "
                         f"resolved {_when(a['resolved_at'])}")
        else:
            lines.append(f"- {a['summary'] or a['rule']}" + _value(a) + f" since {_when(a['fired_at'])}")
        if a.get("runbook") and note.kind != Kind.RESOLVED:
            lines.append(f"  runbook: {a['runbook']}")
        link = ack_link(a["id"]) if note.kind in (Kind.FIRING, Kind.REMINDER, Kind.ESCALATION) else None
        if link:
            lines.append(f"  ack: {link}")
    return "\n".join(lines)


def _value(a: Mapping[str, Any], last: bool = False) -> str:
    word = "last value" if last else "value"
    if a.get("value") is None:
        return f" ({word} unknown)"
    if a.get("threshold") is None:
        return f" ({word} {a['value']:g})"
    return f" ({word} {a['value']:g}, threshold {a['threshold']:g})"
