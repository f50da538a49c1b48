"""TLS for the HTTP probes: clients and sessions with a target's TLS settings, and the peer certificate's expiry.

The http probe uses aiohttp sessions (`session_for`); the synthetic probe an httpx client (`client_for`).
`aclose_client(ctx)` releases whatever a target's probe took.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import weakref
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx

from probes.base import ProbeContext

_CLIENT_KEY = "tls_client"
_SESSION_KEY = "tls_session"
USER_AGENT = "converge-monitor"
# Keep-alive connections per shared session: above the scheduler's probe concurrency, far below fd limits.
SESSION_CONNECTION_LIMIT = 100
_DEFAULT_SETTINGS: tuple[bool, str | None] = (True, None)


class LocalTlsError(Exception):
    """Our own TLS setup failed (e.g. an unreadable ca_file): the target itself was not checked."""


def _ssl_verify(verify: bool, ca_file: str | None) -> ssl.SSLContext | bool:
    if not verify:
        return False
    if ca_file is None:
        return True
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise LocalTlsError(f"ca_file {ca_file!r} cannot be used: {exc}") from exc


def ssl_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    """The SSL context for these settings; the default trusts what httpx trusts (certifi when installed)."""
    verified = _ssl_verify(verify, ca_file)
    if isinstance(verified, ssl.SSLContext):
        return verified
    if not verified:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    try:
        import certifi
    except ImportError:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


async def client_for(ctx: ProbeContext, *, verify: bool = True, ca_file: str | None = None,
                     use_shared: bool = True) -> httpx.AsyncClient:
    """ctx.http when the default TLS settings do, else a client cached in ctx.state for this target.

    Raises LocalTlsError when the CA file cannot be loaded.
    """
    if use_shared and verify and ca_file is None and ctx.http is not None:
        return ctx.http
    settings = (verify, ca_file)
    cached: tuple[tuple[bool, str | None], httpx.AsyncClient] | None = ctx.state.get(_CLIENT_KEY)
    if cached is not None:
        if cached[0] == settings and not cached[1].is_closed:
            return cached[1]
        await _close_httpx(ctx)  # the target's TLS settings changed between runs
    client = httpx.AsyncClient(verify=_ssl_verify(verify, ca_file), follow_redirects=False)
    ctx.state[_CLIENT_KEY] = (settings, client)
    return client


# --- aiohttp sessions, shared per TLS settings ---------------------------------------------------------------
# One session (and keep-alive pool) per event loop and TLS settings, shared by every target with those settings;
# it closes when the last target using it calls aclose_client. Users are tracked here by id(ctx), not in
# ctx.state: a target on the default settings keeps nothing of its own (as with the caller's shared ctx.http).


class CertResponse(aiohttp.ClientResponse):
    """A response that keeps its connection's SSL object: aiohttp releases the connection as soon as the
    body is complete, which for small bodies is before the caller gets the response."""

    ssl_object: Any = None

    async def start(self, connection: aiohttp.connector.Connection) -> aiohttp.ClientResponse:
        transport = connection.transport
        if transport is not None:
            self.ssl_object = transport.get_extra_info("ssl_object")
        return await super().start(connection)


@dataclass
class _Shared:
    session: aiohttp.ClientSession
    users: set[int] = field(default_factory=set)


@dataclass
class _LoopSessions:
    shared: dict[tuple[bool, str | None], _Shared] = field(default_factory=dict)
    used_by: dict[int, tuple[bool, str | None]] = field(default_factory=dict)  # id(ctx) -> its settings


_LOOPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopSessions] = weakref.WeakKeyDictionary()


def _new_session(verify: bool, ca_file: str | None) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(ssl=ssl_context(verify, ca_file), limit=SESSION_CONNECTION_LIMIT)
    # No aiohttp timers (the probe holds one deadline for the whole redirect chain), no cookies kept between
    # checks or targets (the probe carries cookies along one redirect chain itself).
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(),
                                 cookie_jar=aiohttp.DummyCookieJar(), headers={"User-Agent": USER_AGENT},
                                 response_class=CertResponse)


async def session_for(ctx: ProbeContext, *, verify: bool = True, ca_file: str | None = None) -> aiohttp.ClientSession:
    """The shared aiohttp session for these TLS settings, taken for this target until aclose_client(ctx).

    Non-default settings are also noted in ctx.state. Raises LocalTlsError when the CA file cannot be loaded.
    """
    loop = asyncio.get_running_loop()
    sessions = _LOOPS.get(loop)
    if sessions is None:
        sessions = _LOOPS[loop] = _LoopSessions()
    settings, user = (verify, ca_file), id(ctx)
    previous = sessions.used_by.get(user)
    if previous is not None and previous != settings:
        await _release_session(ctx)  # the target's TLS settings changed between runs
    shared = sessions.shared.get(settings)
    if shared is None or shared.session.closed:
        shared = sessions.shared[settings] = _Shared(_new_session(verify, ca_file))
    shared.users.add(user)
    sessions.used_by[user] = settings
    if settings != _DEFAULT_SETTINGS:
        ctx.state[_SESSION_KEY] = (settings, shared.session)
    return shared.session


async def _release_session(ctx: ProbeContext) -> None:
    ctx.state.pop(_SESSION_KEY, None)
    sessions = _LOOPS.get(asyncio.get_running_loop())
    settings = sessions.used_by.pop(id(ctx), None) if sessions is not None else None
    if sessions is None or settings is None:
        return
    shared = sessions.shared.get(settings)
    if shared is None:
        return
    shared.users.discard(id(ctx))
    if not shared.users:
        del sessions.shared[settings]
        await shared.session.close()


async def _close_httpx(ctx: ProbeContext) -> None:
    cached = ctx.state.pop(_CLIENT_KEY, None)
    if cached is not None:
        await cached[1].aclose()


async def aclose_client(ctx: ProbeContext) -> None:
    """Release what this target's probe took: its own httpx client, its use of a shared aiohttp session
    (closed with its last user). Never ctx.http, which belongs to the caller."""
    await _close_httpx(ctx)
    await _release_session(ctx)


# --- certificate expiry ------------------------------------------------------------------------------------


def not_after_from_der(der: bytes) -> float | None:
    """notAfter (epoch seconds) of a DER certificate; None when `cryptography` is not installed."""
    try:
        from cryptography import x509
    except ImportError:
        return None
    try:
        return x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()
    except ValueError:
        return None


def not_after_from_ssl_object(ssl_object: Any) -> float | None:
    # getpeercert() is decoded only when the certificate was verified; otherwise read the DER bytes.
    try:
        cert = ssl_object.getpeercert()
        if cert and "notAfter" in cert:
            return float(ssl.cert_time_to_seconds(cert["notAfter"]))
        der = ssl_object.getpeercert(binary_form=True)
    except (ValueError, ssl.SSLError):  # the connection is gone
        return None
    return not_after_from_der(der) if der else None


def response_not_after(response: aiohttp.ClientResponse) -> float | None:
    """notAfter of the certificate on the connection that carried this response (from a CertResponse)."""
    ssl_object = getattr(response, "ssl_object", None)
    return not_after_from_ssl_object(ssl_object) if ssl_object is not None else None


async def fetch_not_after(host: str, port: int, timeout: float) -> float | None:
    """notAfter read over a connection of our own that does not verify: for certificates that failed
    verification (expired, untrusted), so their expiry is still reported. None when it cannot be read."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=host)
    except (OSError, ssl.SSLError, TimeoutError):
        return None
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        return not_after_from_ssl_object(ssl_object) if ssl_object is not None else None
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
