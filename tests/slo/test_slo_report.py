"""The daily status report: what it says about a day, in text, Slack and HTML, and `converge-monitor report`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time

from alerts.dispatch import Kind, Notification
from alerts.model import Tier
from monitor.cli import slo as slo_cli
from monitor.store import OutboxRow
from monitor.store.sqlite import SqliteStore
from slo.budget import Counts
from slo.incidents import Incident, incidents_from_notifications, read_jsonl
from slo.report import build_report, gather_report, render_html, render_text, report_due
from slo.service import SloService
from slo.spec import ReportConfig, parse_slos
from tests.support.slo_history import DOWN, JAN, LA, OUTAGE, history, la

SPECS = parse_slos(None).effective()


def note(kind: str, rule: str, tier: str, fired: float, resolved: float | None = None, summary: str = "",
         created: float | None = None) -> dict[str, Any]:
    alert = {"id": f"{rule}-id", "rule": rule, "tier": tier, "labels": {"alertname": rule, "tier": tier},
             "state": "resolved" if resolved else "firing", "value": 1.0, "threshold": 0.5, "summary": summary,
             "runbook": "", "fired_at": fired, "resolved_at": resolved}
    return Notification(id=f"{kind}-{rule}-{fired}", kind=Kind(kind), tier=Tier(tier), group=tier, alerts=(alert,),
                        channels=("slack",), recipients=(), mention_channel=False,
                        created_at=created or resolved or fired).to_dict()


NOTES = [
    note("firing", "ErrorRateCritical", "critical", la(28, 2, 2), summary="30% of requests <fail> & more"),
    note("reminder", "ErrorRateCritical", "critical", la(28, 2, 2), created=la(28, 2, 32)),
    note("resolved", "ErrorRateCritical", "critical", la(28, 2, 2), la(28, 2, 24)),
    note("firing", "ApiDown", "critical", la(28, 3, 0, 30)),
    note("resolved", "ApiDown", "critical", la(28, 3, 0, 30), la(28, 3, 5, 30)),
    note("firing", "ScaleUpCpu", "advisory", la(28, 2, 5)),  # advice, not an incident
    note("firing", "DiskUsageHigh", "low", la(27, 9)),  # still open since the day before
    note("firing", "BackupFailed", "medium", la(26, 9)),
    note("resolved", "BackupFailed", "medium", la(26, 9), la(26, 10)),  # over before the day
]


def test_incidents_pair_firing_and_resolved_notifications() -> None:
    incidents = incidents_from_notifications(NOTES)
    by_rule = {i.rule: i for i in incidents}
    assert by_rule["ErrorRateCritical"].duration(la(29, 0)) == 22 * 60
    assert by_rule["ApiDown"].resolved_at == la(28, 3, 5, 30)
    assert by_rule["DiskUsageHigh"].resolved_at is None
    assert [i.rule for i in incidents] == ["BackupFailed", "DiskUsageHigh", "ErrorRateCritical", "ScaleUpCpu",
                                           "ApiDown"]
    # An outbox payload wraps the notification: the same incidents.
    assert incidents_from_notifications([{"notification": n, "text": "x"} for n in NOTES]) == incidents


def report_for(day: date, now: float, incidents: list[Incident] | None = None):  # type: ignore[no-untyped-def]
    return build_report(
        day, LA, now, SPECS, [], {"availability": Counts(9900, 10000), "health-checks": Counts(999, 1000),
                                  "latency": Counts(9400, 10000)},
        Counts(9900, 10000), 0.2345, incidents if incidents is not None else incidents_from_notifications(NOTES), JAN)


def test_the_report_of_an_event_day() -> None:
    r = report_for(date(2026, 1, 28), la(29, 0, 5))
    assert r.event_day == (1, 3)
    assert (r.uptime, r.requests, r.error_rate, r.p95) == (0.999, 10000, 0.01, 0.2345)
    assert [(s.name, s.met) for s in r.slos] == [("availability", False), ("health-checks", True),
                                                  ("latency", False)]
    lines = {i.rule: i for i in r.incidents}
    assert set(lines) == {"ErrorRateCritical", "ApiDown", "DiskUsageHigh"}  # not advisory, not the day before's
    assert lines["ApiDown"].duration == 300
    assert lines["DiskUsageHigh"].in_day == 24 * 3600  # open all day
    assert r.status == "degraded"
    assert r.notes == ()


def test_text_and_slack_and_html_renderings() -> None:
    r = report_for(date(2026, 1, 28), la(28, 18))  # sent at 18:00: the day so far
    text = render_text(r)
    assert "Converge API daily status — Wednesday 28 January 2026 (event day 1 of 3)" in text
    assert "Uptime (health checks): 99.900%" in text
    assert "Requests: 10,000" in text and "Error rate (5xx): 1.000%" in text and "p95 latency: 234 ms" in text
    assert "availability (API requests that do not fail with a 5xx), objective 99.5%: today 99.000% MISSED" in text
    assert "02:02–02:24 [critical] ErrorRateCritical: 22m — 30% of requests <fail> & more" in text
    assert "03:00–03:05 [critical] ApiDown: 5m" in text
    assert "not over" in text
    bullets = [line.split(" ")[1] for line in text.splitlines() if line.startswith("• ")]
    assert bullets[4:] == ["availability", "health-checks", "latency", "27", "02:02–02:24", "03:00–03:05"]
    slack = render_text(r, slack=True)
    assert "*Converge API daily status" in slack
    assert "30% of requests &lt;fail&gt; &amp; more" in slack  # Slack would read <...> as a link
    html = render_html(r)
    assert "30% of requests &lt;fail&gt; &amp; more" in html and "<fail>" not in html
    assert '<p id="status"' in html and "DEGRADED" in html
    assert html.count('<tr class="incident">') == 3


def test_budget_lines_show_ratio_and_minutes() -> None:
    store_less = build_report(date(2026, 1, 29), LA, la(30, 1), SPECS, [], {}, None, None, [], JAN)
    text = render_text(store_less)
    assert "Uptime (health checks): n/a" in text and "p95 latency: n/a" in text
    assert "• None." in text
    assert store_less.status == "unknown"


@pytest.mark.parametrize(("now", "last", "event_only", "due"), [
    (la(28, 17, 59), None, True, None),  # before the send time
    (la(28, 18, 0), None, True, date(2026, 1, 28)),
    (la(28, 23, 0), date(2026, 1, 28), True, None),  # already sent today
    (la(29, 18, 5), date(2026, 1, 28), True, date(2026, 1, 29)),
    (la(27, 19), None, True, None),  # not an event day
    (la(27, 19), None, False, date(2026, 1, 27)),
    (datetime(2026, 1, 31, 2, 0, tzinfo=LA).timestamp(), date(2026, 1, 30), True, None),  # after the event
])
def test_report_due(now: float, last: date | None, event_only: bool, due: date | None) -> None:
    cfg = ReportConfig(time=time(18, 0), event_only=event_only)
    assert report_due(now, last, cfg, JAN) == due


# ---- from the store, and the command --------------------------------------------------------------------

@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(str(tmp_path / "var" / "monitor.sqlite3"), retention=31 * 86400)
    s.write(history(la(28, 4)))
    yield s
    s.close()


def test_gather_report_measures_the_day_from_the_store(store: SqliteStore) -> None:
    svc = SloService(None, store, event=JAN, api_targets=["api-metrics"], cache=False)
    r = gather_report(svc, store, date(2026, 1, 28), LA, la(28, 4), incidents_from_notifications(NOTES), JAN)
    # 240 minutes of the day, 600 requests a minute; 20 of them with 180 failures.
    assert r.requests == 240 * 600
    assert r.error_rate == pytest.approx(20 * 180 / (240 * 600))
    assert r.uptime == pytest.approx(1 - 6 / 480)  # 5 failed health checks + 1 unknown synthetic run
    slos = {s.name: s for s in r.slos}
    assert slos["availability"].day_sli == pytest.approx(1 - 20 * 180 / (240 * 600))
    assert slos["availability"].period == "event"
    assert slos["latency"].day_sli == pytest.approx(590 / 600)
    assert r.p95 is None or r.p95 > 0  # only two buckets recorded here: the quantile is the 0.5 s bound
    assert r.window.start == la(28, 0) and r.covered_until == la(28, 4)
    assert OUTAGE[0] < DOWN[0]


def write_config(tmp_path: Path, store_path: Path) -> Path:
    path = tmp_path / "monitor.yml"
    path.write_text(f"""
