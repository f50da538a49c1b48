"""Signed, expiring acknowledgement links for SMS and Slack, and the bearer-token check of the write API.

Token: base64url(payload) "." base64url(tag), no padding. The payload is binary to keep an SMS short:
version (1 byte), expiry (uint32 epoch seconds), alert id length (1 byte), alert id, actor (the rest;
UTF-8). The tag is HMAC-SHA256 over a purpose prefix and the payload, truncated to 128 bits (RFC 2104
section 5 allows truncation to half the output; 2^-128 forgery odds). For a 16-character alert id the
token is 53 characters.

The link should open a page whose button POSTs the ack: link previews (Slack unfurls, SMS apps) fetch
URLs with GET, and must not acknowledge a page nobody read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import quote, urlsplit

from pydantic import AnyHttpUrl, ConfigDict, Field, SecretStr, field_validator

from monitor.core.sections import Section
from monitor.core.targets import Duration
from monitor.core.timeutil import epoch

VERSION = 1
TAG_BYTES = 16
MAX_TOKEN_CHARS = 512  # refuse absurd input before decoding it
MIN_SECRET_BYTES = 16
_PURPOSE = b"converge-monitor/ack/v1\x00"  # a secret shared with another use cannot mint ack tokens
_HEADER = struct.Struct(">BIB")  # version, expiry, alert id length

NOTE = "@"  # a token for "@<notification id>" acknowledges the alerts that notification carried


def note_ref(notification_id: str) -> str:
    """What an ack token carries instead of an alert id to acknowledge a whole notification (an SMS)."""
    return NOTE + notification_id


AckReason = Literal["malformed", "unsupported_version", "bad_signature", "expired"]
Secret = str | bytes | SecretStr


class AckError(Exception):
    """A refused ack token; `reason` is safe to show and to log (it never contains the token or secret)."""

    def __init__(self, reason: AckReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: AckReason = reason


@dataclass(frozen=True)
class AckClaim:
    alert_id: str
    expires_at: float
    actor: str | None



def _key(secret: Secret) -> bytes:
    raw = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    key = raw.encode() if isinstance(raw, str) else bytes(raw)
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"the ack secret must be at least {MIN_SECRET_BYTES} bytes")
    return key


def _tag(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, _PURPOSE + payload, hashlib.sha256).digest()[:TAG_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise AckError("malformed", "not base64url") from None
    if _b64(data) != text:  # one token, one spelling: no padding, no stray bits
        raise AckError("malformed", "not canonical base64url")
    return data


def make_ack_token(alert_id: str, secret: Secret, expires_at: float | datetime, actor: str | None = None) -> str:
    ident = alert_id.encode()
    if not 0 < len(ident) <= 255:
        raise ValueError("alert_id must be 1 to 255 bytes")
    expiry = int(epoch(expires_at))
    if not 0 < expiry < 2**32:
        raise ValueError("expires_at is out of range")
    payload = _HEADER.pack(VERSION, expiry, len(ident)) + ident + (actor or "").encode()
    return f"{_b64(payload)}.{_b64(_tag(_key(secret), payload))}"


def verify_ack_token(token: str, secret: Secret, now: float | datetime) -> AckClaim:
    """The claim of a genuine, unexpired token; AckError (with a reason) for anything else."""
    key = _key(secret)  # a misconfigured secret is our error, not the caller's: ValueError
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise AckError("malformed", "expected two base64url parts separated by '.'")
    body, mac = token.split(".")
    payload, tag = _unb64(body), _unb64(mac)
    # The tag is checked before anything in the payload is believed; forged, tampered and
    # other-secret tokens all end here, and are indistinguishable by design.
    if not hmac.compare_digest(tag, _tag(key, payload)):
        raise AckError("bad_signature", "the token was not issued by this monitor or was altered")
    if len(payload) < _HEADER.size:
        raise AckError("malformed", "payload too short")
    version, expiry, id_len = _HEADER.unpack_from(payload)
    if version != VERSION:
        raise AckError("unsupported_version", f"token version {version}")
    ident = payload[_HEADER.size:_HEADER.size + id_len]
    if id_len == 0 or len(ident) != id_len:
        raise AckError("malformed", "alert id missing")
    try:
        alert_id = ident.decode()
        actor = payload[_HEADER.size + id_len:].decode() or None
    except UnicodeDecodeError:
        raise AckError("malformed", "payload is not UTF-8") from None
    if epoch(now) >= expiry:
        raise AckError("expired", "the link has expired: acknowledge in Slack, the API or the CLI")
    return AckClaim(alert_id=alert_id, expires_at=float(expiry), actor=actor)


def ack_url(base_url: str, token: str, path: str = "/ack/") -> str:
    """The link carried in messages: {base_url}{path}{token}."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("base_url must be an http(s) URL with a host")
    return base_url.rstrip("/") + "/" + path.strip("/") + "/" + quote(token, safe="")


BearerCheck = Literal["ok", "missing", "wrong"]


def check_bearer(header_value: str | None, expected: str | SecretStr) -> BearerCheck:
    """Authorization header vs the configured token: 'missing' -> 401, 'wrong' -> 403, in constant time."""
    want = expected.get_secret_value() if isinstance(expected, SecretStr) else expected
    if not want:
        raise ValueError("no API token configured: refuse writes instead of accepting any token")
    scheme, _, given = (header_value or "").strip().partition(" ")
    given = given.strip()
    if scheme.lower() != "bearer" or not given:
        return "missing"
    # Hash first so the comparison takes the same time whatever the lengths.
    same = hmac.compare_digest(hashlib.sha256(given.encode()).digest(), hashlib.sha256(want.encode()).digest())
    return "ok" if same else "wrong"


class AckConfig(Section):
    """Ack links: the key that signs them, how long they stay valid, and the monitor's public URL."""

    model_config = ConfigDict(hide_input_in_errors=True)  # merged with Section's; errors never echo the secret
    secret: SecretStr
    base_url: AnyHttpUrl | None = None  # e.g. https://monitor.example.org; no links in messages without it
    ttl: Duration = Field(24 * 3600.0)

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value().encode()) < 32:
            raise ValueError("secret must be at least 32 characters (e.g. `openssl rand -hex 32`; value hidden)")
        return value
