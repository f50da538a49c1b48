"""The status board rendered by the real FastAPI app over a real SQLite store and a real alert service.

Observations are written to the store as the probes would write them, over the last hour; the alert
service evaluates them with an injected clock; the board is read back as HTML.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from alerts.service import AlertService
from devstack.drills.sentry_webhook import issue_payload, signed
from monitor.board import error_class, fmt_value, http_link, scrub, sparkline
from monitor.config import Config, load_config
from monitor.core.observation import Observation
from monitor.deploys import DeployWatch, record_deploy
from monitor.scheduler import ProbeScheduler
from monitor.sentry_api import sentry_router
from monitor.server import create_server
from monitor.store.base import Sample
from monitor.store.sqlite import SqliteStore

EVENT_T0 = 1_769_619_600.0  # 2026-01-28 09:00 in Los Angeles: inside the event window, day 1 of 3
PG_PASSWORD = "Pg-pa55word-do-not-show"
REDIS_PASSWORD = "R3dis-pa55word-do-not-show"
DB_HOST_IP = "10.20.30.40"
CLIENT_IP = "203.0.113.77"
EMAIL = "ana.oncall@converge.example"
SENTRY_SECRET = "board-test-sentry-secret"
CONFIG = f"""
targets:
  http:
    - {{name: api-health, url: "http://127.0.0.1:9/health", interval: 30s, timeout: 5s}}
  api_metrics:
    - {{name: api-metrics, urls: ["http://127.0.0.1:9/metrics"], interval: 30s, timeout: 5s}}
database:
  - {{name: postgres, dsn: "postgresql://monitor:{PG_PASSWORD}@{DB_HOST_IP}:5432/converge", interval: 30s}}
redis:
  - {{name: redis, url: "redis://:{REDIS_PASSWORD}@{DB_HOST_IP}:6379/0", interval: 30s}}
disks:
  - {{name: disks, paths: ["/"], interval: 30s, timeout: 5s}}
