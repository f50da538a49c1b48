"""Panels for the monitor's signals, read from the catalog (monitor/core/signals.py).

The catalog gives each panel its metric name (`converge_<signal>`), unit, legend (its labels) and
description (its help text); naming a signal that is not in the catalog fails at generation time.
"""

from __future__ import annotations

from typing import Any

from dashboards.builder import GREEN, RED, UP_DOWN, Q, Steps, stat_panel, timeseries_panel
from dashboards.promql import sel
from monitor.core.signals import Signal, signal

# Catalog unit -> Grafana unit id.
UNITS: dict[str, str] = {
    "ratio": "percentunit",
    "factor": "short",
    "seconds": "s",
    "bytes": "bytes",
    "count": "short",
    "per_minute": "short",
    "per_second": "short",
    "days": "d",
    "bool": "short",
}
_SUFFIX = {"per_minute": " (/min)", "per_second": " (/s)"}


def unit_of(sig: Signal) -> str:
    return UNITS[sig.unit]


def legend(sig: Signal, drop: tuple[str, ...] = ()) -> str:
    return " ".join(f"{{{{{label}}}}}" for label in sig.labels if label not in drop)


def query(name: str, *matchers: str, agg: str = "") -> Q:
    """The signal's series, e.g. converge_redis_up{target=...}; `agg` wraps it (e.g. "max by (target)")."""
    sig = signal(name)
    expr = sel(sig.metric_name, *matchers)
    return Q(f"{agg} ({expr})" if agg else expr, legend(sig))


def title_of(sig: Signal, title: str | None) -> str:
    return (title or sig.help) + _SUFFIX.get(sig.unit, "")


def graph(name: str, title: str | None = None, *matchers: str, steps: Steps | None = None,
          **kwargs: Any) -> Any:
    """A time series panel of one signal."""
    sig = signal(name)
    kwargs.setdefault("min_value", 0 if sig.unit in ("ratio", "bytes", "count", "seconds") else None)
    if sig.unit == "ratio":
        kwargs.setdefault("max_value", 1)
    kwargs.setdefault("description", f"{sig.metric_name}: {sig.help}")
    return timeseries_panel(title_of(sig, title), [query(name, *matchers)], unit=unit_of(sig), steps=steps, **kwargs)


def latest(name: str, title: str | None = None, *matchers: str, steps: Steps | None = None,
           mappings: list[Any] | None = None, **kwargs: Any) -> Any:
    """A stat panel with the signal's latest value per series; bool signals read UP/DOWN."""
    sig = signal(name)
    if sig.unit == "bool":
        mappings = UP_DOWN if mappings is None else mappings
        steps = steps or [(None, RED), (1, GREEN)]
    kwargs.setdefault("description", f"{sig.metric_name}: {sig.help}")
    return stat_panel(title_of(sig, title), [query(name, *matchers)], unit=unit_of(sig), steps=steps,
                      mappings=mappings, **kwargs)
