"""The redis probe against private redis-servers, and the API's real per-IP counters."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from devstack import ApiServer, PrivateRedis
from monitor.core.observation import Observation
from monitor.core.signals import CATALOG
from monitor.core.targets import RedisTarget
from probes import redis as redis_probe
from probes.base import ProbeContext
from probes.redis import scrub_secrets
from tests.support.stack import assert_errors

NOW = 1_738_000_000.0
OTHER_SIGNALS = redis_probe.SIGNALS
VALUE = b"v" * 8192


def by_signal(observations: list[Observation], now: float = NOW) -> dict[str, Observation]:
    for o in observations:
        assert o.signal in CATALOG, o.signal
        assert set(o.labels) == set(CATALOG[o.signal].labels), o
        assert o.timestamp == now
    found = {o.signal: o for o in observations}
    assert set(found) == {"redis_up", "probe_success", *OTHER_SIGNALS}
    return found


async def probe(url: str, ctx: ProbeContext | None = None, **fields: object) -> dict[str, Observation]:
    ctx = ctx or ProbeContext(clock=lambda: NOW)
    target = RedisTarget(name="cache", url=url, **fields)
    return by_signal(await redis_probe.run(target, ctx), ctx.now())


async def info(r: Redis) -> dict[str, int]:
    raw = await r.info()
    return {k: raw[k] for k in ("used_memory", "maxmemory", "evicted_keys")}


async def write(r: Redis, prefix: str, megabytes: int) -> None:
    keys = megabytes * 1024 * 1024 // len(VALUE)
    for start in range(0, keys, 256):
        pipe = r.pipeline(transaction=False)
        for i in range(start, min(keys, start + 256)):
            pipe.set(f"{prefix}:{i}", VALUE)
        await pipe.execute()


async def fill_to(r: Redis, ratio: float) -> None:
    for chunk in range(100):
        now = await info(r)
        if now["used_memory"] / now["maxmemory"] > ratio:
            return
        await write(r, f"fill{chunk}", 2)
    raise AssertionError("redis did not fill up")


@pytest.fixture
async def client(redis_server: PrivateRedis) -> AsyncIterator[Redis]:
    """A client to the run's Redis; everything written is flushed afterwards so other tests start clean."""
    r = Redis.from_url(redis_server.url)
    yield r
    await r.flushall()
    await r.aclose()


@pytest.fixture
def own_redis(request: pytest.FixtureRequest) -> Iterator[PrivateRedis]:
    server = PrivateRedis(maxmemory=getattr(request, "param", "0"))
    server.start()
    yield server
    server.cleanup()


async def test_memory_ratio_matches_info_when_nearly_full(redis_server: PrivateRedis, client: Redis) -> None:
    config = await client.config_get("maxmemory*")
    assert config["maxmemory"] == str(64 * 1024 * 1024) and config["maxmemory-policy"] == "allkeys-lru"
    await fill_to(client, 0.85)
    before = await info(client)
    obs = await probe(redis_server.url)
    after = await info(client)
    assert obs["redis_up"].value == 1 and obs["probe_success"].value == 1
    expected = [m["used_memory"] / m["maxmemory"] for m in (before, after)]
    ratio = obs["redis_memory_ratio"].value
    assert ratio is not None and ratio > 0.8
    assert min(expected) - 0.005 <= ratio <= max(expected) + 0.005
    used = obs["redis_memory_used_bytes"].value
    assert used is not None and min(before["used_memory"], after["used_memory"]) - 65536 <= used
    assert obs["redis_fragmentation_ratio"].value and obs["redis_fragmentation_ratio"].value > 0
    clients = await client.info("clients")
    assert obs["redis_connected_clients"].value is not None and obs["redis_connected_clients"].value >= 1
    assert abs(obs["redis_connected_clients"].value - clients["connected_clients"]) <= 1  # the probe's own


async def test_evictions_per_second_after_overfilling(redis_server: PrivateRedis, client: Redis) -> None:
    clock = [NOW]
    ctx = ProbeContext(clock=lambda: clock[0])
    first = await probe(redis_server.url, ctx)
    evictions = first["redis_evicted_keys_per_second"]
    assert evictions.value is None and evictions.error and "need two samples" in evictions.error
    start = (await info(client))["evicted_keys"]
    await write(client, "overfill", 96)  # half again the 64mb limit: allkeys-lru must evict
    end = (await info(client))["evicted_keys"]
    assert end > start
    clock[0] = NOW + 10
    second = await probe(redis_server.url, ctx)
    rate = second["redis_evicted_keys_per_second"]
    assert rate.details and rate.details["counter_reset"] is False
    # Redis may still finish evicting in the background after our INFO: compare with what the probe read.
    seen = rate.details["evicted_keys"]
    assert seen >= end
    assert rate.value == pytest.approx((seen - start) / 10) and rate.value > 0


@pytest.mark.parametrize("own_redis", ["4mb"], indirect=True)
async def test_restart_is_a_counter_reset_not_a_negative_rate(own_redis: PrivateRedis) -> None:
    clock = [NOW]
    ctx = ProbeContext(clock=lambda: clock[0])
    r = Redis.from_url(own_redis.url)
    try:
        await write(r, "k", 8)
    finally:
        await r.aclose()
    await probe(own_redis.url, ctx)
    evicted = ctx.state["evictions"][1]
    assert evicted > 0
    own_redis.restart()  # nothing persisted: the new server starts at evicted_keys 0 with a new run_id
    clock[0] = NOW + 30
    obs = await probe(own_redis.url, ctx)
    rate = obs["redis_evicted_keys_per_second"]
    assert rate.value == 0 and rate.details and rate.details["counter_reset"] is True


