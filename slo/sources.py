"""Where each SLI's counts come from: the monitor's store, read into CountSeries.

    requests  good = api_requests_counted - api_requests_5xx_counted, total = api_requests_counted
    latency   good = api_requests_le_counted{le=threshold},          total = api_requests_le_counted{le="+Inf"}
    probes    one event per stored sample of each matching pass/fail series: good when the value is 1;
              an unknown sample is a failed event (or left out, with `unknown: ignore`)

The store also counts them as samples arrive (`count_rules`: the same definitions as store count rules),
into per-minute buckets the SLO service reads instead of the raw history.

Unknown samples of the request counters (a failed scrape) are skipped: the next good scrape carries the
requests of the gap, so nothing is lost and nothing is made up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from monitor.core.api_contract import INF, le_label
from monitor.core.observation import Observation
from monitor.core.signals import SIGNAL_5XX, SIGNAL_LE, SIGNAL_REQUESTS
from monitor.store.base import Sample
from monitor.store.rollup import CountRule
from slo.budget import CountSeries, window_counts
from slo.spec import LatencySli, ProbesSli, RequestsSli, SloSpec


class History(Protocol):
    def history(self, signal: str, labels: Mapping[str, str], since: float,
                until: float | None = None) -> list[Sample]: ...

    def latest(self) -> list[Observation]: ...


class SliError(Exception):
    """The SLI cannot be read (no such target, nothing recorded yet); the message says what to do."""


def resolve_target(target: str | None, api_targets: Sequence[str], who: str = "") -> str:
    """The api_metrics target whose request counts to read: the named one, or the only one configured."""
    prefix = f"{who}: " if who else ""
    if target is not None:
        if target not in api_targets:
            raise SliError(f"{prefix}no api_metrics target named {target!r}")
        return target
    if len(api_targets) == 1:
        return api_targets[0]
    if not api_targets:
        raise SliError(f"{prefix}needs an api_metrics target (targets.api_metrics) to count requests")
    raise SliError(f"{prefix}several api_metrics targets are configured; name one with sli.target")


def _joined(a: Sequence[Sample], b: Sequence[Sample]) -> tuple[list[float], list[float], list[float]]:
    """Timestamps where both series have a known value, with the two values."""
    known_b = {s.timestamp: s.value for s in b if s.value is not None}
    ts, va, vb = [], [], []
    for s in a:
        other = known_b.get(s.timestamp)
        if s.value is not None and other is not None:
            ts.append(s.timestamp)
            va.append(s.value)
            vb.append(other)
    return ts, va, vb


def counter_series(good: Sequence[Sample], total: Sequence[Sample], *, good_is_bad: bool = False) -> CountSeries:
    """From stored cumulative counters; with good_is_bad the first series counts bad events (5xx)."""
    ts, first, totals = _joined(good, total)
    goods = [t - f for f, t in zip(first, totals, strict=True)] if good_is_bad else first
    return CountSeries.from_counters(ts, [max(g, 0.0) for g in goods], totals)


def counter_increase(samples: Sequence[Sample], start: float, end: float) -> float | None:
    """What one stored cumulative counter gained in (start, end]; None without samples there."""
    counts = window_counts([counter_series(samples, samples)], start, end)
    return None if counts is None else counts.total


def event_series(samples: Sequence[Sample], unknown_is_bad: bool = True) -> CountSeries:
    kept = [s for s in samples if s.value is not None or unknown_is_bad]
    return CountSeries.from_events([s.timestamp for s in kept], [s.value == 1 for s in kept])


def load_series(store: History, spec: SloSpec, api_targets: Sequence[str], since: float,
                until: float) -> list[CountSeries]:
    """The SLI's count series over [since, until]. Raises SliError when the SLI has nowhere to come from."""
    sli = spec.sli
    if isinstance(sli, RequestsSli):
        labels = {"target": resolve_target(sli.target, api_targets, f"SLO {spec.name}")}
        errors = store.history(SIGNAL_5XX, labels, since, until)
        total = store.history(SIGNAL_REQUESTS, labels, since, until)
        return [counter_series(errors, total, good_is_bad=True)]
    if isinstance(sli, LatencySli):
        target = resolve_target(sli.target, api_targets, f"SLO {spec.name}")
        fast = store.history(SIGNAL_LE, {"target": target, "le": le_label(sli.threshold)}, since, until)
        total = store.history(SIGNAL_LE, {"target": target, "le": INF}, since, until)
        return [counter_series(fast, total)]
    assert isinstance(sli, ProbesSli)
    out = []
    for key in probe_series(store, sli):
        samples = store.history(key[0], dict(key[1]), since, until)
        out.append(event_series(samples, sli.unknown == "bad"))
    return out


def probe_series(store: History, sli: ProbesSli) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """Every stored series (signal, labels) one of the sources matches, in a stable order."""
    keys = set()
    for obs in store.latest():
        for source in sli.sources:
            if obs.signal == source.signal and source.matches(obs.labels):
                keys.add(obs.series_key())
    return sorted(keys)


def counts_key(spec: SloSpec) -> str:
    return f"slo:{spec.name}"


def count_rules(spec: SloSpec, api_targets: Sequence[str]) -> list[CountRule]:
    """What the store counts into the SLO's buckets as samples arrive: the same events `load_series` reads
    back from the raw history. Raises SliError when the SLI has nowhere to come from."""
    sli, key = spec.sli, counts_key(spec)
    if isinstance(sli, RequestsSli):
        target = resolve_target(sli.target, api_targets, f"SLO {spec.name}")
        return [CountRule(key, SIGNAL_REQUESTS, {"target": target}, "counter", good=1.0, total=1.0),
                CountRule(key, SIGNAL_5XX, {"target": target}, "counter", good=-1.0, total=0.0)]
    if isinstance(sli, LatencySli):
        target = resolve_target(sli.target, api_targets, f"SLO {spec.name}")
        return [CountRule(key, SIGNAL_LE, {"target": target, "le": le_label(sli.threshold)}, "counter",
                          good=1.0, total=0.0),
                CountRule(key, SIGNAL_LE, {"target": target, "le": INF}, "counter", good=0.0, total=1.0)]
    assert isinstance(sli, ProbesSli)
    return [CountRule(key, source.signal, dict(source.labels), "events", unknown_is_bad=sli.unknown == "bad")
            for source in sli.sources]
