"""The store keeps the latest value per series and a bounded history, in SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from monitor.core.observation import Observation, unknown
from monitor.store import Store

DAY = 86400.0


def obs(signal: str, value: float | None, ts: float, **labels: str) -> Observation:
    return Observation(signal=signal, value=value, timestamp=ts, labels=labels)


def test_latest_and_history(make_store: Callable[[], Store]) -> None:
    store = make_store()
    store.write([obs("redis_up", 1, 100, target="cache"), obs("http_up", 1, 100, target="health")])
    store.write([obs("redis_up", 0, 110, target="cache"),
                 unknown("http_up", 110, "timeout after 5s", {"target": "health"})])
    latest = {o.signal: o for o in store.latest()}
    assert latest["redis_up"].value == 0
    assert latest["http_up"].value is None and latest["http_up"].error == "timeout after 5s"
    hist = store.history("redis_up", {"target": "cache"}, since=0)
    assert [(s.timestamp, s.value) for s in hist] == [(100, 1), (110, 0)]
    assert store.history("redis_up", {"target": "other"}, since=0) == []


def test_restart_keeps_history_latest_and_details(make_store: Callable[[], Store]) -> None:
    store = make_store()
    details = {"queries": [{"queryid": 1, "query": "SELECT pg_sleep($1)"}]}
    store.write([Observation("postgres_slow_queries", 1, 200, {"target": "db"}, details=details)])
    store.write([obs("postgres_up", 1, t, target="db") for t in (200, 230, 260)])
    store.close()
    reopened = make_store()
    latest = {o.signal: o for o in reopened.latest()}
    assert latest["postgres_slow_queries"].details == details
    assert latest["postgres_up"].timestamp == 260
    assert len(reopened.history("postgres_up", {"target": "db"}, since=0)) == 3
    reopened.write([obs("postgres_up", 0, 290, target="db")])  # the same series, not a new one
    assert [s.value for s in reopened.history("postgres_up", {"target": "db"}, since=250)] == [1, 0]


def test_late_sample_does_not_overwrite_newer_latest(make_store: Callable[[], Store]) -> None:
    store = make_store()
    store.write([obs("api_error_ratio", 0.2, 500, target="api")])
    store.write([obs("api_error_ratio", 0.9, 400, target="api")])
    assert store.latest()[0].value == 0.2
    assert [s.value for s in store.history("api_error_ratio", {"target": "api"}, 0)] == [0.9, 0.2]


def test_prune_drops_what_is_older_than_retention(make_store: Callable[[], Store]) -> None:
    store = make_store()
    now = 100 * DAY
    store.write([obs("disk_used_ratio", 0.5, now - d * DAY, target="d", path="/") for d in (40, 31, 29, 1)])
    assert store.prune(now) == 2
    assert [round((now - s.timestamp) / DAY) for s in store.history("disk_used_ratio",
                                                                       {"target": "d", "path": "/"}, 0)] == [29, 1]


def test_state_documents_survive_a_restart(make_store: Callable[[], Store]) -> None:
    store = make_store()
    assert store.get_state("alerts") is None
    store.put_state("alerts", {"a1": {"state": "firing", "since": 12.5}})
    store.put_state("alerts", {"a1": {"state": "resolved", "since": 12.5}})
    store.close()
    assert make_store().get_state("alerts") == {"a1": {"state": "resolved", "since": 12.5}}


def test_a_rows_payload_progress_survives_a_restart_apart_from_its_status(make_store: Callable[[], Store]) -> None:
    """What the receivers accepted (alerts/outbox.py keeps it in the payload) and the row's status are written
    apart: neither overwrites the other, and a settled row is left as it is."""
    from monitor.store.base import OutboxRow

    store = make_store()
    store.outbox_add([OutboxRow("n1", "sms", 1.0, {"text": "x"}), OutboxRow("n2", "sms", 2.0, {"text": "y"})])
    assert store.outbox_payload("n1", "sms", {"text": "x", "accepted": ["to:a"]})
    first, second = store.outbox_pending()
    first.attempts, first.next_attempt, first.last_error = 1, 5.0, "HTTP 500"
    first.payload = {"text": "x"}  # an older copy: outbox_update writes the status only
    assert store.outbox_update(first)
    second.status = "sent"
    assert store.outbox_update(second)
    assert not store.outbox_payload("n2", "sms", {"text": "y", "accepted": ["to:b"]})  # settled: left alone
    store.close()
    rows = {r.notification_id: r for r in make_store().outbox_all()}
    assert (rows["n1"].payload, rows["n1"].attempts, rows["n1"].last_error) == (
        {"text": "x", "accepted": ["to:a"]}, 1, "HTTP 500")
    assert rows["n2"].payload == {"text": "y"}


def disk_full(store: Store, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Every multi-row statement fails from now on, as on a full disk; returns the real one to put back."""
    real = store._executemany

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store, "_executemany", fail)
    return real


def test_a_failed_cycle_commit_leaves_nothing_half_written(make_store: Callable[[], Store],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The state and its outbox rows go in together or not at all, even when a later call commits."""
    from monitor.store.base import OutboxRow

    store = make_store()
    store.put_state("alerting", {"cycle": 1})
    real = disk_full(store, monkeypatch)
    with pytest.raises(OSError):
        store.commit_cycle("alerting", {"cycle": 2}, [OutboxRow("n1", "log", 1.0, {"text": "x"})])
    monkeypatch.setattr(store, "_executemany", real)
    store.write([obs("http_up", 1, 2.0, target="api")])  # a later, unrelated commit
    assert store.get_state("alerting") == {"cycle": 1} and store.outbox_all() == []
    store.close()


def test_a_failed_write_does_not_leave_a_series_id_to_be_handed_out_twice(make_store: Callable[[], Store],
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store()
    real = disk_full(store, monkeypatch)
    with pytest.raises(OSError):
        store.write([obs("http_up", 0, 1.0, target="a")])  # its new series row is rolled back
    monkeypatch.setattr(store, "_executemany", real)
    store.write([obs("redis_up", 1, 2.0, target="b")])
    store.write([obs("http_up", 0, 3.0, target="a")])
    assert [s.value for s in store.history("redis_up", {"target": "b"}, since=0)] == [1]
    assert [s.value for s in store.history("http_up", {"target": "a"}, since=0)] == [0]
    store.close()


def test_iter_history_streams_every_sample_in_time_order_window_by_window(make_store: Callable[[], Store]) -> None:
    store = make_store()
    written = [obs("http_up", float(i % 2), 1000.0 + i * 7, target=f"t{i % 3}") for i in range(60)]
    written += [unknown("probe_success", 1000.0 + i * 11, "timed out", {"target": "t0", "kind": "http"})
                for i in range(30)]
    store.write(written)
    # windows of 50 s: samples fall on both sides of many boundaries, some on them
    got = list(store.iter_history(1000.0, 1000.0 + 59 * 7, window=50.0))
    expected = sorted((o for o in written if o.timestamp <= 1000.0 + 59 * 7), key=lambda o: o.timestamp)
    assert [(o.timestamp, o.signal, dict(o.labels), o.value) for o in got] == \
        [(o.timestamp, o.signal, dict(o.labels), o.value) for o in sorted(
            expected, key=lambda o: (o.timestamp, o.signal != "http_up"))]
    assert next(o.error for o in got if o.signal == "probe_success") == "timed out"
    only = list(store.iter_history(0, 5000, signals={"probe_success"}, window=50.0))
    assert len(only) == 30 and {o.signal for o in only} == {"probe_success"}
    assert store.history_span() == (1000.0, 1000.0 + 59 * 7)
