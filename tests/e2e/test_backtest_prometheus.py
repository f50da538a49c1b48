"""The Prometheus history source gives the same backtest as the JSON-lines file of the same samples: a real
Prometheus, its TSDB built by `promtool tsdb create-blocks-from openmetrics` from those samples."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from devstack.prometheus import PrivatePrometheus
from monitor.config import load_config
from monitor.core.observation import Observation
from monitor.core.signals import CATALOG
from monitor.history.jsonl import write_jsonl
from tests.support.backtest_history import Incident, probe_history
from tests.support.paths import REPO


def openmetrics(history: list[Observation]) -> str:
    """The samples as OpenMetrics text: one family per signal, each series' samples in time order."""
    families: dict[str, dict[tuple[tuple[str, str], ...], list[Observation]]] = defaultdict(lambda: defaultdict(list))
    for obs in history:
        families[obs.signal][tuple(sorted(obs.labels.items()))].append(obs)
    lines = []
    for signal, series in sorted(families.items()):
        name = CATALOG[signal].metric_name
        lines.append(f"# TYPE {name} gauge")
        for labels, samples in sorted(series.items()):
            text = ",".join(f'{k}="{v}"' for k, v in labels)
            for s in samples:
                value = "NaN" if s.value is None or math.isnan(s.value) else repr(s.value)
                lines.append(f"{name}{{{text}}} {value} {s.timestamp:.3f}")
    return "\n".join([*lines, "# EOF", ""])


def test_prometheus_and_jsonl_sources_give_the_same_backtest(tmp_path: Path, promtool: str) -> None:
    config_path = REPO / "monitor.yml"
    config = load_config(config_path, environ={})
    end = math.floor(time.time() / 60) * 60 - 4 * 3600  # older than the head block: only the imported blocks
    start = end - 2 * 3600
    history = probe_history(config, start, end, [Incident(start + 1800, start + 2400, down=True, error_ratio=0.3)])
    jsonl = tmp_path / "history.jsonl"
    with jsonl.open("w") as out:
        write_jsonl(history, out)
    (tmp_path / "history.om").write_text(openmetrics(history))

    prom = PrivatePrometheus({"global": {"scrape_interval": "15s"}, "scrape_configs": []},
                             extra_args=("--storage.tsdb.retention.time=10y",))
    try:
        subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(tmp_path / "history.om"),
                        str(prom.base_dir / "data")], check=True, capture_output=True, timeout=120)
        prom.start()
        assert prom.query("count(converge_http_up)", time=end)  # the blocks are loaded

        def backtest(*source: str) -> dict[str, object]:
            done = subprocess.run(
                [sys.executable, "-m", "monitor.cli", "backtest", "--config", str(config_path), *source,
                 "--from", str(start), "--to", str(end), "--json"], capture_output=True, text=True, timeout=300,
                cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout)

        from_file = backtest("--history", str(jsonl))
        from_prometheus = backtest("--prometheus", prom.url)
    finally:
        prom.cleanup()
    read = [o for o in history if o.signal != "http_latency_seconds"]  # the one signal no rule or SLO reads
    assert from_file["observations"] == from_prometheus["observations"] == len(read)
    assert from_file["alerts"] == from_prometheus["alerts"]
    rules = {a["rule"] for a in from_file["alerts"]}  # type: ignore[union-attr]
    assert "ApiDown" in rules and any(r.startswith("SloBurn") for r in rules)
