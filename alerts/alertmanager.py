"""Alertmanager interoperability, both ways.

Out: the monitor's firing and resolved alerts are posted to an Alertmanager's `/api/v2/alerts`, the
way Prometheus does it (firing ones re-sent while they fire, with an `endsAt` a few intervals ahead;
a resolved one once, with its real `endsAt`).

In: Alertmanager webhook payloads (version 4) posted to the monitor become alerts of the monitor's own
pipeline, tier from the `severity` label, so they get SMS paging, on-call, acknowledgement and
escalation like the monitor's own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from alerts.escape import safe_link
from alerts.model import Alert, State, Tier

log = logging.getLogger("converge.alerts.alertmanager")

# Common severity words to our tiers; a tier name itself maps to itself.
SEVERITY_TIERS: dict[str, Tier] = {
    **{t.value: t for t in Tier},
    "page": Tier.CRITICAL, "error": Tier.HIGH, "warning": Tier.MEDIUM, "ticket": Tier.LOW, "info": Tier.LOW,
}
DEFAULT_TIER = Tier.HIGH  # no or unknown severity: loud enough to be seen, not a page


class PayloadError(ValueError):
    pass


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _epoch(text: str | None) -> float | None:
    if not text or text.startswith("0001-01-01"):
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def to_alertmanager(alert: Alert, now: float, resend_ahead: float, generator_url: str) -> dict[str, Any]:
    labels = {k: v for k, v in alert.labels.items() if v != ""}
    labels["severity"] = str(alert.tier)
    annotations = {"summary": alert.summary}
    if alert.runbook:
        annotations["runbook"] = alert.runbook
    ends = alert.resolved_at if alert.state == State.RESOLVED and alert.resolved_at else now + resend_ahead
    return {"labels": labels, "annotations": annotations, "startsAt": _iso(alert.fired_at or now),
            "endsAt": _iso(ends), "generatorURL": generator_url}


class AlertmanagerForwarder:
    def __init__(self, url: str, resend_ahead: float = 180.0, generator_url: str = "",
                 client: httpx.AsyncClient | None = None) -> None:
        self.url = url.rstrip("/") + "/api/v2/alerts"
        self.resend_ahead = resend_ahead
        self.generator_url = generator_url
        self.client = client or httpx.AsyncClient(timeout=10)
        self._unsent_resolved: dict[str, Alert] = {}

    async def forward(self, firing: Sequence[Alert], resolved: Iterable[Alert], now: float) -> bool:
        for alert in resolved:
            self._unsent_resolved[alert.id] = alert
        batch = [*firing, *self._unsent_resolved.values()]
        if not batch:
            return True
        body = [to_alertmanager(a, now, self.resend_ahead, self.generator_url) for a in batch]
        try:
            resp = await self.client.post(self.url, json=body)
            resp.raise_for_status()
        except httpx.HTTPError as exc:  # kept for the next cycle: firing ones are re-sent anyway
            log.warning("alertmanager forward failed", extra={"error": type(exc).__name__})
            return False
        self._unsent_resolved.clear()
        return True

    async def aclose(self) -> None:
        await self.client.aclose()


# Bounds on what one webhook may bring in: the alerts are stored, listed on the unauthenticated /api/alerts and
# sent to every channel, so an oversized field is refused (naming it), never stored or quietly cut.
MAX_ALERTS = 500
MAX_LABELS = 64
MAX_NAME = 128  # a label or annotation name
MAX_LABEL_VALUE = 1024
MAX_ANNOTATION = 4096  # summary, description, runbook_url


def _strings(value: Any, where: str, max_value: int) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise PayloadError(f"{where} must be an object of strings")
    if len(value) > MAX_LABELS:
        raise PayloadError(f"{where}: more than {MAX_LABELS} entries")
    out = {}
    for k, v in value.items():
        if not isinstance(v, str):
            raise PayloadError(f"{where}.{str(k)[:MAX_NAME]} must be a string")
        if len(k) > MAX_NAME:
            raise PayloadError(f"{where}: a name longer than {MAX_NAME} characters")
        if len(v) > max_value:
            raise PayloadError(f"{where}.{k}: longer than {max_value} characters")
        out[k] = v
    return out


def _time(item: Mapping[str, Any], key: str, where: str) -> float | None:
    text = item.get(key)
    if text is not None and not isinstance(text, str):
        raise PayloadError(f"{where}.{key} must be an RFC 3339 time")
    try:
        return _epoch(text)
    except (ValueError, OverflowError):
        raise PayloadError(f"{where}.{key} must be an RFC 3339 time") from None


def from_webhook(payload: Any) -> list[Alert]:
    """Alerts from an Alertmanager webhook (version 4) payload; PayloadError names what is wrong."""
    if not isinstance(payload, Mapping):
        raise PayloadError("expected a JSON object")
    if str(payload.get("version")) != "4":
        raise PayloadError(f"unsupported webhook version {str(payload.get('version'))[:20]!r} (expected \"4\")")
    items = payload.get("alerts")
    if not isinstance(items, list):
        raise PayloadError("alerts must be a list")
    if len(items) > MAX_ALERTS:
        raise PayloadError(f"alerts: more than {MAX_ALERTS} in one payload")
    out = []
    for i, item in enumerate(items):
        where = f"alerts[{i}]"
        if not isinstance(item, Mapping):
            raise PayloadError(f"{where} must be an object")
        labels = _strings(item.get("labels"), f"{where}.labels", MAX_LABEL_VALUE)
        given = item.get("annotations")
        annotations = _strings({} if given is None else given, f"{where}.annotations", MAX_ANNOTATION)
        status = item.get("status")
        if status not in ("firing", "resolved"):
            raise PayloadError(f"{where}.status must be firing or resolved")
        fired, ended = _time(item, "startsAt", where), _time(item, "endsAt", where)
        tier = SEVERITY_TIERS.get(labels.get("severity", "").lower(), DEFAULT_TIER)
        name = labels.get("alertname") or "AlertmanagerAlert"
        ours = {k: v for k, v in labels.items() if k not in ("alertname", "tier")}
        ours.update({"alertname": name, "tier": str(tier), "source": "alertmanager"})
        out.append(Alert(rule=name, tier=tier, labels=ours,
                         state=State.FIRING if status == "firing" else State.RESOLVED, fired_at=fired,
                         resolved_at=ended if status == "resolved" else None, active_since=fired,
                         summary=annotations.get("summary") or annotations.get("description") or name,
                         runbook=safe_link(annotations.get("runbook_url") or annotations.get("runbook", ""))))
    return out
