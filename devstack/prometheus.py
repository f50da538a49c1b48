"""A private Prometheus server from the local binary, with a given config, on a free port.

Its config, rule files and TSDB live in a temporary directory removed on cleanup; the process is
stopped by its PID. Tests use it to compare the monitor's math and generated rules with the real thing.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from devstack.process import ChildServer, find_binary, free_port


class PrometheusError(RuntimeError):
    """Prometheus answered a query with an error."""


class PrivatePrometheus(ChildServer):
    name = "prometheus"

    def __init__(self, config: Mapping[str, Any] | str, port: int | None = None,
                 rule_files: Mapping[str, str] | None = None, extra_args: tuple[str, ...] = ()) -> None:
        """`config` is prometheus.yml as a mapping or YAML text; `rule_files` maps file names (relative
        to the server's directory, as the config names them) to their text."""
        self.binary = find_binary("prometheus", "prometheus", extra_dirs=("/usr/bin",))
        self.base_dir = Path(tempfile.mkdtemp(prefix="converge-prometheus-"))
        super().__init__(port or free_port(), self.base_dir / "prometheus.log")
        self.config_file = self.base_dir / "prometheus.yml"
        text = config if isinstance(config, str) else yaml.safe_dump(dict(config), sort_keys=False)
        self.config_file.write_text(text)
        for name, body in (rule_files or {}).items():
            (self.base_dir / name).write_text(body)
        self.extra_args = extra_args

    def start(self, timeout: float = 30) -> None:
        if self.running():
            return
        self._spawn([self.binary, f"--config.file={self.config_file}", f"--storage.tsdb.path={self.base_dir / 'data'}",
                     f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn", *self.extra_args],
                    cwd=self.base_dir, ready=self.http_ok("/-/ready"), timeout=timeout)

    def query(self, expr: str, time: float | None = None) -> list[dict[str, Any]]:
        """An instant query through the HTTP API; the `result` list (vector or matrix entries)."""
        params: dict[str, str] = {"query": expr}
        if time is not None:
            params["time"] = f"{time:.3f}"
        resp = httpx.get(f"{self.url}/api/v1/query", params=params, timeout=10)
        body = resp.json()
        if body.get("status") != "success":
            raise PrometheusError(f"query {expr!r} failed: {body.get('errorType')}: {body.get('error')}")
        return list(body["data"]["result"])

    def targets_up(self) -> bool:
        """True once every configured scrape target has been scraped successfully."""
        resp = httpx.get(f"{self.url}/api/v1/targets", timeout=5).json()
        active = resp["data"]["activeTargets"]
        return bool(active) and all(t.get("health") == "up" for t in active)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
