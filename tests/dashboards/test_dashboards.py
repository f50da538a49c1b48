"""The Grafana dashboards: committed files equal the generator's output, every query parses and names
only metrics that exist, provisioning and dashboards agree, the event screen is a kiosk, and
push-dashboards speaks Grafana's HTTP API (against a local server that checks auth and payloads)."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest

import monitor.cli
import monitor.cli.dashboards
from dashboards.builder import DATASOURCE_UID
from dashboards.catalog import DASHBOARDS
from dashboards.export import check, generate
from dashboards.queries import metric_names, panel_queries, substitute, variable_values
from dashboards.slo import EVENT_END, EVENT_START, EVENT_TIMEZONE, event_range_ms
from devstack import MissingBinaryError, free_port
from devstack.process import find_binary
from monitor.core.selfmetrics import SelfMetrics
from monitor.core.signals import CATALOG
from tests.support.paths import REPO
from tests.support.stack import require

COMMITTED = REPO / "grafana" / "dashboards"
PROVISIONING = REPO / "grafana" / "provisioning"
TOKEN = "glsa_test-token-s3cr3t-0123456789abcdef"
EXPECTED_UIDS = {"converge-api", "converge-postgres", "converge-redis", "converge-slo", "converge-alerts",
                 "converge-event-day"}


def models() -> list[dict[str, Any]]:
    return [spec.build() for spec in DASHBOARDS]


def run_cli(*argv: str, monkeypatch: pytest.MonkeyPatch) -> int:
    """`converge-monitor ARGS` with this module's commands registered, as monitor/cli/__init__.py will have them."""
    mine = {c.name for c in monitor.cli.dashboards.COMMANDS}
    others = tuple(c for c in monitor.cli.COMMANDS if c.name not in mine)
    monkeypatch.setattr(monitor.cli, "COMMANDS", (*others, *monitor.cli.dashboards.COMMANDS))
    return monitor.cli.main(list(argv))


# -- generated files ---------------------------------------------------------------------------------------------

def test_committed_dashboards_equal_the_generator_output() -> None:
    drift = check(COMMITTED)
    assert not drift, ("grafana/dashboards is out of date; run `converge-monitor export-dashboards --out "
                       f"grafana/dashboards`: {drift}")


def test_generation_is_deterministic() -> None:
    assert generate() == generate()


def test_export_writes_the_files_and_check_reports_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dash"
    assert run_cli("export-dashboards", "--out", str(out), monkeypatch=monkeypatch) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(s.filename for s in DASHBOARDS)
    assert run_cli("export-dashboards", "--out", str(out), "--check", monkeypatch=monkeypatch) == 0

    api = out / "api-overview.json"
    api.write_text(api.read_text().replace("Converge API overview", "Edited in the UI"))
    (out / "old.json").write_text("{}")
    (out / "redis.json").unlink()
    capsys.readouterr()
    assert run_cli("export-dashboards", "--out", str(out), "--check", monkeypatch=monkeypatch) == 1
    err = capsys.readouterr().err
    assert "api-overview.json: differs" in err
    assert "redis.json: missing" in err
    assert "old.json: not generated" in err
    assert "export-dashboards --out" in err


def test_stable_unique_uids_titles_and_panel_ids() -> None:
    built = models()
    assert {m["uid"] for m in built} == EXPECTED_UIDS
    assert len({m["title"] for m in built}) == len(built)
    for m in built:
        ids = [p["id"] for p in m["panels"]]
        assert ids == list(range(1, len(ids) + 1)), m["uid"]
        for p in m["panels"]:
            refs = [t["refId"] for t in p.get("targets", [])]
            assert len(refs) == len(set(refs)), (m["uid"], p["title"])


