"""prometheus.yml against the running stack: a real Prometheus with a copy of it (addresses pointed at this test's
API, monitor and Alertmanager) and the exported rules scrapes every target, loads every rule group, and an alert
the monitor's engine fires (ApiDown pointed at a hung target) fires in Prometheus too and reaches Alertmanager."""

from __future__ import annotations

import copy
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from alerts.promrules import ALERT_GROUP, DEPLOY_GROUP, EVENT_GROUP, MONITOR_JOB, RECORDING_GROUP
from devstack import ApiServer, MissingBinaryError, PrivateAlertmanager, PrivatePrometheus, free_port
from devstack.monitor import MonitorServer
from devstack.process import find_binary
from monitor.cli.export import write_rules
from monitor.config import load_config
from tests.support.paths import REPO
from tests.support.stack import require

PROMETHEUS_YML = REPO / "prometheus.yml"
API_JOB = "converge-api"
SLO_GROUPS = ("slo-availability", "slo-health-checks", "slo-latency")  # slo/prometheus.py: one group per SLO


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {timeout}s: {what}")
        time.sleep(0.2)


def repo_config() -> dict[str, Any]:
    return dict(yaml.safe_load(PROMETHEUS_YML.read_text()))


def test_prometheus_yml_scrapes_the_stack_loads_the_rules_and_alerts_alertmanager() -> None:
    config = repo_config()
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert jobs[API_JOB]["static_configs"][0]["targets"] == ["127.0.0.1:8000"]
    assert jobs[MONITOR_JOB]["static_configs"][0]["targets"] == ["127.0.0.1:9464"]
    assert config["rule_files"] == ["rules/*.yml"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9093"]


def test_the_optional_exporter_jobs_are_valid_once_uncommented() -> None:
    text = PROMETHEUS_YML.read_text()
    block = text[text.index("  # - job_name: postgres-exporter"):]
    uncommented = "\n".join(line.replace("  # ", "  ", 1) for line in block.splitlines() if line.startswith("  # "))
    jobs = yaml.safe_load(uncommented)
    assert [j["job_name"] for j in jobs] == ["postgres-exporter", "redis-exporter"]
    assert all(j["static_configs"][0]["targets"] for j in jobs)


def test_promtool_check_config_passes_with_the_committed_rules(tmp_path: Path) -> None:
    try:
        promtool = find_binary("promtool", "prometheus", extra_dirs=("/usr/bin",))
    except MissingBinaryError as exc:
        require(exc)
        raise
    (tmp_path / "prometheus.yml").write_text(PROMETHEUS_YML.read_text())
    (tmp_path / "rules").mkdir()
    for path in (REPO / "prometheus" / "rules").glob("*.yml"):
        (tmp_path / "rules" / path.name).write_text(path.read_text())
    result = subprocess.run([promtool, "check", "config", "prometheus.yml"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "converge-alerts.yml" in result.stdout and "SUCCESS" in result.stdout


# -- live ---------------------------------------------------------------------------------------------

def _servers(cls: type, *args: Any, **kwargs: Any) -> Any:
    try:
        return cls(*args, **kwargs)
    except MissingBinaryError as exc:
        require(exc)
        raise


@pytest.fixture(scope="module")
def stack(api: ApiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The monitor (an API health check, its metrics and a hung target), Alertmanager and Prometheus."""
    import socket

    base = tmp_path_factory.mktemp("prometheus-stack")
    hung = socket.socket()  # accepts connections, never answers: the check fails by timeout
    hung.bind(("127.0.0.1", 0))
    hung.listen(16)
    every = {"interval": 1.0, "timeout": 0.8}
    monitor_port = free_port()
    monitor_config = {
        "targets": {
            "http": [{"name": "api-health", "url": f"{api.url}/health", **every},
                     {"name": "hung", "url": f"http://127.0.0.1:{hung.getsockname()[1]}/", "interval": 1.0,
                      "timeout": 0.5}],
            "api_metrics": [{"name": "api-metrics", "urls": [f"{api.url}/metrics"], "window": "30s", **every}],
        },
        "store": {"backend": "sqlite", "path": str(base / "state.sqlite3")},
        "server": {"host": "127.0.0.1", "port": monitor_port},
        "alerting": {"evaluation_interval": "1s", "notifications_file": str(base / "notifications.jsonl")},
        # ApiDown watches the hung target and fires at once, in both engines (the export follows the config)
        "rules": {"overrides": {"ApiDown": {"labels": {"target": "hung"}, "for": 1, "event": None}}},
    }
    config_path = base / "monitor.yml"
    config_path.write_text(yaml.safe_dump(monitor_config))
    rules_dir = base / "rules"
    write_rules(load_config(config_path), rules_dir)

    monitor = MonitorServer(config_path, monitor_port, log_dir=str(base))
    alertmanager = _servers(PrivateAlertmanager, {"route": {"receiver": "null", "group_wait": "1s"},
                                                  "receivers": [{"name": "null"}]})
    prom_port = free_port()
    prom_config = copy.deepcopy(repo_config())
    prom_config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    addresses = {"prometheus": prom_port, API_JOB: api.port, MONITOR_JOB: monitor_port}
    for job in prom_config["scrape_configs"]:
        job["static_configs"] = [{"targets": [f"127.0.0.1:{addresses[job['job_name']]}"]}]
        job.pop("scrape_interval", None)
    prom_config["alerting"]["alertmanagers"][0]["static_configs"] = [
        {"targets": [f"127.0.0.1:{alertmanager.port}"]}]
    prometheus = _servers(PrivatePrometheus, prom_config, port=prom_port)
    (prometheus.base_dir / "rules").mkdir()
    for path in rules_dir.iterdir():  # where prometheus.yml's `rules/*.yml` points
        (prometheus.base_dir / "rules" / path.name).write_text(path.read_text())
    try:
        monitor.start()
        alertmanager.start()
        prometheus.start()
        yield {"monitor": monitor, "alertmanager": alertmanager, "prometheus": prometheus, "jobs": addresses}
    finally:
        prometheus.cleanup()
        alertmanager.cleanup()
        monitor.stop()
        hung.close()


def test_every_target_is_up(stack: dict[str, Any]) -> None:
    prom: PrivatePrometheus = stack["prometheus"]
    wait_for(prom.targets_up, 20, "every scrape target up")
    active = httpx.get(f"{prom.url}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
    assert sorted(t["labels"]["job"] for t in active) == sorted(stack["jobs"])
    assert prom.query(f'converge_monitor_event_mode{{job="{MONITOR_JOB}"}}')


def test_rule_groups_load_and_evaluate_without_errors(stack: dict[str, Any]) -> None:
    prom: PrivatePrometheus = stack["prometheus"]

    def groups() -> dict[str, list[dict[str, Any]]] | None:
        data = httpx.get(f"{prom.url}/api/v1/rules", timeout=5).json()["data"]["groups"]
        by_name = {g["name"]: g["rules"] for g in data}
        # slo/'s groups run every 30 s: waiting for their first evaluation would make this test slow
        evaluated = all(r["health"] != "unknown" for name, rules in by_name.items() if name not in SLO_GROUPS
                        for r in rules)
        return by_name if by_name and evaluated else None

    loaded = wait_for(groups, 20, "every rule evaluated")
    assert set(loaded) == {ALERT_GROUP, EVENT_GROUP, DEPLOY_GROUP, RECORDING_GROUP, *SLO_GROUPS}
    bad = [(r["name"], r.get("lastError")) for name, rules in loaded.items() for r in rules
           if r["health"] == "err" or (name not in SLO_GROUPS and r["health"] != "ok")]
    assert bad == []
    assert any(r["name"] == "LatencyP95High" for r in loaded[EVENT_GROUP])


def test_recording_rules_see_the_api_traffic(stack: dict[str, Any]) -> None:
    prom: PrivatePrometheus = stack["prometheus"]
    def health_rate() -> list[dict[str, Any]]:
        # The rule's first value can come from two scrapes with no check between them (0): wait for the
        # monitor's checks to show, as they must within the deadline.
        rows = prom.query(f'job_route:http_requests:rate5m{{job="{API_JOB}", route="/health"}}')
        return [r for r in rows if float(r["value"][1]) > 0]

    rate = wait_for(health_rate, 30, "a positive request rate of /health (the monitor's checks)")
    assert float(rate[0]["value"][1]) > 0
    ratio = wait_for(lambda: prom.query(f'job:http_request_error_ratio:rate5m{{job="{API_JOB}"}}'), 10, "error ratio")
    assert float(ratio[0]["value"][1]) == 0


def test_an_alert_fires_in_both_engines_and_reaches_alertmanager(stack: dict[str, Any]) -> None:
    prom: PrivatePrometheus = stack["prometheus"]
    monitor: MonitorServer = stack["monitor"]
    firing = wait_for(lambda: prom.query('ALERTS{alertname="ApiDown", alertstate="firing"}'), 30,
                      "ApiDown firing in Prometheus")
    assert [(a["metric"]["target"], a["metric"]["severity"], a["metric"]["job"]) for a in firing] == \
        [("hung", "critical", MONITOR_JOB)]

    def engine_firing() -> list[dict[str, Any]]:
        alerts = httpx.get(f"{monitor.url}/api/alerts", timeout=5).json()["alerts"]
        return [a for a in alerts if a["rule"] == "ApiDown" and a["state"] == "firing"]

    assert [a["labels"]["target"] for a in wait_for(engine_firing, 10, "ApiDown in the monitor")] == ["hung"]

    def in_alertmanager() -> list[dict[str, Any]]:
        return [a for a in stack["alertmanager"].alerts() if a["labels"].get("alertname") == "ApiDown"]

    received = wait_for(in_alertmanager, 20, "ApiDown in Alertmanager")
    assert received[0]["labels"]["target"] == "hung"
    assert received[0]["annotations"]["summary"] == "API health check hung is failing"
