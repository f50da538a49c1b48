"""The SLO shell: read the SLIs from the store, evaluate every SLO, hand back observations.

    slos = SloService(config, store)
    store.write(slos.observations(now))        # every slos.interval; the alert rules fire on them
    create_board_router(..., slo_provider=slos.board_items)

The store counts each SLO's good and total events into per-minute buckets as samples arrive
(slo/sources.py `count_rules`), so a cycle never rebuilds history: the buckets of the trailing window are
kept in memory and each cycle reads only the newest ones (with an overlap: a probe's samples can be
written a little after their timestamp). The first cycle after a start reads the buckets, not the raw
samples; a past event's window is summed once. A store without count buckets (a plain `History`) is
read sample by sample as before, through `CachedHistory`.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from monitor.core.observation import Observation
from monitor.core.sections import EventWindow
from monitor.store.base import Sample
from monitor.store.rollup import CountRule
from slo.budget import BucketSeries, Countable, Counts, sum_counts
from slo.evaluate import SloStatus, evaluate_slo
from slo.periods import PeriodDef, periods
from slo.sources import History, SliError, count_rules, counts_key, load_series
from slo.spec import EVENT, Period, SlosConfig, SloSpec, parse_slos

log = logging.getLogger("converge.slo")
OVERLAP = 300.0  # re-read the last 5 minutes: late writes land inside it
BASELINE_MARGIN = 3600.0  # history read before a window's start: longer than any probe interval
RETRY_WITHOUT_DATA = 5.0  # seconds to the next evaluation after one where an SLO had no data


class CachedHistory:
    """A read-through cache of store.history for queries whose window only moves forward."""

    def __init__(self, store: History, overlap: float = OVERLAP) -> None:
        self.store = store
        self.overlap = overlap
        self._cache: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[float, float, list[Sample]]] = {}

    def latest(self) -> list[Observation]:
        return self.store.latest()

    def history(self, signal: str, labels: Mapping[str, str], since: float,
                until: float | None = None) -> list[Sample]:
        until = float("inf") if until is None else until
        key = (signal, tuple(sorted(labels.items())))
        cached = self._cache.get(key)
        if cached is None or since < cached[0] or until < cached[1] - self.overlap:
            samples = self.store.history(signal, labels, since, until)
        else:
            _, hi, samples = cached
            fresh_from = max(since, hi - self.overlap)
            fresh = self.store.history(signal, labels, fresh_from, until)
            cut = bisect.bisect_left([s.timestamp for s in samples], fresh_from)
            samples = samples[:cut] + fresh
            samples = samples[bisect.bisect_left([s.timestamp for s in samples], since):]
        self._cache[key] = (since, until, samples)
        return list(samples)


Bucket = tuple[float, float, float, float]  # end, width, good, total


@runtime_checkable
class CountStore(Protocol):
    """A store that counts events into buckets as samples arrive (monitor/store/base.py)."""

    def track_counts(self, rules: Sequence[CountRule]) -> None: ...

    def count_buckets(self, key: str, since: float, until: float | None = None) -> list[Bucket]: ...


class BucketCache:
    """The buckets of each key over a trailing window, in memory; each read fetches only the newest."""

    def __init__(self, store: CountStore, overlap: float = OVERLAP) -> None:
        self.store = store
        self.overlap = overlap
        self._cache: dict[str, tuple[float, float, list[Bucket]]] = {}  # key -> since, read at, buckets
        self.read = 0  # buckets fetched from the store so far (what a cycle costs)

    def _fetch(self, key: str, since: float, until: float | None = None) -> list[Bucket]:
        rows = self.store.count_buckets(key, since, until)
        self.read += len(rows)
        return rows

    def buckets(self, key: str, since: float, now: float) -> list[Bucket]:
        cached = self._cache.get(key)
        if cached is not None and now < cached[1] - self.overlap:  # an evaluation of the past (a report)
            return [b for b in self._fetch(key, since) if b[0] - b[1] < now]
        if cached is None or since < cached[0]:
            rows = self._fetch(key, since)
        else:
            _, read_at, rows = cached
            fresh_from = max(since, read_at - self.overlap)
            ends = [b[0] for b in rows]
            rows = rows[bisect.bisect_right(ends, since):bisect.bisect_right(ends, fresh_from)] \
                + self._fetch(key, fresh_from)
        self._cache[key] = (since, now, rows)
        return [b for b in rows if b[0] - b[1] < now]

    def window(self, key: str, start: float, end: float) -> Counts | None:
        """The events of (start, end] summed in the store's buckets (no caching: a report, a past event)."""
        return BucketSeries(self._fetch(key, start, end)).counts(start, end)


