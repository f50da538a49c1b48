"""A thin, typed layer over grafana-foundation-sdk: the few panel shapes our dashboards use.

Every dashboard reads one Prometheus through the `datasource` variable, whose default is the data
source `grafana/provisioning/datasources/prometheus.yml` creates (uid DATASOURCE_UID). The SDK does
the layout (rows, spans, heights); `finish()` then gives panels stable ids and queries refIds and
drops the SDK's empty fields, so the JSON is the same on every run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    DataSourceRef,
    DataTransformerConfig,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
    VariableHide,
    VariableOption,
    VariableRefresh,
)

DATASOURCE_UID = "converge-prometheus"
DATASOURCE_NAME = "Prometheus"
DATASOURCE_VAR = "datasource"
DS = DataSourceRef(type_val="prometheus", uid=f"${{{DATASOURCE_VAR}}}")
DS_JSON = {"type": "prometheus", "uid": f"${{{DATASOURCE_VAR}}}"}
TAGS = ("converge",)

GREEN, YELLOW, ORANGE, RED, BLUE = "green", "yellow", "orange", "red", "blue"

Steps = Sequence[tuple[float | None, str]]  # (value or None for the base step, color)
Panel = timeseries.Panel | stat.Panel | table.Panel


@dataclass(frozen=True)
class Q:
    """One PromQL query of a panel: `legend` is Grafana's legend format ({{label}})."""

    expr: str
    legend: str = ""


def _target(q: Q, instant: bool, table_format: bool = False) -> prometheus.Dataquery:
    t = prometheus.Dataquery().expr(q.expr).datasource(DS)
    if q.legend:
        t = t.legend_format(q.legend)
    if table_format:
        t = t.format("table")
    return t.instant() if instant else t.range()


def _thresholds(steps: Steps) -> dash_b.ThresholdsConfig:
    return dash_b.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(
        [Threshold(value=v, color=c) for v, c in steps])


def value_text(mapping: dict[float, tuple[str, str]]) -> list[Any]:
    """Value mappings: number -> (text, color), e.g. {1: ("UP", GREEN), 0: ("DOWN", RED)}."""
    return [ValueMap(options={f"{k:g}": ValueMappingResult(text=t, color=c, index=i)
                              for i, (k, (t, c)) in enumerate(sorted(mapping.items()))})]


UP_DOWN = value_text({1: ("UP", GREEN), 0: ("DOWN", RED)})
OK_FAILED = value_text({1: ("OK", GREEN), 0: ("FAILED", RED)})


def timeseries_panel(title: str, queries: Iterable[Q], *, unit: str = "short", description: str = "",
                     steps: Steps | None = None, min_value: float | None = None, max_value: float | None = None,
                     width: int = 12, height: int = 8, stacked: bool = False) -> timeseries.Panel:
    panel = (timeseries.Panel().title(title).datasource(DS).unit(unit).span(width).height(height)
             .line_width(1).fill_opacity(10 if not stacked else 40).show_points(common.VisibilityMode.NEVER)
             .legend(common_b.VizLegendOptions().show_legend(True).display_mode(common.LegendDisplayMode.LIST)
                     .placement(common.LegendPlacement.BOTTOM))
             .tooltip(common_b.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI)
                      .sort(common.SortOrder.DESCENDING)))
    if stacked:
        panel = panel.stacking(common_b.StackingConfig().mode(common.StackingMode.NORMAL))
    if description:
        panel = panel.description(description)
    if steps:
        panel = panel.thresholds(_thresholds(steps)).thresholds_style(
            common_b.GraphThresholdsStyleConfig().mode(common.GraphTresholdsStyleMode.DASHED))
    if min_value is not None:
        panel = panel.min(min_value)
    if max_value is not None:
        panel = panel.max(max_value)
    for q in queries:
        panel = panel.with_target(_target(q, instant=False))
    return panel


def stat_panel(title: str, queries: Iterable[Q], *, unit: str = "short", description: str = "",
               steps: Steps | None = None, mappings: list[Any] | None = None, width: int = 6, height: int = 4,
               sparkline: bool = False, value_size: int | None = None, title_size: int | None = None,
               decimals: int | None = None, background: bool = False) -> stat.Panel:
    """The latest value, big. Instant queries unless `sparkline` (then range, with the trend drawn)."""
    panel = (stat.Panel().title(title).datasource(DS).unit(unit).span(width).height(height)
             .graph_mode(common.BigValueGraphMode.AREA if sparkline else common.BigValueGraphMode.NONE)
             .color_mode(common.BigValueColorMode.BACKGROUND if background else common.BigValueColorMode.VALUE)
             .text_mode(common.BigValueTextMode.AUTO).justify_mode(common.BigValueJustifyMode.CENTER)
             .orientation(common.VizOrientation.AUTO)
             .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]).values(False)))
    panel = panel.thresholds(_thresholds(steps or [(None, GREEN)]))
    if value_size or title_size:
        panel = panel.text(common_b.VizTextDisplayOptions().value_size(value_size or 40).title_size(title_size or 20))
    if description:
        panel = panel.description(description)
    if mappings:
        panel = panel.mappings(mappings)
    if decimals is not None:
        panel = panel.decimals(decimals)
    for q in queries:
        panel = panel.with_target(_target(q, instant=not sparkline))
    return panel


def table_panel(title: str, q: Q, *, description: str = "", width: int = 24, height: int = 8,
                hide_columns: Sequence[str] = ("Time", "__name__")) -> table.Panel:
    """An instant query as a table: one row per series, one column per label."""
    panel = (table.Panel().title(title).datasource(DS).span(width).height(height)
             .with_target(_target(q, instant=True, table_format=True))
             .with_transformation(_organize(hide_columns)))
    return panel.description(description) if description else panel


