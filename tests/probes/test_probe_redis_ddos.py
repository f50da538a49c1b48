"""DDoS detection with the shipped rule: one client IP at a steady rate, counted as the API counts it.

The API adds every request to `converge:ipreq:<epoch minute>` (app/ipcount.py); here the same writes
(ZINCRBY + EXPIRE on app.ipcount.minute_key) are made second by second on a simulated clock into the
run's real Redis, the redis probe reads them at the shipped interval, and the real engine judges with the
shipped DdosSuspected rule (threshold 10,000/min, `for` 1m, 0 s in the event). The probe's phase within
the minute is varied: the alert must not depend on when in the minute the probe happens to run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from app.ipcount import KEY_PREFIX, minute_key
from devstack import PrivateRedis
from probes import redis as redis_probe
from probes.base import ProbeContext
from tests.support.shipped import ShippedRules, shipped_config

RULE = "DdosSuspected"
T0 = 1_900_000_020.0  # a simulated minute no live API writes to (keys expire on Redis's own clock)
ATTACKER, NEIGHBOUR = "203.0.113.7", "198.51.100.2"
DURATION = 6 * 60  # seconds of traffic per scenario
PHASES = (0, 7, 19, 31, 44, 58)  # seconds past the minute of the probe's first run


@pytest.fixture
async def r(redis_server: PrivateRedis) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.flushall()
    await client.aclose()


async def count_requests(r: Redis, start: int, end: int, per_minute: dict[str, float]) -> None:
    """The API's writes for the requests of seconds [start, end): each IP at its steady rate."""
    pipe = r.pipeline(transaction=False)
    for second in range(start, end):
        for ip, rate in per_minute.items():
            # Requests of this second: the steady rate, whole requests only (the running total stays exact).
            n = int((second + 1 - T0) * rate / 60) - int((second - T0) * rate / 60)
            if n:
                key = minute_key(second)
                pipe.zincrby(key, n, ip)
                pipe.expire(key, 180)
    await pipe.execute()


async def run_scenario(r: Redis, url: str, attacker_rate: float, in_event: bool,
                       phase: int) -> tuple[float, list[tuple[float, float | None]]]:
    """Traffic from T0 on; the probe at its shipped interval from T0 + phase.

    Returns the first firing time (seconds after T0) and the readings as (seconds after T0, value)."""
    await r.flushall()
    target = shipped_config().redis[0].model_copy(update={"url": SecretStr(url)})
    assert target.ip_counter_prefix == KEY_PREFIX
    interval = target.effective_interval(in_event)
    clock = [T0]
    ctx = ProbeContext(clock=lambda: clock[0])
    rules = ShippedRules(in_event)
    rates = {ATTACKER: attacker_rate, NEIGHBOUR: 300.0, "192.0.2.10": 60.0}
    written = int(T0)
    fired_at = float("inf")
    readings = []
    t = T0 + phase
    while t < T0 + DURATION:
        await count_requests(r, written, int(t), rates)
        written = int(t)
        clock[0] = t
        observations = await redis_probe.run(target, ctx)
        top = next(o for o in observations if o.signal == "redis_top_client_requests_per_minute")
        readings.append((t - T0, top.value))
        if RULE in rules.evaluate(observations, t) and fired_at == float("inf"):
            fired_at = t
        t += interval
    return fired_at - T0, readings


@pytest.mark.parametrize("in_event", [False, True], ids=["normal", "event"])
async def test_steady_12000_per_minute_from_one_ip_fires_at_every_phase(
        r: Redis, redis_server: PrivateRedis, in_event: bool) -> None:
    rule = next(x for x in shipped_config().effective_rules() if x.name == RULE)
    target = shipped_config().redis[0]
    # From the first request: a minute to fill the trailing minute, then the probe's interval x 2 + `for`.
    bound = 60 + 2 * target.effective_interval(in_event) + rule.params(in_event).for_
    for phase in PHASES:
        detected, readings = await run_scenario(r, redis_server.url, 12_000, in_event, phase)
        # Once the flood has run a minute, its trailing minute reads 12,000 at every probe run.
        assert all(abs(v - 12_000) <= 200 for at, v in readings if at >= 60 and v is not None), (phase, readings)
        assert all(v is not None for _, v in readings)
        assert detected <= bound, f"phase {phase}: fired {detected}s after the flood began, bound {bound}s; " \
                                  f"readings {readings}"


@pytest.mark.parametrize("in_event", [False, True], ids=["normal", "event"])
async def test_steady_8000_per_minute_never_fires(r: Redis, redis_server: PrivateRedis, in_event: bool) -> None:
    for phase in PHASES:
        detected, readings = await run_scenario(r, redis_server.url, 8_000, in_event, phase)
        assert detected == float("inf"), (phase, readings)
        assert max(v or 0 for _, v in readings) <= 8_200, readings


async def test_busiest_ip_is_found_when_it_tops_neither_minute(r: Redis, redis_server: PrivateRedis) -> None:
    """An IP just below the top of both minutes can be the busiest over the trailing 60 s."""
    minute = int(T0 // 60)
    now = minute * 60 + 30.0  # half of the previous minute is inside the trailing 60 s
    await r.zadd(f"{KEY_PREFIX}{minute}", {"10.0.0.1": 100, "10.0.0.2": 100, "10.0.0.9": 90})
    await r.zadd(f"{KEY_PREFIX}{minute - 1}", {"10.0.0.3": 100, "10.0.0.4": 100, "10.0.0.9": 90})
    target = shipped_config().redis[0].model_copy(update={"url": SecretStr(redis_server.url), "top_clients": 2})
    observations = await redis_probe.run(target, ProbeContext(clock=lambda: now))
    top = next(o for o in observations if o.signal == "redis_top_client_requests_per_minute")
    assert top.value == 135
    assert top.details is not None
    assert top.details["clients"] == [{"ip": "10.0.0.9", "requests": 135}, {"ip": "10.0.0.1", "requests": 100}]