def test_panels_fit_the_grid_without_overlapping() -> None:
    for m in models():
        taken: set[tuple[int, int]] = set()
        for p in m["panels"]:
            g = p["gridPos"]
            assert g["x"] >= 0 and g["x"] + g["w"] <= 24, (m["uid"], p["title"], g)
            cells = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
            assert not cells & taken, (m["uid"], p["title"])
            taken |= cells


# -- queries ------------------------------------------------------------------------------------------------------

def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query (Grafana variables replaced) as a recording rule's expression."""
    try:
        promtool = find_binary("promtool", "prometheus", extra_dirs=("/usr/bin",))
    except MissingBinaryError as exc:
        require(exc)
    exprs = [substitute(q.expr, variable_values(m)) for m in models() for q in panel_queries(m)]
    rules = [{"record": f"dashboard:query{i}", "expr": expr} for i, expr in enumerate(exprs)]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rules)} rules found" in result.stdout


def _exposed_names(registry: CollectorRegistry) -> set[str]:
    """Every sample name a registry can expose, from its # TYPE lines (labelled metrics with no children too)."""
    names = set()
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"),
                        "summary": ("_count", "_sum", "")}.get(kind, ("",))
            names |= {name + s if not name.endswith(s) else name for s in suffixes}
    return names


def known_metrics() -> set[str]:
    import os

    from app.metrics import REGISTRY, InstanceCollector

    api = CollectorRegistry()
    api.register(InstanceCollector(os.getpid()))
    names = _exposed_names(REGISTRY) | _exposed_names(api) | _exposed_names(SelfMetrics().registry)
    names |= {s.metric_name for s in CATALOG.values()}
    return names | {"converge_signal_unknown", "ALERTS"}


def test_every_metric_a_dashboard_reads_exists() -> None:
    known = known_metrics()
    unknown = {f"{q.dashboard} / {q.panel}: {name}" for m in models() for q in panel_queries(m)
               for name in metric_names(q.expr) if name not in known}
    assert not unknown, sorted(unknown)


def test_every_signal_in_the_catalog_is_on_a_dashboard() -> None:
    used = {name for m in models() for q in panel_queries(m) for name in metric_names(q.expr)}
    missing = sorted(s.metric_name for s in CATALOG.values() if s.metric_name not in used)
    assert not missing, f"signals no dashboard shows: {missing}"


def test_variables_in_queries_are_defined() -> None:
    for m in models():
        values = variable_values(m)
        for q in panel_queries(m):
            assert "$" not in substitute(q.expr, values), q.where


# -- provisioning and data source ---------------------------------------------------------------------------------

def test_dashboards_read_the_provisioned_prometheus() -> None:
    sources = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())["datasources"]
    prom = [s for s in sources if s["type"] == "prometheus"]
    assert len(prom) == 1 and prom[0]["uid"] == DATASOURCE_UID and prom[0]["isDefault"] is True
    for m in models():
        var = next(v for v in m["templating"]["list"] if v["name"] == "datasource")
        assert var["type"] == "datasource" and var["query"] == "prometheus"
        assert var["current"]["value"] == DATASOURCE_UID
        for p in m["panels"]:
            if p["type"] == "row":
                continue
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, (m["uid"], p["title"])
            assert all(t["datasource"]["uid"] == "${datasource}" for t in p["targets"])


def test_dashboard_provider_loads_the_generated_folder() -> None:
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "converge.yml").read_text())["providers"]
    assert len(providers) == 1
    provider = providers[0]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/")
    assert provider["folderUid"] and provider["allowUiUpdates"] is False


# -- the event-day screen and the SLO event window ----------------------------------------------------------------

