"""The instrumentation-overhead app: one FastAPI app, instrumented as BENCH_VARIANT says.

Every variant has the same routes (two cheap ones and /metrics) so that only the instrumentation
differs. Each variant runs in its own uvicorn process, so the libraries never share a registry and
`app.metrics` (which changes prometheus_client's global settings) is imported only by "ours".
"""

from __future__ import annotations

import os

from fastapi import FastAPI, HTTPException
from fastapi.responses import Response

VARIANTS = ("bare", "ours", "instrumentator", "exporter")
VARIANT_ENV = "BENCH_VARIANT"

# In-memory sessions: the path-param route must not touch a database.
SESSIONS: dict[int, dict[str, object]] = {
    sid: {"id": sid, "title": f"Session {sid}", "room": f"R{sid % 7}", "capacity": 100, "rsvps": sid % 100}
    for sid in range(1, 65)
}


def build(variant: str) -> FastAPI:
    if variant not in VARIANTS:
        raise ValueError(f"{VARIANT_ENV}={variant!r}: expected one of {', '.join(VARIANTS)}")
    app = FastAPI(title=f"overhead-{variant}", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/v1/ping")
    async def ping() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/sessions/{sid}")
    async def session(sid: int) -> dict[str, object]:
        found = SESSIONS.get(sid)
        if found is None:
            raise HTTPException(status_code=404, detail="session not found")
        return found

    if variant == "bare":
        @app.get("/metrics")
        async def no_metrics() -> Response:
            return Response(b"", media_type="text/plain")
    elif variant == "ours":
        from app.metrics import REGISTRY, MetricsMiddleware, render

        app.add_middleware(MetricsMiddleware)

        @app.get("/metrics")
        async def metrics() -> Response:
            return Response(render(REGISTRY), media_type="text/plain; version=0.0.4")
    elif variant == "instrumentator":
        from prometheus_fastapi_instrumentator import Instrumentator

        Instrumentator().instrument(app).expose(app)  # library defaults
    else:
        from starlette_exporter import PrometheusMiddleware, handle_metrics

        app.add_middleware(PrometheusMiddleware, group_paths=True)
        app.add_route("/metrics", handle_metrics)
    return app


app = build(os.environ.get(VARIANT_ENV, "bare"))
