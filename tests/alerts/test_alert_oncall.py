"""alerts/oncall: people, the rotation across DST, overrides, and the 15-minute escalation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import ValidationError

from alerts.model import Tier
from alerts.oncall import (
    EscalationPolicy,
    OnCallConfig,
    Person,
    escalation_due,
    next_escalation_at,
)

LA = ZoneInfo("America/Los_Angeles")
PHONES = {"alice": "+14155550101", "bob": "+14155550102", "carol": "+14155550103", "dave": "+442071838750"}


def la(*parts: int, fold: int = 0) -> float:
    return datetime(*parts, tzinfo=LA, fold=fold).timestamp()  # type: ignore[misc]


def utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()  # type: ignore[misc]


def config(order: list[str] | None = None, overrides: list[dict[str, Any]] | None = None,
           **rotation: Any) -> OnCallConfig:
    people = [{"name": n, "phone": p, "email": f"{n}@converge.test", "slack": f"@{n}"} for n, p in PHONES.items()]
    return OnCallConfig.model_validate({
        "people": people,
        "rotation": {"timezone": "America/Los_Angeles", "start": "2026-01-05", "handoff": "09:00",
                     "period": "weekly", "order": order or ["alice", "bob", "carol"], **rotation},
        "overrides": overrides or [],
    })


def names(cfg: OnCallConfig, now: float | datetime) -> tuple[str, str | None]:
    on = cfg.who(now)
    return on.primary.name, on.secondary.name if on.secondary else None


@pytest.mark.parametrize(("moment", "primary", "secondary"), [
    (la(2026, 1, 5, 8, 59), "carol", "alice"),  # before the start the rotation runs backwards
    (la(2026, 1, 5, 9, 0), "alice", "bob"),
    (la(2026, 1, 11, 23, 59), "alice", "bob"),
    (la(2026, 1, 12, 8, 59, 59), "alice", "bob"),
    (la(2026, 1, 12, 9, 0), "bob", "carol"),
    (la(2026, 1, 19, 9, 0), "carol", "alice"),
    (la(2026, 1, 28, 3, 0), "alice", "bob"),  # event night: the week of 2026-01-26
    (utc(2026, 1, 26, 16, 59), "carol", "alice"),  # 08:59 PST
    (utc(2026, 1, 26, 17, 0), "alice", "bob"),
])
def test_weekly_rotation(moment: float, primary: str, secondary: str) -> None:
    assert names(config(), moment) == (primary, secondary)
    assert names(config(), datetime.fromtimestamp(moment, UTC)) == (primary, secondary)


@pytest.mark.parametrize(("moment", "primary"), [
    # daily hand-off at 09:00 local on both sides of the changes: shifts of 23 and 25 hours
    (la(2026, 3, 7, 9, 0), "alice"),
    (la(2026, 3, 8, 8, 59), "alice"),  # PDT already; still the shift that began at 09:00 PST
    (la(2026, 3, 8, 9, 0), "bob"),
    (la(2026, 10, 31, 9, 0), "alice"),
    (la(2026, 11, 1, 8, 59), "alice"),
    (la(2026, 11, 1, 9, 0), "bob"),
])
def test_daily_handoff_stays_at_local_time_across_dst(moment: float, primary: str) -> None:
    cfg = config(order=["alice", "bob"], period="daily", start="2026-01-04")
    assert names(cfg, moment)[0] == primary
    assert la(2026, 3, 8, 9, 0) - la(2026, 3, 7, 9, 0) == 23 * 3600
    assert la(2026, 11, 1, 9, 0) - la(2026, 10, 31, 9, 0) == 25 * 3600


@pytest.mark.parametrize(("handoff", "moment", "primary"), [
    ("02:30", utc(2026, 3, 8, 10, 29), "alice"),  # 02:30 does not exist: hand-off at 03:30 PDT
    ("02:30", utc(2026, 3, 8, 10, 30), "bob"),
    ("01:30", la(2026, 11, 1, 1, 29, fold=0), "alice"),
    ("01:30", la(2026, 11, 1, 1, 30, fold=0), "bob"),  # the first 01:30
    ("01:30", la(2026, 11, 1, 1, 45, fold=1), "bob"),  # no second hand-off at the repeated 01:30
    ("01:30", la(2026, 11, 2, 1, 30), "alice"),
])
def test_handoff_at_nonexistent_and_repeated_local_times(handoff: str, moment: float, primary: str) -> None:
    cfg = config(order=["alice", "bob"], period="daily", start="2026-01-04", handoff=handoff)
    assert names(cfg, moment)[0] == primary


SWAP = {"person": "bob", "start": "2026-01-06T18:00", "end": "2026-01-07T09:00", "reason": "alice at dinner"}


@pytest.mark.parametrize(("overrides", "moment", "expected", "overridden"), [
    ([SWAP], la(2026, 1, 6, 17, 59), ("alice", "bob"), False),
    ([SWAP], la(2026, 1, 6, 18, 0), ("bob", "carol"), True),  # the secondary is the next one who is not bob
    ([SWAP], la(2026, 1, 7, 8, 59), ("bob", "carol"), True),
    ([SWAP], la(2026, 1, 7, 9, 0), ("alice", "bob"), False),  # end is exclusive
    # overlapping overrides for one role: the one listed last wins
    ([SWAP, {**SWAP, "person": "dave"}], la(2026, 1, 6, 20, 0), ("dave", "bob"), True),
    ([{**SWAP, "person": "dave"}, SWAP], la(2026, 1, 6, 20, 0), ("bob", "carol"), True),
    # a secondary override
    ([{**SWAP, "person": "dave", "role": "secondary"}], la(2026, 1, 6, 20, 0), ("alice", "dave"), False),
    # the secondary override names the primary: fall back to the rotation
    ([SWAP, {**SWAP, "role": "secondary"}], la(2026, 1, 6, 20, 0), ("bob", "carol"), True),
    # aware times are taken as written
    ([{"person": "dave", "start": "2026-01-07T02:00:00Z", "end": "2026-01-07T03:00:00Z"}],
     utc(2026, 1, 7, 2, 30), ("dave", "bob"), True),
])
def test_overrides_win_over_the_rotation(overrides: list[dict[str, Any]], moment: float,
                                         expected: tuple[str, str], overridden: bool) -> None:
    cfg = config(overrides=overrides)
    assert names(cfg, moment) == expected
    assert cfg.who(moment).overridden is overridden


def test_a_rotation_of_one_has_no_secondary() -> None:
    assert names(config(order=["alice"]), la(2026, 1, 28, 12, 0)) == ("alice", None)
    swapped = config(order=["alice"], overrides=[SWAP])
    assert names(swapped, la(2026, 1, 6, 20, 0)) == ("bob", "alice")


def test_the_person_record_carries_contacts_and_hides_the_phone() -> None:
    on = config().who(la(2026, 1, 28, 12, 0))
    assert on.primary.phone.get_secret_value() == "+14155550101"
    assert on.primary.email == "alice@converge.test" and on.primary.slack == "@alice"
    for text in (repr(on), str(on.primary), repr(config())):
        assert "5550101" not in text and "**" in text


@pytest.mark.parametrize(("phone", "normalized"), [
    ("+14155550101", "+14155550101"),
    ("+1 (415) 555-0101", "+14155550101"),
    ("+44 20 7183 8750", "+442071838750"),
])
def test_phone_numbers_are_normalized_to_e164(phone: str, normalized: str) -> None:
    assert Person(name="a", phone=phone).phone.get_secret_value() == normalized  # type: ignore[arg-type]


@pytest.mark.parametrize("phone", ["4155550101", "+04155550101", "+1415555010112345", "+1 415 CALL NOW", "+123",
                                   "", 14155550101])
def test_bad_phone_numbers_are_refused_without_echoing_them(phone: object) -> None:
    with pytest.raises(ValidationError) as info:
        Person.model_validate({"name": "a", "phone": phone})
    text = str(info.value)
    assert "E.164" in text and "phone" in text
    if phone:
        assert str(phone) not in text and "415555" not in text


@pytest.mark.parametrize(("data", "loc", "words"), [
    ({"order": ["alice", "dave2"]}, "", "rotation order[1] 'dave2' is not one of people"),
    ({"order": ["alice", "bob", "alice"]}, "rotation.order", "repeated: alice"),
    ({"order": []}, "rotation.order", "at least 1"),
    ({"overrides": [{**SWAP, "person": "eve"}]}, "", "overrides[0] person 'eve' is not one of people"),
    ({"overrides": [{**SWAP, "end": "2026-01-06T17:00"}]}, "overrides.0", "end must be after start"),
    ({"overrides": [{**SWAP, "end": "2026-01-07T01:00:00Z"}]}, "", "overrides[0] end must be after start"),
    ({"overrides": [{**SWAP, "role": "tertiary"}]}, "overrides.0.role", "'primary' or 'secondary'"),
    ({"handoff": 540}, "rotation.handoff", 'a quoted string like'),
    ({"handoff": "09:00+02:00"}, "rotation.handoff", "drop the offset"),
    ({"timezone": "Pacific Time"}, "rotation.timezone", "unknown time zone"),
    ({"period": "monthly"}, "rotation.period", "'daily' or 'weekly'"),
    ({"people": [{"name": "a", "phone": "+14155550101"}, {"name": "a", "phone": "+14155550102"}],
      "order": ["a"]}, "", "people names must be unique; repeated: a"),
    ({"people": [{"name": "a", "phone": "+14155550101", "email": "not-an-email"}], "order": ["a"]},
     "people.0.email", "name@example.org"),
    ({"escalation": {"steps": [{"after": "15m", "channels": ["sms"]}, {"after": "10m", "channels": ["slack"]}]}},
     "escalation.steps", "steps[1].after must be later than steps[0].after"),
    ({"escalation": {"steps": [{"after": "15m", "channels": []}]}}, "escalation.steps.0.channels", "at least 1"),
    ({"escalation": {"steps": [{"after": "15m", "channels": ["SMS"]}]}}, "escalation.steps.0.channels.0",
     "lowercase"),
    ({"escalation": {"tiers": ["urgent"]}}, "escalation.tiers.0", "'critical'"),
])
def test_config_errors_name_the_field(data: dict[str, Any], loc: str, words: str) -> None:
    base: dict[str, Any] = {
        "people": [{"name": n, "phone": p} for n, p in PHONES.items()],
        "rotation": {"timezone": "America/Los_Angeles", "start": "2026-01-05", "order": ["alice", "bob"]},
    }
    for key in ("order", "handoff", "timezone", "period"):
        if key in data:
            base["rotation"][key] = data.pop(key)
    with pytest.raises(ValidationError) as info:
        OnCallConfig.model_validate({**base, **data})
    errors = {".".join(map(str, e["loc"])): e["msg"] for e in info.value.errors()}
    assert loc in errors and words in errors[loc], errors


def test_oncall_from_yaml_with_defaults() -> None:
    text = """\
