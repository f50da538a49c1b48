"""Slow statements as they happen: judged on the calls made since the previous probe run.

Against the run's private PostgreSQL (pg_stat_statements preloaded), with the shipped postgres target
(slow_query_ms 1000, its intervals) and, where an alert is judged, the shipped SlowQueries rule in the real
engine on a simulated clock.
"""

from __future__ import annotations

import asyncio

import psycopg
from pydantic import SecretStr

from monitor.core.observation import Observation
from monitor.core.targets import PostgresTarget
from probes import postgres
from probes.base import ProbeContext
from tests.support.shipped import ShippedRules, shipped_config

T0 = 1_769_600_000.0
RULE = "SlowQueries"
# One statement shape (one queryid) per test, its duration a parameter; the shapes differ in their target lists.
TURNS_SLOW = "SELECT pg_sleep(%s::float8) AS turns_slow_statement"
ONE_OFF = "SELECT pg_sleep(%s::float8), 1, 2 AS one_off_slow_statement"
STAYS_SLOW = "SELECT pg_sleep(%s::float8), 1, 2, 3 AS stays_slow_statement"


def target(dsn: str) -> PostgresTarget:
    shipped = shipped_config().database[0]
    assert shipped.slow_query_ms == 1000
    return shipped.model_copy(update={"dsn": SecretStr(dsn)})


async def calls(dsn: str, seconds: float, n: int, concurrent: bool = False, statement: str = TURNS_SLOW) -> None:
    async def one_connection(count: int) -> None:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            for _ in range(count):
                await conn.execute(statement, (seconds,))

    if concurrent:
        await asyncio.gather(*(one_connection(1) for _ in range(n)))
    else:
        await one_connection(n)


def slow_of(observations: list[Observation]) -> Observation:
    return next(o for o in observations if o.signal == "postgres_slow_queries")


def ours(obs: Observation) -> list[dict[str, object]]:
    assert obs.details is not None
    return [q for q in obs.details["queries"] if "turns_slow_statement" in str(q["query"])]


async def test_four_slow_calls_after_300_fast_ones_are_reported_then_no_longer(seeded_db: str) -> None:
    t = target(seeded_db)
    clock = [T0]
    ctx = ProbeContext(clock=lambda: clock[0])
    await postgres.run(t, ctx)  # the baseline
    await calls(seeded_db, 0, 300)
    clock[0] += 15
    assert ours(slow_of(await postgres.run(t, ctx))) == []
    await calls(seeded_db, 1.5, 4, concurrent=True)
    clock[0] += 15
    slow = slow_of(await postgres.run(t, ctx))
    [reported] = ours(slow)
    assert reported["calls"] == 4
    assert 1500 <= float(reported["mean_ms"]) < 2500  # type: ignore[arg-type]
    assert slow.value is not None and slow.value >= 1
    # No new calls: nothing new is slow. More fast calls: still nothing.
    clock[0] += 15
    assert ours(slow_of(await postgres.run(t, ctx))) == []
    await calls(seeded_db, 0, 50)
    clock[0] += 15
    assert ours(slow_of(await postgres.run(t, ctx))) == []


async def test_a_one_off_slow_statement_does_not_keep_slow_queries_firing(seeded_db: str) -> None:
    """Normal mode: one slow call, then 20 minutes of nothing slow: SlowQueries is not firing at the end."""
    t = target(seeded_db)
    clock = [T0]
    ctx = ProbeContext(clock=lambda: clock[0])
    rules = ShippedRules(in_event=False)
    await postgres.run(t, ctx)
    await calls(seeded_db, 1.1, 1, statement=ONE_OFF)
    interval = t.effective_interval(False)
    values = []
    for _ in range(int(20 * 60 / interval)):
        clock[0] += interval
        observations = await postgres.run(t, ctx)
        values.append(slow_of(observations).value)
        rules.evaluate(observations, clock[0])
    assert rules.firing(RULE) == set(), values
    assert values[-1] == 0


async def test_a_statement_that_stays_slow_fires_in_event_mode_and_resolves_after(seeded_db: str) -> None:
    """Event mode: a statement slow on every interval fires within 2 intervals + `for`; it resolves once
    the slow calls stop, within keep_firing_for + 2 intervals."""
    t = target(seeded_db)
    rule = next(r for r in shipped_config().effective_rules() if r.name == RULE)
    p = rule.params(True)
    interval = t.effective_interval(True)
    clock = [T0]
    ctx = ProbeContext(clock=lambda: clock[0])
    rules = ShippedRules(in_event=True)
    await postgres.run(t, ctx)
    started, fired_at = clock[0], None
    while fired_at is None and clock[0] - started <= 2 * interval + p.for_:
        await calls(seeded_db, 1.02, 1, statement=STAYS_SLOW)  # a little over the shipped 1000 ms
        await calls(seeded_db, 0, 20)  # fast calls of another statement in between
        clock[0] += interval
        if RULE in rules.evaluate(await postgres.run(t, ctx), clock[0]):
            fired_at = clock[0]
    assert fired_at is not None, f"not firing {clock[0] - started}s after the statement turned slow"
    stopped = clock[0]
    while RULE in rules.firing() and clock[0] - stopped <= p.keep_firing_for + 2 * interval:
        clock[0] += interval
        rules.evaluate(await postgres.run(t, ctx), clock[0])
    assert RULE not in rules.firing(), f"still firing {clock[0] - stopped}s after the last slow call"
