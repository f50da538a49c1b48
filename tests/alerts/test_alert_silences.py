"""alerts/silences: Alertmanager-style matchers, silence validation, the book's lifecycle and persistence."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from itertools import pairwise

import pytest
import yaml
from pydantic import ValidationError

from alerts.silences import (
    Matcher,
    Silence,
    SilenceAlreadyExpired,
    SilenceBook,
    SilenceError,
    SilenceNotFound,
    SilencesConfig,
    parse_matcher,
)

T0 = 1_769_616_000.0  # 2026-01-28T16:00:00Z, the first event day
API = {"alertname": "api_down", "tier": "critical", "target": "api-health"}
DB = {"alertname": "db_pool_exhausted", "tier": "critical", "target": "postgres", "env": "prod"}


@pytest.mark.parametrize(("matcher", "labels", "expected"), [
    ("alertname=api_down", API, True),
    ("alertname=api_dow", API, False),  # equality is exact
    ("alertname!=api_down", API, False),
    ("alertname!=api_down", DB, True),
    ('target=~"api-.*"', API, True),
    ('target=~"api"', API, False),  # regexes match the whole value, not a part
    ('target=~"health"', API, False),
    ('target=~"api-health|postgres"', DB, True),
    ('target=~"api|postgres"', API, False),  # the alternation is anchored as a whole
    ('target!~"api-.*"', API, False),
    ('target!~"api-.*"', DB, True),
    ("env=prod", API, False),  # a missing label is ""
    ("env!=prod", API, True),
    ("env=", API, True),
    ('env=~".*"', API, True),
    ('env=~".+"', API, False),
    ('env!~".+"', API, True),
    ('tier=~"CRITICAL"', API, False),  # case-sensitive, as in Alertmanager
    ('tier=~"(?i)CRITICAL"', API, True),
])
def test_matcher_semantics(matcher: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_matcher(matcher).matches(labels) is expected


@pytest.mark.parametrize(("text", "name", "op", "value"), [
    ("alertname=api_down", "alertname", "=", "api_down"),
    ('  target =~ "api-.*"  ', "target", "=~", "api-.*"),
    ('summary="say \\"hi\\" \\\\ bye"', "summary", "=", 'say "hi" \\ bye'),
    ("env!=", "env", "!=", ""),
    ("path!~/v1/.*", "path", "!~", "/v1/.*"),
    ('x="a=b"', "x", "=", "a=b"),
])
def test_matcher_parsing_and_string_round_trip(text: str, name: str, op: str, value: str) -> None:
    m = parse_matcher(text)
    assert (m.name, m.op, m.value) == (name, op, value)
    assert parse_matcher(str(m)) == m
    assert Matcher.model_validate({"name": name, "op": op, "value": value}) == m


@pytest.mark.parametrize(("text", "words"), [
    ("=api_down", "invalid matcher"),
    ("1abc=x", "invalid matcher"),
    ("alertname", "invalid matcher"),
    ('target=~"api-("', "not a valid regular expression"),
    # Alertmanager's Go regexps (RE2) have no lookaround nor backreferences: refused here as there.
    ('target=~"(?<=api-)health"', "not a valid regular expression: invalid perl operator"),
    (r'target=~"(a)\\1"', "not a valid regular expression: invalid escape sequence"),
])
def test_bad_matchers_are_refused_with_a_reason(text: str, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        parse_matcher(text)


@pytest.mark.timeout(20)
def test_a_pathological_pattern_cannot_stall_the_engine() -> None:
    # With a backtracking engine `(a+)+$` against 40 a's and a "b" takes about 2^40 steps (hours): a silence posted
    # over the API could stop alerting. RE2 answers in linear time.
    m = parse_matcher('target=~"(a+)+$"')
    assert not m.matches({"target": "a" * 40 + "b"})
    assert m.matches({"target": "aaaa"})


def silence(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {"id": "s1", "matchers": ["alertname=api_down"], "starts_at": T0,
                               "ends_at": T0 + 3600, "author": "ana", "reason": "deploy", "created_at": T0}
    data.update(changes)
    return data


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"matchers": []}, "matchers", "at least 1"),
    ({"matchers": ["env!=prod", 'x=~".*"']}, "matchers", "would silence every alert"),
    ({"author": "  "}, "author", "must not be empty"),
    ({"reason": ""}, "reason", "must not be empty"),
    ({"ends_at": T0 - 1}, "", "ends_at must be after starts_at"),
    ({"starts_at": datetime(2026, 1, 28, 9, 0)}, "starts_at", "has no time zone"),
    ({"starts_at": "tomorrow"}, "starts_at", "use ISO 8601"),
    ({"colour": "red"}, "colour", "Extra inputs"),
])
def test_silence_validation_names_the_field(changes: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        Silence.model_validate(silence(**changes))
    errors = {".".join(map(str, e["loc"])): e["msg"] for e in info.value.errors()}
    assert field in errors and words in errors[field], errors


def test_silence_accepts_aware_datetimes_and_iso_strings() -> None:
    s = Silence.model_validate(silence(starts_at=datetime.fromtimestamp(T0, UTC),
                                       ends_at="2026-01-28T09:00:00-08:00"))
    assert (s.starts_at, s.ends_at) == (T0, T0 + 3600)


def test_state_is_pending_active_expired_with_inclusive_start_and_exclusive_end() -> None:
    s = Silence.model_validate(silence())
    assert [s.state(t) for t in (T0 - 1, T0, T0 + 3599, T0 + 3600)] == ["pending", "active", "active", "expired"]
    assert s.active(datetime.fromtimestamp(T0 + 10, UTC))


def test_create_fills_id_and_times_and_never_backdates() -> None:
    book = SilenceBook()
    s = book.create(["alertname=api_down"], starts_at=T0 - 600, ends_at=T0 + 600, author="ana", reason="x", now=T0)
    assert s.starts_at == T0 and s.created_at == T0 and len(s.id) == 32
    assert book.get(s.id) == s and s.id in book and len(book) == 1


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"ends_at": T0 - 1}, "in the past"),
    ({"ends_at": T0}, "in the past"),
    ({"starts_at": T0 + 7200, "ends_at": T0 + 3600}, "ends_at must be after starts_at"),
    ({"ends_at": T0 + 8 * 86400}, "at most"),
])
def test_create_refuses_useless_or_too_long_silences(kwargs: dict[str, float], words: str) -> None:
    book = SilenceBook(max_duration=7 * 86400)
    with pytest.raises(SilenceError, match=words):
        book.create(["alertname=api_down"], author="ana", reason="x", now=T0, **kwargs)
    assert len(book) == 0


def test_silencing_holds_matching_alerts_only_while_active() -> None:
    book = SilenceBook()
    book.create(['target=~"api-.*"'], ends_at=T0 + 600, author="ana", reason="deploy", now=T0, id="short")
    book.create(["alertname=api_down"], ends_at=T0 + 3600, author="bo", reason="rollout", now=T0, id="long")
    book.create(["alertname=api_down"], starts_at=T0 + 7200, ends_at=T0 + 9000, author="cy", reason="later",
                now=T0, id="later")
    hit = book.silencing(API, T0 + 60)
    assert hit is not None and hit.id == "long"  # of several, the one that holds the longest
    assert book.silencing(DB, T0 + 60) is None
    assert book.silencing(API, T0 + 3600) is None  # between silences
    assert book.silencing(API, T0 + 7200).id == "later"  # type: ignore[union-attr]


def test_expire_ends_an_active_silence_now_and_reports_it_ended() -> None:
    book = SilenceBook()
    s = book.create(["alertname=api_down"], ends_at=T0 + 3600, author="ana", reason="x", now=T0)
    expired = book.expire(s.id, T0 + 100)
    assert expired.ends_at == T0 + 100 and expired.state(T0 + 100) == "expired"
    assert book.silencing(API, T0 + 100) is None
    assert book.ended_between(T0 + 50, T0 + 100) == [expired]
    with pytest.raises(SilenceAlreadyExpired):
        book.expire(s.id, T0 + 200)


def test_expiring_a_pending_silence_leaves_a_record_that_never_held_anything() -> None:
    book = SilenceBook()
    s = book.create(["alertname=api_down"], starts_at=T0 + 600, ends_at=T0 + 3600, author="ana", reason="x",
                    now=T0)
    expired = book.expire(s.id, T0 + 10)
    assert expired.starts_at == expired.ends_at == T0 + 10
    assert book.ended_between(T0, T0 + 7200) == []  # nothing was held, so nothing to re-notify
    assert book.list(T0 + 20, state="expired") == [expired]


def test_unknown_silence_id() -> None:
    with pytest.raises(SilenceNotFound, match="no silence with id 'nope'"):
        SilenceBook().expire("nope", T0)
    with pytest.raises(KeyError):
        SilenceBook().get("nope")


def test_ended_between_reports_each_end_once_over_consecutive_ticks() -> None:
    book = SilenceBook()
    for i, minutes in enumerate((5, 10, 10, 30)):
        book.create([f"alertname=a{i}"], ends_at=T0 + minutes * 60, author="ana", reason="x", now=T0, id=f"s{i}")
    reported: list[str] = []
    ticks = [T0 + k * 60 for k in range(0, 40, 3)]
    for a, b in pairwise(ticks):
        reported += [s.id for s in book.ended_between(a, b)]
    assert reported == ["s0", "s1", "s2", "s3"]


def test_what_still_fires_when_a_silence_ends_is_notified_then() -> None:
    """The dispatcher's loop in miniature: hold while silenced, release on the tick after the end."""
    book = SilenceBook()
    book.create(['target=~"api-.*"'], ends_at=T0 + 600, author="ana", reason="deploy", now=T0, id="deploy")
    book.create(['target="api-metrics"'], ends_at=T0 + 1800, author="bo", reason="noisy", now=T0, id="noisy")
    firing = {"api_down": {"alertname": "api_down", "target": "api-health"},
              "p95": {"alertname": "p95_high", "target": "api-metrics"},
              "db": {"alertname": "db_pool", "target": "postgres"}}
    sent: list[tuple[float, str]] = []
    held: set[str] = set()
    wakeups: list[tuple[float, str]] = []
    last = T0 - 30
    for now in (T0 + k * 30.0 for k in range(0, 70)):
        if now == T0 + 300:
            firing.pop("api_down")  # resolved while silenced: nothing to say when the silence ends
        for name, labels in firing.items():
            if book.silencing(labels, now):
                held.add(name)
            elif name in held or now == T0:
                sent.append((now, name))
                held.discard(name)
        wakeups += [(now, s.id) for s in book.ended_between(last, now)]  # what the dispatcher wakes up on
        last = now
    assert sent == [(T0, "db"), (T0 + 1800, "p95")]  # p95 was held by both silences until the longer ended
    assert wakeups == [(T0 + 600, "deploy"), (T0 + 1800, "noisy")]


