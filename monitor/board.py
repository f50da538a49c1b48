"""The built-in status board: `/board` for the team, `/board/kiosk` for event-day screens.

Read-only views over what the pipeline already wrote: the store's latest values and last hour of
history, the alert service's active alerts, and optional SLO budgets. Server-rendered jinja2 with
inline CSS and SVG, no scripts and no external assets, so it works on a locked-down screen.

Public by design, so it shows no secrets and no personal data: target URLs/DSNs and observation
details are never put in the view, and every rendered string also passes through `scrub` (URLs,
IP addresses, e-mail addresses) as a second line of defence.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from alerts.model import TIER_ORDER, Tier
from alerts.service import AlertService
from monitor.core.observation import Observation
from monitor.core.signals import CATALOG
from monitor.rendercache import RenderCache
from monitor.scheduler import ProbeScheduler
from monitor.store.base import Sample

log = logging.getLogger("converge.monitor.board")

SloProvider = Callable[[], Sequence[Mapping[str, Any]]]
REFRESH_SECONDS = 15
KIOSK_REFRESH_SECONDS = 10
SPARK_WINDOW = 3600.0
SPARK_W, SPARK_H = 200.0, 40.0
# The board sends a strict CSP: nothing may load from anywhere, which also proves "no external assets".
HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
           "Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}

API_UP = ("http_up", "api_up", "synthetic_success")  # all of these at 0 = nobody can reach the API
KEY_UP = (*API_UP, "postgres_up", "redis_up")


@dataclass(frozen=True)
class KeySignal:
    signal: str
    title: str
    match: Mapping[str, str] = field(default_factory=dict)


KEY_SIGNALS = (
    KeySignal("api_latency_p95_seconds", "p95 latency", {"route": "*"}),
    KeySignal("api_error_ratio", "Error rate"),
    KeySignal("api_requests_per_minute", "Requests / min"),
    KeySignal("api_websocket_connections", "Websockets"),
    KeySignal("api_db_pool_utilization", "DB pool in use"),
    KeySignal("redis_memory_ratio", "Redis memory"),
)
KIOSK_SIGNALS = KEY_SIGNALS[:4]
# Event-day business counters, shown on the kiosk once the catalog declares them (not yet: see the report).
EVENT_COUNTERS = (("api_logins_today", "Logins today"), ("api_rsvps_today", "RSVPs today"),
                  ("api_connections_today", "Connections today"), ("api_messages_today", "Messages today"))

# -- scrubbing ---------------------------------------------------------------------------------------------
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.I)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_IPV4 = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b")
_IPV6 = re.compile(r"(?<![\w:])(?:(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}(?![\w:])|[0-9a-f]{0,4}::[0-9a-f:.]*)", re.I)
_ERROR_CLASS = re.compile(r"^([a-z][a-z_ ]{0,23})(?::\s|$)")


def scrub(text: str) -> str:
    """Remove what must never be on a public screen: URLs (they carry credentials), IPs, e-mail addresses."""
    text = _URL.sub("[url]", text)
    text = _EMAIL.sub("[email]", text)
    text = _IPV4.sub("[ip]", text)
    return _IPV6.sub("[ip]", text)


def error_class(error: str | None) -> str | None:
    """The probes' error codes ("connect", "timeout", "auth", "status", ...) without the message behind them."""
    if not error:
        return None
    m = _ERROR_CLASS.match(error.strip())
    if m:
        return m.group(1).strip()
    short = scrub(error)
    return short if len(short) <= 40 else short[:39] + "…"


# -- formatting --------------------------------------------------------------------------------------------
def fmt_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m"
    if seconds < 86400:
        return f"{seconds // 3600:.0f}h {seconds % 3600 // 60:.0f}m"
    return f"{seconds // 86400:.0f}d {seconds % 86400 // 3600:.0f}h"


def fmt_value(value: float | None, unit: str) -> str:
    if value is None or math.isnan(value):
        return "unknown"
    if unit == "bool":
        return "up" if value >= 1 else "down"
    if unit == "ratio":
        pct = value * 100
        return f"{pct:.2f}%" if abs(pct) < 1 else f"{pct:.1f}%"
    if unit == "seconds":
        if abs(value) < 1:
            return f"{value * 1000:.0f} ms"
        return f"{value:.2f} s" if abs(value) < 120 else fmt_duration(value)
    if unit == "bytes":
        for factor, suffix in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
            if abs(value) >= factor:
                return f"{value / factor:.1f} {suffix}"
        return f"{value:.0f} B"
    if unit == "factor":
        return f"{value:.2f}×"
    number = f"{value:,.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.1f}"
    return number + {"per_minute": "/min", "per_second": "/s", "days": " d"}.get(unit, "")


def fmt_time(ts: float, zone: tzinfo) -> str:
    return datetime.fromtimestamp(ts, zone).strftime("%H:%M:%S %Z")


