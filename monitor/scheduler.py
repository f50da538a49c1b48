"""One APScheduler job per probe target: own interval (shorter inside the event window), jitter,
never overlapping, coalesced, and a hard timeout so a hung target delays nothing else.

A probe that raises or times out yields unknown observations for every series the target had
(and its primary signal), never silence and never a healthy value.

In event mode, the first failed check of a target a critical rule watches (`confirm`) is re-checked at once
(RECHECK_DELAY later) instead of an interval later, so a page needs seconds, not a whole interval. Each
result is handed to `on_result`, which the runner uses to evaluate alerts when a result arrives. With several
replicas, `owns` says which targets this replica probes (monitor/replicas.py); the others' jobs skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.core.observation import Observation, unknown
from monitor.core.selfmetrics import SelfMetrics
from monitor.core.targets import AnyTarget
from monitor.store import Store
from monitor.store.batching import BatchWriter
from monitor.trigger import TickedIntervalTrigger
from probes.base import Probe, ProbeContext
from probes.registry import probe_for

log = logging.getLogger("converge.monitor.scheduler")

# The signal that says "this target is up" per kind: made unknown even before a first success.
PRIMARY = {"http": "http_up", "synthetic": "synthetic_success", "journey": "journey_success",
           "browser": "browser_page_ok", "api_metrics": "api_up", "postgres": "postgres_up", "redis": "redis_up",
           "backup": "backup_success", "backup_restore": "backup_restore_success", "deps": "dependency_vulnerabilities"}
# Kinds whose series carry the target's name in another label than `target`.
NAME_LABEL = {"synthetic": "flow", "journey": "journey"}
HARD_TIMEOUT_GRACE = 1.0  # probes enforce target.timeout themselves; this only catches one that does not
RETUNE_EVERY = 60.0
MAX_CONCURRENT_PROBES = 64  # beyond this, connection pools and the event loop spend more than they check
FIRST_RUN_SPREAD = 5.0  # first runs spread over up to this many seconds, so targets do not fire in bursts
RECHECK_DELAY = 1.5  # a failed critical check is confirmed this long after it (event mode), not an interval later
OnResult = Callable[[str, str, bool], None]  # target, outcome, whether it was a re-check


def target_labels(target: AnyTarget) -> dict[str, str]:
    return {NAME_LABEL.get(target.kind, "target"): target.name}


def belongs_to(obs: Observation, target: AnyTarget) -> bool:
    return obs.labels.get("target") == target.name or (target.kind in NAME_LABEL
                                                       and obs.labels.get(NAME_LABEL[target.kind]) == target.name)


class ProbeScheduler:
    def __init__(self, targets: Sequence[AnyTarget], store: Store, *, metrics: SelfMetrics | None = None,
                 in_event: Callable[[float], bool] = lambda _t: False, clock: Callable[[], float] = time.time,
                 probes: Mapping[str, Probe] | None = None, confirm: Collection[str] = (),
                 on_result: OnResult | None = None, owns: Callable[[str], bool] = lambda _name: True) -> None:
        self.targets = {t.name: t for t in targets}
        self.store = store
        self.metrics = metrics or SelfMetrics()
        self.in_event = in_event
        self.clock = clock
        self._probes = dict(probes or {})
        self._contexts: dict[str, ProbeContext] = {}
        self._seen: dict[str, dict[Any, Observation]] = {name: {} for name in self.targets}
        for obs in store.latest():  # after a restart, unknowns still cover every known series
            for t in targets:
                if belongs_to(obs, t):
                    self._seen[t.name][obs.series_key()] = obs
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        self._batches = BatchWriter(store, self._writer)
        self._http: httpx.AsyncClient | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._event_mode: bool | None = None
        self._running: set[asyncio.Task[Any]] = set()
        self._slots: asyncio.Semaphore | None = None
        self.confirm = set(confirm)
        self.on_result = on_result
        self.owns = owns
        self.started = clock()
        # Kept here, not read back from the metrics registry: /health must not walk every series.
        self.last_run: dict[str, float] = {}
        self._outcome: dict[str, str] = {}
        self._due: dict[str, float] = {}  # job id -> the time APScheduler meant to run it
        self._rechecks: set[asyncio.Handle] = set()
        self.metrics.targets.set(len(self.targets))

    def _probe(self, kind: str) -> Probe:
        if kind not in self._probes:
            self._probes[kind] = probe_for(kind)
        return self._probes[kind]

    def _context(self, target: AnyTarget) -> ProbeContext:
        ctx = self._contexts.get(target.name)
        if ctx is None:
            if self._http is None:
                self._http = httpx.AsyncClient(headers={"User-Agent": "converge-monitor"})
            ctx = self._contexts[target.name] = ProbeContext(clock=self.clock, http=self._http)
        return ctx

    async def run_target(self, name: str) -> list[Observation]:
        """Run one target's probe under the hard timeout, record what it saw (or that it could not)."""
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            return await self._run_target(name)
        finally:
            if task is not None:
                self._running.discard(task)

    async def _scheduled_run(self, name: str) -> None:
        """One run APScheduler started: skipped when another replica owns the target; its lateness recorded."""
        due = self._due.pop(name, None)
        if not self.owns(name):
            return
        if due is not None:
            self.metrics.lateness.observe(max(0.0, time.time() - due))
        await self.run_target(name)

    def _submitted(self, event: JobSubmissionEvent) -> None:
        if event.scheduled_run_times:
            self._due[event.job_id] = event.scheduled_run_times[-1].timestamp()

    async def _run_target(self, name: str, recheck: bool = False) -> list[Observation]:
        if self._slots is None:
            self._slots = asyncio.Semaphore(MAX_CONCURRENT_PROBES)
        async with self._slots:
            return await self._probe_once(name, recheck)

    async def recheck(self, name: str) -> list[Observation]:
        """The confirming run after a first failure: counted, and reported to `on_result` as a re-check."""
        self.metrics.rechecks.labels(name).inc()
        return await self._run_target(name, recheck=True)

    def _after(self, name: str, outcome: str, recheck: bool) -> None:
        previous = self._outcome.get(name)
        self._outcome[name] = outcome
        if (not recheck and outcome != "ok" and previous != outcome and name in self.confirm and self._event_mode
                and self._scheduler is not None):
            loop = asyncio.get_running_loop()
            handle: asyncio.TimerHandle | None = None

            def start() -> None:
                self._rechecks.discard(handle)  # type: ignore[arg-type]
                task = loop.create_task(self.recheck(name))
                self._running.add(task)  # shutdown waits for it like for a scheduled run
                task.add_done_callback(self._running.discard)

            handle = loop.call_later(RECHECK_DELAY, start)
            self._rechecks.add(handle)
        if self.on_result is not None and (recheck or previous != outcome):
            self.on_result(name, outcome, recheck)

    async def _probe_once(self, name: str, recheck: bool = False) -> list[Observation]:
        target = self.targets[name]
        started, mono = self.clock(), time.monotonic()
        hard = target.timeout + HARD_TIMEOUT_GRACE
        try:
            observations = list(await asyncio.wait_for(self._probe(target.kind)(target, self._context(target)), hard))
            success = next((o.value for o in observations if o.signal == "probe_success"), None)
            outcome = "ok" if success == 1 else "failed"
        except TimeoutError:
            observations, outcome = self._unknowns(target, f"probe timed out after {hard:g}s"), "timeout"
        except Exception as exc:  # a probe bug must not stop the monitor; it becomes an unknown
            log.warning("probe raised", extra={"target": name, "error": type(exc).__name__})
            observations, outcome = self._unknowns(target, f"probe error: {type(exc).__name__}"), "error"
        duration = time.monotonic() - mono
        labels = {"target": name, "kind": target.kind}
        observations.append(Observation("probe_duration_seconds", duration, started, labels))
        if outcome in ("ok", "failed"):
            for obs in observations:
                self._seen[name][obs.series_key()] = obs
        await self._batches.write(observations)
        self.metrics.runs.labels(name, target.kind, outcome).inc()
        self.metrics.duration.labels(target.kind).observe(duration)
        now = self.clock()
        self.last_run[name] = now
        self.metrics.last_run.labels(name, target.kind).set(now)
        self.metrics.last_cycle.set(now)
        self._after(name, outcome, recheck)
        return observations

    def _unknowns(self, target: AnyTarget, error: str) -> list[Observation]:
        now = self.clock()
        series = {o.series_key(): o for o in self._seen[target.name].values() if o.signal != "probe_duration_seconds"}
        out = [unknown(o.signal, now, error, o.labels) for o in series.values()]
        wanted = [("probe_success", {"target": target.name, "kind": target.kind})]
        if target.kind in PRIMARY:
            wanted.append((PRIMARY[target.kind], target_labels(target)))
        for signal, labels in wanted:
            key = (signal, tuple(sorted(labels.items())))
            if key not in series:
                out.append(unknown(signal, now, error, labels))
        return out

    async def run_all_once(self, names: Sequence[str] | None = None) -> dict[str, list[Observation]]:
        chosen = list(names) if names else list(self.targets)
        results = await asyncio.gather(*(self.run_target(n) for n in chosen))
        return dict(zip(chosen, results, strict=True))

    # -- continuous operation ----------------------------------------------------------------------
    def _trigger(self, target: AnyTarget, event: bool, spread: bool = True) -> TickedIntervalTrigger:
        """The target's runs: on its own grid, phased by a stable offset per target so that targets created
        together do not all fall due on the same tick, run after run."""
        interval = target.effective_interval(event)
        offset = min(interval, FIRST_RUN_SPREAD) * (zlib.crc32(target.name.encode()) / 2**32) if spread else 0.0
        return TickedIntervalTrigger(seconds=interval, jitter=min(interval * 0.1, 5.0), start_date=_now_dt(offset))

    def start(self, spread_first_runs: bool = True) -> None:
        self._scheduler = AsyncIOScheduler(job_defaults={"max_instances": 1, "coalesce": True,
                                                         "misfire_grace_time": 30})
        event = self.in_event(self.clock())
        self._set_event_mode(event)
        for name, target in self.targets.items():
            # First run soon (at the start of the target's grid), then on the target's interval.
            trigger = self._trigger(target, event, spread_first_runs)
            self._scheduler.add_job(self._scheduled_run, trigger, args=(name,), id=name,
                                    name=f"{target.kind}:{name}", next_run_time=trigger.start_date)
        self._scheduler.add_job(self._retune, IntervalTrigger(seconds=RETUNE_EVERY), id="__retune__")
        self._scheduler.add_listener(self._submitted, EVENT_JOB_SUBMITTED)
        self._scheduler.start()

    def _set_event_mode(self, event: bool) -> None:
        self._event_mode = event
        self.metrics.event_mode.set(1 if event else 0)

    async def _retune(self) -> None:
        """Switch every job to its event (or normal) interval when the event window opens or closes."""
        event = self.in_event(self.clock())
        if event == self._event_mode or self._scheduler is None:
            return
        log.info("event mode %s", "on" if event else "off")
        self._set_event_mode(event)
        for name, target in self.targets.items():
            self._scheduler.reschedule_job(name, trigger=self._trigger(target, event))

    @property
    def event_mode(self) -> bool:
        return bool(self._event_mode)

    def intervals(self) -> dict[str, float]:
        event = bool(self._event_mode)
        return {name: t.effective_interval(event) for name, t in self.targets.items()}

    def stale(self, now: float) -> list[str]:
        """The targets this replica owns that have not been probed within three of their intervals (plus a
        grace, counted from the start or from when it took them over): from the scheduler's own bookkeeping,
        without reading a series."""
        event = bool(self._event_mode)
        return [name for name, t in self.targets.items() if self.owns(name)
                and now - self.last_run.get(name, self.started) > 3 * t.effective_interval(event) + 10]

    def taken_over(self, names: Collection[str], now: float) -> None:
        """Targets another replica probed until now: their staleness counts from now."""
        for name in names:
            self.last_run[name] = max(self.last_run.get(name, 0.0), now)

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Stop scheduling; let running probes finish for up to `timeout`, then cancel them; flush the store."""
        for handle in self._rechecks:
            handle.cancel()
        self._rechecks.clear()
        if self._scheduler is not None:
            # Pause first: APScheduler's shutdown cancels the running jobs at once, losing what they found.
            self._scheduler.pause()
        pending = list(self._running)
        if pending:
            _done, still = await asyncio.wait(pending, timeout=timeout)
            for task in still:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*still, return_exceptions=True)
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        from probes.tls import aclose_client

        for ctx in self._contexts.values():
            await aclose_client(ctx)
        if self._http is not None:
            await self._http.aclose()
        await self._batches.drain()
        self._writer.shutdown(wait=True)


def _now_dt(offset: float = 0.0) -> Any:
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) + timedelta(seconds=offset)
