"""Every dashboard panel's query runs on a real Prometheus scraping the live stack and returns data.

The stack: the API (fixture `api`) under synthetic traffic (logins, sessions, RSVPs, QR connections,
messages with some injected 5xx, 404s, two open websockets), the monitor probing it all (HTTP, TLS,
synthetic flow, API metrics, PostgreSQL, Redis, backups, disks, dependencies) with an alert rule
lowered so that it fires and notifies, and a private Prometheus scraping both every second.

Prometheus evaluates ALERTS only from loaded alerting rules. The rules exported from the catalog come
with the SLO work; here two stand-ins with thresholds low enough to fire on this traffic (one critical,
one high, labelled by `severity` like the exported rules) make the alert panels show something.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import random
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_lib
import trustme
import yaml
from websockets.sync.client import ClientConnection, connect

from dashboards.builder import DEPLOY_ANNOTATION_EXPR
from dashboards.catalog import DASHBOARDS
from dashboards.queries import PanelQuery, panel_queries, substitute, variable_values
from devstack import ApiServer, PrivatePostgres, PrivatePrometheus, PrivateRedis, free_port
from devstack.monitor import MonitorServer
from devstack.process import MissingBinaryError
from devstack.stack import run_app
from tests.support.fakes.recorder import RecordingServer
from tests.support.fakes.tls_server import FakeHttpServer
from tests.support.stack import SEED_PASSWORD, SEEDED_ATTENDEES, SYNTHETIC_PASSWORD, require

INTERVAL = 1.0
DEADLINE = 60.0  # seconds for every panel to have data; usually ~15
# Grafana's values for a 1 s scrape interval; $__range is short because the stack has just started.
VALUES = {"__rate_interval": "10s", "__interval": "2s", "__range": "2m", "__range_s": "120"}
STAND_IN_RULES = {"groups": [{"name": "dashboard-test", "interval": "1s", "rules": [
    {"alert": "ServerErrorsSeen", "expr": 'sum(rate(http_requests_total{status_code=~"5.."}[1m])) > 0',
     "labels": {"severity": "critical"}, "annotations": {"summary": "5xx responses (stand-in, threshold 0)"}},
    {"alert": "RedisMemoryUsed", "expr": "converge_redis_memory_ratio > 0",
     "labels": {"severity": "high"}, "annotations": {"summary": "Redis holds data (stand-in, threshold 0)"}},
]}]}


class Traffic:
    """A background thread sending a mix of user requests until stopped; bounded by the test's length."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.stop_event = threading.Event()
        self.errors: list[str] = []
        self.sent = 0
        self.sockets: list[ClientConnection] = []
        self._exits = contextlib.ExitStack()
        self._thread = threading.Thread(target=self._run, name="dashboard-traffic", daemon=True)

    def start(self) -> Traffic:
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            self.tokens = [self._login(client, i) for i in range(1, 6)]
            self.session_ids = [s["id"] for s in client.get("/v1/sessions").json()["sessions"]]
        ws_url = self.base_url.replace("http://", "ws://")
        # The test never reads these sockets: with websockets' default max_queue (16) the client stops reading
        # once 16 messages wait, so it stops answering uvicorn's pings and the server closes it (gauge 0).
        self.sockets = [self._exits.enter_context(connect(f"{ws_url}/v1/ws?token={t}", ping_interval=None,
                                                          max_queue=None))
                        for t in self.tokens[:2]]
        self._thread.start()
        return self

    def _login(self, client: httpx.Client, i: int) -> str:
        r = client.post("/v1/auth/login", json={"email": f"attendee{i:05d}@converge.test", "password": SEED_PASSWORD})
        r.raise_for_status()
        return str(r.json()["access_token"])

    def _run(self) -> None:
        rnd = random.Random(7)
        deadline = time.monotonic() + DEADLINE + 60
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            n = 0
            while not self.stop_event.is_set() and time.monotonic() < deadline:
                n += 1
                token = rnd.choice(self.tokens)
                auth = {"Authorization": f"Bearer {token}"}
                try:
                    client.get("/v1/sessions")
                    client.post(f"/v1/sessions/{rnd.choice(self.session_ids)}/rsvp", headers=auth)
                    client.post("/v1/connections", headers=auth,
                                json={"qr_code": f"CNV-{rnd.randint(1, SEEDED_ATTENDEES):05d}"})
                    client.post("/v1/messages", headers=auth,
                                json={"recipient_id": rnd.randint(1, SEEDED_ATTENDEES), "body": f"hello {n}"})
                    client.get("/v1/no-such-page")  # a 404 on no route: '__unmatched__'
                    if n % 10 == 0:  # argon2 is CPU-heavy: log in now and then, one failure among them
                        password = SEED_PASSWORD if n % 20 else "wrong-password"
                        client.post("/v1/auth/login", json={"email": "attendee00007@converge.test",
                                                            "password": password})
                    self.sent += 1
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                self.stop_event.wait(0.05)

    def stop(self) -> None:
        self.stop_event.set()
        self._thread.join(timeout=15)
        self._exits.close()