event: {{start: 2026-01-28, end: 2026-01-30, timezone: America/Los_Angeles}}
"""


class Stack:
    """Store, scheduler (not started: the test writes what probes would), alert service and the app."""

    def __init__(self, tmp: Path, slo_provider: Callable[[], Sequence[Mapping[str, Any]]] | None = None,
                 config: str = CONFIG) -> None:
        self.now = EVENT_T0
        tmp.mkdir(parents=True, exist_ok=True)
        path = tmp / "monitor.yml"
        path.write_text(config)
        self.config: Config = load_config(path, environ={})
        self.store = SqliteStore(str(tmp / "state.sqlite3"), retention=86400)
        self.scheduler = ProbeScheduler(self.config.all_targets(), self.store, clock=lambda: self.now)
        # Wired as the runner wires them: the deploy window feeds the rules, Sentry's webhooks the alert service.
        self.deploys = DeployWatch(self.store, self.config.deploys.window)
        self.alerts = AlertService(self.config, self.store, clock=lambda: self.now, in_deploy=self.deploys.in_window)
        app = create_server(self.scheduler, self.alerts, slo_provider,
                            routers=[sentry_router(self.alerts, SENTRY_SECRET)])
        self.client = TestClient(app)

    def write(self, signal: str, value: float | None, at: float | None = None, error: str | None = None,
              details: Mapping[str, Any] | None = None, **labels: str) -> None:
        self.store.write([Observation(signal, value, self.now if at is None else at, labels, error, details)])

    def healthy(self, at: float | None = None) -> None:
        for name, kind in (("api-health", "http"), ("api-metrics", "api_metrics"), ("postgres", "postgres"),
                           ("redis", "redis"), ("disks", "disk")):
            self.write("probe_success", 1, at, target=name, kind=kind)
        self.write("http_up", 1, at, target="api-health")
        self.write("api_up", 1, at, target="api-metrics")
        self.write("postgres_up", 1, at, target="postgres")
        self.write("redis_up", 1, at, target="redis")

    def api_hour(self) -> None:
        """An hour of API signals, one a minute; a short gap where the scrape failed."""
        for i in range(60, -1, -1):
            at = self.now - i * 60
            gap = i in (30, 31)
            self.write("api_latency_p95_seconds", None if gap else 0.120 + i / 1000, at,
                       error="timeout" if gap else None, target="api-metrics", route="*")
            self.write("api_error_ratio", 0.004, at, target="api-metrics")
            self.write("api_requests_per_minute", 1500 + 10 * (60 - i), at, target="api-metrics")
            self.write("api_websocket_connections", 250 + i, at, target="api-metrics")
            self.write("api_db_pool_utilization", 0.35, at, target="api-metrics")
            self.write("redis_memory_ratio", 0.42, at, target="redis")

    def evaluate(self, seconds: float, step: float = 5, observe: Callable[[], None] | None = None) -> None:
        for _ in range(int(seconds / step)):
            self.now += step
            if observe is not None:
                observe()
            result = self.alerts.evaluate(self.now)
            if inspect.isawaitable(result):  # the service's evaluate is sync now, async before the outbox
                asyncio.run(result)  # type: ignore[arg-type]

    def board(self, path: str = "/board") -> str:
        resp = self.client.get(path)
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("text/html")
        return resp.text


@pytest.fixture
def stack(tmp_path: Path) -> Stack:
    return Stack(tmp_path)


def redis_down(stack: Stack) -> Callable[[], None]:
    def observe() -> None:
        stack.healthy()
        error = f"connect: Error 111 connecting to {DB_HOST_IP}:6379. Connection refused."
        stack.write("redis_up", 0, error=error, target="redis")
        stack.write("probe_success", 0, error=error, target="redis", kind="redis")
        stack.write("redis_memory_ratio", None, error=error, target="redis")
    return observe


def text_of(html: str) -> str:
    """What a reader sees: tags dropped, whitespace collapsed."""
    body = re.sub(r"<(style|title)>.*?</\1>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", body).split())


def section(html: str, name: str) -> str:
    match = re.search(rf'<section id="{name}">(.*?)</section>', html, re.S)
    assert match, f"no section {name}"
    return text_of(match.group(1))


def test_root_redirects_to_the_board(stack: Stack) -> None:
    resp = stack.client.get("/", follow_redirects=False)
    assert resp.status_code in (302, 307) and resp.headers["location"] == "/board"


def test_all_healthy_is_ok_with_every_target_up_and_sparklines(stack: Stack) -> None:
    stack.api_hour()
    stack.healthy()
    stack.evaluate(10, observe=stack.healthy)
    html = stack.board()
    assert re.search(r'id="overall">OK<', html)
    targets = section(html, "targets")
    for name, kind in (("api-health", "http"), ("api-metrics", "api_metrics"), ("postgres", "postgres"),
                       ("redis", "redis"), ("disks", "disk")):
        assert re.search(rf"{name} {kind} up \d\d:\d\d:\d\d PST", targets), (name, targets)
    signals = section(html, "signals")
    # Latest values, formatted in their units.
    assert "p95 latency 120 ms" in signals
    assert "Error rate 0.40%" in signals
    assert "Requests / min 2,100/min" in signals
    assert "Websockets 250" in signals
    assert "DB pool in use 35.0%" in signals
    assert "Redis memory 42.0%" in signals
    # One inline SVG sparkline per signal; the p95 line breaks where the scrape failed.
    assert html.count("<svg") == 6
    p95 = re.search(r'data-signal="api_latency_p95_seconds">(.*?)</svg>', html, re.S)
    assert p95 and p95.group(1).count("<polyline") == 2
    assert "No alerts firing." in section(html, "alerts")
    assert "EVENT MODE · day 1 of 3" in text_of(html)
    assert '<meta http-equiv="refresh" content="15">' in html


def test_firing_alert_shows_tier_value_threshold_since_and_degrades_the_status(stack: Stack) -> None:
    stack.api_hour()
    stack.healthy()
    stack.evaluate(60, observe=redis_down(stack))  # RedisDown: high, `for` 20 s in the event window
    html = stack.board()
    assert re.search(r'id="overall">DEGRADED<', html)
    assert "RedisDown (redis)" in text_of(html)
    alerts = section(html, "alerts")
    assert re.search(r"high 1 firing Rule Target Value Threshold Since RedisDown redis down == down "
                     r"\d\d:\d\d:\d\d PST \d+s", alerts), alerts
    targets = section(html, "targets")
    assert "redis redis down · connect" in targets
    assert "Redis memory unknown" in section(html, "signals")


def test_critical_alert_or_every_api_check_failing_is_down(stack: Stack) -> None:
    stack.api_hour()
    stack.healthy()

    def api_down() -> None:
        stack.write("http_up", 0, error="connect", target="api-health")
        stack.write("probe_success", 0, error="connect", target="api-health", kind="http")
        stack.write("api_up", 0, error="http://127.0.0.1:9/metrics: timed out after 5s", target="api-metrics")

    api_down()
    html = stack.board()  # before any `for` elapsed: nothing of the API answers, so it is down already
    assert re.search(r'id="overall">DOWN<', html) and "every API check is failing" in html
    stack.evaluate(30, observe=api_down)
    html = stack.board()
    assert re.search(r'id="overall">DOWN<', html)
    assert "critical 1 firing" in section(html, "alerts") and "ApiDown" in section(html, "alerts")
    kiosk = stack.board("/board/kiosk")
    assert re.search(r'id="open-alerts">.*?<div class="value">1</div><div class="label">critical', kiosk, re.S)
    assert "ApiDown · api-health" in text_of(kiosk)


def test_nothing_probed_yet_is_unknown_not_ok(stack: Stack) -> None:
    html = stack.board()
    assert re.search(r'id="overall">UNKNOWN<', html) and "no probe results yet" in html
    assert section(html, "targets").count("unknown · not probed yet") == 5


def test_stale_results_are_unknown(stack: Stack) -> None:
    stack.healthy(at=stack.now - 600)  # ten minutes old with a 30 s interval: the monitor is not seeing anything
    html = stack.board()
    assert "unknown · stale" in section(html, "targets")
    assert not re.search(r'id="overall">OK<', html)


def test_ack_and_silence_are_shown_without_who_acknowledged(stack: Stack) -> None:
    stack.healthy()
    stack.evaluate(60, observe=redis_down(stack))
    alert = next(a for a in stack.alerts.active() if a["rule"] == "RedisDown")
    stack.alerts.ack(alert["id"], EMAIL)
    stack.alerts.add_silence(["alertname=RedisDown"], ends_at=stack.now + 3600, author=EMAIL, reason="resize")
    stack.evaluate(10, observe=redis_down(stack))
    alerts = section(stack.board(), "alerts")
    assert re.search(r"acked \d+s ago", alerts)
    assert "silenced by" in alerts


def test_no_secrets_and_no_personal_data_on_either_page(stack: Stack) -> None:
    stack.api_hour()
    stack.healthy()
    stack.write("redis_top_client_requests_per_minute", 4242,
                details={"clients": [{"ip": CLIENT_IP, "requests": 4242}, {"ip": "2001:db8::7", "requests": 9}]},
                target="redis")

    def leaky() -> None:
        redis_down(stack)()
        stack.write("postgres_up", 0, error=f"auth: password authentication failed for user monitor at "
                    f"{DB_HOST_IP} (reported to {EMAIL})", target="postgres")
        stack.write("probe_success", 0, error=f"postgresql://monitor:{PG_PASSWORD}@{DB_HOST_IP}/converge refused",
                    target="postgres", kind="postgres")

    stack.evaluate(60, observe=leaky)
    alert = next(a for a in stack.alerts.active() if a["rule"] == "RedisDown")
    stack.alerts.ack(alert["id"], EMAIL)
    for page in ("/board", "/board/kiosk"):
        html = stack.board(page)
        for secret in (PG_PASSWORD, REDIS_PASSWORD, DB_HOST_IP, CLIENT_IP, "2001:db8::7", EMAIL, "postgresql://",
                       "redis://", "127.0.0.1"):
            assert secret not in html, (page, secret)
    # The failing targets still say why, by class.
    assert "postgres postgres down · [url] refused" in section(stack.board(), "targets")


def test_pages_load_nothing_from_anywhere(stack: Stack) -> None:
    stack.api_hour()
    stack.healthy()
    for page in ("/board", "/board/kiosk"):
        resp = stack.client.get(page)
        assert "default-src 'none'" in resp.headers["content-security-policy"]
        html = resp.text
        assert "<script" not in html and "<link" not in html and " src=" not in html
        assert not re.search(r"url\(", html)


def test_slo_placeholder_then_budgets_from_the_provider(tmp_path: Path) -> None:
    plain = Stack(tmp_path / "a")
    assert "SLOs are not configured" in section(plain.board(), "slos")
    slos = [{"name": "availability", "objective": 0.995, "budget_remaining_ratio": 0.62, "burn_rate": 0.4},
            {"name": "latency-p95-500ms", "objective": 0.95, "budget_remaining_ratio": 0.05, "burn_rate": 15.0}]
    with_slos = Stack(tmp_path / "b", slo_provider=lambda: slos)
    html = with_slos.board()
    text = section(html, "slos")
    assert "availability 99.5% 62.0% 0.40×" in text
    assert "latency-p95-500ms 95% 5.0% 15.00×" in text
    assert 'style="width: 62%"' in html and 'class="num lvl-down">15.00×' in html


def test_a_failing_slo_provider_does_not_break_the_board(tmp_path: Path) -> None:
    def broken() -> list[dict[str, Any]]:
        raise RuntimeError("boom")

    html = Stack(tmp_path, slo_provider=broken).board()
    assert "SLO data unavailable" in section(html, "slos")


def test_kiosk_shows_only_the_essentials_in_large_dark_type(stack: Stack) -> None:
    stack.api_hour()
    stack.healthy()
    stack.evaluate(60, observe=redis_down(stack))
    html = stack.board("/board/kiosk")
    text = text_of(html)
    assert re.search(r'id="overall">DEGRADED<', html)
    # Numbers large, units smaller beside them.
    for label, value in (("p95 latency", "120 ms"), ("Error rate", "0.40 %"), ("Requests / min", "2,100 /min"),
                         ("Websockets", "250")):
        assert f"{label} {value}" in text
    assert re.search(r"Open alerts 0 critical 1 high high RedisDown · redis", text), text
    assert "EVENT MODE · day 1 of 3" in text
    assert '<meta http-equiv="refresh" content="10">' in html
    assert "--bg:#0d1117" in html  # the dark theme
    # Only the essentials: no target table, no SLO table, no DB pool / Redis tiles.
    assert 'id="targets"' not in html and "DB pool" not in text and "Redis memory" not in text


# -- the pieces -------------------------------------------------------------------------------------------
def test_scrub_removes_urls_ips_and_emails() -> None:
    assert scrub("redis://:pw@10.0.0.1:6379/0 down") == "[url] down"
    assert scrub("from 192.168.1.20:5432 and fe80::1 and 2001:db8:0:0:1:0:0:1") == "from [ip] and [ip] and [ip]"
    assert scrub("mail ana@example.org now") == "mail [email] now"
    assert scrub("updated 14:03:22 PST, p95 120 ms") == "updated 14:03:22 PST, p95 120 ms"


def test_error_class_is_the_probes_code_without_the_message() -> None:
    assert error_class("connect: Error 111 connecting to 10.0.0.1:6379.") == "connect"
    assert error_class("timeout") == "timeout"
    assert error_class(None) is None
    assert error_class("http://10.0.0.1:8000/metrics: HTTP 503") == "[url] HTTP 503"


def test_values_are_formatted_in_their_units() -> None:
    assert fmt_value(0.1234, "seconds") == "123 ms"
    assert fmt_value(2.5, "seconds") == "2.50 s"
    assert fmt_value(0.004, "ratio") == "0.40%"
    assert fmt_value(0.42, "ratio") == "42.0%"
    assert fmt_value(1530, "per_minute") == "1,530/min"
    assert fmt_value(64 * 1024 * 1024, "bytes") == "64.0 MiB"
    assert fmt_value(0, "bool") == "down"
    assert fmt_value(None, "seconds") == "unknown"


def test_sparkline_scales_to_the_window_and_breaks_at_unknowns() -> None:
    samples = [Sample(0, 1.0), Sample(900, 2.0), Sample(1800, None, "timeout"), Sample(2700, 4.0),
               Sample(3600, 4.0)]
    spark = sparkline(samples, 0, 3600)
    assert len(spark["lines"]) == 2
    first, second = spark["lines"]
    assert first.startswith("0.0,") and second.endswith("200.0,4.0")  # max at the top (2 px margin)
    assert spark["min"] == 1.0 and spark["max"] == 4.0
    assert sparkline([], 0, 3600)["lines"] == []


# ---- deploys, Sentry alerts and the page-load / journey / restore checks ----------------------------------

NEW_CHECKS = """  browser:
    - {name: frontend, url: "https://converge.example/", interval: 60s}
  journey:
    - {name: critical-features, base_url: "https://api.converge.example", email: synthetic@converge.test,
       password: pw, peer_email: peer@converge.test, peer_password: pw, peer_qr_code: CNV-PEER, interval: 60s}
