"""The SLO service on a real SQLite store: what it reads, what it emits, at the event's edges (freezegun)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from freezegun import freeze_time

from monitor.core.observation import Observation
from monitor.core.signals import SIGNAL_5XX, SIGNAL_REQUESTS, SLO_SIGNALS
from monitor.store.sqlite import SqliteStore
from slo.service import SloService
from tests.support.paths import REPO
from tests.support.slo_history import JAN, LA, OUTAGE, history, la

DECLARED = {s.name: s for s in SLO_SIGNALS}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(str(tmp_path / "monitor.sqlite3"), retention=31 * 86400)
    yield s
    s.close()


def service(store: SqliteStore, **kw: object) -> SloService:
    return SloService(None, store, event=JAN, api_targets=["api-metrics"], **kw)  # type: ignore[arg-type]


def values(obs: list[Observation]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float | None]:
    return {(o.signal, tuple(sorted(o.labels.items()))): o.value for o in obs}


def value(obs: list[Observation], signal: str, **labels: str) -> float | None:
    return values(obs)[(signal, tuple(sorted(labels.items())))]


def test_before_the_event_its_budget_is_whole_and_its_alerts_quiet(store: SqliteStore) -> None:
    store.write(history(la(27, 23, 59)))
    with freeze_time(datetime(2026, 1, 27, 23, 59, 59, tzinfo=LA)):
        obs = service(store).observations()
    for o in obs:
        assert o.signal in DECLARED and set(o.labels) == set(DECLARED[o.signal].labels), o
    for slo in ("availability", "latency", "health-checks"):
        assert value(obs, "slo_error_budget_remaining", slo=slo, period="event") == 1.0
        assert value(obs, "slo_error_budget_remaining_seconds", slo=slo, period="event") == pytest.approx(
            (1 - (0.95 if slo == "latency" else 0.995)) * 3 * 86400)
        for windows in ("6m/1m", "36m/3m", "7h12m/36m"):
            assert value(obs, "slo_multiwindow_burn_rate", slo=slo, period="event", windows=windows) == 0.0
    assert value(obs, "slo_sli", slo="availability", period="30d") == 1.0
    assert value(obs, "slo_sli", slo="latency", period="30d") == pytest.approx(590 / 600)
    assert value(obs, "slo_burn_rate", slo="latency", window="1h") == pytest.approx((10 / 600) / 0.05)


def test_an_outage_in_the_event_pages_on_the_event_window_first(store: SqliteStore) -> None:
    store.write(history(OUTAGE[0] + 300))
    with freeze_time(datetime(2026, 1, 28, 2, 5, tzinfo=LA)):
        svc = service(store)
        obs = svc.observations()
    # 5 minutes of 30% errors: burn 60x over 5m; the event's 6m window is at 50x, the 30-day hour at 5x.
    assert value(obs, "slo_burn_rate", slo="availability", window="5m") == pytest.approx(60)
    assert value(obs, "slo_multiwindow_burn_rate", slo="availability", period="event", windows="6m/1m") == \
        pytest.approx(50)
    assert value(obs, "slo_multiwindow_burn_rate", slo="availability", period="30d", windows="1h/5m") == \
        pytest.approx(5)
    # Budget of the whole event: 5 of 21.6 minutes... weighted by the 2h05m elapsed so far.
    spent = (0.3 * 5 / 125) * (2 * 3600 + 300)
    assert value(obs, "slo_error_budget_remaining_seconds", slo="availability", period="event") == \
        pytest.approx(0.005 * 3 * 86400 - spent)
    item = next(i for i in svc.board_items() if i["name"] == "availability")
    assert item["period"] == "event" and item["burn_window"] == "6m" and item["burn_rate"] == pytest.approx(50)
    assert item["budget_remaining_ratio"] == pytest.approx(1 - spent / (0.005 * 3 * 86400))


def test_health_checks_count_failed_and_unknown_runs(store: SqliteStore) -> None:
    store.write(history(la(28, 4)))
    with freeze_time(datetime(2026, 1, 28, 4, 0, tzinfo=LA)):
        obs = service(store).observations()
    # Since the event started: 240 runs of each probe; 5 http checks failed, 1 synthetic run was unknown.
    assert value(obs, "slo_sli", slo="health-checks", period="event") == pytest.approx(1 - 6 / 480)


def test_after_the_event_its_alerts_resolve_and_its_budget_is_final(store: SqliteStore) -> None:
    store.write(history(la(28, 4)))
    with freeze_time(datetime(2026, 2, 1, 0, 0, tzinfo=LA)):
        obs = service(store).observations()
    assert value(obs, "slo_multiwindow_burn_rate", slo="availability", period="event", windows="6m/1m") == 0.0
    final = value(obs, "slo_error_budget_remaining", slo="availability", period="event")
    # Over the whole event: 20 minutes of 30% errors in the 8 hours of traffic the event saw.
    bad_ratio = 0.3 * 20 / (8 * 60 - 4 * 60)
    assert final == pytest.approx(1 - bad_ratio * 3 * 86400 / (0.005 * 3 * 86400))
    # The 30-day window's short windows see no data now: unknown, never "fine".
    assert value(obs, "slo_burn_rate", slo="availability", window="5m") is None


def test_the_cache_gives_what_a_fresh_read_gives(store: SqliteStore) -> None:
    cached = service(store)
    fresh = service(store, cache=False)
    t = la(28, 1)
    late = (t + 2900, t + 2970)  # written after the read at t + 3000: they must not be missed
    everything = [Observation(o.signal, 0.0, o.timestamp, o.labels)
                  if o.signal == "http_up" and late[0] < o.timestamp <= late[1] else o for o in history(t + 7200)]
    written: set[int] = set()
    late_ones = {i for i, o in enumerate(everything) if late[0] < o.timestamp <= late[1]}
    for step in range(12):
        now = t + step * 600
        # Probe runs land a little after their timestamp; a few land 4 minutes late (inside the overlap).
        due = [i for i, o in enumerate(everything) if i not in written and o.timestamp <= now - 30
               and (i not in late_ones or now > t + 3300)]
        store.write([everything[i] for i in due])
        written.update(due)
        assert values(cached.observations(now)) == values(fresh.observations(now)), step
    assert value(fresh.observations(t + 3600), "slo_burn_rate", slo="health-checks", window="1h") > 0


def test_without_an_api_metrics_target_the_request_slos_are_unknown_and_say_why(store: SqliteStore) -> None:
    store.write(history(la(27, 21)))
    svc = SloService(None, store, event=JAN, api_targets=[])
    obs = svc.observations(la(27, 21))
    availability = [o for o in obs if o.labels.get("slo") == "availability" and o.signal == "slo_sli"]
    assert availability and all(o.value is None for o in availability)
    assert "needs an api_metrics target" in (availability[0].error or "")
    assert value(obs, "slo_sli", slo="health-checks", period="30d") == 1.0  # the probes need no target
    item = next(i for i in svc.board_items() if i["name"] == "availability")
    assert item["error"] is True and "api_metrics" in item["reason"]


def test_from_config_reads_the_monitor_config(store: SqliteStore) -> None:
    from monitor.config import load_config

    config = load_config(REPO / "monitor.yml", environ={})
    svc = SloService.from_config(config, store)
    assert svc.api_targets == ["api-metrics"]
    assert svc.interval == 60
    assert set(svc.periods) == {"rolling", "event"}


def test_it_evaluates_again_within_seconds_while_an_slo_has_no_data(store: SqliteStore) -> None:
    """Just after the monitor starts there are no samples: waiting a whole interval (1 min) would keep the
    budget panels and the burn-rate alerts blind that long after the first samples land."""
    slos = service(store)
    assert slos.interval == 60
    slos.observations(la(27, 23, 59))
    assert slos.next_delay(spent=0.5) == pytest.approx(4.5)
    slos.observations(la(27, 23, 59))
    assert slos.next_delay() == 10  # backing off while the data stays away (a long SLI outage)
    store.write(history(la(27, 23, 59)))
    slos.observations(la(27, 23, 59))
    assert slos.next_delay(spent=0.5) == pytest.approx(59.5)


def test_the_event_counts_from_its_first_second(store: SqliteStore) -> None:
    """The requests between the last scrape before the event and the first one inside it belong to the
    event: the sample before the start is the baseline, even late in the event when no other window reaches
    back that far (here a 1-day rolling period, read on the event's third day)."""
    api = {"target": "api-metrics"}
    before, inside, late = la(28, 0) - 30, la(28, 0) + 30, la(30, 12)
    store.write([Observation(SIGNAL_REQUESTS, n, t, api) for n, t in ((1000, before), (1600, inside), (1600, late))]
                + [Observation(SIGNAL_5XX, n, t, api) for n, t in ((0, before), (60, inside), (60, late))])
    slos = SloService({"rolling_period": "1d"}, store, event=JAN, api_targets=["api-metrics"])
    with freeze_time(datetime(2026, 1, 30, 12, 0, 30, tzinfo=LA)):
        obs = slos.observations()
    assert value(obs, "slo_sli", slo="availability", period="event") == pytest.approx(540 / 600)
