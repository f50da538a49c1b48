"""CLI commands for the alert lifecycle: `alerts`, `silence add|list|expire`, `ack ID` (through the running
monitor's HTTP API) and `rules` (the effective rule table, read from the config)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from alerts.rules.model import EventOverride
from monitor.config import Config, load_config
from monitor.core.targets import parse_duration

TOKEN_ENV = "CONVERGE_MONITOR_TOKEN"


class ApiProblem(Exception):
    pass


def _config(args: argparse.Namespace) -> Config:
    from monitor.core.commands import config_file

    return load_config(config_file(args))


def _call(config: Config, method: str, path: str, *, write: bool = False, json: Any = None) -> Any:
    host = "127.0.0.1" if config.server.host in ("0.0.0.0", "::") else config.server.host
    url = f"http://{host}:{config.server.port}{path}"
    headers = {}
    if write:
        token = os.environ.get(TOKEN_ENV) or (config.server.api_token.get_secret_value()
                                              if config.server.api_token else None)
        if not token:
            raise ApiProblem(f"no API token: set server.api_token in the config or {TOKEN_ENV}")
        headers["Authorization"] = f"Bearer {token}"
    try:
        resp = httpx.request(method, url, headers=headers, json=json, timeout=10)
    except httpx.HTTPError:
        raise ApiProblem(f"cannot reach the monitor at http://{host}:{config.server.port} "
                         "(is `converge-monitor run` running?)") from None
    if resp.status_code >= 400:
        detail = resp.json().get("detail") if resp.headers.get("content-type", "").startswith("application/json") \
            else resp.text
        raise ApiProblem(f"{resp.status_code}: {detail}")
    return resp.json()


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _run(fn: Any, args: argparse.Namespace) -> int:
    try:
        print(fn(_config(args), args))
    except ApiProblem as exc:
        print(f"converge-monitor: {exc}", file=sys.stderr)
        return 1
    return 0


# -- alerts -------------------------------------------------------------------------------------------
def alerts(args: argparse.Namespace) -> int:
    def show(config: Config, _args: argparse.Namespace) -> str:
        items = _call(config, "GET", "/api/alerts")["alerts"]
        if not items:
            return "no active alerts"
        rows = [("ID", "TIER", "STATE", "RULE", "TARGET", "VALUE", "SINCE (UTC)", "ACKED", "HELD")]
        for a in items:
            target = a["labels"].get("target") or a["labels"].get("flow") or "-"
            value = "unknown" if a["value"] is None else f"{a['value']:g}"
            rows.append((a["id"], a["tier"], a["state"], a["rule"], target, value, _when(a["fired_at"] or a["since"]),
                         a["acked_by"] or "-", a["held"] or "-"))
        return _table(rows)

    return _run(show, args)


# -- ack ----------------------------------------------------------------------------------------------
def _ack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("alert_id", metavar="ID", help="the alert id (from `converge-monitor alerts`)")
    parser.add_argument("--by", default=os.environ.get("USER", "cli"), help="who acknowledges (default: $USER)")


def ack(args: argparse.Namespace) -> int:
    def do(config: Config, a: argparse.Namespace) -> str:
        done = _call(config, "POST", f"/api/alerts/{a.alert_id}/ack", write=True, json={"by": a.by})
        return f"acknowledged {done['rule']} ({done['id']}) by {done['acked_by']}: escalation stopped"

    return _run(do, args)


# -- silences -----------------------------------------------------------------------------------------
def _silence_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="hold notifications of matching alerts (checks keep running)")
    add.add_argument("--match", "-m", action="append", required=True, metavar="MATCHER",
                     help="label matcher like alertname=ApiDown or target=~\"api-.*\" (repeatable: all must match)")
    add.add_argument("--duration", "-d", default="1h", help="how long (default 1h), e.g. 30m, 2h")
    add.add_argument("--author", default=os.environ.get("USER", "cli"))
    add.add_argument("--reason", required=True)
    listing = sub.add_parser("list", help="silences, newest first")
    expire = sub.add_parser("expire", help="end a silence now")
    expire.add_argument("silence_id", metavar="ID")
    for action in (add, listing, expire):  # --config is accepted after the action too
        action.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help="config file")


def silence(args: argparse.Namespace) -> int:
    def do(config: Config, a: argparse.Namespace) -> str:
        if a.action == "add":
            try:
                seconds = parse_duration(a.duration)
            except ValueError as exc:
                raise ApiProblem(f"--duration: {exc}") from None
            s = _call(config, "POST", "/api/silences", write=True, json={
                "matchers": a.match, "author": a.author, "reason": a.reason, "ends_at": time.time() + seconds})
            return f"silence {s['id']} until {_when(s['ends_at'])} UTC"
        if a.action == "expire":
            s = _call(config, "DELETE", f"/api/silences/{a.silence_id}", write=True)
            return f"silence {s['id']} expired"
        items = _call(config, "GET", "/api/silences")["silences"]
        if not items:
            return "no silences"
        rows = [("ID", "STATE", "MATCHERS", "ENDS (UTC)", "AUTHOR", "REASON")]
        rows += [(s["id"], s["state"], " ".join(_matcher(m) for m in s["matchers"]), _when(s["ends_at"]),
                  s["author"], s["reason"]) for s in items]
        return _table(rows)

    return _run(do, args)


def _matcher(m: Any) -> str:
    return f"{m['name']}{m['op']}\"{m['value']}\"" if isinstance(m, dict) else str(m)


# -- rules --------------------------------------------------------------------------------------------
def _override(ov: EventOverride | None) -> str:
    if ov is None:
        return "-"
    return " ".join(f"{k}={v:g}" for k, v in (("threshold", ov.threshold), ("for", ov.for_),
                                              ("clear", ov.clear_threshold)) if v is not None) or "-"


def rules(args: argparse.Namespace) -> int:
    config = _config(args)
    rows = [("RULE", "TIER", "SIGNAL", "CONDITION", "FOR", "CLEAR", "EVENT MODE", "AFTER A DEPLOY", "ON")]
    for r in config.effective_rules():
        cond = "unknown" if r.comparison == "unknown" else f"{r.comparison} {r.threshold:g}"
        sel = ",".join(f"{k}={v}" for k, v in r.labels.items())
        rows.append((r.name, str(r.tier), r.signal + (f"{{{sel}}}" if sel else ""), cond, f"{r.for_:g}s",
                     "-" if r.clear_threshold is None else f"{r.clear_threshold:g}", _override(r.event),
                     _override(r.deploy), "yes" if r.enabled else "no"))
    print(_table(rows))
    return 0