# -- sparklines --------------------------------------------------------------------------------------------
def sparkline(samples: Sequence[Sample], since: float, until: float) -> dict[str, Any]:
    """SVG polyline segments (a gap wherever the value was unknown), scaled 0..max over the window.

    A monitor that started minutes ago has less than the window: the line then spans the history
    there is (the caption says how long), rather than a sliver at the right edge.
    """
    known = [s.value for s in samples if s.value is not None]
    top = max(known, default=0.0) or 1.0
    if samples:
        since = max(since, samples[0].timestamp)
    span = max(until - since, 1.0)
    segments: list[list[tuple[float, float]]] = [[]]
    for s in samples:
        if s.value is None:
            if segments[-1]:
                segments.append([])
            continue
        segments[-1].append(((s.timestamp - since) / span * SPARK_W, SPARK_H - 2 - (s.value / top) * (SPARK_H - 6)))
    segments = [seg for seg in segments if seg]
    for seg in segments:
        if len(seg) == 1:  # a single point would draw nothing: widen it to a short dash
            seg.insert(0, (max(seg[0][0] - 3, 0.0), seg[0][1]))
    return {"lines": [_points(seg) for seg in segments],
            "areas": [_points([(seg[0][0], SPARK_H), *seg, (seg[-1][0], SPARK_H)]) for seg in segments],
            "width": SPARK_W, "height": SPARK_H,
            "min": min(known, default=None), "max": max(known, default=None), "points": len(known),
            "span": "last hour" if span >= SPARK_WINDOW - 60 else f"last {fmt_duration(span)}"}


