"""The dispatcher decides what is sent: groups, reminders, resolves, holds, acks and escalation."""

from __future__ import annotations

from alerts.dispatch import Dispatcher, DispatchPolicy, Kind
from alerts.model import Alert, State, Tier
from alerts.notifiers.email import EmailChannel, EmailNotifier
from alerts.oncall import OnCallConfig
from alerts.templates import Templates

T0 = 1_769_600_000.0  # 2026-01-28, inside the event


def alert(rule: str = "ApiDown", tier: Tier = Tier.CRITICAL, target: str = "api", state: State = State.FIRING,
          fired_at: float = T0) -> Alert:
    return Alert(rule=rule, tier=tier, labels={"alertname": rule, "tier": str(tier), "target": target}, state=state,
                 value=0, threshold=0, fired_at=fired_at, summary=f"{rule} on {target}")


ONCALL = OnCallConfig.model_validate({
    "people": [{"name": "ana", "phone": "+15555550101"}, {"name": "ben", "phone": "+15555550102"}],
    "rotation": {"order": ["ana", "ben"], "start": "2026-01-22", "handoff": "09:00",
                 "timezone": "America/Los_Angeles", "period": "weekly"},
})


def test_firing_then_resolved_once_each() -> None:
    d = Dispatcher(oncall=ONCALL)
    first = d.step([alert()], T0, in_event=True)
    assert [n.kind for n in first] == [Kind.FIRING]
    assert first[0].channels == ("sms", "slack") and first[0].recipients == ("ana",) and first[0].mention_channel
    assert d.step([alert()], T0 + 10, in_event=True) == []  # deduplicated
    done = d.step([alert(state=State.RESOLVED)], T0 + 20, in_event=True)
    assert [n.kind for n in done] == [Kind.RESOLVED]
    assert d.step([], T0 + 30, in_event=True) == []


def test_outside_the_event_critical_goes_to_slack_and_email() -> None:
    n = Dispatcher().step([alert()], T0, in_event=False)[0]
    assert n.channels == ("slack", "email")


def test_medium_does_not_mention_the_channel_and_low_goes_to_email() -> None:
    d = Dispatcher()
    out = {n.tier: n for n in d.step([alert("SlowP95", Tier.MEDIUM), alert("DiskFull", Tier.LOW)], T0, False)}
    assert out[Tier.MEDIUM].channels == ("slack",) and not out[Tier.MEDIUM].mention_channel
    assert out[Tier.LOW].channels == ("email",)


def test_storm_of_100_alerts_becomes_a_few_grouped_messages() -> None:
    d = Dispatcher()
    sent = []
    active: list[Alert] = []
    for second in range(60):  # 100 targets fail over one minute, evaluated every second
        active += [alert("TargetDown", Tier.HIGH, target=f"t{len(active) + i}") for i in range(2 if second < 50 else 0)]
        sent += d.step(active, T0 + second, in_event=False)
    sent += d.step(active, T0 + 61, in_event=False)
    assert len(active) == 100
    assert len(sent) <= 3
    assert sum(len(n.alerts) for n in sent) == 100  # every alert notified, once


def test_reminders_repeat_up_to_the_cap_and_ack_stops_them() -> None:
    d = Dispatcher(policy=DispatchPolicy(max_reminders=2))
    a = alert("HighP95", Tier.HIGH)
    d.step([a], T0, False)
    kinds = [n.kind for t in range(1, 6) for n in d.step([a], T0 + t * 3600, False)]
    assert kinds == [Kind.REMINDER, Kind.REMINDER]
    b = alert("HighP95", Tier.HIGH, target="other")
    d.step([a, b], T0 + 7 * 3600, False)
    assert d.ack(b.id, "ana", T0 + 7 * 3600 + 1)
    assert [n for n in d.step([a, b], T0 + 9 * 3600, False) if b.id in {x["id"] for x in n.alerts}] == []