def test_list_is_newest_first_and_filters_by_state() -> None:
    book = SilenceBook()
    a = book.create(["alertname=a"], ends_at=T0 + 60, author="ana", reason="x", now=T0, id="a")
    b = book.create(["alertname=b"], ends_at=T0 + 600, author="ana", reason="x", now=T0 + 10, id="b")
    c = book.create(["alertname=c"], starts_at=T0 + 500, ends_at=T0 + 900, author="ana", reason="x", now=T0 + 20,
                    id="c")
    assert book.list() == [c, b, a]
    now = T0 + 100
    assert (book.list(now, "active"), book.list(now, "pending"), book.list(now, "expired")) == ([b], [c], [a])
    with pytest.raises(ValueError, match="needs now"):
        book.list(state="active")


def test_prune_drops_only_silences_expired_longer_than_retention() -> None:
    book = SilenceBook()
    book.create(["alertname=a"], ends_at=T0 + 60, author="ana", reason="x", now=T0, id="old")
    book.create(["alertname=b"], ends_at=T0 + 86400, author="ana", reason="x", now=T0, id="recent")
    dropped = book.prune(T0 + 2 * 86400, retention=86400 + 60)
    assert [s.id for s in dropped] == ["old"] and [s.id for s in book.list()] == ["recent"]