people:
  - {name: alice, phone: "+14155550101", slack: U024BE7LH}
  - {name: bob, phone: "+1 415 555 0102", email: bob@converge.test}
rotation:
  timezone: America/Los_Angeles
  start: 2026-01-05
  order: [alice, bob]
overrides:
  - {person: alice, start: 2026-01-28 00:00:00, end: 2026-01-29 00:00:00, reason: swap for event day 1}
"""
    cfg = OnCallConfig.model_validate(yaml.safe_load(text))
    assert cfg.rotation.period == "weekly" and cfg.rotation.handoff.isoformat() == "09:00:00"
    assert names(cfg, la(2026, 1, 27, 12, 0)) == ("bob", "alice")  # bob's week
    assert names(cfg, la(2026, 1, 28, 12, 0)) == ("alice", "bob")
    assert names(cfg, la(2026, 1, 29, 12, 0)) == ("bob", "alice")
    step = cfg.escalation.steps[0]
    assert (step.after, step.notify, step.channels, step.mention_channel) == (900, ["secondary"], ["sms", "slack"],
                                                                              True)
    assert cfg.escalation.applies_to(Tier.CRITICAL) and not cfg.escalation.applies_to("high")


T = 1_769_616_000.0
THREE_STEPS = EscalationPolicy.model_validate({"steps": [
    {"after": "5m", "notify": ["primary"], "channels": ["sms"]},
    {"after": "15m", "notify": ["secondary"], "channels": ["sms", "slack"], "mention_channel": True},
    {"after": "30m", "channels": ["email"]},
]})


@pytest.mark.parametrize(("policy", "elapsed", "acked", "done", "due"), [
    (EscalationPolicy(), 0, False, (), []),
    (EscalationPolicy(), 899, False, (), []),
    (EscalationPolicy(), 900, False, (), [0]),  # the 15-minute response target
    (EscalationPolicy(), 3600, False, (), [0]),
    (EscalationPolicy(), 900, True, (), []),  # acknowledged: escalation stops
    (EscalationPolicy(), 3600, False, (0,), []),  # already sent
    (THREE_STEPS, 299, False, (), []),
    (THREE_STEPS, 1200, False, (), [0, 1]),  # a late tick catches up in order
    (THREE_STEPS, 1200, False, (0,), [1]),
    (THREE_STEPS, 1800, False, (0, 1), [2]),
    (THREE_STEPS, 1800, True, (0,), []),
])
def test_escalation_due(policy: EscalationPolicy, elapsed: float, acked: bool, done: tuple[int, ...],
                        due: list[int]) -> None:
    steps = escalation_due(T, acked, T + elapsed, policy, done=done)
    assert [s.index for s in steps] == due
    assert all(s.due_at == T + policy.steps[s.index].after for s in steps)


def test_escalation_accepts_datetimes_and_reports_the_next_wakeup() -> None:
    fired = datetime.fromtimestamp(T, UTC)
    assert [s.index for s in escalation_due(fired, False, datetime.fromtimestamp(T + 900, UTC), EscalationPolicy())]\
        == [0]
    assert next_escalation_at(T, False, THREE_STEPS) == T + 300
    assert next_escalation_at(T, False, THREE_STEPS, done={0}) == T + 900
    assert next_escalation_at(T, False, THREE_STEPS, done={0, 1, 2}) is None
    assert next_escalation_at(T, True, THREE_STEPS) is None
