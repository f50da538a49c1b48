"""Message templates: every channel's words come from alerts/templates/, a user folder overrides them file by
file, HTML is autoescaped, Slack text is mrkdwn-escaped, and a broken user template is a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alerts.dispatch import Kind, Notification, alert_view
from alerts.message import render_text
from alerts.model import Alert, State, Tier
from alerts.notifiers.email import EmailChannel, EmailNotifier
from alerts.notifiers.errors import DeliveryError
from alerts.notifiers.slack import SlackChannel, SlackNotifier
from alerts.notifiers.sms import SmsChannel, SmsNotifier
from alerts.notifiers.webhook import WebhookChannel, WebhookNotifier
from alerts.templates import BUILTIN_DIR, TemplateProblem, Templates, digest_context, message_context

FIRED = 1738101720.0  # 2025-01-28 22:02:00 UTC = 14:02 PST


def note(summary: str = "API health check failing", kind: Kind = Kind.FIRING, tier: Tier = Tier.CRITICAL,
         mention: bool = True) -> Notification:
    alert = Alert("ApiDown", tier, {"alertname": "ApiDown", "tier": str(tier), "target": "prod-health"},
                  state=State.FIRING, value=0.0, threshold=1.0, fired_at=FIRED, summary=summary,
                  runbook="https://runbooks.example.org/api-down")
    return Notification(id="n1", kind=kind, tier=tier, group="ApiDown", alerts=(alert_view(alert),),
                        channels=("slack",), recipients=("alice",), mention_channel=mention, created_at=FIRED + 60)


def link(alert_id: str, now: float) -> str:
    return f"https://monitor.example.org/api/ack/{alert_id}"


def test_builtin_templates_all_render() -> None:
    templates = Templates()
    assert templates.check() == []
    names = templates.names()
    for expected in ("slack.json.j2", "sms.txt.j2", "email_subject.txt.j2", "email.txt.j2", "email.html.j2",
                     "digest.txt.j2", "digest.html.j2", "webhook.json.j2"):
        assert expected in names


def test_override_folder_wins_file_by_file(tmp_path: Path) -> None:
    (tmp_path / "email_subject.txt.j2").write_text("PAGE {{ group }} on {{ alerts[0].target }}")
    templates = Templates(tmp_path)
    ctx = message_context(note(), link)
    assert templates.render("email_subject.txt.j2", **ctx) == "PAGE ApiDown on prod-health"
    # the files it does not override are the built-in ones
    assert templates.render("email.txt.j2", **ctx) == Templates().render("email.txt.j2", **ctx)


def test_overriding_the_shared_words_changes_every_channel(tmp_path: Path) -> None:
    macros = (BUILTIN_DIR / "_macros.j2").read_text().replace("%}FIRING\n", "%}EN PANNE\n", 1)
    assert "EN PANNE" in macros
    (tmp_path / "_macros.j2").write_text(macros)
    templates = Templates(tmp_path)
    n = note()
    slack = SlackNotifier("slack", SlackChannel(webhook_url="https://hooks.example.org/services/T/B/secret"),
                          templates).render(n)
    assert "EN PANNE" in slack["text"]
    assert "EN PANNE" in SmsNotifier("sms", SmsChannel(account_sid="AC" + "0" * 32, auth_token="tok-123456",
                                                       from_number="+14155550100"), templates).render(n)
    mail = EmailNotifier("email", EmailChannel(host="localhost", sender="m@example.org", to=["t@example.org"]),
                         templates).compose("email", message_context(n, link), ["t@example.org"], message_id="x")
    assert "EN PANNE" in mail["Subject"]


def test_html_is_autoescaped_and_text_is_not() -> None:
    templates = Templates()
    ctx = message_context(note(summary='<script>alert("x")</script> & <b>bold</b>'), link)
    html = templates.render("email.html.j2", **ctx)
    assert "<script>" not in html and "&lt;script&gt;" in html and "&amp; &lt;b&gt;bold&lt;/b&gt;" in html
    text = templates.render("email.txt.j2", **ctx)
    assert '<script>alert("x")</script> & <b>bold</b>' in text


def test_slack_text_cannot_inject_mentions_or_links() -> None:
    n = note(summary="<!everyone> see <https://evil.example|here> & more", mention=False)
    msg = SlackNotifier("slack", SlackChannel(webhook_url="https://hooks.example.org/services/T/B/x"),
                        Templates()).render(n)
    blob = json.dumps(msg)
    assert "<!everyone>" not in blob and "&lt;!everyone&gt;" in blob and "&amp; more" in blob
    assert "<!channel>" not in blob  # medium/unflagged: no mention


def test_times_are_shown_in_the_configured_zone() -> None:
    ctx = message_context(note(), link)
    assert "2025-01-28 14:02:00 PST" in Templates(timezone="America/Los_Angeles").render("email.txt.j2", **ctx)
    assert "2025-01-28 22:02:00 UTC" in Templates().render("email.txt.j2", **ctx)


def test_a_typo_in_a_user_template_names_the_template(tmp_path: Path) -> None:
    (tmp_path / "sms.txt.j2").write_text("{{ tier }} {{ grup }}")
    templates = Templates(tmp_path)
    with pytest.raises(TemplateProblem, match=r"sms\.txt\.j2.*grup"):
        templates.render("sms.txt.j2", **message_context(note(), link), level=0)
    assert any("sms.txt.j2" in p for p in templates.check())
    sms = SmsNotifier("sms", SmsChannel(account_sid="AC" + "0" * 32, auth_token="tok-123456",
                                        from_number="+14155550100"), templates)
    with pytest.raises(DeliveryError) as err:
        sms.render(note())
    assert not err.value.retryable and "sms.txt.j2" in err.value.reason  # the outbox falls back at once


def test_syntax_error_and_invalid_json_are_reported(tmp_path: Path) -> None:
    (tmp_path / "email.txt.j2").write_text("{% if %}")
    (tmp_path / "webhook.json.j2").write_text("{{ group }}")
    templates = Templates(tmp_path)
    problems = templates.check()
    assert any("email.txt.j2: syntax error at line 1" in p for p in problems)
    hook = WebhookNotifier("webhook", WebhookChannel(url="https://hooks.example.org/x"), templates)
    with pytest.raises(DeliveryError, match=r"webhook\.json\.j2: did not render valid JSON"):
        hook.render(note())


def test_templates_dir_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"templates_dir .* is not a directory"):
        Templates(tmp_path / "missing")


def test_resolved_messages_say_so_without_ack_links() -> None:
    n = note(kind=Kind.RESOLVED, mention=False)
    alert = dict(n.alerts[0], resolved_at=FIRED + 300)
    n = Notification(**{**n.__dict__, "alerts": (alert,)})
    ctx = message_context(n, link)
    text = Templates().render("email.txt.j2", **ctx)
    assert "[CRITICAL] RESOLVED: ApiDown" in text and "lasted 5m" in text and "/api/ack/" not in text


def resolved_note() -> Notification:
    n = note(summary="API health check prod-health is failing", kind=Kind.RESOLVED, mention=False)
    alert = dict(n.alerts[0], state="resolved", resolved_at=FIRED + 252)
    return Notification(**{**n.__dict__, "alerts": (alert,)})


def test_a_resolve_says_what_recovered_and_after_how_long_in_every_channel() -> None:
    n = resolved_note()
    templates = Templates()
    slack = SlackNotifier("slack", SlackChannel(webhook_url="https://hooks.example.org/services/T/B/secret"),
                          templates).render(n)
    sms = SmsNotifier("sms", SmsChannel(account_sid="AC" + "0" * 32, auth_token="tok-123456",
                                        from_number="+14155550100"), templates).render(n)
    mail = EmailNotifier("email", EmailChannel(host="localhost", sender="m@example.org", to=["t@example.org"]),
                         templates).compose("email", message_context(n, link), ["t@example.org"], message_id="x")
    text_part, html_part = (part.get_content() for part in mail.iter_parts())
    hook = json.loads(WebhookNotifier("webhook", WebhookChannel(url="https://hooks.example.org/x"),
                                      templates).render(n))
    shown = {"slack text": slack["text"], "slack blocks": json.dumps(slack["blocks"]), "sms": sms,
             "email subject": mail["Subject"], "email text": text_part, "email html": html_part,
             "webhook": hook["alerts"][0]["annotations"]["description"], "log": render_text(n)}
    for where, words in shown.items():
        assert "is failing" not in words, where  # a resolve must not read like the page
        assert "ApiDown" in words and "prod-health" in words and "recovered after 4m12s" in words, where


def test_a_resolved_digest_entry_says_what_recovered() -> None:
    ctx = {**message_context(resolved_note()), **digest_context([resolved_note()])}
    for name in ("digest.txt.j2", "digest.html.j2"):
        words = Templates().render(name, **ctx)
        assert "is failing" not in words and "recovered after 4m12s" in words, name
