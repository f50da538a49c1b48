"""The one redaction rule for free text: every URL in an error reason or a log line is masked."""

from __future__ import annotations

from monitor.core.redact import redact_text


def test_every_url_in_a_text_is_masked_and_the_rest_kept() -> None:
    text = ("HTTP 500 from https://hooks.slack.com/services/T0/B0/xoxsecret123: retry; "
            "db postgresql://monitor:pw-123456@db.internal:5432/state down")
    clean = redact_text(text)
    for secret in ("xoxsecret123", "/services/", "pw-123456", "monitor:"):
        assert secret not in clean
    assert clean.startswith("HTTP 500 from https://hooks.slack.com/***") and "db.internal:5432/***" in clean
    assert redact_text("timed out after 20s") == "timed out after 20s"
