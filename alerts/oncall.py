"""Who is on call: people, a rotation with hand-offs in a time zone, overrides for swaps; and escalation.

    oncall = OnCallConfig.model_validate(config.oncall)
    oncall.who(now)                                   # -> OnCall(primary, secondary)
    escalation_due(first_page_at, acked, now, oncall.escalation, done=steps_already_sent)

The rotation hands off every day (or every 7 days from `start`) at the `handoff` wall-clock time in its
zone, so a shift is 23 or 25 hours long across a DST change. A hand-off time that does not exist that day
(spring forward) happens at the same elapsed time after the gap (02:30 -> 03:30 PDT), one that happens
twice (fall back) at its first occurrence: PEP 495 fold=0, as in alerts/maintenance.py.

The secondary is the next person in the rotation order who is not the primary. Overrides (a swap, a
cover) win over the rotation for their time range; of overlapping overrides for one role, the one listed
last wins.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator, ConfigDict, Field, SecretStr, field_validator, model_validator

from alerts.model import Tier
from alerts.routing import ChannelName
from monitor.core.sections import Section
from monitor.core.targets import Duration
from monitor.core.timeutil import WallTime, ZoneName, epoch

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_PHONE_SEPARATORS = re.compile(r"[\s().-]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
PersonName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]





def _phone(value: Any) -> Any:
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    if not isinstance(raw, str):
        raise ValueError("phone must be a quoted string in E.164 form, e.g. \"+1 415 555 0100\"")
    number = _PHONE_SEPARATORS.sub("", raw)
    if not _E164.match(number):
        # never echo the value: it is personal data
        raise ValueError("phone must be in E.164 form: + then country code and number, up to 15 digits (value hidden)")
    return SecretStr(number)


Phone = Annotated[SecretStr, BeforeValidator(_phone)]


class Person(Section):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    name: PersonName
    phone: Phone  # SecretStr: masked in repr and logs; notifiers call .get_secret_value()
    email: str | None = None
    slack: str | None = Field(None, pattern=r"^@?[\w.-]{1,80}$")  # @handle or member id (U0123ABCD)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError("email must look like name@example.org")
        return value


class Rotation(Section):
    handoff: WallTime = time(9, 0)
    timezone: ZoneName
    period: Literal["daily", "weekly"] = "weekly"
    start: date  # the first person in `order` takes over at `handoff` on this day
    order: list[PersonName] = Field(min_length=1)

    @field_validator("handoff")
    @classmethod
    def _naive(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("handoff is a wall-clock time in the rotation's timezone: drop the offset")
        return value

    @field_validator("order")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        dupes = sorted({n for n in value if value.count(n) > 1})
        if dupes:
            raise ValueError(f"each person appears once in the order; repeated: {', '.join(dupes)}")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def slot(self, now: float | datetime) -> int:
        """Index into `order` of the rotation's primary at `now` (the rotation extends before `start` too)."""
        t = epoch(now)
        day = datetime.fromtimestamp(t, self.zone).date()
        if t < datetime.combine(day, self.handoff, self.zone).timestamp():
            day -= timedelta(days=1)  # before today's hand-off: yesterday's shift
        shifts = (day - self.start).days // (1 if self.period == "daily" else 7)
        return shifts % len(self.order)


class Override(Section):
    """`person` covers `role` from `start` to `end` (naive times are in the rotation's time zone)."""

    person: PersonName
    start: datetime
    end: datetime
    role: Literal["primary", "secondary"] = "primary"
    reason: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> Override:
        # naive times are compared as wall times here; OnCallConfig checks the instants in the rotation's zone
        if (self.start.tzinfo is None) == (self.end.tzinfo is None) and self.end <= self.start:
            raise ValueError("end must be after start")
        return self


Audience = Literal["primary", "secondary"]


class EscalationStep(Section):
    after: Duration  # since the alert's first page (its first notification, after any silence or hold)
    notify: list[Audience] = Field(default_factory=list)  # people paged on the step's person channels (SMS)
    channels: list[ChannelName] = Field(min_length=1)
    mention_channel: bool = False  # Slack @channel


