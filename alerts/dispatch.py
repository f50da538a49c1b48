"""What is sent, to whom and when: grouping, deduplication, reminders, resolves, holds and escalation.

Pure: the dispatcher takes the engine's current alerts, what is held (silenced, in maintenance or
inhibited), the time and the event mode, and returns the notifications to deliver. Its state
(what was notified, reminders, acknowledgements, escalation steps done) is a plain dict, persisted
by the caller, so a restart mid-incident keeps every timer and ack. Notification ids are
deterministic, so a replay after a crash produces the same ids and the outbox can drop the repeat.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from alerts.model import Alert, State, Tier
from alerts.oncall import EscalationPolicy, OnCallConfig, escalation_due
from alerts.routing import RoutingConfig


class Kind(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"
    REMINDER = "reminder"
    ESCALATION = "escalation"


@dataclass(frozen=True)
class DispatchPolicy:
    group_interval: float = 60.0  # new alerts of a group already notified wait this long, then go together
    repeat_interval: Mapping[str, float] = field(default_factory=lambda: {
        Tier.CRITICAL: 1800.0, Tier.HIGH: 3600.0, Tier.MEDIUM: 4 * 3600.0, Tier.LOW: 24 * 3600.0,
        Tier.ADVISORY: 24 * 3600.0})
    max_reminders: int = 3


@dataclass(frozen=True)
class Notification:
    id: str
    kind: Kind
    tier: Tier
    group: str
    alerts: tuple[dict[str, Any], ...]
    channels: tuple[str, ...]
    recipients: tuple[str, ...]  # people paged on person channels (SMS, email), by name
    mention_channel: bool
    created_at: float
    step: int | None = None  # escalation step

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["kind"], out["tier"] = str(self.kind), str(self.tier)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Notification:
        return cls(id=data["id"], kind=Kind(data["kind"]), tier=Tier(data["tier"]), group=data["group"],
                   alerts=tuple(data["alerts"]), channels=tuple(data["channels"]),
                   recipients=tuple(data["recipients"]), mention_channel=bool(data["mention_channel"]),
                   created_at=float(data["created_at"]), step=data.get("step"))


@dataclass
class _Record:
    rule: str
    tier: str
    group: str
    fired_at: float
    notified_at: float | None = None
    last_sent_at: float | None = None
    reminders: int = 0
    acked_by: str | None = None
    acked_at: float | None = None
    escalations_done: list[int] = field(default_factory=list)
    held: str | None = None
    pages: list[str] = field(default_factory=list)  # ids of the notifications that carried it (ack links)
    reached: list[str] = field(default_factory=list)  # people paged about it: its resolve goes to each of them
    via: list[str] = field(default_factory=list)  # channels that carried it: its resolve goes to each of them


def alert_view(alert: Alert) -> dict[str, Any]:
    return {"id": alert.id, "rule": alert.rule, "tier": str(alert.tier), "labels": dict(alert.labels),
            "state": str(alert.state), "value": alert.value, "threshold": alert.threshold,
            "summary": alert.summary, "runbook": alert.runbook, "fired_at": alert.fired_at,
            "resolved_at": alert.resolved_at}


def _nid(kind: str, group: str, parts: Iterable[str]) -> str:
    raw = "|".join([kind, group, *sorted(parts)])
    return hashlib.sha256(raw.encode()).hexdigest()[:20]


class Dispatcher:
    def __init__(self, routing: RoutingConfig | None = None, oncall: OnCallConfig | None = None,
                 policy: DispatchPolicy | None = None) -> None:
        self.routing = routing or RoutingConfig()
        self.oncall = oncall
        self.policy = policy or DispatchPolicy()
        self.escalation = oncall.escalation if oncall else EscalationPolicy()
        self._records: dict[str, _Record] = {}
        self._group_sent: dict[str, float] = {}

    # -- state ---------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {"records": {k: asdict(v) for k, v in self._records.items()}, "groups": dict(self._group_sent)}

    def restore(self, data: Mapping[str, Any] | None) -> None:
        if not data:
            return
        self._records = {k: _Record(**v) for k, v in data.get("records", {}).items()}
        self._group_sent = {k: float(v) for k, v in data.get("groups", {}).items()}

    def record(self, alert_id: str) -> dict[str, Any] | None:
        rec = self._records.get(alert_id)
        return asdict(rec) if rec else None

    def carried_by(self, note_id: str) -> list[str]:
        """The alerts, still active, that notification `note_id` carried (what its one ack link covers)."""
        return [alert_id for alert_id, rec in self._records.items() if note_id in rec.pages]

    def ack(self, alert_id: str, actor: str, now: float, alert: Alert | None = None) -> bool:
        """Acknowledge a firing alert: its reminders and escalation stop. False when it is not active.
        `alert`: the firing alert itself, so one listed as firing before its first cycle here can be
        acknowledged too (its first notification still goes out; nothing after it)."""
        rec = self._records.get(alert_id)
        if rec is None and alert is not None and alert.state == State.FIRING:
            rec = self._records[alert_id] = _Record(alert.rule, str(alert.tier), alert.rule,
                                                    alert.fired_at if alert.fired_at is not None else now)
        if rec is None:
            return False
        if rec.acked_at is None:
            rec.acked_by, rec.acked_at = actor, now
        return True

    # -- one evaluation cycle ---------------------------------------------------------------------
    def step(self, alerts: Iterable[Alert], now: float, in_event: bool,
             held: Mapping[str, str] | None = None) -> list[Notification]:
        """`alerts`: the engine's alerts this cycle (firing ones, and those that resolved in it);
        `held`: alert id -> why it must not be notified now (silenced, maintenance, inhibited)."""
        held = held or {}
        out: list[Notification] = []
        new: dict[str, list[Alert]] = defaultdict(list)
        resolved: dict[str, list[Alert]] = defaultdict(list)
        reached: dict[str, list[_Record]] = defaultdict(list)  # per group: the records of the resolved alerts
        reminders: dict[str, list[Alert]] = defaultdict(list)
        escalations: dict[tuple[str, int], list[Alert]] = defaultdict(list)
        seen: set[str] = set()
        for alert in alerts:
            seen.add(alert.id)
            group = alert.rule
            if alert.state == State.RESOLVED:
                rec = self._records.pop(alert.id, None)
                if rec is not None and rec.notified_at is not None:
                    resolved[group].append(alert)  # a resolve for every firing alert that was notified
                    reached[group].append(rec)
                continue
            if alert.state != State.FIRING:
                continue
            rec = self._records.get(alert.id)
            if rec is None:
                rec = self._records[alert.id] = _Record(alert.rule, str(alert.tier), group,
                                                        alert.fired_at if alert.fired_at is not None else now)
            rec.held = held.get(alert.id)
            if rec.held:
                continue  # checks go on; nothing is sent until the hold ends, then it is notified
            if rec.notified_at is None:
                new[group].append(alert)
                continue
            if rec.acked_at is not None:
                continue
            repeat = self.policy.repeat_interval.get(rec.tier, 3600.0)
            if rec.reminders < self.policy.max_reminders and now - (rec.last_sent_at or now) >= repeat:
                reminders[group].append(alert)
            if self.escalation.applies_to(alert.tier):
                # Counted from the first page a person got, not from fired_at: an alert held by a silence
                # for 20 minutes gives the primary the whole delay to acknowledge once it is paged.
                first_page = rec.notified_at if rec.notified_at is not None else now
                for due in escalation_due(first_page, False, now, self.escalation, rec.escalations_done):
                    escalations[(group, due.index)].append(alert)

        for gone in set(self._records) - seen:  # its rule was removed or disabled: nothing left to send
            del self._records[gone]
        live_groups = {rec.group for rec in self._records.values()}
        for group in set(self._group_sent) - live_groups:  # a group whose alerts all resolved starts afresh
            del self._group_sent[group]
        for group, items in sorted(new.items()):
            last = self._group_sent.get(group)
            if last is not None and now - last < self.policy.group_interval:
                continue  # batched into the group's next message
            out.append(self._carry(self._notify(Kind.FIRING, group, items, now, in_event), items))
            self._group_sent[group] = now
            for a in items:
                rec = self._records[a.id]
                rec.notified_at = rec.last_sent_at = now
        for group, items in sorted(resolved.items()):
            out.append(self._resolve(group, items, reached[group], now, in_event))
        for group, items in sorted(reminders.items()):
            out.append(self._carry(self._notify(Kind.REMINDER, group, items, now, in_event), items))
            for a in items:
                rec = self._records[a.id]
                rec.reminders += 1
                rec.last_sent_at = now
        for (group, index), items in sorted(escalations.items()):
            out.append(self._carry(self._escalate(group, index, items, now), items))
            for a in items:
                self._records[a.id].escalations_done.append(index)
        return out

    def _carry(self, note: Notification, items: Iterable[Alert]) -> Notification:
        for a in items:
            rec = self._records[a.id]
            rec.pages.append(note.id)
            rec.reached += [p for p in note.recipients if p not in rec.reached]
            rec.via += [c for c in note.channels if c not in rec.via]
        return note

    # -- building messages ---------------------------------------------------------------------------
    def _people(self, audience: Iterable[str], now: float) -> tuple[str, ...]:
        if self.oncall is None:
            return ()
        who = self.oncall.who(now)
        chosen = {"primary": who.primary, "secondary": who.secondary}
        return tuple(p.name for a in audience if (p := chosen.get(a)) is not None)

    def _key(self, kind: Kind, alert: Alert) -> str:
        rec = self._records.get(alert.id)
        fired = rec.fired_at if rec else alert.fired_at
        reminders = rec.reminders if rec else 0
        return f"{alert.id}@{fired}#{reminders if kind == Kind.REMINDER else ''}"

    def _notify(self, kind: Kind, group: str, items: list[Alert], now: float, in_event: bool) -> Notification:
        tier = min((a.tier for a in items), key=list(Tier).index)
        channels = tuple(self.routing.channels_for(tier, in_event))
        people = self._people(["primary"], now)
        return Notification(
            id=_nid(kind, group, (self._key(kind, a) for a in items)), kind=kind, tier=Tier(tier), group=group,
            alerts=tuple(alert_view(a) for a in items), channels=channels, recipients=people,
            mention_channel=self.routing.mentions_channel(tier) and kind != Kind.RESOLVED, created_at=now)

    def _resolve(self, group: str, items: list[Alert], records: list[_Record], now: float,
                 in_event: bool) -> Notification:
        """The resolve goes to every person and channel that was told the alert fired (firing, reminders,
        escalations), whoever is on call now and whatever the event mode is now."""
        note = self._notify(Kind.RESOLVED, group, items, now, in_event)
        channels = list(dict.fromkeys(c for rec in records for c in rec.via))
        people = list(dict.fromkeys(p for rec in records for p in rec.reached))
        if not channels:  # a record from before channels were kept: the tier's channels now, as it was then
            return note
        return replace(note, channels=tuple(channels), recipients=tuple(people))

    def _escalate(self, group: str, index: int, items: list[Alert], now: float) -> Notification:
        step = self.escalation.steps[index]
        return Notification(
            id=_nid(f"{Kind.ESCALATION}{index}", group, (self._key(Kind.ESCALATION, a) for a in items)),
            kind=Kind.ESCALATION, tier=items[0].tier, group=group, alerts=tuple(alert_view(a) for a in items),
            channels=tuple(step.channels), recipients=self._people(step.notify, now),
            mention_channel=step.mention_channel, created_at=now, step=index)