async def test_no_maxmemory_means_no_limit_not_a_ratio(own_redis: PrivateRedis) -> None:
    obs = await probe(own_redis.url)
    ratio = obs["redis_memory_ratio"]
    assert ratio.value is None
    assert ratio.error and "no limit" in ratio.error
    assert ratio.details == {"maxmemory": "no limit", "maxmemory_policy": "allkeys-lru"}
    assert obs["redis_up"].value == 1 and obs["redis_memory_used_bytes"].value


async def test_empty_per_ip_set_reads_zero(own_redis: PrivateRedis) -> None:
    obs = await probe(own_redis.url)
    top = obs["redis_top_client_requests_per_minute"]
    assert top.value == 0 and top.details and top.details["clients"] == []


async def test_top_client_ips_come_from_the_apis_counters(seeded_db: str, redis_server: PrivateRedis,
                                                           tmp_path: Path) -> None:
    api = ApiServer(seeded_db, redis_server.url, env={"TRUSTED_PROXY_HEADER": "x-forwarded-for"},
                    log_dir=str(tmp_path))
    api.start()
    r = Redis.from_url(redis_server.url, decode_responses=True)
    burst = {"203.0.113.7": 60, "198.51.100.2": 5}
    try:
        for _attempt in range(3):  # a burst that straddles a minute boundary is retried in the next minute
            minute = int(time.time() // 60)
            await r.delete(f"converge:ipreq:{minute}")
            async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
                for ip, count in burst.items():
                    for _ in range(count):
                        resp = await http.get("/v1/ping", headers={"X-Forwarded-For": ip})
                        assert resp.status_code == 200
            # The API counts each request just after sending the response: wait for the last ones.
            for _ in range(200):
                scores = await r.zrange(f"converge:ipreq:{minute}", 0, -1, withscores=True)
                if sum(s for ip, s in scores if ip in burst) >= sum(burst.values()):
                    break
                await asyncio.sleep(0.05)
            if int(time.time() // 60) == minute:
                break
        else:
            pytest.fail("every burst straddled a minute boundary")
        obs = await probe(redis_server.url, ProbeContext(clock=lambda: minute * 60 + 30.0))
    finally:
        await r.delete(f"converge:ipreq:{minute}")
        await r.aclose()
        api.stop()
    top = obs["redis_top_client_requests_per_minute"]
    assert top.value == 60
    # The API's own readiness checks from 127.0.0.1 may share the minute; the burst ranks first.
    assert top.details and top.details["clients"][:2] == [{"ip": "203.0.113.7", "requests": 60},
                                                          {"ip": "198.51.100.2", "requests": 5}]


async def test_stopped_redis_is_down_then_up_again(redis_fault: PrivateRedis) -> None:
    redis_fault.stop()
    started = time.monotonic()
    obs = await probe(redis_fault.url, timeout=2)
    assert time.monotonic() - started < 2
    assert obs["redis_up"].value == 0 and obs["probe_success"].value == 0
    assert_errors(obs, OTHER_SIGNALS, "connect:")
    redis_fault.start()
    obs = await probe(redis_fault.url, timeout=2)
    assert obs["redis_up"].value == 1 and obs["probe_success"].value == 1


async def test_hung_redis_gives_timeout_within_the_target_timeout(silent_port: int) -> None:
    started = time.monotonic()
    obs = await probe(f"redis://:pw@127.0.0.1:{silent_port}/0", timeout=1)
    assert time.monotonic() - started < 1.5  # the budget, plus at most the bounded close
    assert obs["redis_up"].value == 0
    assert_errors(obs, ("redis_up", *OTHER_SIGNALS), "timeout:", unknown=False)


async def test_auth_failures_are_classified_and_the_password_never_shows(own_redis: PrivateRedis) -> None:
    password = "Sup3r-Secret-pw"
    r = Redis.from_url(own_redis.url)
    await r.config_set("requirepass", password)
    await r.aclose()
    base = own_redis.url.split("://", 1)[1]
    for url in (f"redis://:wrong-{password}@{base}", own_redis.url):
        obs = await probe(url)
        assert obs["redis_up"].value == 0
        assert obs["redis_up"].error and obs["redis_up"].error.startswith("auth:"), obs["redis_up"].error
        assert password not in repr(list(obs.values()))
    obs = await probe(f"redis://:{password}@{base}")
    assert obs["redis_up"].value == 1


async def test_malformed_url_is_a_config_error_without_its_text() -> None:
    obs = await probe("redis://:Sup3r-Secret-pw@127.0.0.1:notaport/0")
    error = obs["redis_up"].error
    assert error and error.startswith("config:")
    assert "Sup3r" not in repr(list(obs.values()))


def test_scrub_secrets_hides_url_and_password() -> None:
    url = "redis://default:p%40ss-w0rd@cache.internal:6379/0"
    out = scrub_secrets(f"failed {url}; p@ss-w0rd; redis://:other@h:1", url)
    for leaked in ("p%40ss", "p@ss-w0rd", "other"):
        assert leaked not in out
