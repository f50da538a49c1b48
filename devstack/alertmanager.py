"""A private prometheus-alertmanager (Debian's package) on a free port, clustering off."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from devstack.process import ChildServer, find_binary, free_port


class PrivateAlertmanager(ChildServer):
    name = "alertmanager"

    def __init__(self, config: Mapping[str, Any], port: int | None = None) -> None:
        self.binary = find_binary("prometheus-alertmanager", "prometheus-alertmanager", extra_dirs=("/usr/bin",))
        self.base_dir = Path(tempfile.mkdtemp(prefix="converge-alertmanager-"))
        super().__init__(port or free_port(), self.base_dir / "alertmanager.log")
        self.config_file = self.base_dir / "alertmanager.yml"
        self.config_file.write_text(yaml.safe_dump(dict(config), sort_keys=False))

    def start(self, timeout: float = 30) -> None:
        self._spawn([self.binary, f"--config.file={self.config_file}", f"--storage.path={self.base_dir / 'data'}",
                     f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=", "--log.level=warn"],
                    cwd=self.base_dir, ready=self.http_ok("/-/ready"), timeout=timeout)

    def alerts(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/api/v2/alerts", timeout=5).json())

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        httpx.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=5).raise_for_status()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
