"""The SLO loop's burn rates for the backtest (alerts/backtest.py): computed from replayed history. Pure.

    inputs = BurnInputs(config.slos, config.event, api_targets=["api-metrics"])
    Replay(service, store, ..., derived=[inputs])   # feeds its inputs' samples, asks for burn rates every minute

The live loop (slo/service.py) reads each SLI's samples from the store every minute. Replaying 30 days
that way would re-read days of samples 43,200 times; here each SLI source keeps its cumulative counts as
they arrive (the same joins, reset correction and event counting as slo/sources.py) and only as far back
as the longest alert window reads, so a burn rate costs two bisects. The values are the live ones:
`burn_alert_observations` writes them as SloStatus.observations() does. Only the burn rates are replayed
(the budgets need whole periods); they are all the burn-rate rules read.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from monitor.core.api_contract import INF, le_label
from monitor.core.observation import Observation
from monitor.core.sections import EventWindow
from monitor.core.signals import SIGNAL_5XX, SIGNAL_LE, SIGNAL_REQUESTS
from slo.budget import Counts, counts_between
from slo.evaluate import burn_alert_observations
from slo.periods import PeriodDef, periods
from slo.sources import SliError, resolve_target
from slo.spec import LatencySli, Period, ProbesSli, RequestsSli, SlosConfig, SloSpec, parse_slos
from slo.windows import HOUR

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]
Feeder = Callable[[float, float | None], None]  # alerts.backtest.Feeder: (ts, value) of one series


class GrowingCounts:
    """Cumulative (good, total) counts at increasing timestamps, appended as samples arrive, made monotonic
    (a counter that goes down restarted from zero) and trimmed to the last `keep` seconds (plus a baseline)."""

    def __init__(self, events: bool, keep: float) -> None:
        self.events = events
        self.keep = keep
        self.ts: list[float] = []
        self.good: list[float] = []
        self.total: list[float] = []
        self._raw: tuple[float, float] | None = None  # the last raw counter values
        self._offset = (0.0, 0.0)
        self._events = (0.0, 0.0)

    def add_counters(self, ts: float, good: float, total: float) -> None:
        if self.ts and ts <= self.ts[-1]:
            return  # one sample per instant, in time order
        og, ot = self._offset
        if self._raw is not None:
            pg, pt = self._raw
            og, ot = og + (pg if good < pg else 0.0), ot + (pt if total < pt else 0.0)
        self._raw, self._offset = (good, total), (og, ot)
        self._append(ts, good + og, total + ot)

    def add_event(self, ts: float, good: bool) -> None:
        if self.ts and ts <= self.ts[-1]:
            return
        ng, nt = self._events
        self._events = (ng + (1.0 if good else 0.0), nt + 1.0)
        self._append(ts, *self._events)

    def _append(self, ts: float, good: float, total: float) -> None:
        self.ts.append(ts)
        self.good.append(good)
        self.total.append(total)
        if len(self.ts) > 4096 and ts - self.ts[0] > 2 * self.keep:
            # keep the last sample at or before the oldest window start: it is that window's baseline
            cut = max(0, bisect.bisect_right(self.ts, ts - self.keep) - 1)
            del self.ts[:cut], self.good[:cut], self.total[:cut]

    def counts(self, start: float, end: float) -> Counts | None:
        return counts_between(self.ts, self.good, self.total, self.events, start, end)

    def first_time(self) -> float | None:
        return self.ts[0] if self.ts else None


class _Sli:
    """One SLO's sources, fed observation by observation."""

    def __init__(self, spec: SloSpec, api_targets: Sequence[str], keep: float) -> None:
        self.spec = spec
        self.keep = keep
        self.error: str | None = None
        self.series: dict[SeriesKey, GrowingCounts] = {}
        self._pairs: dict[float, list[float | None]] = {}  # ts -> [first, total]: a counter pair joined by time
        self._first: SeriesKey | None = None
        self._total: SeriesKey | None = None
        sli = spec.sli
        try:
            if isinstance(sli, RequestsSli):
                target = resolve_target(sli.target, api_targets, f"SLO {spec.name}")
                self._first = (SIGNAL_5XX, (("target", target),))
                self._total = (SIGNAL_REQUESTS, (("target", target),))
            elif isinstance(sli, LatencySli):
                target = resolve_target(sli.target, api_targets, f"SLO {spec.name}")
                self._first = (SIGNAL_LE, (("le", le_label(sli.threshold)), ("target", target)))
                self._total = (SIGNAL_LE, (("le", INF), ("target", target)))
        except SliError as exc:
            self.error = str(exc)
        if self._total is not None:
            self.series[self._total] = GrowingCounts(False, keep)

    def feeder(self, signal: str, labels: Mapping[str, str]) -> Feeder | None:
        """What takes this series' samples (ts, value), or None when the SLO does not read it."""
        sli = self.spec.sli
        key = (signal, tuple(sorted(labels.items())))
        if isinstance(sli, ProbesSli):
            if not any(signal == s.signal and s.matches(labels) for s in sli.sources):
                return None
            bad_unknown = sli.unknown == "bad"

            def event(ts: float, value: float | None) -> None:
                if value is None and not bad_unknown:
                    return
                counts = self.series.get(key)
                if counts is None:
                    counts = self.series[key] = GrowingCounts(True, self.keep)
                counts.add_event(ts, value == 1)

            return event
        if self._total is None or key not in (self._first, self._total):
            return None
        slot = 0 if key == self._first else 1

        def counter(ts: float, value: float | None) -> None:
            if value is not None:  # an unknown sample (a failed scrape) is skipped: the next carries its requests
                self._pair(ts, slot, value)

        return counter

    def _pair(self, ts: float, slot: int, value: float) -> None:
        pair = self._pairs.setdefault(ts, [None, None])
        pair[slot] = value
        first, total = pair
        if first is not None and total is not None:
            del self._pairs[ts]
            for old in [t for t in self._pairs if t < ts]:
                del self._pairs[old]  # its partner never came: left out, as the store's join leaves it out
            good = max(total - first, 0.0) if isinstance(self.spec.sli, RequestsSli) else first
            assert self._total is not None
            self.series[self._total].add_counters(ts, good, total)


