"""Redis health: PING, memory against maxmemory, fragmentation, evictions, clients, busiest client IPs.

One short-lived client per run, no retries, socket and connect timeouts and the whole run bounded by
a share of target.timeout. Unreachable -> redis_up 0 and every other signal unknown with a classified
error (`connect:`, `auth:`, `timeout:`, `config:`); the URL (it may hold a password) never appears
in an error.

Choices:
- redis_memory_ratio is unknown when maxmemory is 0: with no limit there is no ratio, and 0 would
  read as healthy. The error and details say "no limit".
- redis_evicted_keys_per_second: evicted_keys delta since the previous run / elapsed seconds, the
  previous sample kept in ctx.state. The first run is unknown ("need two samples"). A restart (new
  run_id) or CONFIG RESETSTAT (counter went down) is a counter reset, as Prometheus treats it: the
  increase is the new counter value, never a negative rate.
- redis_top_client_requests_per_minute: the API's per-IP sorted set for the current minute
  (`<ip_counter_prefix><epoch minute>`, see app/ipcount.py); value = the top count, 0 when the set
  is empty; details["clients"] = [{ip, requests}] for the top_clients busiest IPs.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any
from urllib.parse import unquote, urlsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, NoPermissionError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from monitor.core.observation import Observation, unknown
from monitor.core.targets import RedisTarget
from probes.base import ProbeContext

KIND = "redis"
CLIENT_NAME = "converge-monitor"
TIMEOUT_SHARE = 0.9
_STATE_KEY = "evictions"
_ERROR_MAX = 300
_URL_CREDENTIALS = re.compile(r"(://[^/@\s]*)@")

INFO_SIGNALS = ("redis_memory_used_bytes", "redis_memory_ratio", "redis_fragmentation_ratio",
                "redis_evicted_keys_per_second", "redis_connected_clients")
SIGNALS = (*INFO_SIGNALS, "redis_top_client_requests_per_minute")


def scrub_secrets(message: str, url: str) -> str:
    secrets = {url}
    with contextlib.suppress(ValueError):
        parts = urlsplit(url)
        for value in (parts.password, parts.username if parts.password is None else None):
            if value:
                secrets |= {value, unquote(value)}
    for secret in sorted(secrets, key=len, reverse=True):
        message = message.replace(secret, "***")
    message = _URL_CREDENTIALS.sub("://***@", message)
    return " ".join(message.split())[:_ERROR_MAX]


def classify(exc: BaseException) -> str:
    if isinstance(exc, AuthenticationError | NoPermissionError):
        return "auth"
    if isinstance(exc, TimeoutError | RedisTimeoutError):
        return "timeout"
    if isinstance(exc, RedisConnectionError | OSError):
        return "connect"
    text = str(exc)
    if text.startswith(("NOAUTH", "WRONGPASS", "NOPERM")):
        return "auth"
    return "query"


def _error(exc: BaseException, url: str) -> str:
    message = str(exc) or ("no answer within the probe's time budget" if isinstance(exc, TimeoutError)
                           else type(exc).__name__)
    return f"{classify(exc)}: {scrub_secrets(message, url)}"


def _from_info(info: dict[str, Any], target: RedisTarget, ctx: ProbeContext, now: float) -> dict[str, Observation]:
    labels = {"target": target.name}
    used = float(info["used_memory"])
    maxmemory = float(info.get("maxmemory", 0))
    out = {
        "redis_memory_used_bytes": Observation("redis_memory_used_bytes", used, now, labels),
        "redis_fragmentation_ratio": Observation("redis_fragmentation_ratio",
                                                 float(info["mem_fragmentation_ratio"]), now, labels,
                                                 details={"used_memory_rss": info.get("used_memory_rss")}),
        "redis_connected_clients": Observation("redis_connected_clients", float(info["connected_clients"]), now,
                                               labels),
        "redis_evicted_keys_per_second": _eviction_rate(info, ctx, now, labels),
    }
    policy = info.get("maxmemory_policy")
    if maxmemory > 0:
        out["redis_memory_ratio"] = Observation("redis_memory_ratio", used / maxmemory, now, labels,
                                                details={"maxmemory": int(maxmemory), "maxmemory_policy": policy})
    else:
        out["redis_memory_ratio"] = Observation("redis_memory_ratio", None, now, labels,
                                                error="no limit: maxmemory is 0, so there is no ratio",
                                                details={"maxmemory": "no limit", "maxmemory_policy": policy})
    return out


def _eviction_rate(info: dict[str, Any], ctx: ProbeContext, now: float, labels: dict[str, str]) -> Observation:
    name = "redis_evicted_keys_per_second"
    evicted = int(info["evicted_keys"])
    run_id = str(info.get("run_id", ""))
    previous = ctx.state.get(_STATE_KEY)
    ctx.state[_STATE_KEY] = (now, evicted, run_id)
    if previous is None:
        return unknown(name, now, "need two samples: first run", labels)
    prev_time, prev_evicted, prev_run_id = previous
    elapsed = now - prev_time
    if elapsed <= 0:
        return unknown(name, now, "need two samples: no time elapsed since the previous run", labels)
    reset = run_id != prev_run_id or evicted < prev_evicted
    increase = evicted if reset else evicted - prev_evicted
    details = {"evicted_keys": evicted, "interval_seconds": elapsed, "counter_reset": reset}
    return Observation(name, increase / elapsed, now, labels, details=details)


async def _top_clients(client: Redis, target: RedisTarget, now: float) -> Observation:
    name = "redis_top_client_requests_per_minute"
    key = f"{target.ip_counter_prefix}{int(now // 60)}"
    rows = await client.zrevrange(key, 0, target.top_clients - 1, withscores=True)
    clients = [{"ip": str(ip), "requests": int(score)} for ip, score in rows]
    value = float(clients[0]["requests"]) if clients else 0.0
    return Observation(name, value, now, {"target": target.name}, details={"key": key, "clients": clients})


async def run(target: RedisTarget, ctx: ProbeContext) -> list[Observation]:
    now = ctx.now()
    labels = {"target": target.name}
    url = target.url.get_secret_value()
    budget = target.timeout * TIMEOUT_SHARE
    results: dict[str, Observation] = {}
    up = False
    down_error: str | None = None
    client: Redis | None = None
    try:
        client = Redis.from_url(url, socket_timeout=budget, socket_connect_timeout=budget,
                                retry=Retry(NoBackoff(), 0), client_name=CLIENT_NAME, decode_responses=True)
    except (ValueError, TypeError):
        # URL parse errors may quote pieces of the URL: say nothing more than this.
        down_error = "config: the url could not be parsed (details withheld: it may contain the password)"
    if client is not None:
        try:
            async with asyncio.timeout(budget):
                try:
                    await client.ping()
                    up = True
                except (RedisError, OSError) as exc:
                    down_error = _error(exc, url)
                if up:
                    try:
                        results.update(_from_info(await client.info(), target, ctx, now))
                    except (RedisError, OSError, KeyError, ValueError) as exc:
                        failed = _error(exc, url)
                        results.update({s: unknown(s, now, failed, labels) for s in INFO_SIGNALS})
                    try:
                        obs = await _top_clients(client, target, now)
                    except (RedisError, OSError) as exc:
                        obs = unknown("redis_top_client_requests_per_minute", now, _error(exc, url), labels)
                    results[obs.signal] = obs
        except TimeoutError as exc:
            if not up:
                down_error = _error(exc, url)
        finally:
            # Closing can wait on a dead socket: never let it stretch the run.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.aclose(), timeout=1.0)

    error = None if up else down_error
    pending = "timeout: no answer within the probe's time budget"
    observations = [Observation("redis_up", 1.0 if up else 0.0, now, labels, error=error)]
    observations += [results.get(s) or unknown(s, now, pending if up else str(error), labels) for s in SIGNALS]
    observations.append(Observation("probe_success", 1.0 if up else 0.0, now, {"target": target.name, "kind": KIND},
                                    error=error))
    return observations
