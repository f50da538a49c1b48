"""The daily status report to stakeholders (spec, 'During Event': daily status reports).

One local day: uptime, requests, error rate, p95 latency, each SLO's day and budget left, and the
incidents with their durations. `build_report` is pure (it takes what was measured); `gather_report`
reads the store; `render_text` (Slack or a terminal) and `render_html` (email, autoescaped) use the
jinja2 templates in slo/templates/.

    converge-monitor report --date 2026-01-28
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from alerts.model import Tier
from monitor.core import promql
from monitor.core.sections import EventWindow
from monitor.core.signals import SIGNAL_5XX, SIGNAL_LE, SIGNAL_REQUESTS
from slo.budget import Counts, window_counts
from slo.evaluate import SloStatus
from slo.incidents import Incident
from slo.service import SloService
from slo.sources import History, SliError, counter_increase, counter_series, resolve_target
from slo.spec import ProbesSli, ReportConfig, SloSpec
from slo.windows import Window, local_day

TEMPLATES = Path(__file__).parent / "templates"
UNREPORTED_TIERS = (Tier.ADVISORY,)  # scaling advice is not an incident


@dataclass(frozen=True)
class SloLine:
    name: str
    title: str
    objective: float
    day_sli: float | None  # the SLI over the reported day
    period: str | None  # whose budget is shown: "event" during the event, else the rolling one
    budget_remaining_ratio: float | None
    budget_remaining_minutes: float | None
    budget_minutes: float | None
    error: str | None = None

    @property
    def met(self) -> bool | None:
        return None if self.day_sli is None else self.day_sli >= self.objective


@dataclass(frozen=True)
class IncidentLine:
    rule: str
    tier: str
    summary: str
    fired_at: float
    resolved_at: float | None
    duration: float  # seconds, whole incident up to the report time
    in_day: float  # seconds of it inside the reported day


@dataclass(frozen=True)
class DailyReport:
    day: date
    zone: str
    generated_at: float
    window: Window  # the local day
    covered_until: float  # the report sees the day up to here (now, for today)
    uptime: float | None
    requests: float | None
    error_rate: float | None
    p95: float | None  # seconds
    slos: Sequence[SloLine]
    incidents: Sequence[IncidentLine]
    event_day: tuple[int, int] | None = None  # (n, of) when the day is an event day
    title: str = "Converge API daily status"
    notes: Sequence[str] = field(default_factory=tuple)

    @property
    def status(self) -> str:
        """At a glance: "degraded" when an SLO was missed that day or a critical/high alert fired, "ok" when
        every SLO was met, else "unknown" (no data)."""
        serious = {Tier.CRITICAL, Tier.HIGH}
        if any(s.met is False for s in self.slos) or any(i.tier in serious for i in self.incidents):
            return "degraded"
        return "ok" if self.slos and all(s.met for s in self.slos) else "unknown"


def slo_line(spec: SloSpec, status: SloStatus | None, day_counts: Counts | None) -> SloLine:
    head = status.headline() if status is not None else None
    budget = head.budget if head is not None else None
    return SloLine(
        name=spec.name, title=spec.title, objective=spec.objective,
        day_sli=None if day_counts is None else day_counts.ratio,
        period=head.label if head is not None else None,
        budget_remaining_ratio=budget.remaining_ratio if budget else None,
        budget_remaining_minutes=budget.remaining_minutes if budget else None,
        budget_minutes=budget.budget_minutes if budget else None,
        error=status.error if status is not None else None)


def incident_lines(incidents: Sequence[Incident], window: Window, now: float) -> list[IncidentLine]:
    out = []
    for i in incidents:
        if i.tier in UNREPORTED_TIERS or not i.overlaps(window, now):
            continue
        out.append(IncidentLine(i.rule, i.tier, i.summary, i.fired_at, i.resolved_at, i.duration(now),
                                i.within(window, now)))
    return out


def event_day(day: date, event: EventWindow | None) -> tuple[int, int] | None:
    if event is None or not event.start <= day <= event.end:
        return None
    return (day - event.start).days + 1, (event.end - event.start).days + 1


def build_report(day: date, zone: tzinfo, now: float, specs: Sequence[SloSpec], statuses: Sequence[SloStatus],
                 day_counts: Mapping[str, Counts | None], requests: Counts | None, p95: float | None,
                 incidents: Sequence[Incident], event: EventWindow | None = None) -> DailyReport:
    """The report of one local day from what was measured. `requests`: good = not 5xx."""
    window = local_day(day, zone)
    by_name = {s.name: s for s in statuses}
    lines = [slo_line(spec, by_name.get(spec.name), day_counts.get(spec.name)) for spec in specs]
    uptime_spec = next((s for s in specs if isinstance(s.sli, ProbesSli)), None)
    uptime = None if uptime_spec is None or day_counts.get(uptime_spec.name) is None \
        else day_counts[uptime_spec.name].ratio  # type: ignore[union-attr]
    notes = []
    if now < window.end:
        notes.append("The day is not over: figures cover it up to the time of this report.")
    return DailyReport(
        day=day, zone=str(zone), generated_at=now, window=window, covered_until=min(now, window.end),
        uptime=uptime, requests=None if requests is None else requests.total,
        error_rate=None if requests is None else requests.error_ratio, p95=p95, slos=lines,
        incidents=incident_lines(incidents, window, now), event_day=event_day(day, event), notes=tuple(notes))


# ---- reading the store -------------------------------------------------------------------------------

def day_p95(store: History, target: str, window: Window, end: float) -> float | None:
    """p95 of the day's requests: histogram_quantile over each bucket's increase in the day (exact counts)."""
    buckets: list[tuple[str, float]] = []
    les = sorted({o.labels.get("le", "") for o in store.latest()
                  if o.signal == SIGNAL_LE and o.labels.get("target") == target} - {""}, key=promql.parse_le)
    for le in les:
        samples = store.history(SIGNAL_LE, {"target": target, "le": le}, window.start - 86400, end)
        gained = counter_increase(samples, window.start, end)
        if gained is not None:
            buckets.append((le, gained))
    value = promql.histogram_quantile(0.95, buckets) if buckets else float("nan")
    return None if value != value else value  # NaN: no requests


def day_requests(store: History, target: str, window: Window, end: float) -> Counts | None:
    labels = {"target": target}
    since = window.start - 86400  # a baseline sample before the day starts
    series = counter_series(store.history(SIGNAL_5XX, labels, since, end),
                            store.history(SIGNAL_REQUESTS, labels, since, end), good_is_bad=True)
    return window_counts([series], window.start, end)


def report_zone(cfg: ReportConfig, event: EventWindow | None) -> ZoneInfo:
    if cfg.timezone:
        return ZoneInfo(cfg.timezone)
    return event.zone if event is not None else ZoneInfo("UTC")


def gather_report(service: SloService, store: History, day: date, zone: tzinfo, now: float,
                  incidents: Sequence[Incident], event: EventWindow | None = None) -> DailyReport:
    """Measure the day from the store (up to `now` for today) and build its report."""
    window = local_day(day, zone)
    end = min(now, window.end)
    statuses = service.evaluate(end)
    day_counts: dict[str, Counts | None] = {}
    for spec in service.specs:
        try:
            day_counts[spec.name] = service.window_counts(spec, window.start, end)  # the SLO's count buckets
        except SliError:
            day_counts[spec.name] = None
    requests = p95 = None
    try:
        target = resolve_target(None, service.api_targets, "the report's request figures")
        requests = day_requests(store, target, window, end)
        p95 = day_p95(store, target, window, end)
    except SliError:
        pass
    return build_report(day, zone, now, service.specs, statuses, day_counts, requests, p95, incidents, event)


# ---- rendering ---------------------------------------------------------------------------------------

def _pct(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:.0f} ms"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    minutes = round(seconds / 60)
    if seconds < 60:
        return f"{seconds:.0f}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"


def _minutes(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} min"


def _count(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def _slack(text: Any) -> str:
    # Slack's mrkdwn reads <...> as links and &...; as entities: escape exactly these three.
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _environment(html: bool) -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html.j2"]) if html else False,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(pct=_pct, ms=_ms, duration=_duration, minutes=_minutes, count=_count)
    return env


def _context(report: DailyReport) -> dict[str, Any]:
    zone = ZoneInfo(report.zone)

    def local(ts: float | None) -> str:
        """HH:MM on the reported day; with the date on another day (an incident that spans days)."""
        if ts is None:
            return "ongoing"
        moment = datetime.fromtimestamp(ts, zone)
        return moment.strftime("%H:%M") if moment.date() == report.day else moment.strftime("%d %b %H:%M")

    def local_full(ts: float) -> str:
        return datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d %H:%M %Z")

    return {"r": report, "local": local, "local_full": local_full,
            "day_name": datetime.combine(report.day, time(12)).strftime("%A %d %B %Y")}


def render_text(report: DailyReport, slack: bool = False) -> str:
    """Plain text for a terminal, or Slack mrkdwn with `slack=True` (free text escaped for Slack)."""
    env = _environment(html=False)
    env.filters["esc"] = _slack if slack else str
    return env.get_template("report.txt.j2").render(**_context(report), slack=slack)


def render_html(report: DailyReport) -> str:
    """An HTML e-mail body: inline styles only, every value autoescaped."""
    env = _environment(html=True)
    env.filters["esc"] = lambda v: v  # autoescape already escapes
    return env.get_template("report.html.j2").render(**_context(report))


# ---- when to send --------------------------------------------------------------------------------------

def report_due(now: float, last_sent: date | None, cfg: ReportConfig, event: EventWindow | None) -> date | None:
    """The day whose report is due at `now` (its local send time has passed and it was not sent), else None."""
    zone = report_zone(cfg, event)
    local_now = datetime.fromtimestamp(now, zone)
    day = local_now.date()
    if local_now.time() < cfg.time or day == last_sent:
        return None
    if cfg.event_only and event_day(day, event) is None:
        return None
    return day


__all__ = ["DailyReport", "build_report", "gather_report", "render_html", "render_text", "report_due"]