def test_unacknowledged_critical_escalates_after_15_minutes_to_the_secondary() -> None:
    d = Dispatcher(oncall=ONCALL)
    a = alert()
    d.step([a], T0, True)
    assert [n.kind for n in d.step([a], T0 + 899, True)] == []
    esc = d.step([a], T0 + 900, True)
    assert [n.kind for n in esc] == [Kind.ESCALATION]
    assert esc[0].recipients == ("ben",) and esc[0].mention_channel and "slack" in esc[0].channels
    assert d.step([a], T0 + 1000, True) == []  # once


def test_acknowledged_critical_does_not_escalate() -> None:
    d = Dispatcher(oncall=ONCALL)
    a = alert()
    d.step([a], T0, True)
    assert d.ack(a.id, "ana", T0 + 60)
    assert d.step([a], T0 + 3600, True) == []
    assert not d.ack("no-such-alert", "ana", T0)


def test_held_alert_is_notified_when_the_hold_ends_and_resolve_of_unnotified_is_silent() -> None:
    d = Dispatcher()
    a = alert("HighErrorRate", Tier.HIGH)
    assert d.step([a], T0, False, held={a.id: "silenced"}) == []
    assert d.step([a], T0 + 60, False, held={a.id: "silenced"}) == []
    assert [n.kind for n in d.step([a], T0 + 120, False)] == [Kind.FIRING]  # still firing when the silence ends
    b = alert("HighErrorRate", Tier.HIGH, target="b")
    d.step([b], T0, False, held={b.id: "maintenance"})
    assert [n for n in d.step([alert("HighErrorRate", Tier.HIGH, target="b", state=State.RESOLVED)], T0 + 5, False)
            if n.kind == Kind.RESOLVED] == []


def test_state_survives_a_restart_with_the_same_notification_ids() -> None:
    d = Dispatcher(oncall=ONCALL)
    a = alert()
    d.step([a], T0, True)
    snap = d.snapshot()
    replay = Dispatcher(oncall=ONCALL)
    replay.restore(snap)
    assert replay.step([a], T0 + 5, True) == []  # not notified twice
    esc_a = d.step([a], T0 + 900, True)
    esc_b = replay.step([a], T0 + 900, True)
    assert [n.id for n in esc_a] == [n.id for n in esc_b] and esc_a


def test_a_new_incident_after_the_last_one_resolved_is_sent_at_once() -> None:
    d = Dispatcher()
    d.step([alert()], T0, False)
    d.step([alert(state=State.RESOLVED)], T0 + 10, False)
    again = d.step([alert(fired_at=T0 + 20)], T0 + 20, False)  # well inside the group interval
    assert [n.kind for n in again] == [Kind.FIRING]


def test_a_resolve_reaches_everyone_the_firing_reached() -> None:
    oncall = OnCallConfig.model_validate({**ONCALL.model_dump(mode="json"), "people": [
        {"name": "ana", "phone": "+15555550101", "email": "ana@example.org"},
        {"name": "ben", "phone": "+15555550102", "email": "ben@example.org"}]})
    # Outside the event a critical alert goes to Slack and email: the on-call gets the firing mail.
    email = EmailNotifier("email", EmailChannel(host="localhost", sender="m@example.org", to=["team@example.org"]),
                          Templates(), oncall=oncall)
    d = Dispatcher(oncall=oncall)
    firing = d.step([alert()], T0, in_event=False)[0]
    assert email.addresses(firing) == ["ana@example.org", "team@example.org"]
    resolve = d.step([alert(state=State.RESOLVED)], T0 + 60, in_event=False)[0]
    assert resolve.kind == Kind.RESOLVED and set(resolve.channels) == set(firing.channels)
    assert email.addresses(resolve) == ["ana@example.org", "team@example.org"]
    # Escalated in the event (SMS to the secondary too): the resolve reaches both people.
    d.step([alert(fired_at=T0 + 100)], T0 + 100, in_event=True)
    esc = d.step([alert(fired_at=T0 + 100)], T0 + 1000, in_event=True)
    assert [n.recipients for n in esc] == [("ben",)]
    resolve = d.step([alert(state=State.RESOLVED, fired_at=T0 + 100)], T0 + 1100, in_event=True)[0]
    assert set(resolve.recipients) == {"ana", "ben"} and "sms" in resolve.channels and not resolve.mention_channel
