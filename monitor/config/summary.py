"""A human summary of a loaded config (what `converge-monitor check-config` prints); secrets masked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from alerts.model import Tier
from monitor.config import Config
from monitor.core.redact import safe_url
from monitor.core.targets import (
    AnyTarget,
    ApiMetricsTarget,
    BackupRestoreTarget,
    BackupTarget,
    BrowserTarget,
    DepsTarget,
    DiskTarget,
    HttpTarget,
    JourneyTarget,
    PostgresTarget,
    RedisTarget,
    SyntheticTarget,
)


def format_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s" if seconds >= 1 else f"{seconds * 1000:g}ms"


def where(target: AnyTarget) -> str:
    if isinstance(target, HttpTarget):
        return f"{target.method} {safe_url(str(target.url))}"
    if isinstance(target, SyntheticTarget):
        steps = " -> ".join(f"{s.method} {s.path}" for s in target.steps)
        return f"{safe_url(str(target.base_url))}: {steps}"
    if isinstance(target, JourneyTarget):
        return f"{safe_url(str(target.base_url))}: login, sessions, RSVP, QR connection, message, websocket"
    if isinstance(target, BrowserTarget):
        return f"chromium {safe_url(str(target.url))}"
    if isinstance(target, BackupRestoreTarget):
        return f"restore {target.directory}/{target.pattern} into {target.scratch_database}"
    if isinstance(target, ApiMetricsTarget):
        return ", ".join(safe_url(str(u)) for u in target.urls) + f" (window {format_duration(target.window)})"
    if isinstance(target, PostgresTarget):
        return safe_url(target.dsn.get_secret_value())
    if isinstance(target, RedisTarget):
        return safe_url(target.url.get_secret_value())
    if isinstance(target, BackupTarget):
        if target.directory is not None:
            return f"{target.directory}/{target.pattern}"
        return f"command {target.command[0] if target.command else ''} ..."
    if isinstance(target, DiskTarget):
        return ", ".join(target.paths)
    if isinstance(target, DepsTarget):
        return target.mode + (f" {target.requirements}" if target.requirements else "")
    return ""


def summarize(config: Config) -> str:
    lines = [f"config: {config.source or '(built in code)'}: valid"]
    located = list(config.located_targets())
    enabled = [t for _, t in located if t.enabled]
    lines.append(f"targets: {len(enabled)} enabled" + (f", {len(located) - len(enabled)} disabled"
                                                       if len(located) > len(enabled) else ""))
    rows = [("NAME", "KIND", "INTERVAL", "EVENT", "TIMEOUT", "CHECKS")]
    for _, t in located:
        rows.append((t.name + ("" if t.enabled else " (disabled)"), t.kind, format_duration(t.interval),
                     format_duration(t.effective_interval(True)), format_duration(t.timeout), where(t)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5] for r in rows]

    store = config.store
    at = store.path if store.backend == "sqlite" else safe_url(store.dsn.get_secret_value() if store.dsn else "")
    lines.append(f"store: {store.backend} {at} (retention {format_duration(store.retention)})")
    lines.append(f"server: http://{config.server.host}:{config.server.port}")
    if config.event:
        ev = config.event
        lines.append(f"event: {ev.start} to {ev.end} inclusive, {ev.timezone} "
                     f"({ev.starts_at.isoformat()} to {ev.ends_at.isoformat()})")
    else:
        lines.append("event: none (no event window: normal intervals all the time)")
    if config.deadman:  # a ping URL's path is its token: show the host only
        ping = urlsplit(config.deadman.url.get_secret_value())
        lines.append(f"deadman: GET {ping.scheme}://{ping.hostname}/*** after each healthy cycle")
    else:
        lines.append("deadman: none")
    lines.append("channels: " + _names(config.channels.root, "none (alerts go to the console)"))
    rules = config.effective_rules()
    enabled = sum(r.enabled for r in rules)
    lines.append(f"rules: {enabled} enabled of {len(rules)} (`converge-monitor rules` lists them)")
    lines.append("routing: " + "; ".join(
        f"{tier} -> {'+'.join(config.routing.channels_for(tier, True))} in event, "
        f"{'+'.join(config.routing.channels_for(tier, False))} otherwise" for tier in Tier))
    if config.oncall:
        who = ", ".join(p.name for p in config.oncall.people)
        rot = config.oncall.rotation
        lines.append(f"on-call: {who}; {rot.period} hand-off at {rot.handoff:%H:%M} {rot.timezone}")
    else:
        lines.append("on-call: none (pages go to the channels only)")
    declared = len(config.silences.declared)
    lines.append(f"maintenance: {len(config.maintenance)} window(s); silences declared: {declared}")
    lines.append(f"api token: {'set' if config.server.api_token else 'not set (write endpoints refused)'}; "
                 f"ack links: {'signed' if config.ack else 'off (no ack secret)'}")
    lines.append("slos: " + ", ".join(f"{s.name} {s.objective:.3%}".replace(".000%", "%")
                                      for s in config.slos.effective()))
    return "\n".join(lines)


def _names(channels: Mapping[str, Any], empty: str) -> str:
    # Only names and types: channel settings hold webhook URLs and tokens.
    if not channels:
        return empty
    return ", ".join(f"{name} ({getattr(channel, 'type', '?')})" for name, channel in channels.items())