"""
RESTORE_CHECK = f"""restore_checks:
  - {{name: restore-check, directory: /var/backups/converge, interval: 1h,
     source_dsn: "postgresql://monitor:{PG_PASSWORD}@{DB_HOST_IP}:5432/converge",
     scratch_dsn: "postgresql://monitor:{PG_PASSWORD}@{DB_HOST_IP}:5432/postgres"}}
"""


def with_new_checks(tmp: Path) -> Stack:
    # The browser and journey kinds join the `targets:` section of CONFIG (its first key).
    return Stack(tmp, config=CONFIG.replace("targets:\n", "targets:\n" + NEW_CHECKS, 1) + RESTORE_CHECK)


def post_sentry(stack: Stack, payload: dict[str, Any]) -> None:
    raw, headers = signed(payload, SENTRY_SECRET)
    resp = stack.client.post("/api/sentry", content=raw, headers=headers)
    assert resp.status_code == 200, resp.text


def test_recent_deploys_newest_first_with_the_open_window_and_until_when(stack: Stack) -> None:
    assert "No deploys recorded" in section(stack.board(), "deploys")
    record_deploy(stack.store, "v1.4.1", at=stack.now - 30 * 3600, by="ci")
    record_deploy(stack.store, "v1.4.2", at=stack.now - 3600, by="ci")
    deploys = section(stack.board(), "deploys")
    # 09:00 PST on Jan 28 minus an hour; the 24 h window of v1.4.2 ends Jan 29 08:00.
    assert re.search(r"v1\.4\.2 Jan 28 08:00 PST 1h 0m ago post-deploy window open until Jan 29 08:00 PST "
                     r"\(23h 0m left\) v1\.4\.1 Jan 27 03:00 PST 1d 6h ago$", deploys), deploys
    stack.now += 23 * 3600 + 1
    deploys = section(stack.board(), "deploys")
    assert "v1.4.2" in deploys and "window open" not in deploys


def test_a_deploy_version_from_the_store_is_escaped(stack: Stack) -> None:
    stack.store.put_state("deploys", [{"version": "<img src=x onerror=alert(1)>", "at": stack.now - 60}])
    html = stack.board()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_open_sentry_alerts_show_title_kind_tier_and_link_until_sentry_resolves_them(stack: Stack) -> None:
    stack.healthy()
    assert "No Sentry alerts open." in section(stack.board(), "sentry")
    title = "TypeError: <script>alert('qr')</script> in scan"
    post_sentry(stack, issue_payload("created", "4711", title="KeyError: 'session_id'"))
    post_sentry(stack, issue_payload("unresolved", "4712", substatus="regressed", title=title))
    html = stack.board()
    rows = unescape(section(html, "sentry"))  # what the reader sees
    assert re.search(r"high regression TypeError: <script>alert\('qr'\)</script> in scan converge-api \d+s "
                     r"open in Sentry", rows), rows
    assert re.search(r"medium new issue KeyError: 'session_id' converge-api \d+s open in Sentry", rows), rows
    assert "<script>alert" not in html and "&lt;script&gt;alert(" in html
    assert 'href="https://converge.sentry.io/issues/4712/" rel="noreferrer"' in html
    post_sentry(stack, issue_payload("resolved", "4712", substatus="resolved", title=title))
    rows = section(stack.board(), "sentry")
    assert "regression" not in rows and "KeyError" in rows


def test_a_sentry_link_that_is_not_http_is_not_a_link(stack: Stack) -> None:
    post_sentry(stack, issue_payload("created", "99", title="bad link", permalink="javascript:alert(1)"))
    html = stack.board()
    assert "bad link" in section(html, "sentry") and "javascript:" not in html


def test_http_link_keeps_http_links_only_and_escapes_them() -> None:
    assert http_link("https://converge.sentry.io/issues/1/") == "https://converge.sentry.io/issues/1/"
    assert http_link('https://s.io/a"><b>') == "https://s.io/a&#34;&gt;&lt;b&gt;"
    for bad in ("javascript:alert(1)", "data:text/html,x", "https://user:pw@s.io/", "//s.io/x", "", None, 3):
        assert http_link(bad) is None, bad
    assert http_link("https://s.io/x?token=abc") == "https://s.io/x?token=***"


def test_page_load_journey_and_restore_checks(tmp_path: Path) -> None:
    stack = with_new_checks(tmp_path)
    stack.healthy()
    assert "No browser, journey or restore check has reported yet." in section(stack.board(), "checks")
    # A slow page (over the 4 s of PageLoadVerySlow), with layout shift.
    for signal, value in (("browser_page_ok", 1), ("browser_load_seconds", 4.6), ("browser_cls", 0.25),
                          ("browser_lcp_seconds", 3.9)):
        stack.write(signal, value, target="frontend")
    stack.write("probe_success", 1, target="frontend", kind="browser")
    # The journey fails at the QR step.
    stack.write("journey_success", 0, error="status", journey="critical-features",
                details={"step": "qr-connect", "reason": "POST /v1/connections answered 500", "steps_passed": 3})
    # The restore took 20 min (event RTO 15 min) of a 30-minute-old dump (event RPO 1 h).
    stack.write("backup_restore_success", 1, target="restore-check")
    stack.write("backup_restore_seconds", 1200, target="restore-check")
    stack.write("backup_restore_age_seconds", 1800, target="restore-check")
    html = stack.board()
    checks = section(html, "checks")
    assert "Page load frontend load 4.60 s CLS 0.250 LCP 3.90 s" in checks, checks
    assert "Journey critical-features failing step: qr-connect status" in checks, checks
    assert "Restore check restore-check restore 20m (RTO 15m) backup age 30m (RPO 1h 0m)" in checks, checks
    assert re.search(r'class="check page" data-level="down"', html)  # over 4 s: high
    assert re.search(r'class="check journey" data-level="down"', html)
    assert re.search(r'class="num over">restore 20m', html) and 'class="num" colspan="2">backup age' in html
    assert PG_PASSWORD not in html and DB_HOST_IP not in html

    # Healthy again: a 1.2 s page, a passing journey, a failed restore (a corrupted dump).
    stack.write("browser_load_seconds", 1.2, target="frontend")
    stack.write("journey_success", 1, journey="critical-features")
    stack.write("journey_duration_seconds", 2.5, journey="critical-features")
    stack.write("backup_restore_success", 0, error="pg_restore: error: could not read input file",
                target="restore-check")
    stack.write("backup_restore_seconds", None, error="not measured", target="restore-check")
    html = stack.board()
    checks = section(html, "checks")
    assert re.search(r'class="check page" data-level="ok"', html)
    assert "Journey critical-features every step passed · 2.50 s" in checks
    assert re.search(r"Restore check restore-check restore unknown \(RTO 15m\) .* pg_restore", checks), checks
    assert re.search(r'class="check restore" data-level="down"', html)
