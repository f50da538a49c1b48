"""The scheduler: hard timeouts, probes that raise, unknowns, event-mode intervals, own metrics."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from monitor.core.observation import Observation
from monitor.core.selfmetrics import SelfMetrics
from monitor.core.targets import DiskTarget, HttpTarget
from monitor.scheduler import ProbeScheduler
from monitor.store.sqlite import SqliteStore
from probes.base import ProbeContext


def http_target(name: str, **kw: Any) -> HttpTarget:
    return HttpTarget(name=name, url="http://127.0.0.1:9/", **{"interval": 1, "timeout": 0.3, **kw})


async def healthy(target: Any, ctx: ProbeContext) -> list[Observation]:
    now = ctx.now()
    return [Observation("http_up", 1, now, {"target": target.name}),
            Observation("http_latency_seconds", 0.01, now, {"target": target.name}),
            Observation("probe_success", 1, now, {"target": target.name, "kind": "http"})]


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(str(tmp_path / "s.sqlite3"), retention=86400)


def counter(metrics: SelfMetrics, target: str, outcome: str) -> float:
    return metrics.registry.get_sample_value("converge_monitor_probe_runs_total",
                                             {"target": target, "kind": "http", "outcome": outcome}) or 0.0


async def test_hung_probe_times_out_as_unknown_without_delaying_others(store: SqliteStore) -> None:
    calls: list[str] = []

    async def probe(target: Any, ctx: ProbeContext) -> list[Observation]:
        calls.append(target.name)
        if target.name == "hung":
            await asyncio.sleep(3600)
        return await healthy(target, ctx)

    sched = ProbeScheduler([http_target("ok"), http_target("hung")], store, probes={"http": probe})
    await sched.run_target("ok")  # the hung target's unknowns must cover the series it would have had
    start = time.monotonic()
    results = await sched.run_all_once()
    elapsed = time.monotonic() - start
    assert elapsed < 1.3 + 0.5  # timeout 0.3 s + 1 s grace, not an hour
    assert {o.signal: o.value for o in results["ok"]}["http_up"] == 1
    hung = {o.signal: o for o in results["hung"]}
    assert hung["http_up"].value is None and "timed out" in (hung["http_up"].error or "")
    assert hung["probe_success"].value is None
    assert counter(sched.metrics, "hung", "timeout") == 1 and counter(sched.metrics, "ok", "ok") == 2
    latest = {(o.signal, o.labels.get("target")): o for o in store.latest()}
    assert latest[("http_up", "hung")].value is None
    await sched.shutdown()


async def test_probe_that_raises_makes_every_known_series_unknown(store: SqliteStore) -> None:
    broken = {"now": False}

    async def probe(target: Any, ctx: ProbeContext) -> list[Observation]:
        if broken["now"]:
            raise RuntimeError("boom")
        return await healthy(target, ctx)

    sched = ProbeScheduler([http_target("api")], store, probes={"http": probe})
    await sched.run_target("api")
    broken["now"] = True
    obs = {o.signal: o for o in await sched.run_target("api")}
    assert obs["http_up"].value is None and obs["http_latency_seconds"].value is None
    assert obs["probe_success"].error == "probe error: RuntimeError"
    assert obs["probe_duration_seconds"].value is not None
    assert counter(sched.metrics, "api", "error") == 1
    # A restarted monitor knows the series from the store and still reports them unknown.
    again = ProbeScheduler([http_target("api")], store, probes={"http": probe})
    assert {o.signal for o in await again.run_target("api")} >= {"http_up", "http_latency_seconds"}
    await sched.shutdown()
    await again.shutdown()


async def test_first_failure_still_yields_the_primary_signal_unknown(store: SqliteStore) -> None:
    async def probe(target: Any, ctx: ProbeContext) -> list[Observation]:
        raise OSError("no route")

    sched = ProbeScheduler([http_target("new")], store, probes={"http": probe})
    obs = {o.signal: o for o in await sched.run_target("new")}
    assert obs["http_up"].value is None and obs["probe_success"].value is None
    await sched.shutdown()


async def test_jobs_run_on_their_interval_and_shorten_in_event_mode(store: SqliteStore) -> None:
    runs: list[float] = []

    async def probe(target: Any, ctx: ProbeContext) -> list[Observation]:
        runs.append(time.monotonic())
        return [Observation("probe_success", 1, ctx.now(), {"target": target.name, "kind": "disk"})]

    event = {"on": False}
    target = DiskTarget(name="root", paths=["/"], interval=30, event_interval=1, timeout=1)
    sched = ProbeScheduler([target], store, probes={"disk": probe}, in_event=lambda _t: event["on"])
    sched.start(spread_first_runs=False)
    await asyncio.sleep(0.5)
    assert len(runs) == 1 and sched.intervals() == {"root": 30}  # ran at once, next in 30 s
    event["on"] = True
    await sched._retune()
    assert sched.event_mode and sched.intervals() == {"root": 1}
    await asyncio.sleep(2.6)
    assert len(runs) >= 3
    await sched.shutdown()


async def test_targets_keep_their_own_phase_after_the_first_run(store: SqliteStore) -> None:
    """Targets created together must not all fall due on the same tick run after run (a burst every
    interval instead of a steady rate)."""
    runs: dict[str, list[float]] = {}

    async def probe(target: Any, ctx: ProbeContext) -> list[Observation]:
        runs.setdefault(target.name, []).append(time.time())
        return await healthy(target, ctx)

    targets = [http_target(f"t{i:02d}", interval=1, timeout=0.5) for i in range(40)]
    sched = ProbeScheduler(targets, store, probes={"http": probe})
    sched.start()
    await asyncio.sleep(3.5)
    await sched.shutdown()
    later = [t for times in runs.values() for t in times[1:]]
    assert len(later) >= 40
    ticks = {round(t % 1.0, 1) % 1.0 for t in later}
    assert len(ticks) >= 6, sorted(ticks)  # spread over the second, not two bursts


async def test_shutdown_lets_a_running_probe_finish_and_records_its_result(store: SqliteStore) -> None:
    started = asyncio.Event()

    async def slow(target: Any, ctx: ProbeContext) -> list[Observation]:
        started.set()
        await asyncio.sleep(0.3)
        return await healthy(target, ctx)

    sched = ProbeScheduler([http_target("slow", interval=5, timeout=2)], store, probes={"http": slow})
    sched.start(spread_first_runs=False)
    await asyncio.wait_for(started.wait(), 5)
    await sched.shutdown(timeout=3)
    latest = {(o.signal, o.labels.get("target")): o.value for o in store.latest()}
    assert latest[("http_up", "slow")] == 1


async def test_a_changed_outcome_of_a_critical_target_is_rechecked_in_both_directions(
        store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """In event mode: the first failure and the first success after failures are confirmed by a re-check;
    a repeated outcome, the first success after start-up and a re-check's own result are not re-checked."""
    monkeypatch.setattr("monitor.scheduler.RECHECK_DELAY", 0.05)
    script = iter([1, 0, 0, 0, 1, 1, 1])  # value of each run, in order (scheduled, re-check or by hand)

    async def probe(target: Any, ctx: ProbeContext) -> list[Observation]:
        value = next(script)
        return [Observation("http_up", value, ctx.now(), {"target": target.name}),
                Observation("probe_success", value, ctx.now(), {"target": target.name, "kind": "http"})]

    results: list[tuple[str, bool]] = []
    sched = ProbeScheduler([http_target("api", interval=3600, event_interval=3600)], store,
                           probes={"http": probe}, in_event=lambda _t: True, confirm={"api"},
                           on_result=lambda _name, outcome, recheck: results.append((outcome, recheck)))
    sched.start(spread_first_runs=False)  # its first run: healthy, nothing to confirm
    try:
        for _ in range(100):
            if sched.last_run:
                break
            await asyncio.sleep(0.02)

        async def run_and_settle() -> None:
            await sched.run_target("api")
            await asyncio.sleep(0.3)  # a re-check, if one was started, has run

        await run_and_settle()  # 0: the first failure -> re-checked (0)
        await run_and_settle()  # 0 again: no re-check
        await run_and_settle()  # 1: the first success after failures -> re-checked (1)
        await run_and_settle()  # 1 again: no re-check
    finally:
        await sched.shutdown()
    rechecks = sched.metrics.registry.get_sample_value("converge_monitor_probe_rechecks_total", {"target": "api"})
    assert rechecks == 2
    assert results == [("ok", False), ("failed", False), ("failed", True), ("ok", False), ("ok", True)]
