"""The alert pipeline's shell: latest observations -> engine -> holds -> dispatcher -> notifiers, with
every timer, acknowledgement and silence persisted in the monitor's store after each cycle.

Per cycle: decide, then commit the new state and the decided notifications to the outbox in one
transaction (alerts/outbox.py delivers them). A crash before the commit replays the same decisions
with the same notification ids; after it, the outbox has them: nothing is lost or decided twice.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, replace
from typing import Any, Protocol

from alerts.ack import NOTE, AckClaim, AckConfig, AckError, ack_url, make_ack_token, verify_ack_token
from alerts.dispatch import Dispatcher, DispatchPolicy, Notification
from alerts.engine import AlertEngine, stale_after
from alerts.inhibition import inhibited
from alerts.maintenance import MaintenanceSchedule, MaintenanceWindow
from alerts.message import render_text
from alerts.model import Alert, State, Tier
from alerts.oncall import OnCallConfig
from alerts.outbox import LOG_CHANNEL, outbox_rows
from alerts.routing import RoutingConfig
from alerts.rules import Rule
from alerts.silences import DECLARED, Matcher, Silence, SilenceBook, SilencesConfig
from monitor.core.observation import Observation
from monitor.core.sections import EventWindow
from monitor.core.targets import TargetBase
from monitor.store.base import OutboxRow

log = logging.getLogger("converge.alerts")
STATE_KEY = "alerting"


class AckRefused(Exception):
    pass


class AlertingSettings(Protocol):
    @property
    def group_interval(self) -> float: ...
    @property
    def max_reminders(self) -> int: ...
    @property
    def repeat_interval(self) -> Mapping[Any, float]: ...


class ChannelNames(Protocol):
    @property
    def root(self) -> Mapping[str, Any]: ...


class AlertServiceConfig(Protocol):
    """What the alert service reads of the monitor's config (monitor.config.Config is one)."""

    @property
    def alerting(self) -> AlertingSettings: ...
    @property
    def routing(self) -> RoutingConfig: ...
    @property
    def oncall(self) -> OnCallConfig | None: ...
    @property
    def silences(self) -> SilencesConfig: ...
    @property
    def maintenance(self) -> Sequence[MaintenanceWindow]: ...
    @property
    def ack(self) -> AckConfig | None: ...
    @property
    def event(self) -> EventWindow | None: ...
    @property
    def channels(self) -> ChannelNames: ...
    def all_targets(self) -> Sequence[TargetBase]: ...
    def effective_rules(self) -> list[Rule]: ...


class AlertStore(Protocol):
    """What the alert service reads and writes of the monitor's store (monitor.store.Store is one; the
    backtest's in-memory replay store, alerts/backtest.py, is another)."""

    def latest(self) -> list[Observation]: ...
    def get_state(self, key: str) -> Any | None: ...
    def put_state(self, key: str, value: Any) -> None: ...
    def commit_cycle(self, state_key: str, state: Any, outbox: Sequence[OutboxRow]) -> None: ...