class BurnInputs:
    """alerts.backtest.Derived: the burn-rate observations of every SLO, every `interval` seconds."""

    def __init__(self, slos: SlosConfig | Mapping[str, Any] | None, event: EventWindow | None,
                 api_targets: Sequence[str]) -> None:
        config = parse_slos(slos)  # type: ignore[arg-type]
        self._interval = config.evaluation_interval
        self.periods: dict[Period, PeriodDef] = periods(config, event)
        longest = max((w.long for p in self.periods.values() for w in p.policies), default=HOUR)
        self._slis = [_Sli(spec, api_targets, longest + HOUR) for spec in config.effective() if spec.alerting]
        self._labels: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, str]] = {}

    @property
    def interval(self) -> float:
        return self._interval

    def feeder(self, signal: str, labels: Mapping[str, str]) -> Feeder | None:
        feeders = [f for sli in self._slis if (f := sli.feeder(signal, labels)) is not None]
        if len(feeders) <= 1:
            return feeders[0] if feeders else None

        def feed(ts: float, value: float | None) -> None:
            for f in feeders:
                f(ts, value)

        return feed

    def signals(self) -> set[str]:
        """Every signal an SLO's burn rate reads."""
        out: set[str] = set()
        for sli in self._slis:
            source = sli.spec.sli
            if isinstance(source, ProbesSli):
                out.update(s.signal for s in source.sources)
            elif sli._total is not None and sli._first is not None:
                out.update((sli._first[0], sli._total[0]))
        return out

    def observations(self, now: float) -> list[Observation]:
        out: list[Observation] = []
        for sli in self._slis:
            for obs in burn_alert_observations(sli.spec, list(sli.series.values()), now, self.periods, sli.error):
                key = (obs.signal, tuple(obs.labels.items()))
                labels = self._labels.setdefault(key, dict(obs.labels))  # one dict per series: cheap to replay
                out.append(Observation(obs.signal, obs.value, obs.timestamp, labels, obs.error))
        return out
