"""A page within seconds in event mode, and a resolve within seconds: a critical check whose outcome changes (the
first failure, the first success after failures) is re-checked at once, and the alerts are evaluated when that
result arrives, not at the next evaluation tick.

A real `converge-monitor run` with the shipped ApiDown rule and the shipped api-health intervals watches a
small HTTP server that stops answering healthy (and comes back); pages and resolves are counted at a recording
webhook receiver, checks at the server.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import yaml

from devstack import free_port
from devstack.monitor import MonitorServer
from tests.support.fakes.recorder import Failure, RecordingServer
from tests.support.paths import REPO
from tests.support.receivers import wait_for

TIMER = 60.0  # the evaluation interval of the first test: far longer than the page may take
HEALTHY = b'{"status": "healthy"}'


def shipped() -> dict[str, object]:
    return dict(yaml.safe_load((REPO / "monitor.yml").read_text()))


def shipped_api_health() -> dict[str, object]:
    return dict(next(t for t in shipped()["targets"]["http"] if t["name"] == "api-health"))


def seconds(text: object) -> float:
    return float(str(text).rstrip("s"))


def notifications(receiver: RecordingServer, rule: str, status: str) -> list[dict[str, object]]:
    out = []
    for r in list(receiver.requests):
        body = json.loads(r.body or b"{}")
        for alert in body.get("alerts", []):
            if alert.get("labels", {}).get("alertname") == rule and alert.get("status") == status:
                out.append(alert)
    return out


def firing(receiver: RecordingServer, rule: str) -> list[dict[str, object]]:
    return notifications(receiver, rule, "firing")


def rechecks(monitor: MonitorServer, target: str) -> float:
    text = httpx.get(f"{monitor.url}/metrics", timeout=5).text
    m = re.search(rf'converge_monitor_probe_rechecks_total{{target="{target}"}} ([\d.e+]+)', text)
    return float(m.group(1)) if m else 0.0


def healthy_checks(api: RecordingServer, since: int) -> int:
    return sum(1 for r in list(api.requests)[since:] if r.status == 200)


@contextlib.contextmanager
def monitor_in_event(tmp_path: Path, api: RecordingServer, receiver: RecordingServer,
                     evaluation: dict[str, str]) -> Iterator[MonitorServer]:
    """`converge-monitor run` in the event window on the shipped api-health target (pointed at `api`), the
    shipped rules, every tier routed to `receiver`; started, and seen healthy once."""
    zone = "UTC"
    today = dt.datetime.now(ZoneInfo(zone)).date()
    port = free_port()
    config = {
        "targets": {"http": [{**shipped_api_health(), "url": f"{api.url}/health"}]},
        "event": {"start": str(today - dt.timedelta(days=1)), "end": str(today + dt.timedelta(days=1)),
                  "timezone": zone},
        "store": {"backend": "sqlite", "path": str(tmp_path / "state.sqlite3")},
        "server": {"host": "127.0.0.1", "port": port},
        "alerting": {**evaluation, "notifications_file": str(tmp_path / "notifications.jsonl")},
        "channels": {"webhook": {"url": f"{receiver.url}/hook"}},
        "routing": {tier: ["webhook"] for tier in ("critical", "high", "medium", "low", "advisory")},
    }
    (tmp_path / "monitor.yml").write_text(yaml.safe_dump(config))
    monitor = MonitorServer(tmp_path / "monitor.yml", port, log_dir=str(tmp_path))
    monitor.start()
    try:
        wait_for(lambda: any(s["signal"] == "http_up" and s["value"] == 1 for s in monitor.signals()), 20,
                 "a first healthy check")
        yield monitor
    finally:
        monitor.stop()


def test_a_failed_critical_check_is_rechecked_and_pages_on_the_result(tmp_path: Path) -> None:
    event_every = seconds(shipped_api_health()["event_interval"])
    timer = {"evaluation_interval": f"{TIMER:g}s", "event_evaluation_interval": f"{TIMER:g}s"}
    with RecordingServer(ok_body=HEALTHY, content_type="application/json") as api, RecordingServer() as receiver, \
            monitor_in_event(tmp_path, api, receiver, timer) as monitor:
        time.sleep(2.5)  # past the evaluation that ran at start-up: the next one is a minute away
        api.fail_next(10_000, status=503)
        fault, checks_before = time.monotonic(), len(api.requests)
        wait_for(lambda: bool(firing(receiver, "ApiDown")), 3 * event_every, "the ApiDown page at the receiver")
        paged = time.monotonic() - fault
        checks = len(api.requests) - checks_before
        confirmed = rechecks(monitor, "api-health")
    # The mechanism, counted where it happens: the failed check and one re-check, no third check needed,
    # and the page came long before the one-minute evaluation timer could have sent it.
    print(f"fault -> page at the receiver: {paged:.1f} s, {checks} check(s) of the failing API")
    assert checks == 2, checks
    assert paged < TIMER / 2
    assert confirmed == 1
    assert len(firing(receiver, "ApiDown")) == 1


def test_a_recovery_is_confirmed_by_a_recheck_and_a_single_lucky_success_does_not_resolve(tmp_path: Path) -> None:
    """With the shipped evaluation intervals and ApiDown's shipped event keep_firing_for: one healthy answer
    between failures is contradicted by its re-check and resolves nothing; a real recovery resolves after the
    first healthy check and its confirming re-check, well before keep_firing_for's old 10 s after them."""
    alerting = shipped()["alerting"]
    evaluation = {k: str(alerting[k]) for k in ("evaluation_interval", "event_evaluation_interval")}
    event_every = seconds(shipped_api_health()["event_interval"])
    with RecordingServer(ok_body=HEALTHY, content_type="application/json") as api, RecordingServer() as receiver, \
            monitor_in_event(tmp_path, api, receiver, evaluation) as monitor:
        api.fail_next(10_000, status=503)
        wait_for(lambda: bool(firing(receiver, "ApiDown")), 4 * event_every, "the ApiDown page at the receiver")

        # One healthy answer, then failing again: its re-check and the next scheduled check fail.
        lucky_at = len(api.requests)
        api.respond_next([Failure(200, body=HEALTHY), *(Failure(503) for _ in range(10_000))])
        wait_for(lambda: healthy_checks(api, lucky_at) == 1 and len(api.requests) >= lucky_at + 3,
                 3 * event_every, "the lucky healthy check, its re-check and the next check")
        time.sleep(event_every)  # a resolve on the lucky check alone would have come by now
        after_lucky = rechecks(monitor, "api-health")
        assert notifications(receiver, "ApiDown", "resolved") == []

        # A real recovery.
        recovered_at = len(api.requests)
        api.respond_next([])
        before_resolve = 0
        deadline = time.monotonic() + 4 * event_every
        while not notifications(receiver, "ApiDown", "resolved"):
            before_resolve = healthy_checks(api, recovered_at)
            assert time.monotonic() < deadline, "no resolve at the receiver"
            time.sleep(0.02)
        confirmed = rechecks(monitor, "api-health")
        time.sleep(event_every)  # nothing more comes: no second page, no second resolve
    print(f"healthy checks before the resolve: {before_resolve}; re-checks: {after_lucky:g}, then {confirmed:g}")
    # The first failure, the lucky success and the recovery were each re-checked once.
    assert (after_lucky, confirmed) == (2, 3)
    # The first healthy check and its re-check came before the resolve (one more scheduled check at most: the
    # resolve waits for the first evaluation after keep_firing_for).
    assert before_resolve in (2, 3), before_resolve
    assert len(firing(receiver, "ApiDown")) == 1
    assert len(notifications(receiver, "ApiDown", "resolved")) == 1
