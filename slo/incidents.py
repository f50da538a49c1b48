"""Incidents for the daily report: alerts that fired, with when they resolved, from the notification log.

Every notification the monitor decides is kept (the store's outbox, and the JSON-lines file of the log
channel); each carries its alerts as `alert_view` dicts with rule, tier, fired_at and resolved_at. An
incident is one firing of one alert: its firing notification opens it, its resolved one closes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alerts.model import TIER_ORDER, Tier
from monitor.store.base import Store
from slo.windows import Window


@dataclass(frozen=True)
class Incident:
    rule: str
    tier: str
    fired_at: float
    resolved_at: float | None = None  # None: still firing
    summary: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)

    def end(self, now: float) -> float:
        return self.resolved_at if self.resolved_at is not None else now

    def duration(self, now: float) -> float:
        return max(0.0, self.end(now) - self.fired_at)

    def overlaps(self, window: Window, now: float) -> bool:
        return self.fired_at < window.end and self.end(now) >= window.start

    def within(self, window: Window, now: float) -> float:
        """Seconds of this incident inside the window (up to `now`)."""
        return max(0.0, min(self.end(now), window.end, now) - max(self.fired_at, window.start))


def incidents_from_notifications(records: Iterable[Mapping[str, Any]]) -> list[Incident]:
    """Incidents from notification dicts (Notification.to_dict(), or an outbox payload holding one)."""
    opened: dict[tuple[str, float], dict[str, Any]] = {}
    for record in records:
        note = record.get("notification", record)
        for alert in note.get("alerts") or ():
            fired = alert.get("fired_at")
            if fired is None:
                continue
            key = (str(alert.get("id") or (alert.get("rule"), sorted((alert.get("labels") or {}).items()))),
                   float(fired))
            entry = opened.setdefault(key, {"rule": str(alert.get("rule", "?")),
                                            "tier": str(alert.get("tier") or note.get("tier", "")),
                                            "fired_at": float(fired), "resolved_at": None,
                                            "summary": str(alert.get("summary") or ""),
                                            "labels": dict(alert.get("labels") or {})})
            resolved = alert.get("resolved_at")
            if resolved is not None and (note.get("kind") == "resolved" or alert.get("state") == "resolved"):
                entry["resolved_at"] = float(resolved)
    incidents = [Incident(**e) for e in opened.values()]
    return sorted(incidents, key=lambda i: (i.fired_at, _tier_rank(i.tier), i.rule))


def _tier_rank(tier: str) -> int:
    try:
        return TIER_ORDER[Tier(tier)]
    except ValueError:
        return len(TIER_ORDER)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The notification records of a JSON-lines file (missing file: none; a torn last line is skipped)."""
    out = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    except FileNotFoundError:
        return []
    return out


def load_incidents(store: Store, notifications_file: str | None) -> list[Incident]:
    """Incidents from every notification the monitor kept: the store's outbox, else the JSON-lines log."""
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row in store.outbox_all():
        if row.notification_id not in seen:
            seen.add(row.notification_id)
            records.append(row.payload)
    if not records and notifications_file:
        records = read_jsonl(notifications_file)
    return incidents_from_notifications(records)