def _default_steps() -> list[EscalationStep]:
    # The spec's response target: a critical page not acknowledged in 15 minutes goes to the secondary
    # and to Slack with @channel.
    return [EscalationStep(after=900.0, notify=["secondary"], channels=["sms", "slack"], mention_channel=True)]


class EscalationPolicy(Section):
    tiers: list[Tier] = Field(default_factory=lambda: [Tier.CRITICAL])
    steps: list[EscalationStep] = Field(default_factory=_default_steps)

    @field_validator("steps")
    @classmethod
    def _increasing(cls, value: list[EscalationStep]) -> list[EscalationStep]:
        for i in range(1, len(value)):
            if value[i].after <= value[i - 1].after:
                raise ValueError(f"steps[{i}].after must be later than steps[{i - 1}].after")
        return value

    def applies_to(self, tier: Tier | str) -> bool:
        return Tier(tier) in self.tiers


@dataclass(frozen=True)
class DueStep:
    index: int  # position in policy.steps: what the dispatcher records as done
    step: EscalationStep
    due_at: float


def escalation_due(paged_at: float | datetime, acked: bool, now: float | datetime, policy: EscalationPolicy,
                   done: Collection[int] = ()) -> list[DueStep]:
    """Steps whose time has come for an unacknowledged alert first paged at `paged_at`, minus those already
    `done`. Ack stops them all."""
    if acked:
        return []
    start, t = epoch(paged_at), epoch(now)
    return [DueStep(i, step, start + step.after) for i, step in enumerate(policy.steps)
            if i not in done and start + step.after <= t]


def next_escalation_at(paged_at: float | datetime, acked: bool, policy: EscalationPolicy,
                       done: Collection[int] = ()) -> float | None:
    """When the next pending step falls due (the dispatcher's wake-up), or None."""
    if acked:
        return None
    start = epoch(paged_at)
    return min((start + s.after for i, s in enumerate(policy.steps) if i not in done), default=None)


@dataclass(frozen=True)
class OnCall:
    primary: Person
    secondary: Person | None  # None when only one person is on the rotation
    overridden: bool = False  # the primary comes from an override


class OnCallConfig(Section):
    """monitor.yml `oncall:`."""

    people: list[Person] = Field(min_length=1)
    rotation: Rotation
    overrides: list[Override] = Field(default_factory=list)
    escalation: EscalationPolicy = Field(default_factory=EscalationPolicy)

    @model_validator(mode="after")
    def _known_people(self) -> OnCallConfig:
        names = [p.name for p in self.people]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"people names must be unique; repeated: {', '.join(dupes)}")
        known = ", ".join(names)
        for i, name in enumerate(self.rotation.order):
            if name not in names:
                raise ValueError(f"rotation order[{i}] {name!r} is not one of people ({known})")
        for i, o in enumerate(self.overrides):
            if o.person not in names:
                raise ValueError(f"overrides[{i}] person {o.person!r} is not one of people ({known})")
            if self._instant(o.end) <= self._instant(o.start):
                raise ValueError(f"overrides[{i}] end must be after start")
        return self

    def _instant(self, moment: datetime) -> float:
        return (moment if moment.tzinfo else moment.replace(tzinfo=self.rotation.zone)).timestamp()

    def person(self, name: str) -> Person:
        return next(p for p in self.people if p.name == name)

    def _override(self, role: Audience, t: float) -> str | None:
        for o in reversed(self.overrides):  # the last listed wins
            if o.role == role and self._instant(o.start) <= t < self._instant(o.end):
                return o.person
        return None

    def who(self, now: float | datetime) -> OnCall:
        t = epoch(now)
        order = self.rotation.order
        slot = self.rotation.slot(t)
        covering = self._override("primary", t)
        primary = covering or order[slot]
        secondary = self._override("secondary", t)
        if secondary is None or secondary == primary:
            following = (order[(slot + k) % len(order)] for k in range(1, len(order) + 1))
            secondary = next((n for n in following if n != primary), None)
        return OnCall(self.person(primary), self.person(secondary) if secondary else None,
                      overridden=covering is not None)
