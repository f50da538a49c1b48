"""Exact request counts for the SLOs, from raw scrapes of the API's /metrics.

The api_metrics probe keeps a RequestTracker in its ctx.state and feeds it every successful scrape.
The tracker adds up, per raw series (method, route, status_code, le, instance), what each counter
gained since the previous scrape, so it is exact where Prometheus's `increase` extrapolates:

- a series first seen on an instance already being tracked was born since the last scrape (the client
  creates labelled series on first use), so all of its value is new: the first 5xx is not lost;
- a counter that went down, or any series of an instance whose process_start_time_seconds changed,
  restarted from zero: all of its value is new (Prometheus's reset rule);
- the first scrape of an instance is only a baseline (what it counted before is not ours to know);
- a failed scrape changes nothing: the next good one brings the gap's requests in.

It emits the monitor's own cumulative counters (since the monitor started; a monitor restart starts
them at zero again, which the SLO math reads as a counter reset):

    api_requests_counted{target}            requests (routes in EXCLUDED_ROUTES left out)
    api_requests_5xx_counted{target}        of which answered 5xx
    api_requests_le_counted{target, le}     of which took at most `le` seconds, per histogram bucket

`prometheus_increase` is the other path: the same quantities the way a Prometheus recording rule
computes them (sum of per-series `increase`, with extrapolation), for comparing with real Prometheus.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from monitor.core import promql
from monitor.core.api_contract import (
    BUCKET,
    EXCLUDED_ROUTES,
    INF,
    INSTANCE,
    REQUESTS,
    START_TIME,
    RawSample,
    SeriesKey,
    is_server_error,
    le_label,
)
from monitor.core.observation import Observation, unknown
from monitor.core.signals import SIGNAL_5XX, SIGNAL_LE, SIGNAL_REQUESTS


@dataclass
class RequestCounts:
    requests: float = 0.0
    errors: float = 0.0
    le: dict[str, float] = field(default_factory=dict)  # le label -> requests at most that long


@dataclass
class _Instance:
    start_time: float | None
    values: dict[SeriesKey, float]


class RequestTracker:
    """Cumulative, reset-aware request counts across scrapes of one or more API instances."""

    def __init__(self, exclude_routes: Sequence[str] = EXCLUDED_ROUTES) -> None:
        self.exclude_routes = frozenset(exclude_routes)
        self.counts = RequestCounts()
        self._instances: dict[str, _Instance] = {}
        # Every bound the histogram has, from the first scrape on: each counter is emitted (at 0) from the
        # baseline, so the SLO math has a starting sample for it.
        self._bounds: set[str] = set()

    def update(self, instance: str, samples: Iterable[RawSample]) -> None:
        """One successful scrape of `instance` (its samples; other metrics are ignored)."""
        start_time: float | None = None
        current: dict[SeriesKey, float] = {}
        for name, labels, value in samples:
            if name == START_TIME:
                start_time = value
            elif name in (REQUESTS, BUCKET) and labels.get("route") not in self.exclude_routes:
                if name == BUCKET:
                    self._bounds.add(le_label(labels.get("le", INF)))
                current[(name, tuple(sorted((k, v) for k, v in labels.items() if k != INSTANCE)))] = value
        seen = self._instances.get(instance)
        self._instances[instance] = _Instance(start_time, current)
        if seen is None:
            return  # a baseline: what it counted before we looked is unknown
        restarted = start_time is not None and seen.start_time is not None and start_time != seen.start_time
        for key, value in current.items():
            before = None if restarted else seen.values.get(key)
            gained = value if before is None or value < before else value - before
            if gained:
                self._add(key, gained)

    def _add(self, key: SeriesKey, gained: float) -> None:
        name, labels = key[0], dict(key[1])
        if name == REQUESTS:
            self.counts.requests += gained
            if is_server_error(labels):
                self.counts.errors += gained
        else:
            le = le_label(labels.get("le", INF))
            self.counts.le[le] = self.counts.le.get(le, 0.0) + gained

    def forget(self, instance: str) -> None:
        self._instances.pop(instance, None)

    def observations(self, target: str, now: float, error: str | None = None,
                     bounds: Iterable[str] = ()) -> list[Observation]:
        """The cumulative counters as observations; all unknown when this cycle's scrape failed (`error`).

        `bounds`: le labels to emit besides those the scrapes showed (their value is 0 until counted).
        """
        les = sorted({*self.counts.le, *self._bounds, *bounds, INF}, key=promql.parse_le)
        labels = {"target": target}
        if error is not None:
            return [unknown(SIGNAL_REQUESTS, now, error, labels), unknown(SIGNAL_5XX, now, error, labels),
                    *(unknown(SIGNAL_LE, now, error, {**labels, "le": le}) for le in les)]
        return [Observation(SIGNAL_REQUESTS, self.counts.requests, now, labels),
                Observation(SIGNAL_5XX, self.counts.errors, now, labels),
                *(Observation(SIGNAL_LE, self.counts.le.get(le, 0.0), now, {**labels, "le": le}) for le in les)]
