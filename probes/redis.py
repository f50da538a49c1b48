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
- Persistence (spec 10.1): redis_rdb_last_bgsave_ok and redis_aof_last_write_ok from INFO
  persistence (AOF off -> unknown "not in use"); redis_unsaved_seconds = now - rdb_last_save_time
  while rdb_changes_since_last_save > 0, else 0 (nothing to lose), unknown when CONFIG GET save
  says snapshots are off.
- redis_top_client_requests_per_minute: requests of the busiest client IP over the trailing 60 s,
  from the API's per-IP sorted sets per epoch minute (`<ip_counter_prefix><epoch minute>`, see
  app/ipcount.py). The current minute is only partly over, so alone it never reaches a per-minute
  threshold at a steady rate: each IP's count is its current-minute count plus its previous-minute
  count weighted by the share of the previous minute still inside the trailing 60 s (the sliding
  window counter: exact at a steady rate, whatever the probe's phase). The busiest IPs are found
  from the top of both sets, widened until nothing outside them can rank higher, so a set of a
  million IPs is never read whole. 0 when both sets are empty; details["clients"] = [{ip,
  requests}] for the top_clients busiest IPs.
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
                "redis_evicted_keys_per_second", "redis_connected_clients", "redis_rdb_last_bgsave_ok",
                "redis_aof_last_write_ok", "redis_unsaved_seconds")
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


def _persistence(info: dict[str, Any], snapshots_on: bool | None, now: float,
                 labels: dict[str, str]) -> dict[str, Observation]:
    """RDB and AOF health (spec 10.1: RDB snapshots and a continuous AOF) from INFO persistence."""
    out = {"redis_rdb_last_bgsave_ok": Observation(
        "redis_rdb_last_bgsave_ok", 1.0 if info["rdb_last_bgsave_status"] == "ok" else 0.0, now, labels,
        details={"rdb_last_bgsave_status": info["rdb_last_bgsave_status"]})}
    if int(info.get("aof_enabled", 0)):
        status = info["aof_last_write_status"]
        out["redis_aof_last_write_ok"] = Observation("redis_aof_last_write_ok", 1.0 if status == "ok" else 0.0, now,
                                                     labels, details={"aof_last_write_status": status})
    else:
        out["redis_aof_last_write_ok"] = unknown("redis_aof_last_write_ok", now,
                                                 "not in use: appendonly is off", labels)
    name = "redis_unsaved_seconds"
    changes, last_save = int(info["rdb_changes_since_last_save"]), float(info["rdb_last_save_time"])
    if snapshots_on is False:
        out[name] = unknown(name, now, "not in use: RDB snapshots are off (save \"\")", labels)
    else:
        out[name] = Observation(name, max(0.0, now - last_save) if changes else 0.0, now, labels,
                                details={"rdb_changes_since_last_save": changes, "rdb_last_save_time": last_save})
    return out


async def _snapshots_on(client: Redis) -> bool | None:
    """Whether `save` schedules snapshots; None when CONFIG is not allowed (managed Redis often refuses it)."""
    try:
        value = (await client.config_get("save")).get("save")
    except (RedisError, OSError):
        return None
    return None if value is None else bool(str(value).strip())


def _from_info(info: dict[str, Any], target: RedisTarget, ctx: ProbeContext, now: float,
               snapshots_on: bool | None = None) -> dict[str, Observation]:
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
        **_persistence(info, snapshots_on, now, labels),
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


async def _top_counts(client: Redis, keys: tuple[str, str], k: int) -> tuple[list[Any], list[Any]]:
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.zrevrange(key, 0, k - 1, withscores=True)
    current, previous = await pipe.execute()
    return current, previous


async def _scores(client: Redis, key: str, members: list[str]) -> dict[str, float]:
    if not members:
        return {}
    values = await client.zmscore(key, members)
    return {m: float(v) for m, v in zip(members, values, strict=True) if v is not None}


def trailing_weight(now: float) -> float:
    """The share of the previous epoch minute that lies inside the trailing 60 s at `now`."""
    return 1.0 - (now % 60) / 60


async def _top_clients(client: Redis, target: RedisTarget, now: float) -> Observation:
    name = "redis_top_client_requests_per_minute"
    minute = int(now // 60)
    keys = (f"{target.ip_counter_prefix}{minute}", f"{target.ip_counter_prefix}{minute - 1}")
    weight = trailing_weight(now)
    wanted = target.top_clients
    k = wanted
    while True:
        current_rows, previous_rows = await _top_counts(client, keys, k)
        current = {str(ip): float(s) for ip, s in current_rows}
        previous = {str(ip): float(s) for ip, s in previous_rows}
        # An IP near the top of one set may be anywhere in the other: read its exact score there.
        current.update(await _scores(client, keys[0], [ip for ip in previous if ip not in current]))
        previous.update(await _scores(client, keys[1], [ip for ip in current if ip not in previous]))
        combined = {ip: current.get(ip, 0.0) + weight * previous.get(ip, 0.0) for ip in current.keys() | previous}
        ranked = sorted(combined.items(), key=lambda item: (-item[1], item[0]))[:wanted]
        # An IP in neither top-k list has at most the k-th score of each set.
        bound = (float(current_rows[-1][1]) if len(current_rows) == k else 0.0) \
            + weight * (float(previous_rows[-1][1]) if len(previous_rows) == k else 0.0)
        if bound == 0.0 or (len(ranked) == wanted and ranked[-1][1] >= bound):
            break
        k *= 4
    clients = [{"ip": ip, "requests": round(score)} for ip, score in ranked]
    value = ranked[0][1] if ranked else 0.0
    details = {"keys": list(keys), "previous_minute_weight": round(weight, 4), "clients": clients}
    return Observation(name, round(value, 1), now, {"target": target.name}, details=details)


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
                        results.update(_from_info(await client.info(), target, ctx, now,
                                                  await _snapshots_on(client)))
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