@pytest.fixture(scope="module")
def traffic(api: ApiServer) -> Iterator[Traffic]:
    # Some 5xx for the error panels: a share of POST /v1/messages fail inside the route.
    httpx.put(f"{api.url}/internal/faults", json={"error_ratio": 0.2, "prefix": "/v1/messages"}).raise_for_status()
    load = Traffic(api.url).start()
    yield load
    load.stop()
    httpx.put(f"{api.url}/internal/faults", json={"latency_ms": 0, "error_ratio": 0.0}).raise_for_status()


@pytest.fixture(scope="module")
def tls_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeHttpServer, str]]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", not_after=dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with FakeHttpServer(context) as server:
        yield server, str(ca_file)


def _monitor_config(base: Path, api: ApiServer, tls: tuple[FakeHttpServer, str], slack: RecordingServer,
                    pg: PrivatePostgres, seeded_db: str) -> dict[str, Any]:
    every = {"interval": INTERVAL, "timeout": 0.9}
    dumps = base / "dumps"  # a real dump of the seeded database, for the restore check's panels
    dumps.mkdir()
    run_app(seeded_db, "backup", "--dir", str(dumps))
    backups = base / "backups"
    backups.mkdir()
    (backups / "converge-2026-01-28.dump").write_bytes(b"PGDMP" + b"\0" * 2048)
    audit = base / "pip-audit.json"
    audit.write_text(json.dumps({"dependencies": [
        {"name": "examplepkg", "version": "1.0", "vulns": [{"id": "PYSEC-0000-1", "fix_versions": ["1.1"]}]}]}))
    server, ca_file = tls
    return {
        "targets": {
            "http": [{"name": "api-health", "url": f"{api.url}/health", **every},
                     {"name": "website", "url": server.url("/ok"), "ca_file": ca_file, **every}],
            "synthetic": [{"name": "login-and-sessions", "base_url": api.url, **every, "steps": [
                {"name": "login", "method": "POST", "path": "/v1/auth/login",
                 "json": {"email": "synthetic-monitor@converge.test", "password": SYNTHETIC_PASSWORD},
                 "extract": {"token": "access_token"}},
                {"name": "sessions", "path": "/v1/sessions", "headers": {"Authorization": "Bearer {token}"}}]}],
            "api_metrics": [{"name": "api-metrics", "urls": [f"{api.url}/metrics"], "window": "10s", **every}],
            "journey": [{"name": "critical-features", "base_url": api.url, "email": "synthetic-monitor@converge.test",
                         "password": SYNTHETIC_PASSWORD, "peer_email": "synthetic-peer@converge.test",
                         "peer_password": SYNTHETIC_PASSWORD, "peer_qr_code": "CNV-SYNTHETIC-PEER",
                         "interval": 5, "timeout": 4}],
            "browser": [{"name": "frontend-page", "url": f"{api.url}/v1/ping", "interval": 15, "timeout": 14}],
        },
        "restore_checks": [{"name": "backup-restore", "directory": str(dumps), "pattern": "*.dump",
                            "source_dsn": seeded_db, "scratch_dsn": pg.admin_url,
                            "scratch_database": "converge_dash_restore", "interval": 60, "timeout": 50}],
        "database": [{"name": "postgres", "dsn": "${MONITORED_DSN}", "slow_query_ms": 0.001, **every}],
        "redis": [{"name": "redis", "url": "${MONITORED_REDIS}", **every}],
        "backups": [{"name": "backups", "directory": str(backups), "pattern": "*.dump", **every}],
        "disks": [{"name": "disks", "paths": [str(base)], **every}],
        "dependencies": [{"name": "python-deps", "mode": "report", "report_file": str(audit), **every}],
        "store": {"backend": "sqlite", "path": str(base / "state.sqlite3")},
        "server": {"host": "127.0.0.1", "port": free_port(), "api_token": API_TOKEN},
        "sentry": {"client_secret": SENTRY_SECRET},
        "alerting": {"evaluation_interval": "1s", "notifications_file": str(base / "notifications.jsonl")},
        # Lowered so that the embedded engine fires and notifies (medium tier: Slack, here a recording
        # server): the notification panels, channel health included, get data.
        "rules": {"overrides": {"RedisMemoryHigh": {"threshold": 0.000001, "for": "0s"}}},
        "channels": {"slack": {"webhook_url": f"{slack.url}/services/T000/B000/XXXX"}},
    }


