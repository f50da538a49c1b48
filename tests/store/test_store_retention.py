"""History is bounded: raw samples for hours, then rollups, then gone; the store stops growing."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Callable

import pytest

from monitor.core.observation import Observation
from monitor.store import OutboxRow, Store
from monitor.store.retention import retention_loop
from monitor.store.rollup import CountRule

HOUR = 3600.0
DAY = 86400.0
T0 = 1_000 * DAY  # a minute-aligned start


def up(ts: float, value: float | None, target: str = "api") -> Observation:
    return Observation("http_up", value, ts, {"target": target})


def retain_all(store: Store, now: float) -> int:
    steps = 0
    while store.retain(now):
        steps += 1
    return steps


def counts(store: Store, table: str) -> int:
    return int(store._execute(f"SELECT count(*) FROM {table}")[0][0])


def test_retention_rolls_old_samples_up_and_deletes_what_is_past_it(make_store: Callable[..., Store]) -> None:
    store = make_store(retention=5 * DAY, raw_retention=2 * HOUR, minute_rollups=DAY)
    store.retention_policy = dataclasses.replace(store.retention_policy, batch=500)
    now = T0 + 7 * DAY
    store.write([up(T0 + i * 60, 1.0 if i % 9 else 0.0) for i in range(int(7 * DAY / 60))])
    assert counts(store, "samples") == 7 * 1440
    steps = retain_all(store, now)
    assert steps > 7 * 1440 / 500  # small batches, never one long transaction
    left = store._execute("SELECT min(ts) FROM samples")[0][0]
    assert left >= now - 2 * HOUR - 60 and counts(store, "samples") <= 2 * 60 + 2  # only the raw window
    minute = store._execute("SELECT min(ts), count(*) FROM rollups WHERE width = 60")[0]
    assert minute[0] >= now - DAY - HOUR and minute[1] <= 1440  # per minute for the last day
    hourly = store._execute("SELECT min(ts), count(*) FROM rollups WHERE width = 3600")[0]
    assert hourly[0] >= now - 5 * DAY - HOUR and hourly[1] <= 5 * 24  # hourly until the retention
    # What remains says what happened: an hour of runs a minute, 1 in 9 failed.
    hour = store.rollups("http_up", {"target": "api"}, now - 3 * DAY, now - 3 * DAY + 1)[0]
    assert hour.width == HOUR and hour.n == 60 and hour.vmin == 0 and hour.vmax == 1
    assert hour.mean is not None and abs(hour.mean - 8 / 9) < 0.03
    assert retain_all(store, now) == 0


def test_history_reads_through_rollups_so_counter_increases_stay_exact(make_store: Callable[..., Store]) -> None:
    store = make_store(raw_retention=HOUR, minute_rollups=DAY)
    series = {"target": "api-metrics"}
    store.write([Observation("api_requests_counted", float(i * 7), T0 + i * 60, series) for i in range(4 * 1440)])
    now = T0 + 4 * DAY
    retain_all(store, now)
    samples = store.history("api_requests_counted", series, now - 3 * DAY, now)
    assert samples == sorted(samples, key=lambda s: s.timestamp)
    first, last = samples[0], samples[-1]
    # One sample per hourly rollup, then per minute, then raw: the increase over them is the true one.
    assert last.value - first.value == 7 * (last.timestamp - first.timestamp) / 60  # type: ignore[operator]
    assert len(samples) < 3 * 24 + 1440 + 60 + 5


def test_resolved_notifications_are_pruned_by_their_own_retention(make_store: Callable[..., Store]) -> None:
    store = make_store(outbox_retention=10 * DAY)
    store.outbox_add([OutboxRow(f"n{i}", "slack", T0 + i * DAY, {"i": i}) for i in range(30)])
    for row in store.outbox_all()[:25]:
        row.status = "sent"
        store.outbox_update(row)
    old_pending = store.outbox_all()[0]
    old_pending.status = "pending"
    retain_all(store, T0 + 30 * DAY)
    left = store.outbox_all()
    assert {r.notification_id for r in left} == {f"n{i}" for i in range(20, 30)}  # sent and newer, or pending
    assert all(r.status == "pending" for r in left if r.created_at < T0 + 20 * DAY)


@pytest.mark.parametrize("make_store", ["sqlite"], indirect=True)
def test_a_store_running_for_a_simulated_year_stays_the_same_size(make_store: Callable[..., Store]) -> None:
    """The SQLite file (PostgreSQL's tables reuse their space through autovacuum). Compressed: a 3-hour raw
    window, 6 hours per minute, 2 days in all; 16 days of 4 series every 30 s."""
    store = make_store(retention=2 * DAY, raw_retention=3 * HOUR, minute_rollups=6 * HOUR, counts_retention=4 * DAY)
    store.track_counts([CountRule("slo:up", "http_up")])
    sizes: list[int] = []
    t = T0
    for day in range(16):
        for hour in range(24):
            batch = [up(t + i * 30, 1.0 if (i + hour) % 17 else 0.0, f"t{k}") for i in range(120) for k in range(4)]
            store.write(batch)
            t += HOUR
            retain_all(store, t)
        if day >= 4:  # every retention has been reached
            sizes.append(os.path.getsize(store.path))  # type: ignore[attr-defined]
    assert max(sizes) <= min(sizes) * 1.25, sizes  # flat: page-sized wobble, no trend
    assert sizes[-1] <= sizes[0] * 1.1, sizes
    assert counts(store, "counts") <= 4 * 24 + 6 * 60 + 60




def test_the_retention_task_runs_until_nothing_is_due(make_store: Callable[..., Store]) -> None:
    store = make_store(raw_retention=HOUR, minute_rollups=HOUR)
    store.write([up(T0 + i * 60, 1.0) for i in range(600)])

    async def run() -> None:
        task = asyncio.create_task(retention_loop(store, clock=lambda: T0 + 600 * 60))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if counts(store, "samples") <= 61:
                break
        task.cancel()

    asyncio.run(run())
    assert counts(store, "samples") <= 61
