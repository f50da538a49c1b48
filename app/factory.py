"""Builds the Converge API application from its settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI

from app import metrics
from app.faults import FaultState, inject
from app.faults import router as faults_router
from app.ipcount import ClientIPCounterMiddleware
from app.jsonlog import configure_logging
from app.requestlog import RequestLogMiddleware
from app.resources import Resources
from app.routes import auth, connections, live, messages, ops, sessions
from app.sentry import init_sentry
from app.settings import Settings

log = logging.getLogger("converge.api")


async def _refresh_pool_gauges(res: Resources) -> None:
    # The pool gauges are refreshed every second so each worker's share is current in multiprocess mode.
    while True:
        metrics.record_pool_stats(res.pool.get_stats())
        await asyncio.sleep(1.0)


def create_app(settings: Settings, faults: bool = False) -> FastAPI:
    configure_logging(settings.service_name, settings.environment, settings.log_level)
    init_sentry(settings)
    resources = Resources(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if metrics.MULTIPROCESS:
            metrics.forget_dead_workers(os.environ["PROMETHEUS_MULTIPROC_DIR"])
        await resources.open()
        refresher = asyncio.create_task(_refresh_pool_gauges(resources))
        log.info("converge api started")
        try:
            yield
        finally:
            refresher.cancel()
            await resources.close()

    app = FastAPI(title="Converge-NPS API", version="1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.resources = resources
    app.state.metrics_registry = metrics.exposition_registry()
    app.state.faults = FaultState() if faults else None

    v1 = [Depends(inject)]
    for module in (auth, sessions, connections, messages):
        app.include_router(module.router, dependencies=v1)
    app.include_router(live.router)
    app.include_router(ops.router)
    if faults:
        app.include_router(faults_router)

    # Outermost first at run time: metrics sees every request, including what the others do.
    app.add_middleware(ClientIPCounterMiddleware, redis=lambda: resources.redis,
                       trusted_header=settings.trusted_proxy_header, ttl=settings.ip_counter_ttl)
    app.add_middleware(RequestLogMiddleware)
    app.add_middleware(metrics.MetricsMiddleware)
    return app