API_TOKEN = "dash-api-token-0123456789"
SENTRY_SECRET = "dash-sentry-secret-0123456789"
DEPLOYED = "v9.8.7"


def mark_deploy_and_sentry_issue(url: str) -> None:
    """A deploy (its annotation, the deploy panels) and a new Sentry issue (the Sentry panel)."""
    resp = httpx.post(f"{url}/api/deploys", json={"version": DEPLOYED}, timeout=5,
                      headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert resp.status_code == 201, resp.text
    body = json.dumps({"action": "created", "data": {"issue": {"id": "1", "title": "KeyError: 'qr'"}}}).encode()
    sig = hmac.new(SENTRY_SECRET.encode(), body, hashlib.sha256).hexdigest()
    resp = httpx.post(f"{url}/api/sentry", content=body, timeout=5,
                      headers={"Sentry-Hook-Resource": "issue", "Sentry-Hook-Signature": sig})
    assert resp.status_code == 200, resp.text


def test_the_deploy_annotation_query_finds_the_deploy_with_its_version(prometheus: PrivatePrometheus) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = results(prometheus, DEPLOY_ANNOTATION_EXPR)
        if found:
            break
        time.sleep(0.5)
    assert [r["metric"].get("version") for r in found] == [DEPLOYED]
    for spec in DASHBOARDS:
        names = [a.get("expr") for a in spec.build()["annotations"]["list"]]
        assert DEPLOY_ANNOTATION_EXPR in names, spec


@pytest.fixture(scope="module")
def slack() -> Iterator[RecordingServer]:
    with RecordingServer() as server:  # answers 200 "ok", as Slack's incoming webhooks do
        yield server


@pytest.fixture(scope="module")
def prometheus(api: ApiServer, pg: PrivatePostgres, seeded_db: str, redis_server: PrivateRedis, traffic: Traffic,
               tls_site: tuple[FakeHttpServer, str], slack: RecordingServer,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivatePrometheus]:
    base = tmp_path_factory.mktemp("dash-monitor")
    # Persistence as spec 10.1 runs it (RDB snapshots and AOF), so the Redis persistence panels have data;
    # the shared test Redis runs without it, and gets its settings back afterwards.
    persistence = redis_lib.Redis.from_url(redis_server.url)
    before = {k: persistence.config_get(k)[k] for k in ("appendonly", "save")}
    persistence.config_set("appendonly", "yes")
    persistence.config_set("save", "3600 1")
    config = _monitor_config(base, api, tls_site, slack, pg, seeded_db)
    path = base / "monitor.yml"
    path.write_text(yaml.safe_dump(config))
    monitor = MonitorServer(path, config["server"]["port"], log_dir=str(base),
                            env={"MONITORED_DSN": pg.url, "MONITORED_REDIS": redis_server.url})
    monitor.start()
    scrape = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
              "rule_files": ["stand-in-alerts.yml"],
              "scrape_configs": [
                  {"job_name": "converge-api", "static_configs": [{"targets": [f"127.0.0.1:{api.port}"]}]},
                  {"job_name": "converge-monitor", "static_configs": [{"targets": [f"127.0.0.1:{monitor.port}"]}]}]}
    try:
        prom = PrivatePrometheus(scrape, rule_files={"stand-in-alerts.yml": yaml.safe_dump(STAND_IN_RULES)})
    except MissingBinaryError as exc:
        monitor.stop()
        require(exc)
    try:
        prom.start()
        # Prometheus must have scraped the signals from before the deploy (0): changes() sees the deploy
        deadline = time.monotonic() + 30
        while not prom.query("converge_deploy_last_timestamp_seconds == 0") and time.monotonic() < deadline:
            time.sleep(0.2)
        mark_deploy_and_sentry_issue(monitor.url)
        yield prom
    finally:
        prom.cleanup()
        for key, value in before.items():
            persistence.config_set(key, value)
        monitor.stop()


