"""SLO specs: monitor.yml's `slos:` section, typed.

    slos:
      evaluation_interval: 1m        # how often budgets and burn rates are recomputed
      rolling_period: 30d            # the rolling window (the Workbook's alert windows are tuned for 30d)
      tiers: {page: critical, ticket: medium}   # alert tiers of the two burn-rate severities
      objectives:                    # added to the defaults; an entry named like a default replaces it
        - name: availability
          objective: 99.5%           # or 0.995
          sli: {kind: requests}      # good = API responses that are not 5xx (/metrics excluded)
        - name: latency
          objective: 95%
          sli: {kind: latency, threshold: 500ms}   # good = requests answered within the threshold
        - name: health-checks
          objective: 99.5%
          sli:
            kind: probes             # good = probe runs that passed (one event per run)
            sources:
              - {signal: http_up, labels: {target: api-health}}
              - {signal: synthetic_success}          # every synthetic flow
      report: {time: "18:00", channels: [slack, email]}   # the daily status report, during the event

Every SLO is evaluated over the rolling period and over the event window (`event:` section, whole
local days) unless `periods` says otherwise. `include_defaults: false` drops the three defaults above.
"""

from __future__ import annotations

import difflib
import math
import re
from datetime import time
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from alerts.model import Tier
from monitor.core.problems import Loc
from monitor.core.sections import Section
from monitor.core.signals import CATALOG
from monitor.core.targets import Duration
from monitor.core.timeutil import WallTime, ZoneName
from slo.windows import DAY, MINUTE

# The API's histogram buckets (app/metrics.py LATENCY_BUCKETS, the /metrics contract). A latency SLI is
# exact only at a bucket bound: between bounds nobody knows how many requests were under the threshold.
API_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.06, 0.075,
                       0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
# Scrapes of /metrics (by the monitor and Prometheus) are not user traffic: they would dilute errors.
ROLLING = "rolling"
EVENT = "event"
Period = Literal["rolling", "event"]
SloName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,39}$")]


def parse_objective(value: Any) -> float:
    """0.995 or "99.5%" -> 0.995; anything else is refused with the accepted forms."""
    forms = "a fraction like 0.995 or a percentage like \"99.5%\""
    percent = False
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*", value)
        percent = m is not None
        try:
            number = float(Decimal(m.group(1)) / 100) if m else float(value)  # 99.9% is 0.999 exactly
        except ValueError:
            raise ValueError(f"objective {value!r} is not {forms}") from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        raise ValueError(f"objective must be {forms}")
    if not percent and 1 < number < 100:
        raise ValueError(f"objective {value!r} looks like a percentage: write \"{number:g}%\" or {number / 100:g}")
    if not math.isfinite(number) or not 0 < number < 1:
        raise ValueError(f"objective must be above 0% and below 100% (a 100% objective has no error budget), "
                         f"got {value!r}")
    return number


