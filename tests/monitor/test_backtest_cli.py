"""`converge-monitor backtest`, `export-history` and `check-config --backtest`, as a user runs them: the store,
a JSON-lines file, the difference against another config, and clear errors (exit 2, no traceback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.config import load_config
from tests.support.backtest_history import Incident, probe_history, record_live
from tests.support.paths import REPO

START = 1768910400.0  # 2026-01-20 12:00 UTC, before the event
END = START + 3600
INCIDENT = Incident(START + 600, START + 1200, down=True, error_ratio=0.3)


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], capture_output=True, text=True, timeout=300,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


def write_config(folder: Path, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "monitor.yml"
    text = (REPO / "monitor.yml").read_text().replace("${MONITOR_STORE:-./var/monitor.sqlite3}",
                                                      str(folder.parent / "monitor.sqlite3"))
    path.write_text(text + extra)
    return path


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A store the live monitor wrote during an incident, and its config."""
    base = tmp_path_factory.mktemp("backtest")
    path = write_config(base / "running")
    config = load_config(path, environ={})
    live, store = record_live(config, probe_history(config, START, END, [INCIDENT]), START, END,
                              Path(config.store.path))
    store.close()
    assert any(f.rule == "ApiDown" for f in live)
    return base, path


def test_backtest_of_the_store_lists_what_fired_and_the_json_form_matches_a_jsonl_export(
        recorded: tuple[Path, Path]) -> None:
    base, config = recorded
    text = cli("backtest", "--config", str(config))
    assert text.returncode == 0, text.stderr
    assert "ApiDown" in text.stdout and "target=api-health" in text.stdout and "fired 2026-01-20 12:1" in text.stdout

    out = base / "history.jsonl"
    exported = cli("export-history", "--config", str(config), "--from", str(START), "--to", str(END), "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    first = json.loads(out.read_text().splitlines()[0])
    assert set(first) >= {"signal", "labels", "value", "ts"}

    from_store = json.loads(cli("backtest", "--config", str(config), "--from", str(START), "--to", str(END),
                                "--json").stdout)
    from_file = json.loads(cli("backtest", "--config", str(config), "--history", str(out), "--from", str(START),
                               "--to", str(END), "--json").stdout)
    assert from_store["alerts"] == from_file["alerts"]
    rules = {a["rule"] for a in from_file["alerts"]}
    assert "ApiDown" in rules and any(r.startswith("SloBurn") for r in rules)
    api_down = next(a for a in from_file["alerts"] if a["rule"] == "ApiDown")
    assert api_down["labels"] == {"target": "api-health"} and api_down["tier"] == "critical"
    assert api_down["duration"] == api_down["resolved_at"] - api_down["fired_at"]
    assert api_down["pages"][0]["kind"] == "firing"


def test_against_prints_what_a_changed_config_does_differently(recorded: tuple[Path, Path]) -> None:
    base, running = recorded
    new = write_config(base / "new", "rules:\n  overrides:\n    ApiDown: {for: 2m}\n"
                                     "    ErrorRateCritical: {threshold: 0.5, clear_threshold: 0.4}\n")
    done = cli("backtest", "--config", str(new), "--against", str(running), "--json")
    assert done.returncode == 0, done.stderr
    changes = {(c["change"], c["rule"]) for c in json.loads(done.stdout)["against"]["changes"]}
    assert ("later", "ApiDown") in changes and ("removed", "ErrorRateCritical") in changes
    text = cli("backtest", "--config", str(new), "--against", str(running))
    assert "later" in text.stdout and "removed" in text.stdout


def test_check_config_backtest_replays_the_running_monitors_recent_history(tmp_path: Path) -> None:
    running = write_config(tmp_path / "running")
    config = load_config(running, environ={})
    now = time.time()
    start = now - 2 * 3600
    incident = Incident(start + 1800, start + 2400, down=True)
    _, store = record_live(config, probe_history(config, start, now - 60, [incident]), start, now - 60,
                           Path(config.store.path))
    store.close()
    new = write_config(tmp_path / "new", "rules:\n  disabled: [ApiDown]\n")
    done = cli("check-config", str(new), "--backtest", "7d", env={"CONVERGE_MONITOR_CONFIG": str(running)})
    assert done.returncode == 0, done.stderr
    assert "removed       ApiDown" in done.stdout


BAD_LINES = [
    ('{"signal": "http_upp", "labels": {"target": "a"}, "value": 1, "ts": 1768910400}', "unknown signal 'http_upp'"),
    ('{"signal": "http_up", "labels": {"target": "a"}, "value": 1, "ts": ', "malformed line"),
    ('{"signal": "http_up", "labels": {"target": "a"}, "value": "up", "ts": 1768910400}', "value: must be a number"),
]


@pytest.mark.parametrize(("line", "message"), BAD_LINES, ids=["unknown-signal", "malformed", "bad-value"])
def test_a_bad_history_line_is_named_with_its_line_number(tmp_path: Path, line: str, message: str) -> None:
    good = '{"signal": "http_up", "labels": {"target": "api-health"}, "value": 1, "ts": 1768910400}'
    path = tmp_path / "h.jsonl"
    path.write_text(good + "\n" + line + "\n")
    done = cli("backtest", "--config", str(REPO / "monitor.yml"), "--history", str(path))
    assert done.returncode == 2
    assert f"{path}:2: " in done.stderr and message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_range_without_history_and_an_unreachable_prometheus_are_clear_errors(
        recorded: tuple[Path, Path]) -> None:
    _, config = recorded
    empty = cli("backtest", "--config", str(config), "--from", "2025-01-01", "--to", "2025-01-02")
    assert empty.returncode == 2 and "no history between 2025-01-01 00:00:00Z and 2025-01-02" in empty.stderr
    down = cli("backtest", "--config", str(config), "--prometheus", "http://127.0.0.1:9", "--from", str(START))
    assert down.returncode == 2 and "cannot reach Prometheus at http://127.0.0.1:9" in down.stderr
    for done in (empty, down):
        assert "Traceback" not in done.stderr