class AlertService:
    def __init__(self, config: AlertServiceConfig, store: AlertStore, channels: Collection[str] = (), *,
                 clock: Callable[[], float] = time.time,
                 in_deploy: Callable[[float], bool] = lambda _t: False) -> None:
        """`channels`: the delivery channels that are configured (the log channel always is); `in_deploy`: whether
        a deploy window is open (the rules' deploy values apply)."""
        self.config = config
        self.in_deploy = in_deploy
        self.store = store
        self.channels = set(channels)
        self.clock = clock
        self._holds: dict[str, str] = {}
        self._stale = False  # True after a cycle's commit failed and the stored state could not be re-read
        self.reload()

    def reload(self) -> None:
        """Build the engine, dispatcher and silences afresh from the config and the stored state. The state
        is read first: when the store cannot be read, nothing in memory has changed yet."""
        state = self.store.get_state(STATE_KEY)
        config = self.config
        alerting = config.alerting
        # A series older than three of its target's intervals (plus its timeout) is stale: unknown.
        ages = {t.name: 3 * t.interval + t.timeout for t in config.all_targets()}
        # What a series' `target` label may name: a probe target, or a delivery channel (channel health).
        self._targets = set(ages) | set(config.channels.root) | {LOG_CHANNEL}
        self.engine = AlertEngine(config.effective_rules(), max_age=stale_after(ages))
        repeat = {**DispatchPolicy().repeat_interval, **{str(k): v for k, v in alerting.repeat_interval.items()}}
        self.dispatcher = Dispatcher(config.routing, config.oncall, DispatchPolicy(
            group_interval=alerting.group_interval, repeat_interval=repeat, max_reminders=alerting.max_reminders))
        self.silences: SilenceBook = config.silences.book()
        self.maintenance = MaintenanceSchedule(config.maintenance)
        window = config.event
        self.in_event: Callable[[float], bool] = window.contains if window is not None else (lambda _t: False)
        self._restore(state)

    def _fresh(self) -> None:
        """Before deciding or changing anything: the state in memory must be the stored one."""
        if self._stale:
            self.reload()  # raises while the store stays unreadable: nothing is decided on a state it lost
            self._stale = False

    # -- persistence -----------------------------------------------------------------------------------
    def watched(self, labels: Mapping[str, str]) -> bool:
        """Whether a series belongs to a configured target (or to none): a removed target's last values stay
        in the store, and must neither hold nor start alerts."""
        name = labels.get("target") or labels.get("flow")
        return name is None or name in self._targets

    def _restore(self, state: Any) -> None:
        self._external: dict[str, Alert] = {}
        self.last_firing: list[Alert] = []
        self.last_resolved: list[Alert] = []
        self._orphans: list[Alert] = []  # firing alerts nothing watches any more: resolved next cycle
        if not state:
            return
        self._external = {a.id: a for a in map(alert_from_dict, state.get("external", []))}
        orphans = self.engine.restore(state.get("engine", {}), self.watched)
        self.dispatcher.restore(state.get("dispatch"))
        self._orphans = [self._as_notified(a) for a in orphans]
        declared = {s.id: s for s in self.silences.list()}
        for item in state.get("silences", []):
            stored = Silence.model_validate(item)
            if not stored.id.startswith(DECLARED):
                self.silences.add(stored)
            elif stored.id in declared and stored.ends_at < declared[stored.id].ends_at:
                self.silences.add(stored)  # declared, then ended early through the API: it stays ended
            # a declared silence no longer in the config (removed or edited) is gone with it

    def _as_notified(self, alert: Alert) -> Alert:
        """The alert as the dispatcher knew it. A snapshot from before tiers were saved gives a removed rule's
        alert a guessed tier, and the tier is part of the alert's id: find the one it was notified with."""
        if self.dispatcher.record(alert.id) is not None:
            return alert
        for tier in Tier:
            candidate = replace(alert, tier=tier, labels={**alert.labels, "tier": tier.value})
            if self.dispatcher.record(candidate.id) is not None:
                return candidate
        return alert

    def _state(self) -> dict[str, Any]:
        return {"engine": self.engine.snapshot(), "dispatch": self.dispatcher.snapshot(),
                "silences": self.silences.to_dicts(), "external": [alert_to_dict(a) for a in self._external.values()]}

    # -- alerts from elsewhere (Alertmanager webhooks) -----------------------------------------------
    def receive(self, alerts: Iterable[Alert]) -> int:
        """Take alerts decided elsewhere into the pipeline: the next cycle notifies, holds and escalates them."""
        self._fresh()
        count = 0
        for alert in alerts:
            known = self._external.get(alert.id)
            if alert.state == State.FIRING:
                if known is not None and known.state == State.FIRING:
                    alert.fired_at = known.fired_at  # a re-sent alert keeps its first firing time
                self._external[alert.id] = alert
            elif known is not None:
                known.state, known.resolved_at = State.RESOLVED, alert.resolved_at or self.clock()
            count += 1
        self._persist()
        return count

    def _persist(self) -> None:
        self.store.put_state(STATE_KEY, self._state())

    # -- one cycle ---------------------------------------------------------------------------------------
    def holds(self, firing: Iterable[Alert], now: float) -> dict[str, str]:
        firing = list(firing)
        muted = inhibited(firing)
        held: dict[str, str] = {}
        for alert in firing:
            if alert.id in muted:
                held[alert.id] = "inhibited"
            elif (silence := self.silences.silencing(alert.labels, now)) is not None:
                held[alert.id] = f"silenced by {silence.id}"
            elif (window := self.maintenance.holding(alert.labels, now)) is not None:
                held[alert.id] = f"maintenance {window.name}"
        return held

    def evaluate(self, now: float | None = None) -> list[Notification]:
        self._fresh()
        now = self.clock() if now is None else now
        in_event = self.in_event(now)
        latest = [o for o in self.store.latest() if self.watched(o.labels)]
        transitions = self.engine.evaluate(latest, now, in_event, self.in_deploy(now))
        self.last_firing = self.engine.alerts((State.FIRING,))
        self.last_resolved = [t.alert for t in transitions if t.new_state == State.RESOLVED]
        for alert in self._orphans:
            alert.resolved_at = now
        self.last_resolved += self._orphans
        external = list(self._external.values())
        firing = [*self.last_firing, *(a for a in external if a.state == State.FIRING)]
        resolved = [*self.last_resolved, *(a for a in external if a.state == State.RESOLVED)]
        for alert in resolved:
            self._external.pop(alert.id, None)  # passed to the dispatcher once, for its resolve message
        self._holds = self.holds(firing, now)
        notes = self.dispatcher.step([*firing, *resolved], now, in_event, self._holds)
        self.silences.prune(now, self.config.silences.retention)
        rows = [row for note in notes for row in outbox_rows(
            note, render_text(note, lambda alert_id: self.ack_link(alert_id, now)), self.channels)]
        try:
            self.store.commit_cycle(STATE_KEY, self._state(), rows)
            self._orphans = []
        except Exception:
            # Nothing of this cycle was recorded: go back to the stored state, so the next cycle decides
            # the same notifications again (same ids) instead of believing they were sent.
            self._stale = True
            with contextlib.suppress(Exception):  # unreadable too: the next call re-reads it first
                self._fresh()
            raise
        return notes

    # -- acknowledgement ---------------------------------------------------------------------------------
    def ack_link(self, alert_id: str, now: float) -> str | None:
        ack = self.config.ack
        if ack is None or ack.base_url is None:
            return None
        token = make_ack_token(alert_id, ack.secret.get_secret_value(), now + ack.ttl)
        return ack_url(str(ack.base_url), token, path="/api/ack/")

    def ack(self, alert_id: str, actor: str, now: float | None = None) -> dict[str, Any]:
        self._fresh()
        now = self.clock() if now is None else now
        firing = self._firing_among([alert_id])
        if not firing or not self.dispatcher.ack(alert_id, actor, now, firing[0]):
            raise AckRefused(f"no firing alert {alert_id}")
        self._persist()
        return self.view(firing[0])

    def _firing_among(self, alert_ids: Iterable[str]) -> list[Alert]:
        """The firing alerts (the engine's, or from Alertmanager) among these ids."""
        found = (self.engine.get(i) or self._external.get(i) for i in alert_ids)
        return [a for a in found if a is not None and a.state == State.FIRING]

    def _claim(self, token: str, now: float) -> AckClaim:
        if self.config.ack is None:
            raise AckRefused("ack links are not configured")
        try:
            return verify_ack_token(token, self.config.ack.secret.get_secret_value(), now)
        except AckError as exc:
            raise AckRefused(f"ack link refused: {exc.reason}") from None

    def ack_with_token(self, token: str, now: float | None = None) -> dict[str, Any]:
        now = self.clock() if now is None else now
        claim = self._claim(token, now)
        actor = claim.actor or "ack link"
        if claim.alert_id.startswith(NOTE):
            return self.ack_notification(claim.alert_id.removeprefix(NOTE), actor, now)
        return self.ack(claim.alert_id, actor, now)

    def ack_preview(self, token: str, now: float | None = None) -> list[dict[str, Any]]:
        """What the link would acknowledge now (firing alerts), without acknowledging: for its confirm page."""
        ref = self._claim(token, self.clock() if now is None else now).alert_id
        ids = self.dispatcher.carried_by(ref.removeprefix(NOTE)) if ref.startswith(NOTE) else [ref]
        return [self.view(a) for a in self._firing_among(ids)]

    def ack_notification(self, note_id: str, actor: str, now: float | None = None) -> dict[str, Any]:
        """Acknowledge the firing alerts that notification `note_id` carried: what the page showed, no other."""
        self._fresh()
        now = self.clock() if now is None else now
        chosen = [a for a in self._firing_among(self.dispatcher.carried_by(note_id))
                  if self.dispatcher.ack(a.id, actor, now)]
        if not chosen:
            raise AckRefused("no firing alert from that notification")
        self._persist()
        return {"notification": note_id, "acked": [self.view(a) for a in chosen]}

    # -- silences ----------------------------------------------------------------------------------------
    def add_silence(self, matchers: Sequence[Matcher | str | Mapping[str, str]], *, ends_at: float, author: str,
                    reason: str, starts_at: float | None = None, now: float | None = None) -> Silence:
        self._fresh()
        now = self.clock() if now is None else now
        silence = self.silences.create(matchers, ends_at=ends_at, author=author, reason=reason, now=now,
                                       starts_at=starts_at)
        self._persist()
        return silence

    def expire_silence(self, silence_id: str, now: float | None = None) -> Silence:
        self._fresh()
        silence = self.silences.expire(silence_id, self.clock() if now is None else now)
        self._persist()
        return silence

    # -- views -------------------------------------------------------------------------------------------
    def held(self, alert_id: str) -> str | None:
        """Why the last cycle held this alert back (inhibited, silenced, maintenance), or None."""
        return self._holds.get(alert_id)

    def view(self, alert: Alert) -> dict[str, Any]:
        record = self.dispatcher.record(alert.id) or {}
        return {"id": alert.id, "rule": alert.rule, "tier": str(alert.tier), "state": str(alert.state),
                "labels": dict(alert.labels), "value": alert.value, "threshold": alert.threshold,
                "since": alert.active_since, "fired_at": alert.fired_at, "summary": alert.summary,
                "runbook": alert.runbook, "acked_by": record.get("acked_by"), "acked_at": record.get("acked_at"),
                "notified_at": record.get("notified_at"), "held": self._holds.get(alert.id)}

    def active(self) -> list[dict[str, Any]]:
        alerts = [*self.engine.alerts((State.PENDING, State.FIRING)),
                  *(a for a in self._external.values() if a.state == State.FIRING)]
        return [self.view(a) for a in sorted(alerts, key=lambda a: (list(type(a.tier)).index(a.tier), a.rule))]


def alert_to_dict(alert: Alert) -> dict[str, Any]:
    out = asdict(alert)
    out["tier"], out["state"] = str(alert.tier), str(alert.state)
    return out


def alert_from_dict(data: Mapping[str, Any]) -> Alert:
    return Alert(**{**data, "tier": Tier(data["tier"]), "state": State(data["state"])})