def _points(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


# -- the view ----------------------------------------------------------------------------------------------
@dataclass
class Board:
    scheduler: ProbeScheduler
    alerts: AlertService | None
    slo_provider: SloProvider | None = None

    @property
    def clock(self) -> Callable[[], float]:
        return self.alerts.clock if self.alerts is not None else self.scheduler.clock

    @property
    def zone(self) -> tzinfo:
        event = self.alerts.config.event if self.alerts is not None else None
        return event.zone if event is not None else ZoneInfo("UTC")

    def view(self, active: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The page's data; `active`: the alert service's active alerts, read by the caller on the event loop
        (the rest of the view only reads the store, so it can be built in a worker thread)."""
        now = self.clock()
        latest = [o for o in self.scheduler.store.latest() if self._configured(o)]
        alerts = active if active is not None else self.alerts.active() if self.alerts is not None else []
        firing = [a for a in alerts if a["state"] == "firing"]
        signals = self._signals(latest, firing, now)
        return {
            "now": now, "generated": fmt_time(now, self.zone),
            "status": self._status(latest, firing, now),
            "event": self._event(now),
            "targets": self._targets(latest, now),
            "tiers": self._tiers(firing, now),
            # Advisory rules (scale up/down hints) pending is noise on a status screen.
            "pending": [self._alert_row(a, now) for a in alerts if a["state"] == "pending"
                        and a["tier"] != Tier.ADVISORY],
            "open": {t: sum(1 for a in firing if a["tier"] == t) for t in ("critical", "high")},
            "slos": self._slos(),
            "signals": signals,
            "kiosk_signals": [_first_series(s) for s in signals if s["signal"] in {k.signal for k in KIOSK_SIGNALS}],
            "counters": self._counters(latest),
            "alerting": self.alerts is not None,
        }

    def _configured(self, obs: Observation) -> bool:
        name = obs.labels.get("target", obs.labels.get("flow"))
        return not self.scheduler.targets or name in self.scheduler.targets

    def _stale(self, obs: Observation, now: float) -> bool:
        target = self.scheduler.targets.get(obs.labels.get("target", obs.labels.get("flow", "")))
        if target is None:
            return False
        return now - obs.timestamp > 3 * target.effective_interval(self._in_event(now)) + target.timeout

    def _in_event(self, now: float) -> bool:
        return self.alerts.in_event(now) if self.alerts is not None else self.scheduler.in_event(now)

    def _status(self, latest: list[Observation], firing: list[dict[str, Any]], now: float) -> dict[str, Any]:
        reasons: list[str] = []
        critical = [a for a in firing if a["tier"] == Tier.CRITICAL]
        high = [a for a in firing if a["tier"] == Tier.HIGH]
        ups = [o for o in latest if o.signal in KEY_UP]
        api = [o for o in ups if o.signal in API_UP]
        reasons += [f"{a['rule']} ({_where(a['labels'])})" for a in (*critical, *high)]
        api_down = bool(api) and all(o.value == 0 and not self._stale(o, now) for o in api)
        if api_down:
            reasons.insert(0, "every API check is failing")
        for o in sorted(ups, key=lambda o: o.series_key()):
            name = o.labels.get("target", o.labels.get("flow", "?"))
            if o.value is None or self._stale(o, now):
                why = "stale" if o.value is not None else error_class(o.error) or "unknown"
                reasons.append(f"{name}: unknown ({why})")
            elif o.value == 0:
                reasons.append(f"{name}: down ({error_class(o.error) or 'failed'})")
        if critical or api_down:
            level = "down"
        elif not any(o.value is not None for o in latest if o.signal in (*KEY_UP, "probe_success")):
            level = "unknown"  # nothing known is not the same as nothing wrong
            reasons = [r for r in reasons if ": unknown" not in r] + ["no probe results yet"]
        elif high or any(o.value != 1 or self._stale(o, now) for o in ups):
            level = "degraded"
        else:
            level = "ok"
        return {"level": level, "label": level.upper(), "reasons": list(dict.fromkeys(reasons))}

    def _event(self, now: float) -> dict[str, Any] | None:
        window = self.alerts.config.event if self.alerts is not None else None
        on = self._in_event(now)
        if window is None:
            return {"on": on, "label": "EVENT MODE"} if on else None
        day = (datetime.fromtimestamp(now, window.zone).date() - window.start).days + 1
        days = (window.end - window.start).days + 1
        label = f"EVENT MODE · day {day} of {days}" if on else f"Event {window.start:%b %d}–{window.end:%b %d}"
        return {"on": on, "label": label}

    def _targets(self, latest: list[Observation], now: float) -> list[dict[str, Any]]:
        success = {o.labels.get("target"): o for o in latest if o.signal == "probe_success"}
        rows = []
        for name, target in sorted(self.scheduler.targets.items(), key=lambda kv: (kv[1].kind, kv[0])):
            obs = success.get(name)
            if obs is None:
                state, why, seen = "unknown", "not probed yet", None
            elif obs.value is None:
                state, why, seen = "unknown", error_class(obs.error) or "unknown", obs.timestamp
            elif self._stale(obs, now):
                state, why, seen = "unknown", "stale", obs.timestamp
            else:
                state, seen = ("up" if obs.value == 1 else "down"), obs.timestamp
                why = None if obs.value == 1 else error_class(obs.error) or "failed"
            rows.append({"name": name, "kind": target.kind, "state": state, "error": why,
                         "last": fmt_time(seen, self.zone) if seen else "never",
                         "age": fmt_duration(now - seen) + " ago" if seen else ""})
        return rows

    def _alert_row(self, a: Mapping[str, Any], now: float) -> dict[str, Any]:
        rule = self._rules().get(a["rule"])
        unit = CATALOG[rule.signal].unit if rule is not None and rule.signal in CATALOG else "count"
        comparison = rule.comparison if rule is not None else ""
        threshold = "unknown" if comparison == "unknown" else (
            f"{comparison} {fmt_value(a['threshold'], unit)}" if a["threshold"] is not None else "")
        since = a.get("fired_at") or a.get("since")
        return {"rule": a["rule"], "tier": a["tier"], "where": _where(a["labels"]),
                "value": fmt_value(a["value"], unit), "threshold": threshold,
                "since": fmt_time(since, self.zone) if since else "", "for": fmt_duration(now - since) if since else "",
                # Who acknowledged is personal data: the board only says that someone did, and when.
                "acked": fmt_duration(now - a["acked_at"]) + " ago" if a.get("acked_at") else None,
                "held": a.get("held")}

    def _tiers(self, firing: list[dict[str, Any]], now: float) -> list[dict[str, Any]]:
        out = []
        for tier in sorted(Tier, key=TIER_ORDER.__getitem__):
            rows = [self._alert_row(a, now) for a in firing if a["tier"] == tier]
            if rows:
                out.append({"tier": str(tier), "alerts": rows})
        return out

    def _rules(self) -> dict[str, Any]:
        return {r.name: r for r in self.alerts.engine.rules} if self.alerts is not None else {}

    def _slos(self) -> list[dict[str, Any]] | None:
        if self.slo_provider is None:
            return None
        try:
            items = list(self.slo_provider())
        except Exception:  # the board must render even when the SLO computation fails
            log.exception("SLO provider failed")
            return [{"name": "SLO data unavailable", "error": True}]
        out = []
        for item in items:
            remaining, burn = _num(item.get("budget_remaining_ratio")), _num(item.get("burn_rate"))
            objective = _num(item.get("objective"))
            out.append({
                "name": str(item.get("name", "?")),
                "objective": f"{objective * 100:g}%" if objective is not None else "?",
                "remaining": fmt_value(remaining, "ratio"),
                "bar": 0 if remaining is None else round(min(max(remaining, 0.0), 1.0) * 100),
                "level": "unknown" if remaining is None else
                         "down" if remaining <= 0.1 else "degraded" if remaining <= 0.5 else "ok",
                "burn": f"{burn:.2f}×" if burn is not None else "unknown",
                "burn_level": "unknown" if burn is None else
                              "down" if burn >= 14.4 else "degraded" if burn > 1 else "ok",
            })
        return out

    def _signals(self, latest: list[Observation], firing: list[dict[str, Any]],
                 now: float) -> list[dict[str, Any]]:
        rules = self._rules()
        out = []
        for key in KEY_SIGNALS:
            unit = CATALOG[key.signal].unit
            series = []
            for obs in sorted((o for o in latest if o.signal == key.signal
                               and all(o.labels.get(k) == v for k, v in key.match.items())),
                              key=lambda o: o.series_key()):
                target = obs.labels.get("target", "")
                hits = [a["tier"] for a in firing if a["labels"].get("target") == target
                        and (r := rules.get(a["rule"])) is not None and r.signal == key.signal]
                level = ("down" if {"critical", "high"} & set(hits) else "degraded" if hits else
                         "unknown" if obs.value is None or self._stale(obs, now) else "ok")
                history = self.scheduler.store.history(key.signal, obs.labels, since=now - SPARK_WINDOW, until=now)
                spark = sparkline(history, now - SPARK_WINDOW, now)
                series.append({"target": target, "value": fmt_value(obs.value, unit), "level": level, "spark": spark,
                               "range": f"{fmt_value(spark['min'], unit)} – {fmt_value(spark['max'], unit)}"
                               f" · {spark['span']}" if spark["points"] else "no data in the last hour"})
            out.append({"signal": key.signal, "title": key.title, "series": series})
        return out

    def _counters(self, latest: list[Observation]) -> list[dict[str, str]]:
        out = []
        for signal, title in EVENT_COUNTERS:
            if signal not in CATALOG:
                continue
            values = [o.value for o in latest if o.signal == signal]
            if values:
                total = None if any(v is None for v in values) else sum(v for v in values if v is not None)
                out.append({"title": title, "value": fmt_value(total, CATALOG[signal].unit)})
        return out


def _first_series(signal: Mapping[str, Any]) -> dict[str, Any]:
    """The kiosk shows one number per signal: the first target's (one API in practice)."""
    if not signal["series"]:
        return {"title": signal["title"], "value": "no data", "level": "unknown", "spark": None, "target": ""}
    return {**signal["series"][0], "title": signal["title"]}


def _where(labels: Mapping[str, str]) -> str:
    main = labels.get("target", labels.get("flow", ""))
    extra = [f"{k}={v}" for k, v in sorted(labels.items()) if k not in ("alertname", "tier", "target", "flow")]
    return " ".join([main, *extra]).strip()


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _finalize(value: Any) -> Any:
    # Every {{ expression }} the templates print is scrubbed: a second line of defence behind the view.
    # Markup is the output of our own macros, whose expressions were scrubbed when the macro ran.
    return scrub(value) if isinstance(value, str) and not isinstance(value, Markup) else value


_NUMBER = re.compile(r"^([-\d.,]+)\s*(.*)$")


def split_unit(value: str) -> tuple[str, str]:
    """"2,100/min" -> ("2,100", "/min"): the kiosk prints the unit smaller than the number."""
    m = _NUMBER.match(value)
    return (m.group(1), m.group(2)) if m else (value, "")


def template_env() -> Environment:
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(["html", "j2"], default=True),
                      finalize=_finalize, trim_blocks=True, lstrip_blocks=True)
    env.filters["split_unit"] = split_unit
    return env


def board_router(scheduler: ProbeScheduler, alerts: AlertService | None,
                 slo_provider: SloProvider | None = None) -> APIRouter:
    """`/` (redirects to the board), `/board` and `/board/kiosk`."""
    router = APIRouter()
    board = Board(scheduler, alerts, slo_provider)
    env = template_env()
    cache: RenderCache[str] = RenderCache(ttl=KIOSK_REFRESH_SECONDS)

    async def render(name: str, refresh: int) -> HTMLResponse:
        # The alert state is read here, on the event loop that runs the evaluation, so the view never sees a
        # cycle halfway through; the rest (history, formatting, scrubbing) is built off the loop.
        active = alerts.active() if alerts is not None else []
        html = await cache.get(name, lambda: env.get_template(name).render(refresh=refresh, **board.view(active)))
        return HTMLResponse(html, headers=HEADERS)

    @router.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/board", status_code=302)

    @router.get("/board", response_class=HTMLResponse)
    async def full() -> HTMLResponse:
        return await render("board.html.j2", REFRESH_SECONDS)

    @router.get("/board/kiosk", response_class=HTMLResponse)
    async def kiosk() -> HTMLResponse:
        return await render("kiosk.html.j2", KIOSK_REFRESH_SECONDS)

    return router
