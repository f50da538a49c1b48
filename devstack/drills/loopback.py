"""Drills inject real faults, so they only ever touch loopback hosts: checks for every address a config names."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import SecretStr

from monitor.config import Config


class NotLoopback(ValueError):
    """The config names a host that is not a loopback address; the message names the field."""


def is_loopback(host: str | None, *, wildcard_ok: bool = False) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (and 0.0.0.0/:: when `wildcard_ok`: a local bind address)."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or (wildcard_ok and ip.is_unspecified)


def dsn_hosts(dsn: str) -> list[str]:
    """The hosts a PostgreSQL DSN (URL or key=value) connects to; a socket directory or no host is local."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise NotLoopback(f"cannot read the DSN: {type(exc).__name__} (value hidden)") from None
    raw = str(params.get("hostaddr") or params.get("host") or "")
    hosts = [h.strip() for h in raw.split(",") if h.strip()]
    return [h for h in hosts if not h.startswith("/")]  # a Unix socket directory is this machine


def _named_urls(config: Config) -> Iterator[tuple[str, str]]:
    for i, http in enumerate(config.targets.http):
        yield f"targets.http[{i}].url", str(http.url)
    for i, syn in enumerate(config.targets.synthetic):
        yield f"targets.synthetic[{i}].base_url", str(syn.base_url)
    for i, am in enumerate(config.targets.api_metrics):
        for j, url in enumerate(am.urls):
            yield f"targets.api_metrics[{i}].urls[{j}]", str(url)


def check_config(config: Config) -> None:
    """Raise NotLoopback naming the first field whose host is not a loopback address."""
    import httpx

    why = "drills inject faults, so they run only against loopback hosts (localhost, 127.0.0.0/8, ::1)"
    for field, url in _named_urls(config):
        host = httpx.URL(url).host
        if not is_loopback(host):
            raise NotLoopback(f"{field}: host {host!r} is not a loopback address; {why}")
    for i, db in enumerate(config.database):
        for host in dsn_hosts(_secret(db.dsn)):
            if not is_loopback(host):
                raise NotLoopback(f"database[{i}].dsn: host {host!r} is not a loopback address; {why}")
    for i, redis in enumerate(config.redis):
        url = _secret(redis.url)
        host = httpx.URL(url).host if "://" in url else ""
        if url.startswith("unix://"):
            continue
        if not is_loopback(host):
            raise NotLoopback(f"redis[{i}].url: host {host!r} is not a loopback address; {why}")
    if not is_loopback(config.server.host, wildcard_ok=True):
        raise NotLoopback(f"server.host: {config.server.host!r} is not a loopback address; {why}")


def _secret(value: SecretStr | str) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value
