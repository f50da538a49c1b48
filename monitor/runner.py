"""`converge-monitor run`: the scheduler and the HTTP server in one event loop until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
import time
from collections.abc import Callable, Iterator

import httpx
import uvicorn

from alerts.alertmanager import AlertmanagerForwarder
from alerts.model import Tier
from alerts.notifiers.base import Notifier
from alerts.notifiers.config import build_notifiers
from alerts.notifiers.console import ConsoleNotifier
from alerts.notifiers.jsonl import JsonLinesNotifier
from alerts.outbox import LOG_CHANNEL, DeliveryWorker, FanOut
from alerts.service import AlertService
from alerts.templates import Templates
from monitor.config import Config
from monitor.core.selfmetrics import SelfMetrics
from monitor.deploys import DeployWatch
from monitor.deploys_api import deploys_router
from monitor.leader import Leadership
from monitor.replicas import CHECK_EVERY as REPLICA_CHECK
from monitor.replicas import Replicas
from monitor.scheduler import PRIMARY, OnResult, ProbeScheduler
from monitor.sentry_api import sentry_router
from monitor.server import create_server
from monitor.slo_loop import slo_loop
from monitor.store import Store, open_store
from monitor.store.retention import retention_loop
from probes.deadman import ping
from slo.service import SloService

log = logging.getLogger("converge.monitor")
DEADMAN_EVERY = 60.0
# The delivery loop sleeps until the next retry is due or new rows are committed (woken at once); this
# bound only covers rows it is not told about (a digest coming due, another replica's rows at a takeover).
DELIVERY_IDLE = 1.0
DELIVERY_MIN_SLEEP = 0.05
# Evaluation runs when a probe result changes a target's outcome (or a re-check confirms a failure), at most
# this often so a burst of results (many targets failing together) is one evaluation; the evaluation interval
# remains the fallback for what no result announces (staleness, `for` and keep_firing_for timers).
EVAL_MIN_GAP = 0.2
LOOP_LAG_EVERY = 0.25


def event_clock(config: Config) -> Callable[[float], bool]:
    window = config.event
    return window.contains if window is not None else (lambda _t: False)


def critical_targets(config: Config) -> set[str]:
    """The targets whose up-signal a critical rule watches: their first failed check is re-checked at once."""
    out: set[str] = set()
    for rule in config.effective_rules():
        if rule.tier != Tier.CRITICAL or not rule.enabled:
            continue
        for target in config.all_targets():
            if rule.signal not in (PRIMARY.get(target.kind), "probe_success"):
                continue
            named = rule.labels.get("target", rule.labels.get("flow", rule.labels.get("journey")))
            if named is None or named == target.name:
                out.add(target.name)
    return out


def build_scheduler(config: Config, store: Store, on_result: OnResult | None = None,
                    replicas: Replicas | None = None) -> ProbeScheduler:
    return ProbeScheduler(config.all_targets(), store, in_event=event_clock(config), confirm=critical_targets(config),
                          on_result=on_result, owns=replicas.owns if replicas is not None else lambda _name: True)


class _Server(uvicorn.Server):
    # We own SIGTERM/SIGINT: uvicorn would re-raise them after its shutdown and kill the process
    # before the scheduler and the store are closed.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _all_healthy(scheduler: ProbeScheduler) -> bool:
    results = [o.value for o in scheduler.store.latest() if o.signal == "probe_success"]
    return bool(results) and all(v == 1 for v in results)


async def _deadman_loop(config: Config, scheduler: ProbeScheduler) -> None:
    if config.deadman is None:
        return
    url = config.deadman.url.get_secret_value()
    async with httpx.AsyncClient() as client:
        while True:
            await asyncio.sleep(DEADMAN_EVERY)
            if _all_healthy(scheduler):  # silence at the receiver means we are down or something is failing
                await ping(url, client, config.deadman.timeout)


def delivery_channels(config: Config, alerts: AlertService) -> dict[str, Notifier]:
    """The log channel (console + JSON-lines file), always; the configured channels come on top."""
    log_channel = FanOut(LOG_CHANNEL, [ConsoleNotifier(), JsonLinesNotifier(config.alerting.notifications_file)])
    templates = Templates(config.alerting.templates_dir, config.event.timezone if config.event else "UTC")
    channels: dict[str, Notifier] = dict(build_notifiers(config.channels, config.oncall, templates=templates,
                                                         ack_link=alerts.ack_link))
    return {LOG_CHANNEL: log_channel, **channels}


async def _delivery_loop(worker: DeliveryWorker, leadership: Leadership, wake: asyncio.Event) -> None:
    """Delivery keeps its own time: a retry, a Retry-After or a fallback is sent when it is due, not at the
    next evaluation (which rounded a critical page's first fallback up to ~35-45 s)."""
    was_leader = False
    while True:
        wake.clear()
        try:
            leader = leadership.leader
            if leader and not was_leader:
                worker.reload()  # the digests the previous leader left waiting to be mailed
            was_leader = leader
            if leader:
                await worker.run_once(lambda: asyncio.to_thread(leadership.check))
            due = worker.next_due() if leader else None
        except Exception:  # a bad round must not stop delivery; the rows stay pending in the store
            log.exception("delivery round failed")
            due = None
        sleep = DELIVERY_IDLE if due is None else min(DELIVERY_IDLE, max(DELIVERY_MIN_SLEEP, due - time.time()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), sleep)


async def _loop_lag(metrics: SelfMetrics) -> None:
    """How late the loop wakes a sleeper: what every probe due meanwhile was delayed by."""
    while True:
        before = time.monotonic()
        await asyncio.sleep(LOOP_LAG_EVERY)
        metrics.loop_lag.observe(max(0.0, time.monotonic() - before - LOOP_LAG_EVERY))


async def _replicas_loop(replicas: Replicas, scheduler: ProbeScheduler, store: Store) -> None:
    while True:
        try:
            gained = await asyncio.to_thread(replicas.check)
            scheduler.taken_over(gained, time.time())
            scheduler.metrics.replicas.set(len(replicas.live))
            scheduler.metrics.owned.set(len(replicas.owned))
            if len(replicas.live) > 1:  # the others' results, for the alerts, the board and /metrics
                await asyncio.to_thread(store.refresh_latest)
        except Exception:  # the next round tries again; meanwhile the last assignment stands
            log.exception("replica check failed")
        await asyncio.sleep(REPLICA_CHECK)


async def _evaluation_loop(config: Config, alerts: AlertService, wake_delivery: asyncio.Event,
                           leadership: Leadership, metrics: SelfMetrics, deploys: DeployWatch,
                           wake: asyncio.Event | None = None) -> None:
    am = config.alertmanager
    forwarder = AlertmanagerForwarder(str(am.url), am.resend_ahead,
                                      f"http://{config.server.host}:{config.server.port}/api/alerts") \
        if am is not None and am.forward else None
    was_leader = False
    wake = wake or asyncio.Event()
    while True:
        now = time.time()
        wake.clear()  # results recorded from here on are in this cycle or wake the next one
        try:
            deploys.write(now)  # the deploy window's signals, before the rules read them
            leader = await asyncio.to_thread(leadership.check)
            metrics.leader.set(1 if leader else 0)
            if leader and not was_leader:
                alerts.reload()  # take over from the stored state: timers, acks, silences, what was sent
            was_leader = leader
            if leader:
                alerts.evaluate(now)
                wake_delivery.set()  # what this cycle committed to the outbox goes out now
                if forwarder is not None:
                    await forwarder.forward(alerts.last_firing, alerts.last_resolved, now)
        except Exception:  # a bad cycle must not stop alerting; the next one starts from the stored state
            log.exception("alert evaluation failed")
        event = alerts.in_event(now)
        every = config.alerting.event_evaluation_interval if event else config.alerting.evaluation_interval
        await asyncio.sleep(max(0.0, EVAL_MIN_GAP - (time.time() - now)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), max(0.0, every - (time.time() - now)))


async def serve(config: Config) -> int:
    store = open_store(config.store)
    dsn = config.store.dsn.get_secret_value() if config.store.backend == "postgres" and config.store.dsn else None
    replicas = Replicas(dsn, [t.name for t in config.all_targets()])
    if dsn is not None:
        await asyncio.to_thread(replicas.check)  # register first: the first runs go to their owner only
    wake_evaluation = asyncio.Event()
    scheduler = build_scheduler(config, store, lambda _name, _outcome, _recheck: wake_evaluation.set(), replicas)
    deploys = DeployWatch(store, config.deploys.window)
    alerts = AlertService(config, store, set(config.channels.root), in_deploy=deploys.in_window)
    channels = delivery_channels(config, alerts)
    slos = SloService.from_config(config, store)
    worker = DeliveryWorker(store, channels, config.routing, metrics=scheduler.metrics)
    routers = [deploys_router(deploys, config.server.api_token, config.deploys.keep)]
    if config.sentry is not None:
        routers.append(sentry_router(alerts, config.sentry.client_secret.get_secret_value()))
    app = create_server(scheduler, alerts, slo_provider=slos.board_items, routers=routers)
    server = _Server(uvicorn.Config(app, host=config.server.host, port=config.server.port, log_config=None,
                                    access_log=False, lifespan="off"))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    scheduler.start()
    # Start-up objects (config, rules, imports) never die: keep them out of every later full collection,
    # whose pauses were most of the alert cycle's p95 (bench/rule_evaluation).
    gc.collect()
    gc.freeze()
    serving = asyncio.create_task(server.serve())
    deadman = asyncio.create_task(_deadman_loop(config, scheduler))
    leadership = Leadership(dsn)
    wake_delivery = asyncio.Event()
    evaluating = asyncio.create_task(_evaluation_loop(config, alerts, wake_delivery, leadership, scheduler.metrics,
                                                      deploys, wake_evaluation))
    lag = asyncio.create_task(_loop_lag(scheduler.metrics))
    sharing = asyncio.create_task(_replicas_loop(replicas, scheduler, store)) if dsn is not None else None
    delivering = asyncio.create_task(_delivery_loop(worker, leadership, wake_delivery))
    slo_task = asyncio.create_task(slo_loop(config, store, slos, channels, lambda: leadership.leader))
    # raw -> rollups -> gone, a small batch at a time; by the leader only (replicas share one store)
    retaining = asyncio.create_task(retention_loop(store, lambda: leadership.leader))
    log.info("converge-monitor running: %d targets, http://%s:%d", len(scheduler.targets), config.server.host,
             config.server.port)
    print(f"converge-monitor: {len(scheduler.targets)} targets; http://{config.server.host}:{config.server.port}"
          "/metrics, /health, /api/signals", file=sys.stderr, flush=True)
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([serving, stopper], return_when=asyncio.FIRST_COMPLETED)
    code = 0
    if serving.done() and serving.exception() is None and not server.started:
        code = 1  # the port could not be bound; uvicorn said why
    log.info("shutting down")
    server.should_exit = True
    deadman.cancel()
    evaluating.cancel()
    delivering.cancel()
    slo_task.cancel()
    retaining.cancel()
    stopper.cancel()
    lag.cancel()
    if sharing is not None:
        sharing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sharing
    with contextlib.suppress(asyncio.CancelledError, SystemExit):
        await serving
    with contextlib.suppress(asyncio.CancelledError):
        await deadman
    with contextlib.suppress(asyncio.CancelledError):
        await evaluating
    with contextlib.suppress(asyncio.CancelledError):
        await delivering
    with contextlib.suppress(asyncio.CancelledError):
        await slo_task
    with contextlib.suppress(asyncio.CancelledError):
        await retaining
    await scheduler.shutdown()
    leadership.release()
    replicas.release()
    store.close()
    print("converge-monitor: stopped", file=sys.stderr, flush=True)
    return code


# Libraries that log every job run or HTTP request at INFO: two lines per check would bury the monitor's
# own messages (the probe counters in /metrics say the same, once).
QUIET_LOGGERS = ("apscheduler", "httpx", "httpcore")


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def run_forever(config: Config) -> int:
    configure_logging()
    return asyncio.run(serve(config))
