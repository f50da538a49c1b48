"""The PromQL behind each panel, and Grafana's variables replaced by concrete values so that
Prometheus itself (or promtool) can run or check the query."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# What Grafana would put in for a 1 s scrape interval over a short range (tests scrape every second).
DEFAULT_VALUES: Mapping[str, str] = {
    "__rate_interval": "15s",
    "__interval": "5s",
    "__range": "1m",
    "__range_s": "60",
    "datasource": "prometheus",
}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
# Metric names of ours in an expression (label values are quoted, so a preceding quote or | excludes them).
_METRIC = re.compile(r"(?<![\w\"|])((?:converge|http|process)_\w+|ALERTS)\b")


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str  # uid
    panel: str  # title
    ref_id: str
    expr: str
    instant: bool

    @property
    def where(self) -> str:
        return f"{self.dashboard} / {self.panel!r} / {self.ref_id}"


def panel_queries(model: Mapping[str, Any]) -> Iterator[PanelQuery]:
    for panel in model.get("panels", []):
        for target in panel.get("targets", []):
            yield PanelQuery(model["uid"], panel.get("title", ""), target["refId"], target["expr"],
                             bool(target.get("instant")))


def variable_values(model: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Grafana's built-ins, then each dashboard variable: its All value when it has one."""
    values = dict(DEFAULT_VALUES)
    for var in model.get("templating", {}).get("list", []):
        if var.get("includeAll"):
            values[var["name"]] = var.get("allValue") or ".*"
    values.update(overrides or {})
    return values


def substitute(expr: str, values: Mapping[str, str]) -> str:
    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"no value for Grafana variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(repl, expr)


def referenced_variables(expr: str) -> set[str]:
    return {m.group(1) or m.group(2) for m in _VARIABLE.finditer(expr)}


def metric_names(expr: str) -> set[str]:
    """The converge_*, http_*, process_* and ALERTS metric names an expression reads."""
    return set(_METRIC.findall(expr))