targets:
  http:
    - name: api-health
      url: http://127.0.0.1:9/health
  api_metrics:
    - name: api-metrics
      urls: [http://127.0.0.1:9/metrics]
store:
  path: {store_path}
alerting:
  notifications_file: {tmp_path / "notifications.jsonl"}
event:
  start: 2026-01-28
  end: 2026-01-30
  timezone: America/Los_Angeles
""")
    return path


def run_report(config: Path, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    (command,) = slo_cli.COMMANDS
    assert command.name == "report" and command.add_arguments is not None
    command.add_arguments(parser)
    args = parser.parse_args(list(argv))
    args.config = str(config)
    return command.run(args)


def test_report_command_prints_the_day(store: SqliteStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, tmp_path / "var" / "monitor.sqlite3")
    (tmp_path / "notifications.jsonl").write_text("".join(json.dumps(n) + "\n" for n in NOTES) + '{"torn')
    assert len(read_jsonl(tmp_path / "notifications.jsonl")) == len(NOTES)
    with freeze_time(datetime(2026, 1, 28, 4, 0, tzinfo=LA)):
        assert run_report(config, "--date", "2026-01-28") == 0
    out = capsys.readouterr().out
    assert "Wednesday 28 January 2026 (event day 1 of 3)" in out
    assert "Requests: 144,000" in out
    assert "[critical] ApiDown: 5m" in out
    with freeze_time(datetime(2026, 1, 28, 4, 0, tzinfo=LA)):
        assert run_report(config, "--format", "html") == 0  # today by default
    assert "<!DOCTYPE html>" in capsys.readouterr().out


def test_report_command_reads_incidents_from_the_outbox(store: SqliteStore, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, tmp_path / "var" / "monitor.sqlite3")
    store.outbox_add([OutboxRow(n["id"], "log", n["created_at"], {"notification": n, "text": ""}) for n in NOTES[:3]])
    with freeze_time(datetime(2026, 1, 28, 23, 0, tzinfo=LA)):
        assert run_report(config, "--date", "2026-01-28", "--format", "slack") == 0
    out = capsys.readouterr().out
    assert "ErrorRateCritical: 22m" in out and "ApiDown" not in out


@pytest.mark.parametrize(("argv", "message"), [
    (("--date", "28/01/2026"), "is not a date like 2026-01-28"),
    (("--date", "2026-02-10"), "is in the future"),
])
def test_report_command_refuses_bad_dates(store: SqliteStore, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          argv: tuple[str, ...], message: str) -> None:
    config = write_config(tmp_path, tmp_path / "var" / "monitor.sqlite3")
    with freeze_time(datetime(2026, 1, 28, 4, 0, tzinfo=LA)):
        assert run_report(config, *argv) == 2
    assert message in capsys.readouterr().err


def test_report_command_without_monitor_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, tmp_path / "nowhere.sqlite3")
    assert run_report(config, "--date", "2026-01-28") == 2
    assert "no monitor data" in capsys.readouterr().err
    assert not (tmp_path / "nowhere.sqlite3").exists()
