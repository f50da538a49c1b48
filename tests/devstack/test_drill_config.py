"""The drills' default config is the shipped one: monitor.yml's rules (the default catalog with the file's
overrides), thresholds, `for` durations, targets and intervals - only the event window moved to today and one
https target added for the certificate drill. So the drills can never silently drift into a tuned config."""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from devstack.drills.catalog import QUICK_DRILLS, SHIPPED_DRILLS
from devstack.drills.drill_config import TLS_TARGET, shipped_drill_config
from devstack.drills.faults_more import make_fault  # the runner's: every drill's fault
from devstack.shipped import stack_env
from monitor.config import load_config
from tests.support.shipped import shipped_config

STACK = {"DATABASE_URL": "postgresql://postgres@127.0.0.1:5999/converge", "REDIS_URL": "redis://127.0.0.1:6999/0",
         "CONVERGE_API_URL": "http://127.0.0.1:8999", "SYNTHETIC_PASSWORD": "synthetic-drill",
         "BACKUP_DIR": "/tmp/drill-backups"}


def _drill_config(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "ca.pem").write_text("")
    data = shipped_drill_config(tls_url="https://127.0.0.1:8443/", ca_file=tmp_path / "ca.pem")
    path = tmp_path / "drill-monitor.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_config(path, environ=stack_env(STACK, tmp_path, 9999, frontend_url="http://127.0.0.1:8998/"))


def test_the_default_drill_config_runs_the_shipped_rules(tmp_path: Path) -> None:
    drill, shipped = _drill_config(tmp_path), shipped_config()
    assert drill.effective_rules() == shipped.effective_rules()
    mine = drill.alerting.notifications_file
    assert drill.alerting == shipped.alerting.model_copy(update={"notifications_file": mine})
    for in_event in (True, False):
        assert [r.params(in_event) for r in drill.effective_rules()] == \
               [r.params(in_event) for r in shipped.effective_rules()]


def test_the_default_drill_config_keeps_every_shipped_target_and_interval(tmp_path: Path) -> None:
    drill, shipped = _drill_config(tmp_path), shipped_config()
    theirs = {t.name: t for t in drill.all_targets()}
    for target in shipped.all_targets():
        if target.name == "python-deps":  # the audit needs the internet: off (DEPS_AUDIT=false), as the demo does
            assert target.name not in theirs
            continue
        mine = theirs.pop(target.name)
        assert mine.kind == target.kind
        for in_event in (True, False):
            assert mine.effective_interval(in_event) == target.effective_interval(in_event), target.name
    assert list(theirs) == [TLS_TARGET]  # the one addition, with the http defaults
    tls = drill.targets.http[-1]
    assert (tls.interval, tls.effective_interval(True)) == (30.0, 10.0)


def test_the_default_drill_config_is_in_event_mode_now(tmp_path: Path) -> None:
    drill = _drill_config(tmp_path)
    assert drill.event is not None and drill.event.contains(time.time())
    assert drill.event.timezone == shipped_config().event.timezone  # type: ignore[union-attr]


def test_every_drill_has_a_fault_and_the_shipped_set_covers_the_spec_faults() -> None:
    for d in (*QUICK_DRILLS, *SHIPPED_DRILLS):
        assert make_fault(d.name) is not None
    expected = {r for d in SHIPPED_DRILLS for r in d.expected}
    assert {"DdosSuspected", "ErrorRateHigh", "ErrorRateCritical", "LatencyP95Elevated", "LatencyP95High",
            "DbPoolExhausted", "RedisMemoryHigh", "SlowQueries", "BackupStale", "BackupEmpty", "LoginFlowFailing",
            "FrontendDown", "PostgresDown", "RedisDown", "ApiDown", "TlsCertExpiring"} <= expected


def test_each_rows_bound_comes_from_the_config_that_runs(tmp_path: Path) -> None:
    """probe interval x 2 + `for` + one evaluation interval (+ a windowed signal's fill), in event mode."""
    from devstack.drills.catalog import BY_NAME
    from devstack.drills.runner import Runner
    from devstack.drills.stack import Stack

    stack = Stack(config=_drill_config(tmp_path), monitor_url="http://127.0.0.1:1",
                  notifications=tmp_path / "notifications.jsonl")
    runner = Runner(stack, say=lambda _line: None)
    bounds = {name: runner.bound(BY_NAME[name]) for name in
              ("api-down", "redis-down", "frontend-down", "ip-flood-12k", "errors-12pct", "errors-6pct", "latency-2s",
               "backup-empty", "cert-expiry")}
    assert bounds == {
        "api-down": (13.0, "2x5+1+2"),  # api-health every 5 s, ApiDown event for 1 s, rules every 2 s
        "redis-down": (52.0, "2x15+20+2"),
        "frontend-down": (72.0, "2x20+30+2"),
        "ip-flood-12k": (82.0, "2x15+0+2+50"),  # the trailing minute reaches 10,000 after 50 s at 200/s
        "errors-12pct": (312.0, "2x15+30+2+250"),  # a 5-minute ratio reaches 10% at 12% after 250 s
        "errors-6pct": (302.0, "2x15+120+2+150"),
        "latency-2s": (167.0, "2x15+120+2+15"),
        "backup-empty": (602.0, "2x300+0+2"),  # the backups target: every 15 min / 3 in the event
        "cert-expiry": (322.0, "2x10+300+2"),
    }
