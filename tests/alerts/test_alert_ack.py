"""alerts/ack: signed, expiring ack links (forged, tampered, expired, malformed refused) and the bearer check."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr, ValidationError

from alerts.ack import AckConfig, AckError, ack_url, check_bearer, make_ack_token, verify_ack_token
from alerts.model import fingerprint

SECRET = "k" * 40
OTHER = "o" * 40
NOW = 1_769_616_000.0
ALERT = fingerprint("api_down", {"alertname": "api_down", "tier": "critical", "target": "api-health"})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signed(payload: bytes, secret: str = SECRET) -> str:
    """A token built by hand with the real key: what only a holder of the secret could make."""
    tag = hmac.new(secret.encode(), b"converge-monitor/ack/v1\x00" + payload, hashlib.sha256).digest()[:16]
    return f"{b64(payload)}.{b64(tag)}"


def reason(token: str, now: float = NOW, secret: str = SECRET) -> str:
    with pytest.raises(AckError) as info:
        verify_ack_token(token, secret, now)
    assert SECRET not in str(info.value) and (len(token) < 8 or token[:20] not in str(info.value))
    return info.value.reason


def test_round_trip_with_and_without_actor() -> None:
    token = make_ack_token(ALERT, SECRET, NOW + 3600, actor="alice")
    claim = verify_ack_token(token, SECRET, NOW)
    assert (claim.alert_id, claim.expires_at, claim.actor) == (ALERT, NOW + 3600, "alice")
    anonymous = verify_ack_token(make_ack_token(ALERT, SECRET, NOW + 60), SecretStr(SECRET), NOW)
    assert anonymous.actor is None and anonymous.alert_id == ALERT


def test_token_is_short_and_url_safe() -> None:
    token = make_ack_token(ALERT, SECRET, NOW + 86400)
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token)
    assert len(token) <= 56  # fits an SMS with the alert text
    url = ack_url("https://monitor.example.org", token)
    assert len(url) < 100 and url == f"https://monitor.example.org/ack/{token}"


def test_tokens_accept_aware_datetimes() -> None:
    expires = datetime.fromtimestamp(NOW + 600, UTC)
    token = make_ack_token(ALERT, SECRET.encode(), expires)
    assert verify_ack_token(token, SECRET, datetime.fromtimestamp(NOW, UTC)).expires_at == NOW + 600


def test_expiry_is_exclusive() -> None:
    token = make_ack_token(ALERT, SECRET, NOW + 600)
    assert verify_ack_token(token, SECRET, NOW + 599).alert_id == ALERT
    assert reason(token, now=NOW + 600) == "expired"
    assert reason(token, now=NOW + 86400) == "expired"


def test_wrong_secret_is_a_bad_signature() -> None:
    token = make_ack_token(ALERT, OTHER, NOW + 600)
    assert reason(token) == "bad_signature"


def test_tampered_payload_or_tag_is_a_bad_signature() -> None:
    token = make_ack_token(ALERT, SECRET, NOW + 600, actor="alice")
    body, tag = token.split(".")
    payload = bytearray(unb64(body))
    payload[6] ^= 0x01  # another alert id
    assert reason(f"{b64(bytes(payload))}.{tag}") == "bad_signature"
    later = bytearray(unb64(body))
    later[1:5] = struct.pack(">I", int(NOW) + 10**6)  # stretch the expiry
    assert reason(f"{b64(bytes(later))}.{tag}") == "bad_signature"
    flipped = bytearray(unb64(tag))
    flipped[-1] ^= 0x80
    assert reason(f"{body}.{b64(bytes(flipped))}") == "bad_signature"
    other_tag = make_ack_token("another", SECRET, NOW + 600).split(".")[1]
    assert reason(f"{body}.{other_tag}") == "bad_signature"  # a tag from another genuine token


def test_forged_tokens_are_refused() -> None:
    payload = struct.pack(">BIB", 1, int(NOW) + 600, len(ALERT)) + ALERT.encode()
    assert reason(f"{b64(payload)}.{b64(b'0' * 16)}") == "bad_signature"
    assert reason(f"{b64(payload)}.{b64(hashlib.sha256(payload).digest()[:16])}") == "bad_signature"
    assert reason(signed(payload, secret=OTHER)) == "bad_signature"
    assert reason(f"{b64(payload)}.") == "bad_signature"  # an empty tag


@pytest.mark.parametrize("token", [
    "",
    "abc",
    "a.b.c",
    "....",
    "AQ==.AQ==",  # padding is not part of the format
    "not base64!.AAAA",
    "Zm9v.YmFy\n",
    "AB.AAAA",  # "AB" has stray bits set: not the canonical spelling of any byte string
    "é.é",
    "A" * 600 + ".AAAA",
])
def test_malformed_tokens(token: str) -> None:
    assert reason(token) == "malformed"


@pytest.mark.parametrize(("payload", "expected"), [
    (struct.pack(">BIB", 2, int(NOW) + 600, 3) + b"abc", "unsupported_version"),
    (struct.pack(">BI", 1, int(NOW) + 600), "malformed"),  # too short
    (struct.pack(">BIB", 1, int(NOW) + 600, 0), "malformed"),  # no alert id
    (struct.pack(">BIB", 1, int(NOW) + 600, 9) + b"abc", "malformed"),  # id shorter than announced
    (struct.pack(">BIB", 1, int(NOW) + 600, 2) + b"\xff\xfe", "malformed"),  # not UTF-8
])
def test_signed_but_invalid_payloads(payload: bytes, expected: str) -> None:
    assert reason(signed(payload)) == expected


def test_secrets_and_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        make_ack_token(ALERT, "short", NOW + 60)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        verify_ack_token(make_ack_token(ALERT, SECRET, NOW + 60), "", NOW)
    with pytest.raises(ValueError, match="alert_id"):
        make_ack_token("", SECRET, NOW + 60)
    with pytest.raises(ValueError, match="no time zone"):
        make_ack_token(ALERT, SECRET, datetime(2026, 1, 28, 9, 0))


@pytest.mark.parametrize(("base", "expected"), [
    ("https://monitor.example.org", "https://monitor.example.org/ack/T.K"),
    ("https://monitor.example.org/", "https://monitor.example.org/ack/T.K"),
    ("http://127.0.0.1:9464/mon", "http://127.0.0.1:9464/mon/ack/T.K"),
])
def test_ack_url(base: str, expected: str) -> None:
    assert ack_url(base, "T.K") == expected


@pytest.mark.parametrize("base", ["monitor.example.org", "ftp://x.org", "https://"])
def test_ack_url_needs_an_http_base(base: str) -> None:
    with pytest.raises(ValueError, match="http"):
        ack_url(base, "T.K")


TOKEN = "api-write-token-0123456789"


@pytest.mark.parametrize(("header", "expected"), [
    (None, "missing"),  # 401
    ("", "missing"),
    ("Bearer", "missing"),
    ("Bearer    ", "missing"),
    (f"Basic {TOKEN}", "missing"),
    (TOKEN, "missing"),  # no scheme
    (f"Bearer {TOKEN}", "ok"),
    (f"bearer {TOKEN}", "ok"),
    (f"  Bearer   {TOKEN}  ", "ok"),
    ("Bearer nope", "wrong"),  # 403
    (f"Bearer {TOKEN[:-1]}", "wrong"),
    (f"Bearer {TOKEN}x", "wrong"),
    (f"Bearer {TOKEN.upper()}", "wrong"),
    ("Bearer ünïcode", "wrong"),
])
def test_check_bearer(header: str | None, expected: str) -> None:
    assert check_bearer(header, TOKEN) == expected
    assert check_bearer(header, SecretStr(TOKEN)) == expected


def test_check_bearer_refuses_to_run_without_a_configured_token() -> None:
    with pytest.raises(ValueError, match="no API token configured"):
        check_bearer("Bearer ", "")


def test_ack_config_hides_its_secret() -> None:
    cfg = AckConfig.model_validate({"secret": SECRET, "base_url": "https://monitor.example.org", "ttl": "12h"})
    assert cfg.ttl == 12 * 3600 and SECRET not in repr(cfg)
    assert AckConfig.model_validate({"secret": SECRET}).ttl == 86400
    with pytest.raises(ValidationError) as info:
        AckConfig.model_validate({"secret": "tooshort-secret"})
    assert "at least 32 characters" in str(info.value) and "tooshort-secret" not in str(info.value)