Objective = Annotated[float, BeforeValidator(parse_objective)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RequestsSli(_Model):
    """Good = API responses that are not 5xx, from http_requests_total (the api_metrics target's counts)."""

    kind: Literal["requests"] = "requests"
    target: str | None = None  # the api_metrics target; None = the only one configured


class LatencySli(_Model):
    """Good = requests answered within `threshold`, from the histogram bucket le=threshold (exact)."""

    kind: Literal["latency"] = "latency"
    target: str | None = None
    threshold: Duration = 0.5

    @field_validator("threshold")
    @classmethod
    def _a_bucket_bound(cls, value: float) -> float:
        if not any(math.isclose(value, b, rel_tol=1e-9) for b in API_LATENCY_BUCKETS):
            bounds = ", ".join(f"{b * 1000:g}ms" for b in API_LATENCY_BUCKETS)
            raise ValueError(f"{value * 1000:g}ms is not a bucket bound of http_request_duration_seconds, so the "
                             f"SLI could not be exact; use one of {bounds}")
        return next(b for b in API_LATENCY_BUCKETS if math.isclose(value, b, rel_tol=1e-9))


class ProbeSource(_Model):
    """Every series of a pass/fail signal whose labels include `labels`."""

    signal: str
    labels: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _a_bool_signal(self) -> ProbeSource:
        known = CATALOG.get(self.signal)
        if known is None:
            close = difflib.get_close_matches(self.signal, CATALOG, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else " (see monitor/core/signals.py)"
            raise ValueError(f"signal: unknown signal {self.signal!r}{hint}")
        if known.unit != "bool":
            bools = ", ".join(s.name for s in CATALOG.values() if s.unit == "bool")
            raise ValueError(f"signal: {self.signal!r} is not a pass/fail signal; use one of {bools}")
        for key in self.labels:
            if key not in known.labels:
                raise ValueError(f"labels: signal {self.signal!r} has no label {key!r} "
                                 f"(its labels: {', '.join(known.labels)})")
        return self

    def matches(self, labels: dict[str, str] | Any) -> bool:
        return all(labels.get(k) == v for k, v in self.labels.items())


def _default_sources() -> list[ProbeSource]:
    return [ProbeSource(signal="http_up"), ProbeSource(signal="synthetic_success")]


class ProbesSli(_Model):
    """Good = probe runs that passed, one event per run, over every series the sources match."""

    kind: Literal["probes"] = "probes"
    sources: list[ProbeSource] = Field(default_factory=_default_sources, min_length=1)
    # A run whose result is unknown (the probe hung past its timeout) counts as failed: unknown is never
    # healthy. "ignore" leaves such runs out of both good and total.
    unknown: Literal["bad", "ignore"] = "bad"


_KINDS = {"requests": RequestsSli, "latency": LatencySli, "probes": ProbesSli}


def _kind_of(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return getattr(value, "kind", None)
    if isinstance(value, dict):
        kind = value.get("kind")
        return kind if isinstance(kind, str) else None
    return None


def _known_kind(value: Any) -> Any:
    if isinstance(value, dict):
        kind = value.get("kind")
        if kind is None:
            raise ValueError(f"kind: required; one of {', '.join(_KINDS)}")
        if kind not in _KINDS:
            raise ValueError(f"kind: unknown SLI kind {kind!r}; one of {', '.join(_KINDS)}")
    return value


Sli = Annotated[
    Annotated[RequestsSli, Tag("requests")] | Annotated[LatencySli, Tag("latency")]
    | Annotated[ProbesSli, Tag("probes")],
    Discriminator(_kind_of), BeforeValidator(_known_kind),
]


class SloSpec(_Model):
    name: SloName
    objective: Objective
    sli: Sli
    description: str = ""
    periods: list[Period] = Field(default_factory=lambda: [ROLLING, EVENT], min_length=1)
    alerting: bool = True  # burn-rate alerts (page and ticket tiers)
    runbook: str = ""

    @field_validator("periods")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("lists a period more than once")
        return value

    @property
    def title(self) -> str:
        return self.description or self.name


class TierMap(Section):
    """Which alert tier each burn-rate severity uses (see alerts/routing.py for where tiers go)."""

    page: Tier = Tier.CRITICAL  # pages the on-call (SMS during the event)
    ticket: Tier = Tier.MEDIUM  # Slack, low priority: look at it within the day


class ReportConfig(Section):
    """The daily status report to stakeholders (spec: 'During Event: daily status reports')."""

    time: WallTime = time(18, 0)  # local time it is sent
    timezone: ZoneName | None = None  # default: the event's time zone, else UTC
    channels: list[str] = Field(default_factory=lambda: ["slack", "email"])  # text to Slack, HTML to email
    event_only: bool = True  # only on event days (and the day after the last, for the final day)


DEFAULT_SLOS: tuple[SloSpec, ...] = (
    SloSpec(name="availability", objective=0.995, sli=RequestsSli(),
            description="API requests that do not fail with a 5xx",
            runbook="Look at the error-rate alerts and Sentry for the failing routes; roll back the last deploy "
                    "if it started then."),
    SloSpec(name="health-checks", objective=0.995, sli=ProbesSli(),
            description="Health checks and synthetic logins that pass",
            runbook="The API is unreachable or unhealthy from outside: see ApiDown and the synthetic flow's "
                    "failing step."),
    SloSpec(name="latency", objective=0.95, sli=LatencySli(threshold=0.5),
            description="API requests answered within 500 ms",
            runbook="Check the per-route p95, CPU, the DB pool and slow queries; scale out if CPU-bound."),
)


class SlosConfig(Section):
    evaluation_interval: Duration = MINUTE
    rolling_period: Duration = 30 * DAY
    min_short_window: Duration = MINUTE  # floor for scaled short alert windows (see slo/windows.py)
    include_defaults: bool = True
    objectives: list[SloSpec] = Field(default_factory=list)
    tiers: TierMap = Field(default_factory=TierMap)
    report: ReportConfig = Field(default_factory=ReportConfig)

    @field_validator("objectives")
    @classmethod
    def _unique(cls, value: list[SloSpec]) -> list[SloSpec]:
        names = [s.name for s in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"SLO name {', '.join(dupes)} is used more than once")
        return value

    @field_validator("rolling_period")
    @classmethod
    def _at_least_a_day(cls, value: float) -> float:
        if value < DAY:
            raise ValueError("must be at least 1d (the burn-rate windows are scaled from 30d)")
        return value

    def effective(self) -> list[SloSpec]:
        """The defaults (unless excluded), each replaced by an objective of the same name, then the others."""
        given = {s.name: s for s in self.objectives}
        out = [given.pop(d.name, d) for d in DEFAULT_SLOS] if self.include_defaults else []
        return out + [s for s in self.objectives if s.name in given]


def parse_slos(section: SlosConfig | dict[str, Any] | None) -> SlosConfig:
    """The `slos:` section as a model (None = all defaults). Raises pydantic's ValidationError."""
    if isinstance(section, SlosConfig):
        return section
    return SlosConfig.model_validate(section or {})




def cross_check(slos: SlosConfig, api_metrics_targets: list[str],
                retention: float | None = None) -> list[tuple[Loc, str]]:
    """Problems only visible with the rest of the config: unknown targets, history too short for the window."""
    problems: list[tuple[Loc, str]] = []
    for i, spec in enumerate(slos.objectives):
        loc: Loc = ("slos", "objectives", i, "sli", "target")
        target = getattr(spec.sli, "target", None)
        if target is not None and target not in api_metrics_targets:
            known = ", ".join(api_metrics_targets) or "none configured"
            problems.append((loc, f"no api_metrics target named {target!r} (targets.api_metrics: {known})"))
    if len(api_metrics_targets) > 1:
        for spec in slos.effective():
            if isinstance(spec.sli, RequestsSli | LatencySli) and spec.sli.target is None:
                problems.append((("slos", "objectives"), f"SLO {spec.name!r}: several api_metrics targets are "
                                 f"configured ({', '.join(api_metrics_targets)}); name one with sli.target"))
    if retention is not None and retention < slos.rolling_period:
        problems.append((("store", "retention"), f"keeps {retention / DAY:g} days of history but the SLOs' rolling "
                         f"period is {slos.rolling_period / DAY:g} days; raise it to at least that"))
    return problems
