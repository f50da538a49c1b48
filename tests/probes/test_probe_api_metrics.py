"""The api_metrics probe against the real API, and its p95 against a real Prometheus."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator

import httpx
import pytest

from devstack import ApiServer, MissingBinaryError, free_port
from devstack.prometheus import PrivatePrometheus
from monitor.core.observation import Observation
from monitor.core.signals import CATALOG
from monitor.core.targets import ApiMetricsTarget
from probes import api_metrics
from probes.api_metrics import BUCKET, REQUESTS, History, SeriesKey, latency_quantile, sum_rates
from probes.base import ProbeContext
from tests.support.clock import Clock
from tests.support.stack import require

WINDOW = 60.0


def by_signal(obs: list[Observation], signal: str, route: str | None = None) -> Observation:
    if route is None and signal in api_metrics.QUANTILES:
        route = "*"
    found = [o for o in obs if o.signal == signal and (route is None or o.labels.get("route") == route)]
    assert len(found) == 1, f"{signal} route={route}: {found}"
    return found[0]


def assert_catalog(obs: list[Observation]) -> None:
    for o in obs:
        assert o.signal in CATALOG, o.signal
        assert set(o.labels) == set(CATALOG[o.signal].labels), o


async def set_faults(client: httpx.AsyncClient, latency_ms: int = 0, error_ratio: float = 0.0,
                     prefix: str = "/v1/") -> None:
    r = await client.put("/internal/faults", json={"latency_ms": latency_ms, "error_ratio": error_ratio,
                                                   "prefix": prefix})
    r.raise_for_status()


# ---- against the real API ------------------------------------------------------------------------

async def test_first_scrape_has_gauges_but_no_rates(api: ApiServer) -> None:
    target = ApiMetricsTarget(name="api", urls=[f"{api.url}/metrics"], window=WINDOW)
    obs = await api_metrics.run(target, ProbeContext(clock=Clock()))
    assert_catalog(obs)
    assert by_signal(obs, "api_up").value == 1
    assert by_signal(obs, "probe_success").value == 1
    assert by_signal(obs, "probe_success").labels == {"target": "api", "kind": "api_metrics"}
    for signal in ("api_latency_p95_seconds", "api_error_ratio", "api_requests_per_minute", "api_cpu_ratio",
                   "api_unhandled_errors_per_minute"):
        o = by_signal(obs, signal)
        assert o.value is None and "need two scrapes" in (o.error or ""), o
    assert 0 < by_signal(obs, "api_memory_ratio").value < 1
    assert by_signal(obs, "api_requests_in_flight").value == 1  # the scrape itself
    assert by_signal(obs, "api_websocket_connections").value == 0
    assert 0 <= by_signal(obs, "api_db_pool_utilization").value <= 1
    assert by_signal(obs, "api_db_pool_waiting").value == 0


async def test_rates_between_two_scrapes_count_what_was_sent(api: ApiServer) -> None:
    clock = Clock()
    ctx = ProbeContext(clock=clock)
    target = ApiMetricsTarget(name="api", urls=[f"{api.url}/metrics"], window=WINDOW)
    # uvicorn closes a connection after an unhandled exception: no keep-alive, no reuse race.
    no_reuse = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=api.url, timeout=10, limits=no_reuse) as client:
        await set_faults(client, latency_ms=200, error_ratio=1.0, prefix="/v1/sessions")
        try:
            # A series born between two scrapes has no rate yet (as in Prometheus): create them first.
            await client.get("/v1/ping")
            await client.get("/v1/sessions")
            await api_metrics.run(target, ctx)
            for _ in range(15):
                assert (await client.get("/v1/ping")).status_code == 200
            for _ in range(5):
                assert (await client.get("/v1/sessions")).status_code == 500
        finally:
            await set_faults(client)
    clock.now += WINDOW  # scrapes exactly one window apart: no extrapolation, increase = rate * window
    obs = await api_metrics.run(target, ctx)
    assert_catalog(obs)

    # 15 pings + 5 failing sessions + the first scrape's own GET /metrics + 1 PUT /internal/faults
    # (the first PUT's series was born before the first scrape, so it counts; the reset PUT too).
    sent = 15 + 5 + 1 + 1
    assert by_signal(obs, "api_requests_per_minute").value == pytest.approx(sent)
    assert by_signal(obs, "api_requests_per_minute_per_instance").value == pytest.approx(sent)
    assert by_signal(obs, "api_error_ratio").value == pytest.approx(5 / sent)
    assert by_signal(obs, "api_unhandled_errors_per_minute").value == pytest.approx(5)
    assert 0.2 <= by_signal(obs, "api_latency_p95_seconds", "/v1/sessions").value <= 0.25
    assert by_signal(obs, "api_latency_p95_seconds", "/v1/ping").value < 0.1
    assert 0.2 <= by_signal(obs, "api_latency_p95_seconds", "*").value <= 0.25
    assert by_signal(obs, "api_latency_p50_seconds", "*").value < 0.1
    assert by_signal(obs, "api_latency_p99_seconds", "*").value <= 0.25
    assert 0 <= by_signal(obs, "api_cpu_ratio").value <= 1


async def test_history_keeps_only_the_window(api: ApiServer) -> None:
    clock = Clock()
    ctx = ProbeContext(clock=clock)
    target = ApiMetricsTarget(name="api", urls=[f"{api.url}/metrics"], window=WINDOW)
    for _ in range(4):
        await api_metrics.run(target, ctx)
        clock.now += 40
    history: History = ctx.state[api_metrics.STATE_KEY]
    last = clock.now - 40
    assert history.scrapes == [last - 40, last]
    assert all(t >= last - WINDOW for samples in history.series.values() for t, _ in samples)


async def test_a_run_at_the_same_instant_adds_nothing(api: ApiServer) -> None:
    ctx = ProbeContext(clock=Clock())
    target = ApiMetricsTarget(name="api", urls=[f"{api.url}/metrics"], window=WINDOW)
    await api_metrics.run(target, ctx)
    obs = await api_metrics.run(target, ctx)  # a clock that did not move: no interval, no rate
    assert "need two scrapes" in (by_signal(obs, "api_requests_per_minute").error or "")
    history: History = ctx.state[api_metrics.STATE_KEY]
    assert all(len(samples) == 1 for samples in history.series.values())


async def test_unreachable_instance_makes_api_down_and_rates_unknown(api: ApiServer) -> None:
    dead = f"http://monitor:s3cret-pw@127.0.0.1:{free_port()}/metrics"
    clock = Clock()
    ctx = ProbeContext(clock=clock)
    good = ApiMetricsTarget(name="api", urls=[f"{api.url}/metrics"], window=WINDOW)
    await api_metrics.run(good, ctx)
    clock.now += 30
    both = ApiMetricsTarget(name="api", urls=[f"{api.url}/metrics", dead], window=WINDOW, timeout=2)
    obs = await api_metrics.run(both, ctx)
    assert_catalog(obs)
    assert by_signal(obs, "api_up").value == 0
    assert by_signal(obs, "probe_success").value == 0
    status = by_signal(obs, "api_up").details["instances"]  # type: ignore[index]
    assert status[f"{api.url}/metrics"] == "ok"
    for signal in api_metrics.RATE_SIGNALS + api_metrics.GAUGE_SIGNALS:
        o = by_signal(obs, signal)
        assert o.value is None and "scrape failed" in (o.error or "")
    assert "s3cret" not in repr(obs)

    clock.now += 30
    obs = await api_metrics.run(good, ctx)  # back up: the window still holds an earlier good scrape
    assert by_signal(obs, "api_up").value == 1
    assert by_signal(obs, "api_requests_per_minute").value > 0


async def test_wrong_path_is_a_failed_scrape(api: ApiServer) -> None:
    target = ApiMetricsTarget(name="api", urls=[f"{api.url}/no-metrics-here"], window=WINDOW)
    obs = await api_metrics.run(target, ProbeContext(clock=Clock()))
    assert by_signal(obs, "api_up").value == 0
    assert "HTTP 404" in (by_signal(obs, "probe_success").error or "")


# ---- pure: aggregation across series -------------------------------------------------------------

def key(name: str, **labels: str) -> SeriesKey:
    return name, tuple(sorted(labels.items()))


def test_rates_are_taken_per_series_then_summed() -> None:
    # Instance b restarted mid-window: its own rate sees the reset; a rate of the sum would not.
    series = {
        key(REQUESTS, instance="a", status_code="200"): [(0.0, 100.0), (30.0, 130.0), (60.0, 160.0)],
        key(REQUESTS, instance="b", status_code="200"): [(0.0, 500.0), (30.0, 10.0), (60.0, 40.0)],
        key(REQUESTS, instance="b", status_code="503"): [(0.0, 0.0), (60.0, 6.0)],
    }
    by_instance = sum_rates(series, REQUESTS, 60.0, 60.0, by=lambda k: dict(k[1])["instance"])
    assert by_instance == pytest.approx({"a": 1.0, "b": (40 - 500 + 500 + 6) / 60})


def test_latency_quantile_sums_buckets_by_le_across_series() -> None:
    def hist(route: str, instance: str, fast: float, total: float) -> dict[SeriesKey, list[tuple[float, float]]]:
        return {key(BUCKET, route=route, instance=instance, le=le): [(0.0, 0.0), (60.0, v)]
                for le, v in (("0.1", fast), ("0.5", total), ("+Inf", total))}

    series = {**hist("/a", "x", 10, 10), **hist("/b", "x", 0, 10), **hist("/b", "y", 0, 20)}
    # '*': 10 fast of 40; rank 0.95*40 = 38 in (0.1, 0.5]: 0.1 + 0.4 * 28/30.
    assert latency_quantile(series, 0.95, 60.0, 60.0) == pytest.approx(0.1 + 0.4 * 28 / 30)
    assert latency_quantile(series, 0.95, 60.0, 60.0, route="/a") == pytest.approx(0.095)
    assert math.isnan(latency_quantile(series, 0.95, 60.0, 60.0, route="/none"))


# ---- acceptance: the same numbers as a real Prometheus -------------------------------------------

@pytest.fixture
def prometheus(api: ApiServer) -> Iterator[PrivatePrometheus]:
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "900ms"},
        "scrape_configs": [{"job_name": "api", "static_configs": [{"targets": [f"127.0.0.1:{api.port}"]}]}],
    }
    try:
        server = PrivatePrometheus(config)
    except MissingBinaryError as exc:
        require(exc)
    server.start()
    yield server
    server.cleanup()


def _series_from_matrix(result: list[dict[str, object]]) -> dict[SeriesKey, list[tuple[float, float]]]:
    out: dict[SeriesKey, list[tuple[float, float]]] = {}
    for entry in result:
        labels = {k: v for k, v in entry["metric"].items() if k != "__name__"}  # type: ignore[union-attr]
        name = entry["metric"]["__name__"]  # type: ignore[index]
        out[(name, tuple(sorted(labels.items())))] = [(float(t), float(v)) for t, v in entry["values"]]  # type: ignore[union-attr]
    return out


def _scalar(result: list[dict[str, object]]) -> float:
    assert len(result) == 1, result
    return float(result[0]["value"][1])  # type: ignore[index]


async def _traffic(client: httpx.AsyncClient, seconds: float) -> None:
    """A steady mix: fast pings and sessions slowed by injected latency that changes every second."""
    deadline = time.monotonic() + seconds
    latencies = (120, 280, 450, 650)
    i = 0
    while time.monotonic() < deadline:
        await set_faults(client, latency_ms=latencies[i % len(latencies)], prefix="/v1/sessions")
        i += 1
        await asyncio.gather(*(client.get("/v1/ping") for _ in range(12)),
                             *(client.get("/v1/sessions") for _ in range(3)))


async def test_p95_matches_real_prometheus(api: ApiServer, prometheus: PrivatePrometheus) -> None:
    window = 20.0
    target = ApiMetricsTarget(name="api", urls=[f"{api.url}/metrics"], window=window, interval=1, timeout=1)
    ctx = ProbeContext()
    results: list[tuple[float, list[Observation]]] = []

    async def probe_loop(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            t = ctx.now()
            obs = await api_metrics.run(target, ctx)
            results.append((t, obs))
            await asyncio.sleep(max(0.0, 1.0 - (ctx.now() - t)))

    async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
        try:
            await asyncio.gather(_traffic(client, 17), probe_loop(17))
        finally:
            await set_faults(client)
    eval_time = results[-1][0]
    await asyncio.sleep(1.5)  # let Prometheus scrape past the evaluation time

    # 1) Our math on the very samples Prometheus stored equals Prometheus's own evaluation.
    raw = prometheus.query(f'{BUCKET}{{job="api"}}[{window:g}s]', eval_time)
    series = _series_from_matrix(raw)
    assert len(series) > 20
    # The summed bucket rates agree to float precision; the quantile is held to the 1% contract
    # (a rank landing exactly on a bucket edge may tip either way on the last bit of a float).
    theirs_by_le = {r["metric"]["le"]: float(r["value"][1]) for r in prometheus.query(  # type: ignore[index]
        f'sum by (le) (rate({BUCKET}{{job="api"}}[{window:g}s]))', eval_time)}
    ours_by_le = sum_rates(series, BUCKET, eval_time, window, by=lambda k: dict(k[1])["le"])
    assert ours_by_le == pytest.approx(theirs_by_le, rel=1e-9)
    for q in (0.5, 0.95, 0.99):
        theirs = _scalar(prometheus.query(
            f'histogram_quantile({q}, sum by (le) (rate({BUCKET}{{job="api"}}[{window:g}s])))', eval_time))
        ours = latency_quantile(series, q, eval_time, window)
        assert ours == pytest.approx(theirs, rel=0.01), (q, ours, theirs)
    counts = _series_from_matrix(prometheus.query(f'{REQUESTS}{{job="api"}}[{window:g}s]', eval_time))
    theirs_rpm = _scalar(prometheus.query(f'60 * sum(rate({REQUESTS}{{job="api"}}[{window:g}s]))', eval_time))
    ours_rpm = 60 * sum(sum_rates(counts, REQUESTS, eval_time, window).values())
    assert ours_rpm == pytest.approx(theirs_rpm, rel=1e-9)

    # 2) End to end: the probe's own p95 from its own scrapes agrees with Prometheus's at the probe's last
    # scrape. The two scrape at different instants (up to a second apart, more on a loaded machine) while
    # the latency changes every second, so only closely: the exact agreement is (1) above.
    probe_time, probe_obs = results[-1]
    probe_p95 = by_signal(probe_obs, "api_latency_p95_seconds", "*").value
    prom_p95 = _scalar(prometheus.query(
        f'histogram_quantile(0.95, sum by (le) (rate({BUCKET}{{job="api"}}[{window:g}s])))', probe_time))
    assert 0.1 < prom_p95 < 1.0
    assert probe_p95 == pytest.approx(prom_p95, rel=0.25)
    assert all(by_signal(obs, "api_up").value == 1 for _, obs in results)