class SloService:
    def __init__(self, slos: SlosConfig | Mapping[str, Any] | None, store: History, *,
                 event: EventWindow | None, api_targets: Sequence[str],
                 clock: Callable[[], float] | None = None, cache: bool = True) -> None:
        self.config = parse_slos(slos)  # type: ignore[arg-type]
        self.specs: list[SloSpec] = self.config.effective()
        self.periods: dict[Period, PeriodDef] = periods(self.config, event)
        self.api_targets = list(api_targets)
        self.store: History = CachedHistory(store) if cache else store
        self.counts: BucketCache | None = None
        self._final: dict[tuple[str, float, float], Counts | None] = {}  # past events' windows, summed once
        self._failed: dict[str, str] = {}  # SLO -> why its SLI cannot be read
        if isinstance(store, CountStore):
            rules: list[CountRule] = []
            for spec in self.specs:
                try:
                    rules.extend(count_rules(spec, self.api_targets))
                except SliError as exc:
                    self._failed[spec.name] = str(exc)
            store.track_counts(rules)
            self.counts = BucketCache(store)
        self.clock: Callable[[], float] = clock or (lambda: time.time())  # looked up per call: freezegun-friendly
        self.last: list[SloStatus] = []
        self._without_data = 0  # evaluations in a row where some SLO had no data

    @classmethod
    def from_config(cls, config: Any, store: History, **kwargs: Any) -> SloService:
        """From monitor.config.Config (its `slos`, `event` and api_metrics targets)."""
        api = [t.name for t in config.targets.api_metrics if t.enabled]
        return cls(config.slos, store, event=config.event, api_targets=api, **kwargs)

    @property
    def interval(self) -> float:
        return self.config.evaluation_interval

    def next_delay(self, spent: float = 0.0) -> float:
        """Seconds until the next evaluation, `spent` seconds into this one. While an SLO has no data
        (the monitor has just started, or its SLI source is down) it is sooner, so that budgets appear
        seconds after the first samples rather than a whole interval later."""
        interval = self.interval
        if self._without_data:  # 5, 10, 20 s...: quick at start-up, not 12x the work through a long outage
            interval = min(interval, RETRY_WITHOUT_DATA * 2 ** (self._without_data - 1))
        return max(1.0, interval - spent)

    def trailing(self, now: float) -> float:
        """The oldest instant a rolling period or an alert window needs at `now` (buckets need no baseline)."""
        return now - max([p.length for p in self.periods.values() if p.calendar is None]
                         + [w.long for p in self.periods.values() for w in p.policies])

    def bucket_series(self, spec: SloSpec, now: float) -> BucketSeries:
        """The SLO's buckets over the trailing window, and the event window's counts when it lies before it:
        a running event's buckets are read along (at most its length), a past one's summed once."""
        assert self.counts is not None
        key = counts_key(spec)
        since = self.trailing(now)
        fixed: dict[tuple[float, float], Counts | None] = {}
        event = self.periods.get(EVENT)
        cal = event.calendar if event is not None else None
        if cal is not None and cal.start < since and cal.start < now:
            covered = cal.so_far(now)
            if covered.end < now - OVERLAP:  # over: its counts no longer change
                memo = (key, covered.start, covered.end)
                if memo not in self._final:
                    self._final[memo] = self.counts.window(key, covered.start, covered.end)
                fixed[(covered.start, covered.end)] = self._final[memo]
            else:
                since = cal.start
        return BucketSeries(self.counts.buckets(key, since, now), fixed)

    def window_counts(self, spec: SloSpec, start: float, end: float) -> Counts | None:
        """The SLO's events in (start, end] (the daily report's day)."""
        if spec.name in self._failed:
            raise SliError(self._failed[spec.name])
        if self.counts is not None:
            return self.counts.window(counts_key(spec), start, end)
        return sum_counts(s.counts(start, end) for s in load_series(self.store, spec, self.api_targets,
                                                                     start - BASELINE_MARGIN, end))

    def lookback(self, now: float) -> float:
        """The oldest instant any period or alert window needs at `now`, and a margin before it: a counter's
        increase from the window's start needs the sample just before it as its baseline."""
        longest = max([p.length for p in self.periods.values() if p.calendar is None]
                      + [w.long for p in self.periods.values() for w in p.policies])
        since = now - longest
        event = self.periods.get(EVENT)
        if event is not None and event.calendar is not None and event.calendar.start < now:
            since = min(since, event.calendar.start)
        return since - BASELINE_MARGIN

    def evaluate(self, now: float | None = None) -> list[SloStatus]:
        now = self.clock() if now is None else now
        since = self.lookback(now)
        out = []
        for spec in self.specs:
            try:
                if spec.name in self._failed:
                    raise SliError(self._failed[spec.name])
                series: Sequence[Countable] = [self.bucket_series(spec, now)] if self.counts is not None \
                    else load_series(self.store, spec, self.api_targets, since, now)
                out.append(evaluate_slo(spec, series, now, self.periods))
            except SliError as exc:
                out.append(evaluate_slo(spec, (), now, self.periods, error=str(exc)))
        self.last = out
        self._without_data = self._without_data + 1 if any(not s.has_data for s in out) else 0
        return out

    def observations(self, now: float | None = None) -> list[Observation]:
        return [o for status in self.evaluate(now) for o in status.observations()]

    def board_items(self) -> list[dict[str, Any]]:
        """The last evaluation, for the status board (never touches the store)."""
        return [s.board_item() for s in self.last]
