"""Email notifier against a real SMTP server (aiosmtpd) on 127.0.0.1: plain, AUTH, STARTTLS, down, digest."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import AuthResult, LoginPassword

from alerts.dispatch import Kind, Notification, alert_view
from alerts.model import Alert, State, Tier
from alerts.notifiers.config import ChannelsConfig
from alerts.notifiers.email import DigestBuffer, EmailChannel, EmailNotifier
from alerts.notifiers.errors import DeliveryError
from alerts.notifiers.outgoing import Outgoing
from alerts.oncall import OnCallConfig
from alerts.templates import Templates
from devstack import free_port
from tests.support.fakes.smtp import SmtpServer

PASSWORD = "smtp-pass-Hq7Rr2"
FIRED = 1738101720.0
ONCALL = OnCallConfig.model_validate({
    "people": [{"name": "alice", "phone": "+14155550100", "email": "alice@example.org"},
               {"name": "bob", "phone": "+14155550101"}],
    "rotation": {"timezone": "UTC", "start": "2025-01-01", "order": ["alice", "bob"]}})


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"monitor",
                                                                                           PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def note(tier: Tier = Tier.CRITICAL, kind: Kind = Kind.FIRING, summary: str = "5xx error ratio above 5%",
         nid: str = "n1", target: str = "api") -> Notification:
    a = Alert("ErrorRateHigh", tier, {"alertname": "ErrorRateHigh", "tier": str(tier), "target": target},
              state=State.FIRING, value=0.072, threshold=0.05, fired_at=FIRED, summary=summary,
              runbook="https://runbooks.example.org/errors")
    return Notification(id=nid, kind=kind, tier=tier, group="ErrorRateHigh", alerts=(alert_view(a),),
                        channels=("email",), recipients=("alice",), mention_channel=False, created_at=FIRED + 10)


def mailer(port: int, **cfg: Any) -> EmailNotifier:
    config = EmailChannel.model_validate({"host": "127.0.0.1", "port": port, "starttls": False,
                                          "from": "converge-monitor <alerts@example.org>",
                                          "to": ["team@example.org"], "timeout": 5, **cfg})
    return EmailNotifier("email", config, Templates(), oncall=ONCALL,
                         ack_link=lambda alert_id, _now: f"https://monitor.example.org/api/ack/{alert_id}")


def parts(msg: EmailMessage) -> tuple[str, str]:
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


async def test_a_mail_with_text_and_html_goes_to_the_on_call_and_the_team(smtp: SmtpServer) -> None:
    n = note()
    await mailer(smtp.port).send(Outgoing(n, "ignored"))
    [got] = smtp.inbox.mails
    assert got.mail_from == "alerts@example.org" and got.rcpt_tos == ["alice@example.org", "team@example.org"]
    msg = got.message
    assert msg["Subject"] == "[CRITICAL] FIRING: ErrorRateHigh: 5xx error ratio above 5%"
    assert msg["Message-ID"] == "<n1.email@converge-monitor>"  # the same mail on a retry
    text, html = parts(msg)
    for body in (text, html):
        assert "0.072 (threshold 0.05)" in body and "https://runbooks.example.org/errors" in body
        assert f"https://monitor.example.org/api/ack/{n.alerts[0]['id']}" in body
    assert "<table" in html and "2025-01-28 22:02:10" not in text and "2025-01-28 22:02:00 UTC" in text


async def test_html_part_escapes_what_the_alert_says(smtp: SmtpServer) -> None:
    await mailer(smtp.port).deliver(note(summary="<img src=x onerror=alert(1)> & co"))
    text, html = parts(smtp.inbox.mails[0].message)
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt; &amp; co" in html
    assert "<img src=x onerror=alert(1)> & co" in text


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # a plain local test server
async def test_auth_login_and_a_wrong_password_is_permanent(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with SmtpServer(authenticator=authenticator, auth_require_tls=False, auth_required=True) as server:
        await mailer(server.port, username="monitor", password=PASSWORD).deliver(note())
        assert server.inbox.mails[0].authenticated
        with pytest.raises(DeliveryError) as err:
            await mailer(server.port, username="monitor", password="wrong-" + PASSWORD).deliver(note())
        assert not err.value.retryable and err.value.status == 535 and "refused the login" in err.value.reason
        assert PASSWORD not in str(err.value) + repr(err.value) + caplog.text
        assert len(server.inbox.mails) == 1


async def test_starttls_with_a_private_ca_and_auth(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with SmtpServer(tls_context=server_ctx, require_starttls=True, authenticator=authenticator,
                    auth_required=True) as server:
        await mailer(server.port, starttls=True, ca_file=str(ca_file), username="monitor",
                     password=PASSWORD).deliver(note())
        [got] = server.inbox.mails
        assert got.tls and got.authenticated
        # the same server is not trusted without the CA: a config problem, not worth retrying
        with pytest.raises(DeliveryError) as err:
            await mailer(server.port, starttls=True).deliver(note())
        assert not err.value.retryable and "certificate" in err.value.reason


async def test_starttls_required_but_not_offered_is_permanent(smtp: SmtpServer) -> None:
    with pytest.raises(DeliveryError, match="does not offer STARTTLS") as err:
        await mailer(smtp.port, starttls=True).deliver(note())
    assert not err.value.retryable and not smtp.inbox.mails


async def test_server_down_is_retryable_and_the_retry_delivers_once() -> None:
    port = free_port()
    notifier = mailer(port)
    n = note()
    with pytest.raises(DeliveryError) as err:
        await notifier.deliver(n)
    assert err.value.retryable and f"cannot reach 127.0.0.1:{port}" in err.value.reason
    with SmtpServer(port=port) as server:  # the server comes back
        await notifier.deliver(n)
        assert len(server.inbox.mails) == 1


async def test_temporary_and_permanent_refusals(smtp: SmtpServer) -> None:
    smtp.inbox.refuse_rcpt = "451 4.3.0 try again later"
    with pytest.raises(DeliveryError) as err:
        await mailer(smtp.port).deliver(note())
    assert err.value.retryable and "451" in err.value.reason
    smtp.inbox.refuse_rcpt = "550 5.1.1 no such user"
    with pytest.raises(DeliveryError) as err:
        await mailer(smtp.port).deliver(note())
    assert not err.value.retryable and "550" in err.value.reason


async def test_without_any_recipient_it_fails_permanently(smtp: SmtpServer) -> None:
    notifier = mailer(smtp.port, to=[])
    n = Notification(**{**note().__dict__, "recipients": ("bob",)})  # bob has no email
    with pytest.raises(DeliveryError, match="no recipient") as err:
        await notifier.deliver(n)
    assert not err.value.retryable


# -- the low-tier digest ------------------------------------------------------------------------------------
def test_digest_buffer_batches_low_tier_notes_for_one_interval() -> None:
    buf = DigestBuffer(3600)
    assert buf.due(0) == [] and buf.next_due() is None
    a, b = note(Tier.LOW, nid="a"), note(Tier.LOW, nid="b")
    buf.add(a, 1000)
    buf.add(b, 2000)
    buf.add(a, 2100)  # a replay of the same notification is kept once
    assert len(buf) == 2 and buf.next_due() == 4600
    assert buf.due(4599) == []
    assert [n.id for n in buf.due(4600)] == ["a", "b"]
    assert len(buf) == 0 and buf.due(99999) == []
    buf.add(note(Tier.LOW, nid="c"), 5000)  # the next batch starts with the next notification
    assert buf.next_due() == 8600
    assert [n.id for n in buf.due(5001, force=True)] == ["c"]


def test_digest_buffer_survives_a_restart() -> None:
    buf = DigestBuffer(600)
    buf.add(note(Tier.LOW, nid="a"), 100)
    again = DigestBuffer(600)
    again.restore(buf.snapshot())
    assert again.next_due() == 700 and [n.id for n in again.due(700)] == ["a"]
    assert again.due(700) == []


async def test_digest_goes_to_the_team_as_one_mail(smtp: SmtpServer) -> None:
    notifier = mailer(smtp.port, digest_interval="30m")
    low = note(Tier.LOW, nid="a", summary="Certificate expires in 20 days", target="api.converge.example")
    later = note(Tier.LOW, nid="b", summary="Dependency audit: 2 advisories", target="deps")
    assert notifier.digests(low) and not notifier.digests(note(Tier.CRITICAL))
    buf = notifier.digest_buffer()
    buf.add(low, FIRED)
    buf.add(later, FIRED + 60)
    assert buf.due(FIRED + 1799) == []
    await notifier.send_digest(buf.due(FIRED + 1800))
    [got] = smtp.inbox.mails
    assert got.rcpt_tos == ["team@example.org"]
    assert got.message["Subject"] == "[converge-monitor] Digest: 2 low-priority alert updates"
    text, html = parts(got.message)
    for body in (text, html):
        assert "Certificate expires in 20 days" in body and "Dependency audit: 2 advisories" in body


def test_config_checks() -> None:
    with pytest.raises(ValueError, match="username and password go together"):
        ChannelsConfig.model_validate({"email": {"host": "h", "from": "a@example.org", "username": "u"}})
    with pytest.raises(ValueError, match=r"to\[1\].*not an email address"):
        ChannelsConfig.model_validate({"email": {"host": "h", "from": "a@example.org", "to": ["x@y.org", "nope"]}})
    cfg = ChannelsConfig.model_validate({"email": {"host": "h", "from": "a@example.org", "username": "u",
                                                   "password": PASSWORD}})
    assert PASSWORD not in repr(cfg)
    mail = cfg["email"]
    assert isinstance(mail, EmailChannel) and mail.effective_port == 587 and mail.use_starttls


def test_test_notify_mails_and_reports_a_down_server(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from tests.support.cli import run_cli

    def config(port: int) -> str:
        path = tmp_path / f"monitor-{port}.yml"
        path.write_text(yaml.safe_dump({"channels": {"email": {
            "host": "127.0.0.1", "port": port, "starttls": False, "from": "m@example.org", "to": ["team@example.org"],
            "username": "monitor", "password": PASSWORD}}}))
        return str(path)

    with SmtpServer(authenticator=authenticator, auth_require_tls=False) as server:
        assert run_cli(["--config", config(server.port), "test-notify", "email"]) == 0
        out = capsys.readouterr().out
        assert f"email: sent a test message via SMTP 127.0.0.1:{server.port} (plain, AUTH) to team@example.org" in out
        assert server.inbox.mails[0].message["Subject"] == "[converge-monitor] Test message"
    down = free_port()
    assert run_cli(["--config", config(down), "test-notify", "email"]) == 1
    out = capsys.readouterr().out
    assert "email: FAILED" in out and "temporary" in out and "cannot reach" in out and PASSWORD not in out
