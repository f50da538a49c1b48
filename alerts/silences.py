"""Silences: label matchers over a time range that hold an alert's notifications (the checks keep running).

Matchers work like Alertmanager's: `name op "value"` with op one of =, !=, =~, !~; regexes match the whole
value; a label the alert does not have has the value "" (so `env!="prod"` matches an alert without env).

    book = SilenceBook()
    s = book.create(["alertname=api_down", 'target=~"api-.*"'], ends_at=now + 3600, author="ana",
                    reason="deploy", now=now)
    book.silencing(alert.labels, now)        # -> Silence or None: hold the notification
    book.ended_between(last_tick, now)       # -> silences that just ended: re-notify what still fires

Times are float epoch seconds; aware datetimes and ISO-8601 strings with an offset are accepted on input.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

import re2  # type: ignore[import-untyped]
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from monitor.core.sections import Section
from monitor.core.targets import Duration
from monitor.core.timeutil import epoch

MatchOp = Literal["=", "!=", "=~", "!~"]
_LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
# name, op, value: the value may be double-quoted (with \" and \\ escapes) or bare to the end.
# RE2, as Alertmanager's Go regexps: linear time whatever the pattern (a silence posted over the API cannot
# stall the engine with catastrophic backtracking), and the same syntax, so a matcher means what it means there.
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the error is raised and reported as a config/API error; no C++ log line
_MATCHER = re.compile(rf'^\s*({_LABEL_NAME})\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|(.*?))\s*$', re.DOTALL)




def _parse_instant(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"invalid time {value!r}: use ISO 8601 with an offset, e.g. "
                             "2026-01-28T09:00:00-08:00, or epoch seconds") from None
    return epoch(value)


Instant = Annotated[float, BeforeValidator(_parse_instant)]



DECLARED = "cfg-"  # id prefix of silences declared in monitor.yml (the id hashes the declaration)

class Matcher(BaseModel):
    """One label condition. Built from a dict {name, value, op} or a string like 'target=~"api-.*"'."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=rf"^{_LABEL_NAME}$")
    value: str
    op: MatchOp = "="

    _regex: Any = PrivateAttr(None)  # an RE2 pattern

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        return parse_matcher_fields(data) if isinstance(data, str) else data

    @model_validator(mode="after")
    def _compile(self) -> Matcher:
        if self.op in ("=~", "!~"):
            try:
                self._regex = re2.compile(self.value, _RE2_OPTIONS)
            except re2.error as exc:
                why = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else exc
                raise ValueError(f"value {self.value!r} is not a valid regular expression: {why}") from None
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self._regex is not None:
            return (self._regex.fullmatch(actual) is not None) == (self.op == "=~")
        return (actual == self.value) == (self.op == "=")

    def matches_empty(self) -> bool:
        """Whether this matcher also selects alerts that lack the label."""
        return self.matches({})

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'


def parse_matcher_fields(text: str) -> dict[str, str]:
    m = _MATCHER.match(text)
    if not m:
        raise ValueError(f"invalid matcher {text!r}: use name=value, name!=value, name=~regex or name!~regex")
    name, op, quoted, bare = m.groups()
    value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
    return {"name": name, "op": op, "value": value}


def parse_matcher(text: str) -> Matcher:
    return Matcher.model_validate(text)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


SilenceState = Literal["pending", "active", "expired"]