def _organize(hide: Sequence[str]) -> DataTransformerConfig:
    return DataTransformerConfig(id_val="organize", options={"excludeByName": {name: True for name in hide}})


def row(title: str) -> dash_b.Row:
    return dash_b.Row(title)


@dataclass(frozen=True)
class Link:
    title: str
    url: str
    tooltip: str = ""


@dataclass(frozen=True)
class QueryVariable:
    """A Prometheus label_values() variable with an All option (regex `.*`)."""

    name: str
    label: str
    query: str


def _datasource_variable(hide: bool) -> dash_b.DatasourceVariable:
    var = (dash_b.DatasourceVariable(DATASOURCE_VAR).label("Data source").type("prometheus")
           .current(VariableOption(selected=True, text=DATASOURCE_NAME, value=DATASOURCE_UID)))
    return var.hide(VariableHide.HIDE_VARIABLE) if hide else var


def _query_variable(v: QueryVariable) -> dash_b.QueryVariable:
    return (dash_b.QueryVariable(v.name).label(v.label).datasource(DS).query(v.query)
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).multi(True).include_all(True).all_value(".*")
            .current(VariableOption(selected=True, text="All", value="$__all")))


def build_dashboard(uid: str, title: str, description: str, sections: Sequence[tuple[str | None, Sequence[Panel]]],
                    *, tags: Sequence[str] = (), refresh: str = "30s", time_from: str = "now-1h",
                    time_to: str = "now", variables: Sequence[QueryVariable] = (), links: Sequence[Link] = (),
                    timezone: str = "browser", kiosk: bool = False) -> dict[str, Any]:
    """The dashboard's JSON model. `sections` are (row title or None for no row, panels)."""
    d = (dash_b.Dashboard(title).uid(uid).description(description).tags([*TAGS, *tags]).refresh(refresh)
         .time(time_from, time_to).timezone(timezone).tooltip(DashboardCursorSync.CROSSHAIR).style("dark")
         .with_variable(_datasource_variable(hide=kiosk)).readonly())
    if kiosk:
        d = d.timepicker(dash_b.TimePicker().hidden(True).refresh_intervals(["10s", "30s", "1m"]))
    else:
        d = d.timepicker(dash_b.TimePicker().refresh_intervals(["10s", "30s", "1m", "5m", "15m"]))
    for v in variables:
        d = d.with_variable(_query_variable(v))
    for link in links:
        d = d.link(dash_b.DashboardLink(link.title).type(DashboardLinkType.LINK).url(link.url)
                   .tooltip(link.tooltip or link.title).icon("dashboard").keep_time(False).include_vars(False)
                   .target_blank(False).as_dropdown(False))
    for row_title, panels in sections:
        if row_title is not None:
            d = d.with_row(row(row_title))
        for p in panels:
            d = d.with_panel(p)
    return finish(json.loads(json.dumps(d.build(), cls=JSONEncoder)))


def _drop_empty(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if v is not None}


def layout(panels: list[dict[str, Any]]) -> None:
    """Left to right in rows of 24 columns; a panel that does not fit starts a new line; a row header
    takes a full line. (The SDK's own placement does not wrap wide panels.)"""
    x = y = line_height = 0
    for panel in panels:
        pos = panel["gridPos"]
        if panel["type"] == "row":
            y += line_height
            panel["gridPos"] = {"h": 1, "w": 24, "x": 0, "y": y}
            x, y, line_height = 0, y + 1, 0
            continue
        if x + pos["w"] > 24:
            x, y, line_height = 0, y + line_height, 0
        panel["gridPos"] = {"h": pos["h"], "w": pos["w"], "x": x, "y": y}
        x += pos["w"]
        line_height = max(line_height, pos["h"])


_VARIABLE_NOISE = ("id", "auto", "auto_count", "auto_min")  # the SDK fills these in for interval variables only


def finish(model: dict[str, Any]) -> dict[str, Any]:
    """Stable panel ids (1..n in layout order) and refIds (A, B, ...); no nulls; Grafana's defaults filled."""
    panels = []
    for i, panel in enumerate(model.get("panels", []), start=1):
        panel = _drop_empty(panel)
        panel["id"] = i
        for j, target in enumerate(panel.get("targets", [])):
            target["refId"] = chr(ord("A") + j)
        panels.append(panel)
    layout(panels)
    model["panels"] = panels
    for var in model.get("templating", {}).get("list", []):
        for key in _VARIABLE_NOISE:
            var.pop(key, None)
    model["id"] = None  # Grafana assigns database ids; uid is the stable identity
    model["annotations"] = {"list": [_builtin_annotation(), deploy_annotation()]}
    model["version"] = 1
    return model


# A deploy: the moment converge_deploy_last_timestamp_seconds changes, titled with the version whose
# converge_deploy_info is 1 (monitor/deploys.py exports both; the timestamp series exists from the start at 0).
DEPLOY_ANNOTATION_EXPR = ("(changes(converge_deploy_last_timestamp_seconds[2m]) > 0)\n"
                          "* on(job, instance) group_left(version) (converge_deploy_info == 1)")


def deploy_annotation() -> dict[str, Any]:
    return {"datasource": DS_JSON, "enable": True, "expr": DEPLOY_ANNOTATION_EXPR, "iconColor": "purple",
            "name": "Deploys", "step": "1m", "tagKeys": "version", "titleFormat": "Deploy {{version}}",
            "textFormat": "converge-monitor deploy mark / POST /api/deploys", "useValueForTime": False}


def _builtin_annotation() -> dict[str, Any]:
    # What Grafana adds to every dashboard it saves; kept explicit so a round trip changes nothing.
    return {"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"}
