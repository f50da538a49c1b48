"""SLOs from the store's count buckets: the same values as from the raw samples, at a cost that does not
grow with the history, and a past event read as its own window."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from monitor.core.observation import Observation
from monitor.core.signals import SIGNAL_5XX, SIGNAL_LE, SIGNAL_REQUESTS
from monitor.store.base import Sample
from monitor.store.rollup import CountRule
from monitor.store.sqlite import SqliteStore
from slo.budget import Counts
from slo.service import SloService
from slo.sources import load_series
from tests.support.slo_history import JAN, la

DAY = 86400.0


def jittered_history(start: float, until: float) -> list[Observation]:
    """Runs every 20 s, 7 s off the minute: an outage, a restart of the API's counters, failed and hung checks."""
    out: list[Observation] = []
    requests = errors = fast = 0.0
    api = {"target": "api-metrics"}
    t, i = start + 7, 0
    while t <= until:
        if la(28, 6) < t <= la(28, 6, 0, 20):  # the API restarted: its counters start again from zero
            requests = errors = fast = 0.0
        requests += 200
        errors += 60 if la(28, 2) < t <= la(28, 2, 20) else (1 if i % 7 == 0 else 0)
        fast += 190 if i % 5 else 120
        out += [Observation(SIGNAL_REQUESTS, requests, t, api), Observation(SIGNAL_5XX, errors, t, api),
                Observation(SIGNAL_LE, fast, t, {**api, "le": "0.5"}),
                Observation(SIGNAL_LE, requests, t, {**api, "le": "+Inf"})]
        out.append(Observation("http_up", 0.0 if la(28, 3) <= t < la(28, 3, 5) or i % 13 == 0 else 1.0, t,
                               {"target": "api-health"}))
        flow = None if i % 29 == 0 else 1.0
        out.append(Observation("synthetic_success", flow, t, {"flow": "login"}, error=None if flow else "timeout"))
        t += 20
        i += 1
    return out


class RawOnly:
    """The store seen only through its raw history: the SLO service's old path, the reference."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    def history(self, signal: str, labels: Mapping[str, str], since: float, until: float | None = None) -> list[Sample]:
        return self.store.history(signal, labels, since, until)

    def latest(self) -> list[Observation]:
        return self.store.latest()


class Spy:
    """A count store that records what each read asks for, and refuses raw reads."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.reads: list[tuple[str, float, float | None, int]] = []

    def track_counts(self, rules: Sequence[CountRule]) -> None:
        self.store.track_counts(rules)

    def count_buckets(self, key: str, since: float, until: float | None = None) -> list[Any]:
        rows = self.store.count_buckets(key, since, until)
        self.reads.append((key, since, until, len(rows)))
        return rows

    def history(self, *args: Any, **kw: Any) -> list[Sample]:
        raise AssertionError("the SLO cycle read raw samples")

    def latest(self) -> list[Observation]:
        return self.store.latest()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(str(tmp_path / "monitor.sqlite3"), retention=31 * DAY)
    yield s
    s.close()


def service(store: Any, **kw: Any) -> SloService:
    return SloService(None, store, event=JAN, api_targets=["api-metrics"], **kw)


def by_key(obs: list[Observation]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float | None]:
    return {o.series_key(): o.value for o in obs}


@pytest.mark.parametrize("counted", ["as written", "from history already stored"])
def test_bucket_slos_equal_raw_slos_on_aligned_windows(store: SqliteStore, counted: str) -> None:
    data = jittered_history(la(27, 20), la(29, 12))
    if counted == "as written":
        buckets = service(store)
        for k in range(0, len(data), 500):  # written in batches, as the scheduler does
            store.write(data[k:k + 500])
    else:
        store.write(data)
        buckets = service(store)
    raw = service(RawOnly(store), cache=False)
    assert buckets.counts is not None and raw.counts is None
    for now in (la(28, 2, 30), la(28, 4), la(28, 12), la(29, 12)):  # minute-aligned
        got, want = by_key(buckets.observations(now)), by_key(raw.observations(now))
        assert got.keys() == want.keys()
        assert sum(v is not None for v in want.values()) > 40
        for key, expected in want.items():
            assert got[key] == pytest.approx(expected, rel=1e-9, abs=1e-9), key


def test_bucket_counts_differ_from_raw_by_at_most_a_bucket_at_unaligned_edges(store: SqliteStore) -> None:
    store.write(jittered_history(la(27, 20), la(29, 12)))
    svc = service(store)
    now = la(29, 11, 37, 41)
    for spec in svc.specs:
        series = svc.bucket_series(spec, now)
        raw = load_series(store, spec, svc.api_targets, la(27, 19), now)
        per_minute = max(sum_all(s.counts(t - 60, t) for s in raw).total  # type: ignore[union-attr]
                         for t in (now, la(28, 2, 10)))
        for start in (la(28, 1, 13, 5), la(28, 2, 9, 59), now - 3600 - 13):
            got, want = series.counts(start, now), sum_all(r.counts(start, now) for r in raw)
            assert got is not None and want is not None
            assert abs(got.total - want.total) <= 2 * per_minute and abs(got.good - want.good) <= 2 * per_minute


def sum_all(counts: Any) -> Counts | None:
    out = None
    for c in counts:
        if c is not None:
            out = c if out is None else out + c
    return out


def test_after_the_event_its_slo_reads_the_event_window_once_not_every_day_since(store: SqliteStore) -> None:
    store.write(jittered_history(la(27, 20), la(29, 12)))
    later = la(29, 12) + 300 * DAY  # the monitor keeps running for most of a year
    store.write([Observation("http_up", 1.0, later - 600 + 20 * i, {"target": "api-health"}) for i in range(30)])
    spy = Spy(store)
    svc = service(spy)
    first = by_key(svc.observations(later))
    event_start, event_end = JAN.starts_at.timestamp(), JAN.ends_at.timestamp()
    old = [r for r in spy.reads if r[1] < later - 31 * DAY]
    assert old and all((since, until) == (event_start, event_end) for _, since, until, _ in old)  # one sum each
    spy.reads.clear()
    svc.observations(later + 60)
    assert all(since >= later - 31 * DAY for _, since, _, _ in spy.reads)  # the past event is not read again
    reference = by_key(service(RawOnly(store), cache=False).observations(later))
    event_values = {k: v for k, v in reference.items() if ("period", "event") in k[1]}
    assert sum(v is not None for v in event_values.values()) >= 6
    for key, expected in event_values.items():
        assert first[key] == pytest.approx(expected, rel=1e-9, abs=1e-9), key


def test_a_cycle_reads_only_the_newest_buckets_and_the_first_reads_no_raw_sample(store: SqliteStore) -> None:
    store.write(jittered_history(la(27, 20), la(29, 11, 1)))
    spy = Spy(store)  # history() raises: a restart's first cycle must not rebuild from samples
    svc = service(spy)
    assert all(s.has_data for s in svc.evaluate(la(29, 11)))
    spy.reads.clear()
    svc.evaluate(la(29, 11, 1))
    per_cycle = sum(n for *_, n in spy.reads)
    assert per_cycle <= len(svc.specs) * (300 / 60 + 3)  # the overlap's buckets, whatever the history
