"""The SLO shell: read the SLIs from the store, evaluate every SLO, hand back observations.

    slos = SloService(config, store)
    store.write(slos.observations(now))        # every slos.interval; the alert rules fire on them
    create_board_router(..., slo_provider=slos.board_items)

Reading 30 days of samples every minute would be wasteful, so history is cached per series and only
the newest samples are fetched (with an overlap: a probe's samples can be written a little after
their timestamp).
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from monitor.core.observation import Observation
from monitor.core.sections import EventWindow
from monitor.store.base import Sample
from slo.evaluate import SloStatus, evaluate_slo
from slo.periods import PeriodDef, periods
from slo.sources import History, SliError, load_series
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


class SloService:
    def __init__(self, slos: SlosConfig | Mapping[str, Any] | None, store: History, *,
                 event: EventWindow | None, api_targets: Sequence[str],
                 clock: Callable[[], float] | None = None, cache: bool = True) -> None:
        self.config = parse_slos(slos)  # type: ignore[arg-type]
        self.specs: list[SloSpec] = self.config.effective()
        self.periods: dict[Period, PeriodDef] = periods(self.config, event)
        self.api_targets = list(api_targets)
        self.store: History = CachedHistory(store) if cache else store
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
                series = load_series(self.store, spec, self.api_targets, since, now)
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