def test_book_round_trips_through_json() -> None:
    book = SilenceBook()
    book.create(['target=~"api-.*"', "env!=staging", 'note="a \\"quoted\\" value"'], ends_at=T0 + 3600,
                author="ana", reason="deploy", now=T0, id="a")
    book.create(["alertname=b"], starts_at=T0 + 600, ends_at=T0 + 900, author="bo", reason="y", now=T0, id="b")
    book.expire("b", T0 + 5)  # the zero-length record must survive the trip too
    restored = SilenceBook.from_dicts(json.loads(json.dumps(book.to_dicts())))
    assert restored.list() == book.list()
    noted = {**API, "note": 'a "quoted" value'}
    assert restored.silencing(noted, T0 + 60).id == "a"  # type: ignore[union-attr]  # regexes recompiled
    assert restored.silencing({**noted, "env": "staging"}, T0 + 60) is None
    assert book.to_dicts()[0]["matchers"][0] == {"name": "target", "value": "api-.*", "op": "=~"}


def test_silences_config_declares_silences_with_stable_ids() -> None:
    text = """\
max_duration: 2d
declared:
  - matchers: ['target=~"postgres.*"']
    starts_at: "2026-01-27T22:00:00-08:00"
    ends_at: "2026-01-27T23:30:00-08:00"
    author: ops
    reason: planned failover drill
"""
    first = SilencesConfig.model_validate(yaml.safe_load(text))
    second = SilencesConfig.model_validate(yaml.safe_load(text))
    assert first.max_duration == 2 * 86400 and first.retention == 5 * 86400
    ids = [s.id for s in first.book().list()]
    assert ids == [s.id for s in second.book().list()] and ids[0].startswith("cfg-")
    drill = datetime(2026, 1, 27, 22, 30, tzinfo=UTC).timestamp() + 8 * 3600
    assert first.book().silencing(DB, drill) is not None
    assert SilencesConfig.model_validate({"declared": None}).declared == []


@pytest.mark.parametrize(("data", "loc", "words"), [
    ({"declared": [{"matchers": [], "starts_at": T0, "ends_at": T0 + 1, "author": "a", "reason": "r"}]},
     "declared.0.matchers", "at least 1"),
    ({"declared": [{"matchers": ["a=b"], "starts_at": T0, "ends_at": T0, "author": "a", "reason": "r"}]},
     "declared.0", "ends_at must be after starts_at"),
    ({"declared": [{"matchers": ["a=b"], "starts_at": T0, "ends_at": T0 + 1, "author": "a"}]},
     "declared.0.reason", "Field required"),
    ({"max_duration": "forever"}, "max_duration", "invalid duration"),
])
def test_silences_config_errors_name_the_field(data: dict[str, object], loc: str, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        SilencesConfig.model_validate(data)
    errors = {".".join(map(str, e["loc"])): e["msg"] for e in info.value.errors()}
    assert loc in errors and words in errors[loc], errors
