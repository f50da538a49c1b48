"""`converge-monitor probe`: run the probes once and print what they saw, as a table or JSON."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Sequence

from monitor.config import Config
from monitor.core.observation import Observation
from monitor.core.signals import CATALOG
from monitor.scheduler import ProbeScheduler
from monitor.store.sqlite import SqliteStore


class UnknownTarget(ValueError):
    pass


def _format(value: float | None, unit: str) -> str:
    if value is None:
        return "unknown"
    if math.isinf(value) or math.isnan(value):
        return str(value)
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit == "seconds":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "bytes":
        for scale, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
            if value >= scale:
                return f"{value / scale:.1f} {suffix}"
        return f"{value:.0f} B"
    if unit == "bool":
        return "yes" if value == 1 else "no"
    return f"{value:g}"


def render_table(results: dict[str, list[Observation]]) -> str:
    rows = [("TARGET", "SIGNAL", "LABELS", "VALUE", "ERROR")]
    for target, observations in results.items():
        for obs in sorted(observations, key=lambda o: o.series_key()):
            extra = ",".join(f"{k}={v}" for k, v in sorted(obs.labels.items()) if k not in ("target", "flow", "kind"))
            unit = CATALOG[obs.signal].unit if obs.signal in CATALOG else ""
            rows.append((target, obs.signal, extra, _format(obs.value, unit), obs.error or ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
                     for r in rows).rstrip()


def to_json(results: dict[str, list[Observation]]) -> str:
    return json.dumps({target: [{"signal": o.signal, "labels": dict(o.labels), "value": o.value, "error": o.error,
                                 "timestamp": o.timestamp, "details": o.details} for o in obs]
                       for target, obs in results.items()}, indent=2, default=str)


def probe_once(config: Config, names: Sequence[str] | None = None) -> dict[str, list[Observation]]:
    targets = config.all_targets()
    known = {t.name for t in targets}
    missing = [n for n in names or () if n not in known]
    if missing:
        raise UnknownTarget(f"no enabled target named {', '.join(missing)} (targets: {', '.join(sorted(known))})")

    async def go() -> dict[str, list[Observation]]:
        # A throwaway store: a one-off check must not touch the running monitor's state.
        scheduler = ProbeScheduler(targets, SqliteStore(":memory:", retention=3600))
        try:
            return await scheduler.run_all_once(names)
        finally:
            await scheduler.shutdown()

    return asyncio.run(go())


def all_passed(results: dict[str, list[Observation]]) -> bool:
    return all(o.value == 1 for obs in results.values() for o in obs if o.signal == "probe_success")
