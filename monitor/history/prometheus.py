"""History from a Prometheus server that scrapes the monitor's /metrics (the `converge_*` series).

The samples are read as they were stored, with their own timestamps: `{__name__=~"converge_.+"}[W]` at the end
of each window W (through /api/v1/query), window after window. A `query_range` would resample every series
onto its step grid and hide when a value really arrived (and so when it went stale). A NaN value, and a
`converge_signal_unknown{signal, target}` sample, are read as unknown values of that target's series.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator
from typing import Any

import httpx

from monitor.core.observation import Observation
from monitor.core.signals import CATALOG
from monitor.history import HistoryError

BY_METRIC = {s.metric_name: s for s in CATALOG.values()}
UNKNOWN_METRIC = "converge_signal_unknown"
UNKNOWN_REASON = "unknown (converge_signal_unknown in Prometheus)"
WINDOW = 3600.0  # seconds of samples per query: bounded memory, few round trips


def _query(client: httpx.Client, base: str, expr: str, at: float) -> list[dict[str, Any]]:
    try:
        response = client.get(f"{base}/api/v1/query", params={"query": expr, "time": f"{at:.3f}"})
    except httpx.HTTPError as exc:
        raise HistoryError(f"cannot reach Prometheus at {base}: {exc.__class__.__name__}: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        raise HistoryError(f"Prometheus at {base} answered HTTP {response.status_code}, not its API's JSON") from None
    if response.status_code != 200 or body.get("status") != "success":
        raise HistoryError(f"Prometheus at {base} refused the query: {body.get('error', response.status_code)}")
    return list(body.get("data", {}).get("result", []))


def read_prometheus(url: str, since: float, until: float, signals: Collection[str] | None = None,
                    window: float = WINDOW, timeout: float = 30.0) -> Iterator[Observation]:
    """Every converge_* sample in [since, until] (of these signals, if given), in time order, one window of
    samples at a time."""
    base = url.rstrip("/")
    names = "converge_.+" if signals is None else \
        "|".join(sorted({CATALOG[s].metric_name for s in signals if s in CATALOG} | {UNKNOWN_METRIC}))
    seen: dict[tuple[str, str], set[tuple[tuple[str, str], ...]]] = {}  # (signal, target) -> series labels
    interned: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, str]] = {}  # one labels dict per series
    with httpx.Client(timeout=timeout) as client:
        start = since
        first = True
        while start < until or first:
            end = min(start + window, until)
            span = max(1, math.ceil(end - start) + 1)
            rows: list[tuple[float, int, str, tuple[tuple[str, str], ...], float | None, str | None]] = []
            for series in _query(client, base, f'{{__name__=~"{names}"}}[{span}s]', end):
                metric = dict(series.get("metric", {}))
                name = metric.pop("__name__", "")
                for ts_text, value_text in series.get("values", []):
                    ts = float(ts_text)
                    if ts > end or ts < start or (ts == start and not first):
                        continue
                    if name == UNKNOWN_METRIC:
                        if value_text == "1" and (signals is None or metric.get("signal") in signals):
                            key = (metric.get("signal", ""), metric.get("target", ""))
                            for labels in sorted(seen.get(key, ())):
                                rows.append((ts, 1, key[0], labels, None, UNKNOWN_REASON))
                        continue
                    sig = BY_METRIC.get(name)
                    if sig is None:
                        continue  # a converge_* series that is not a signal (the monitor's own metrics)
                    labels = tuple(sorted((k, str(metric.get(k, ""))) for k in sig.labels))
                    target = dict(labels).get("target") or dict(labels).get("flow", "")
                    seen.setdefault((sig.name, target), set()).add(labels)
                    value = float(value_text)
                    rows.append((ts, 0, sig.name, labels, None if math.isnan(value) else value, None))
            rows.sort(key=lambda r: (r[0], r[1], r[2], r[3]))
            for ts, _, signal, labels, value, error in rows:
                shared = interned.get((signal, labels))
                if shared is None:
                    shared = interned[(signal, labels)] = dict(labels)
                yield Observation(signal, value, ts, shared, error)
            first = False
            start = end
            if end >= until:
                break
