"""alerts/sentry.py: Sentry's webhook shapes to alert decisions, and the dedup memory."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from alerts.model import State, Tier
from alerts.sentry import MAX_ISSUES, PayloadError, SentryBook, delivery_id, parse, signature_ok

SECRET = "client-secret-0123456789"


def issue(action: str, issue_id: str = "42", substatus: str = "new", **extra: Any) -> dict[str, Any]:
    return {"action": action, "data": {"issue": {
        "id": issue_id, "title": "ZeroDivisionError: division by zero", "culprit": "app.rsvp in create",
        "firstSeen": "2026-01-28T09:00:00Z", "count": "7", "substatus": substatus,
        "permalink": f"https://sentry.example/issues/{issue_id}/", "project": {"slug": "converge-api"}, **extra}}}


def decide(book: SentryBook, resource: str, payload: dict[str, Any], now: float = 1000.0) -> list[Any]:
    return book.decide(parse(resource, payload), delivery_id(json.dumps(payload).encode()), now)


def test_signature_is_the_hmac_sha256_hex_of_the_raw_body() -> None:
    body = b'{"action":"created"}'
    good = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert signature_ok(body, good, SECRET)
    assert not signature_ok(body + b" ", good, SECRET)
    assert not signature_ok(body, good, "other-secret")
    assert not signature_ok(body, None, SECRET) and not signature_ok(body, "", SECRET)


def test_new_issue_is_medium_with_the_facts_and_a_second_created_is_silent() -> None:
    book = SentryBook()
    [alert] = decide(book, "issue", issue("created"))
    assert (alert.rule, alert.tier, alert.state) == ("SentryNewIssue", Tier.MEDIUM, State.FIRING)
    for fact in ("converge-api", "ZeroDivisionError", "app.rsvp in create", "first seen 2026-01-28 09:00 UTC",
                 "7 events", "https://sentry.example/issues/42/"):
        assert fact in alert.summary
    assert decide(book, "issue", issue("created", count="8")) == []
    assert decide(book, "event_alert", {"data": {"event": {"issue_id": "42", "title": "x"}}}) == []


def test_regression_is_high_and_resolve_resolves_the_same_alert() -> None:
    book = SentryBook()
    [new] = decide(book, "issue", issue("created"))
    [resolved] = decide(book, "issue", issue("resolved", substatus=""))
    assert resolved.id == new.id and resolved.state == State.RESOLVED
    [regressed] = decide(book, "issue", issue("unresolved", substatus="regressed"))
    assert (regressed.rule, regressed.tier) == ("SentryIssueRegressed", Tier.HIGH)
    assert decide(book, "issue", issue("unresolved", substatus="escalating")) == []  # still the same regression
    [gone] = decide(book, "issue", issue("archived", substatus="archived_forever"))
    assert gone.id == regressed.id and gone.state == State.RESOLVED
    assert book.open_counts() == {"new": 0, "regressed": 0, "metric": 0}


def test_a_redelivered_body_changes_nothing() -> None:
    book = SentryBook()
    payload = issue("unresolved", substatus="regressed")
    assert len(decide(book, "issue", payload)) == 1
    decide(book, "issue", issue("resolved", substatus=""))
    assert decide(book, "issue", payload) == []  # an old delivery again, after the resolve


def test_regression_of_an_issue_never_seen_before_alerts() -> None:
    [alert] = decide(SentryBook(), "issue", issue("unresolved", "77", substatus="regressed"))
    assert alert.rule == "SentryIssueRegressed"


def test_metric_alerts_follow_their_level() -> None:
    book = SentryBook()
    payload = {"action": "warning", "data": {"metric_alert": {"id": "12", "alert_rule": {"name": "p95 > 1s"}},
                                             "description_title": "p95 > 1s", "web_url": "https://sentry.example/a/12"}}
    [warn] = decide(book, "metric_alert", payload)
    assert (warn.tier, warn.state) == (Tier.MEDIUM, State.FIRING)
    resolved_warn, crit = decide(book, "metric_alert", {**payload, "action": "critical"})
    assert resolved_warn.id == warn.id and resolved_warn.state == State.RESOLVED and crit.tier == Tier.HIGH
    [done] = decide(book, "metric_alert", {**payload, "action": "resolved"})
    assert done.id == crit.id and done.state == State.RESOLVED


@pytest.mark.parametrize(("resource", "payload", "field"), [
    ("issue", {"action": "created"}, "data"),
    ("issue", {"action": "created", "data": {"issue": {"id": "a b"}}}, "data.issue.id"),
    ("event_alert", {"data": {"event": {}}}, "data.event.issue_id"),
    ("comment", {"data": {}}, "Sentry-Hook-Resource"),
    ("issue", [], "the body"),
])
def test_malformed_payloads_name_the_field(resource: str, payload: Any, field: str) -> None:
    with pytest.raises(PayloadError, match=field.replace(".", r"\.")):
        parse(resource, payload)


def test_links_that_are_not_plain_http_urls_are_dropped_and_texts_bounded() -> None:
    change = parse("issue", issue("created", permalink="javascript:alert(1)", title="x" * 5000))
    assert change.link == "" and len(change.title) <= 200


def test_the_book_stays_bounded() -> None:
    book = SentryBook()
    for i in range(MAX_ISSUES + 50):
        decide(book, "issue", issue("created", str(i)), now=float(i))
    assert len(book.issues) == MAX_ISSUES and "0" not in {k.split(":")[1] for k in book.issues}