def _not_blank(cls: type, value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty: say who silences and why")
    return value


def _selective(cls: type, value: Sequence[Matcher]) -> Sequence[Matcher]:
    # As in Alertmanager: a silence made only of matchers that accept a missing label would hold everything.
    if value and all(m.matches_empty() for m in value):
        raise ValueError("at least one matcher must require a non-empty label value (these would silence every alert)")
    return value


class Silence(BaseModel):
    """Notifications of alerts matching every matcher are held while starts_at <= now < ends_at."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    matchers: tuple[Matcher, ...] = Field(min_length=1)
    starts_at: Instant
    ends_at: Instant
    author: str
    reason: str
    created_at: Instant

    _not_blank = field_validator("author", "reason")(_not_blank)
    _selective = field_validator("matchers")(_selective)

    @model_validator(mode="after")
    def _ordered(self) -> Silence:
        # Equal is allowed: a silence expired before it started is kept as a zero-length record.
        if self.ends_at < self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        return matches_all(self.matchers, labels)

    def active(self, now: float | datetime) -> bool:
        t = epoch(now)
        return self.starts_at <= t < self.ends_at

    def state(self, now: float | datetime) -> SilenceState:
        t = epoch(now)
        if t < self.starts_at:
            return "pending"
        return "active" if t < self.ends_at else "expired"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (matchers as dicts) for the store; Silence.model_validate reads it back."""
        return self.model_dump(mode="json")


class SilenceError(Exception):
    pass


class SilenceNotFound(SilenceError, KeyError):
    def __str__(self) -> str:
        return f"no silence with id {self.args[0]!r}"


class SilenceAlreadyExpired(SilenceError):
    pass


class SilenceBook:
    """The set of silences, pending, active and expired (expired ones are kept for the record until pruned)."""

    def __init__(self, silences: Iterable[Silence] = (), max_duration: float | None = None) -> None:
        self._by_id: dict[str, Silence] = {}
        self.max_duration = max_duration
        for silence in silences:
            self.add(silence)

    def create(self, matchers: Sequence[Matcher | str | Mapping[str, str]], *, ends_at: float | datetime,
               author: str, reason: str, now: float | datetime, starts_at: float | datetime | None = None,
               id: str | None = None) -> Silence:
        """A new silence from user input; raises pydantic.ValidationError naming the field, or SilenceError."""
        t, end = epoch(now), epoch(ends_at)
        start = t if starts_at is None else max(epoch(starts_at), t)  # never retroactive, as in Alertmanager
        if end <= t:
            raise SilenceError("ends_at is in the past: the silence would never be active")
        if end <= start:
            raise SilenceError("ends_at must be after starts_at")
        silence = Silence.model_validate({
            "id": id or uuid.uuid4().hex, "matchers": list(matchers), "starts_at": start, "ends_at": end,
            "author": author, "reason": reason, "created_at": t})
        if self.max_duration is not None and silence.ends_at - silence.starts_at > self.max_duration:
            raise SilenceError(f"a silence may last at most {self.max_duration:g}s (silences.max_duration): "
                               "a forgotten silence hides an outage")
        return self.add(silence)

    def add(self, silence: Silence) -> Silence:
        """Store an already validated silence (from the store or the config); same id replaces."""
        self._by_id[silence.id] = silence
        return silence

    def get(self, silence_id: str) -> Silence:
        try:
            return self._by_id[silence_id]
        except KeyError:
            raise SilenceNotFound(silence_id) from None

    def expire(self, silence_id: str, now: float | datetime) -> Silence:
        """End a silence now. One that had not started becomes zero-length: it never held anything."""
        t = epoch(now)
        silence = self.get(silence_id)
        if silence.ends_at <= t:
            raise SilenceAlreadyExpired(f"silence {silence_id!r} already expired")
        start = min(silence.starts_at, t)
        # model_copy skips validation on purpose: a zero-length silence is a valid record of "cancelled".
        return self.add(silence.model_copy(update={"starts_at": start, "ends_at": t}))

    def list(self, now: float | datetime | None = None, state: SilenceState | None = None) -> list[Silence]:
        """All silences, newest first; with `state`, only those in it at `now`."""
        items = sorted(self._by_id.values(), key=lambda s: (-s.created_at, s.id))
        if state is None:
            return items
        if now is None:
            raise ValueError("filtering by state needs now")
        return [s for s in items if s.state(now) == state]

    def silencing(self, labels: Mapping[str, str], now: float | datetime) -> Silence | None:
        """The active silence holding these labels; of several, the one that ends last (when they are released)."""
        t = epoch(now)
        hits = [s for s in self._by_id.values() if s.active(t) and s.matches(labels)]
        return max(hits, key=lambda s: (s.ends_at, s.id)) if hits else None

    def ended_between(self, t0: float | datetime, t1: float | datetime) -> list[Silence]:
        """Silences that were active and ended in (t0, t1], in end order: their held alerts are due now."""
        a, b = epoch(t0), epoch(t1)
        ended = [s for s in self._by_id.values() if s.starts_at < s.ends_at and a < s.ends_at <= b]
        return sorted(ended, key=lambda s: (s.ends_at, s.id))

    def prune(self, now: float | datetime, retention: float) -> list[Silence]:
        """Forget silences expired more than `retention` seconds ago; returns what was dropped."""
        cutoff = epoch(now) - retention
        dropped = [s for s in self._by_id.values() if s.ends_at < cutoff]
        for s in dropped:
            del self._by_id[s.id]
        return dropped

    def to_dicts(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self.list()]

    @classmethod
    def from_dicts(cls, items: Iterable[Mapping[str, Any]], max_duration: float | None = None) -> SilenceBook:
        return cls((Silence.model_validate(dict(item)) for item in items), max_duration=max_duration)

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, silence_id: object) -> bool:
        return silence_id in self._by_id


class SilenceSpec(BaseModel):
    """A silence declared in monitor.yml (e.g. a planned migration); its id derives from its content."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    matchers: list[Matcher] = Field(min_length=1)
    starts_at: Instant
    ends_at: Instant
    author: str
    reason: str

    _not_blank = field_validator("author", "reason")(_not_blank)
    _selective = field_validator("matchers")(_selective)

    @model_validator(mode="after")
    def _ordered(self) -> SilenceSpec:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self

    def to_silence(self) -> Silence:
        raw = json.dumps([[str(m) for m in self.matchers], self.starts_at, self.ends_at], separators=(",", ":"))
        sid = DECLARED + hashlib.sha256(raw.encode()).hexdigest()[:16]
        return Silence(id=sid, matchers=tuple(self.matchers), starts_at=self.starts_at, ends_at=self.ends_at,
                       author=self.author, reason=self.reason, created_at=self.starts_at)


class SilencesConfig(Section):
    """monitor.yml `silences:`: limits for silences made through the API/CLI, and silences declared up front."""

    max_duration: Duration = 7 * 86400.0  # a forgotten silence must not hide the event
    retention: Duration = 5 * 86400.0  # expired silences stay listed this long (Alertmanager keeps 5 days)
    declared: list[SilenceSpec] = Field(default_factory=list)

    def book(self) -> SilenceBook:
        """A book with the declared silences (validated: each is checked as a Silence)."""
        return SilenceBook((spec.to_silence() for spec in self.declared), max_duration=self.max_duration)
