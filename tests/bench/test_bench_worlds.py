"""The benchmarks' own invariants, checked on every test run so that `make bench` does not rot between runs:
the rule-evaluation world covers today's signal catalog and rules, its healthy values fire nothing and its
incident fires; the README's benchmark table is the one the committed results give."""

from __future__ import annotations

from collections import Counter

from alerts.engine import AlertEngine
from alerts.model import State
from bench import rule_evaluation as rb
from bench.summary import README, table
from monitor.core.observation import Observation
from monitor.core.signals import SIGNALS


def observations(world: rb.World, values: list[float | None], now: float) -> list[Observation]:
    return [Observation(s.signal, v, now, s.labels, None if v is not None else "probe timed out")
            for s, v in zip(world.series, values, strict=True)]


def test_every_catalog_signal_has_series_in_each_site() -> None:
    per_site = rb.site_series(rb.site_name(1))
    wide = {"deploy_window", "deploy_last_timestamp_seconds", "deploy_info", "sentry_open_alerts"}
    assert {s.signal for s in per_site} == {s.name for s in SIGNALS} - wide
    # monitor-wide signals (the deploy window, Sentry alerts) have their series in the first site
    assert {s.signal for s in rb.site_series(rb.site_name(0))} == {s.name for s in SIGNALS}
    keys = Counter((s.signal, tuple(sorted(s.labels.items()))) for s in per_site + rb.site_series(rb.site_name(2)))
    assert max(keys.values()) == 1  # no two sites share a series


def test_the_world_has_the_monitors_default_rules_and_the_service_agrees() -> None:
    world = rb.World.build(200, 2000)
    defaults = rb.monitor_default_rules()
    assert [r.name for r in world.rules[:len(defaults)]] == [r.name for r in defaults]
    assert len(world.rules) == 200 and world.watched > 0 and world.breaching > 0
    service, store, _ = rb.make_service(world)  # raises when the service would evaluate other rules
    store.close()
    assert sorted(r.name for r in service.engine.rules) == sorted(r.name for r in world.rules)


def test_healthy_values_fire_nothing_and_the_incident_fires() -> None:
    world = rb.World.build(200, 2000)
    engine = AlertEngine(world.rules, max_age=world.max_age())
    now = rb.T0
    for _ in range(3):
        engine.evaluate(observations(world, world.steady, now), now, in_event=False)
        now += rb.EVAL_INTERVAL
    steady = engine.alerts((State.PENDING, State.FIRING))
    # ProbeUnknown-style rules may see the 0.2 % unknown values; nothing else may be active.
    assert all(a.rule.startswith("ProbeUnknown") for a in steady), [a.rule for a in steady][:5]
    engine.evaluate(observations(world, world.incident, now), now, in_event=False)
    engine.evaluate(observations(world, world.incident, now + rb.FIRE_AFTER), now + rb.FIRE_AFTER, in_event=False)
    assert len(engine.alerts((State.FIRING,))) > 0


def test_the_readme_table_is_the_one_the_results_give() -> None:
    readme = README.read_text()
    between = readme.split("<!-- bench:start -->\n", 1)[1].split("<!-- bench:end -->", 1)[0]
    assert between == table(), "run `python -m bench.summary` after a benchmark"
