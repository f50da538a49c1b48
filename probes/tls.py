"""TLS for the HTTP probes: a client with the target's TLS settings, and the peer certificate's expiry."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

import httpx

from probes.base import ProbeContext

_CLIENT_KEY = "tls_client"


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
        await aclose_client(ctx)  # the target's TLS settings changed between runs
    client = httpx.AsyncClient(verify=_ssl_verify(verify, ca_file), follow_redirects=False)
    ctx.state[_CLIENT_KEY] = (settings, client)
    return client


async def aclose_client(ctx: ProbeContext) -> None:
    """Close the client this target's probe created (never ctx.http, which belongs to the caller)."""
    cached = ctx.state.pop(_CLIENT_KEY, None)
    if cached is not None:
        await cached[1].aclose()


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
    cert = ssl_object.getpeercert()
    if cert and "notAfter" in cert:
        return float(ssl.cert_time_to_seconds(cert["notAfter"]))
    der = ssl_object.getpeercert(binary_form=True)
    return not_after_from_der(der) if der else None


def response_not_after(response: httpx.Response) -> float | None:
    """notAfter of the certificate on the connection that carried this (still open, streamed) response."""
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    ssl_object = stream.get_extra_info("ssl_object")
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