def test_event_screen_is_a_kiosk_of_large_stats() -> None:
    event = next(m for m in models() if m["uid"] == "converge-event-day")
    assert event["refresh"] == "10s" and event["style"] == "dark"
    assert event["timepicker"]["hidden"] is True
    assert event["time"] == {"from": "now/d", "to": "now"}  # "today" counts from local midnight
    assert event["timezone"] == EVENT_TIMEZONE
    titles = [p["title"] for p in event["panels"]]
    assert titles == ["Status", "Requests / min", "Active users", "p95 latency", "Error rate", "Critical alerts",
                      "High alerts", "RSVPs today", "Connections today", "Messages today"]
    for p in event["panels"]:
        assert p["type"] == "stat"
        assert p["options"]["text"]["valueSize"] >= 80 and p["gridPos"]["h"] >= 6, p["title"]
        assert all(t["instant"] for t in p["targets"])
    status = event["panels"][0]["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert {v["text"] for v in status.values()} == {"OK", "DEGRADED", "DOWN"}


def test_event_window_matches_monitor_yml() -> None:
    configured = yaml.safe_load((REPO / "monitor.yml").read_text())["event"]
    assert (configured["start"], configured["end"]) == (EVENT_START, EVENT_END)
    assert configured.get("timezone", "America/Los_Angeles") == EVENT_TIMEZONE


def test_slo_event_link_spans_the_three_event_days_in_local_time() -> None:
    start, end = event_range_ms()
    assert start == 1769587200000  # 2026-01-28 00:00 PST = 08:00 UTC
    assert end - start == 3 * 86400 * 1000  # no DST change in January
    slo = next(m for m in models() if m["uid"] == "converge-slo")
    assert any(f"from={start}&to={end}" in link["url"] for link in slo["links"])


# -- push-dashboards against a local server speaking Grafana's API ------------------------------------------------

@dataclass
class FakeGrafana:
    """Grafana's dashboard and folder endpoints on 127.0.0.1: checks the Bearer token and the payload
    shape the way Grafana does (400/401/404), stores dashboards by uid, and can be told to fail."""

    token: str
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    folders: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    fail: list[tuple[int, str]] = field(default_factory=list)  # (status, message) for the next dashboard posts

    def __post_init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                return json.loads(raw) if raw else None

            def _serve(self) -> None:
                body = self._body()
                fake.requests.append((self.command, self.path, dict(self.headers.items()), body))
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    return self._reply(401, {"message": "Unauthorized"})
                if self.command == "POST" and self.path == "/api/dashboards/db":
                    return self._dashboard(body)
                if self.command == "GET" and self.path.startswith("/api/folders/"):
                    uid = self.path.rsplit("/", 1)[1]
                    if uid in fake.folders:
                        return self._reply(200, {"uid": uid, "title": fake.folders[uid]})
                    return self._reply(404, {"message": "folder not found"})
                if self.command == "POST" and self.path == "/api/folders":
                    fake.folders[body["uid"]] = body["title"]
                    return self._reply(200, {"uid": body["uid"], "title": body["title"]})
                return self._reply(404, {"message": "Not found"})

            def _dashboard(self, body: Any) -> None:
                if fake.fail:
                    status, message = fake.fail.pop(0)
                    return self._reply(status, {"message": message})
                dash = body.get("dashboard") if isinstance(body, dict) else None
                if not isinstance(dash, dict) or not dash.get("uid") or not dash.get("title") \
                        or not isinstance(dash.get("panels"), list) or dash.get("id") is not None:
                    return self._reply(400, {"message": "bad request data"})
                if body.get("overwrite") is not True:
                    return self._reply(412, {"status": "version-mismatch", "message": "dashboard exists"})
                folder = body.get("folderUid")
                if folder and folder not in fake.folders:
                    return self._reply(400, {"message": "folder not found"})
                version = fake.dashboards.get(dash["uid"], {}).get("version", 0) + 1
                fake.dashboards[dash["uid"]] = {**dash, "version": version, "folderUid": folder}
                return self._reply(200, {"id": len(fake.dashboards), "uid": dash["uid"], "status": "success",
                                         "url": f"/d/{dash['uid']}/x", "version": version})

            do_GET = do_POST = _serve

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def dashboard_posts(self) -> list[Any]:
        return [body for method, path, _, body in self.requests if method == "POST" and path == "/api/dashboards/db"]


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    fake = FakeGrafana(TOKEN)
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()
    fake.thread.join(timeout=5)


def test_push_uploads_every_dashboard_with_the_token(grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    assert run_cli("push-dashboards", "--grafana-url", grafana.url, "--folder-uid", "converge",
                   monkeypatch=monkeypatch) == 0
    out = capsys.readouterr()
    assert set(grafana.dashboards) == EXPECTED_UIDS
    assert grafana.folders == {"converge": "Converge"}
    assert all(d["folderUid"] == "converge" for d in grafana.dashboards.values())
    generated = {json.loads(text)["uid"]: json.loads(text) for text in generate().values()}
    for body in grafana.dashboard_posts():
        assert body["overwrite"] is True and body["dashboard"]["id"] is None
        assert {k: v for k, v in body["dashboard"].items() if k != "id"} == \
            {k: v for k, v in generated[body["dashboard"]["uid"]].items() if k != "id"}
    assert all(h["Authorization"] == f"Bearer {TOKEN}" for _, _, h, _ in grafana.requests)
    assert out.out.count("pushed ") == len(EXPECTED_UIDS) and "/d/converge-event-day/x" in out.out
    assert TOKEN not in out.out + out.err

    # Pushing again overwrites in place: same uids, new versions.
    assert run_cli("push-dashboards", "--grafana-url", grafana.url, monkeypatch=monkeypatch) == 0
    assert {d["version"] for d in grafana.dashboards.values()} == {2}


def test_push_from_the_committed_files(grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    assert run_cli("push-dashboards", "--grafana-url", grafana.url, "--from-dir", str(COMMITTED),
                   monkeypatch=monkeypatch) == 0
    assert set(grafana.dashboards) == EXPECTED_UIDS


def test_a_wrong_token_fails_clearly_without_printing_it(grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN", "glsa_wrong-token-987654321")
    assert run_cli("push-dashboards", "--grafana-url", grafana.url, monkeypatch=monkeypatch) == 1
    out = capsys.readouterr()
    assert "HTTP 401" in out.err and "Unauthorized" in out.err and "GRAFANA_TOKEN" in out.err
    assert "wrong-token" not in out.out + out.err
    assert grafana.dashboards == {}


def test_a_refused_dashboard_stops_the_push_with_grafanas_reason(grafana: FakeGrafana,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    grafana.fail = [(500, "database is locked")]
    assert run_cli("push-dashboards", "--grafana-url", grafana.url, monkeypatch=monkeypatch) == 1
    err = capsys.readouterr().err
    first = DASHBOARDS[0].uid
    assert f"dashboard {first}" in err and "HTTP 500" in err and "database is locked" in err
    assert len(grafana.dashboard_posts()) == 1  # stopped at the first failure
    assert TOKEN not in err


def test_unreachable_grafana_and_missing_token_are_clear_errors(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    url = f"http://admin:hunter2@127.0.0.1:{free_port()}"  # nothing listens there
    assert run_cli("push-dashboards", "--grafana-url", url, "--timeout", "2", monkeypatch=monkeypatch) == 1
    err = capsys.readouterr().err
    assert "cannot reach Grafana at http://admin:***@127.0.0.1:" in err  # monitor/core/redact.py: one rule
    assert "hunter2" not in err and TOKEN not in err

    monkeypatch.delenv("GRAFANA_TOKEN")
    assert run_cli("push-dashboards", "--grafana-url", "http://127.0.0.1:3000", monkeypatch=monkeypatch) == 2
    assert "GRAFANA_TOKEN is not set" in capsys.readouterr().err

    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    assert run_cli("push-dashboards", "--grafana-url", "grafana:3000", monkeypatch=monkeypatch) == 1
    assert "--grafana-url: expected an http:// or https:// URL" in capsys.readouterr().err