def all_queries() -> list[tuple[PanelQuery, str]]:
    out = []
    for spec in DASHBOARDS:
        model = spec.build()
        values = variable_values(model, VALUES)
        out += [(q, substitute(q.expr, values)) for q in panel_queries(model)]
    return out


def results(prom: PrivatePrometheus, expr: str) -> list[dict[str, Any]]:
    """The query's result through /api/v1/query; raises (PrometheusError) on any error status."""
    return prom.query(expr)


def wait_until_every_panel_has_data(prom: PrivatePrometheus) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    queries = all_queries()
    deadline = time.monotonic() + DEADLINE
    while True:
        got = {expr: results(prom, expr) for _, expr in queries}
        empty = [f"{q.where}: {expr}" for q, expr in queries if not got[expr]]
        if not empty or time.monotonic() > deadline:
            return got, empty
        time.sleep(1)


def value(rows: list[dict[str, Any]]) -> float:
    assert len(rows) == 1, rows
    return float(rows[0]["value"][1])


def test_every_panel_query_returns_data_from_the_live_stack(prometheus: PrivatePrometheus, traffic: Traffic) -> None:
    got, empty = wait_until_every_panel_has_data(prometheus)
    assert not empty, "panels without data:\n" + "\n".join(empty)
    # An injected fault escapes the route as an unhandled exception: uvicorn answers 500 and drops the
    # keep-alive connection, so some of the next requests see a reset. Most of the traffic gets through.
    assert traffic.sent > 2 * len(traffic.errors), traffic.errors[:3]
    assert len(got) >= 100  # every distinct query of the six dashboards ran


def test_panels_show_what_the_stack_is_doing(prometheus: PrivatePrometheus, traffic: Traffic) -> None:
    """Not only data: the numbers a person reads off the screens match what the test made happen."""
    wait_until_every_panel_has_data(prometheus)
    event = next(s for s in DASHBOARDS if s.uid == "converge-event-day").build()
    values = variable_values(event, VALUES)
    by_title = {p["title"]: substitute(p["targets"][0]["expr"], values) for p in event["panels"]}
    assert value(results(prometheus, by_title["Status"])) == 0  # DOWN: the critical stand-in fires
    assert value(results(prometheus, by_title["Critical alerts"])) >= 1
    assert value(results(prometheus, by_title["High alerts"])) >= 1
    # The two open websockets. The monitor's journey (every 5 s) holds a third while it waits for its message:
    # a scrape during a journey reads 3 (seen in CI), so read until one falls between journeys.
    deadline = time.monotonic() + 20
    while (active := value(results(prometheus, by_title["Active users"]))) != 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert active == 2
    assert value(results(prometheus, by_title["Requests / min"])) > 0
    assert 0 < value(results(prometheus, by_title["Error rate"])) < 0.5  # 20 % of one route of five fail
    assert value(results(prometheus, by_title["RSVPs today"])) > 0
    assert value(results(prometheus, by_title["Connections today"])) > 0
    assert value(results(prometheus, by_title["Messages today"])) > 0
    slo = next(s for s in DASHBOARDS if s.uid == "converge-slo").build()
    slo_exprs = {p["title"]: substitute(p["targets"][0]["expr"], variable_values(slo, VALUES))
                 for p in slo["panels"] if p.get("targets")}
    at = time.time()  # both at one instant, so they read the same samples
    availability = value(prometheus.query(slo_exprs["Availability SLI, selected range"], time=at))
    assert 0.5 < availability < 1  # some injected 5xx among mostly good requests
    budget_left = value(prometheus.query(slo_exprs["Availability budget left, selected range"], time=at))
    assert budget_left == pytest.approx(1 - (1 - availability) / 0.005, rel=1e-6) and budget_left < 0
    tls = results(prometheus, 'converge_tls_cert_days_left{target="website"}')
    assert 29 < value(tls) <= 30
    routes = {r["metric"]["route"] for r in results(prometheus, 'sum by (route) (http_requests_total)')}
    assert {"/v1/sessions", "/v1/messages", "__unmatched__"} <= routes
