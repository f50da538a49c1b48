"""docker-compose.yml is valid (Debian's docker-compose validates it), complete, and has no secret in it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.paths import REPO
from tests.support.stack import IN_CI

ROOT = REPO
SERVICES = {"postgres", "redis", "migrate", "api", "monitor", "prometheus", "alertmanager", "grafana"}


def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_docker_compose_validates_the_file(tmp_path: Path) -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        if IN_CI:
            pytest.fail("docker-compose not found: apt-get install docker-compose")
        pytest.skip("docker-compose not installed")
    for name in ("docker-compose.yml", "deploy", "grafana"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    (tmp_path / "deploy" / "monitor_api_token").write_text("token-from-a-secret-file")
    env = {**os.environ, "POSTGRES_PASSWORD": "p", "JWT_SECRET": "j", "SYNTHETIC_PASSWORD": "s",
           "MONITOR_API_TOKEN": "m", "GRAFANA_ADMIN_PASSWORD": "g"}
    done = subprocess.run([binary, "-f", str(tmp_path / "docker-compose.yml"), "config", "-q"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    missing = subprocess.run([binary, "-f", str(tmp_path / "docker-compose.yml"), "config", "-q"],
                             env={k: v for k, v in env.items() if k != "JWT_SECRET"},
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "JWT_SECRET" in missing.stderr  # a missing secret is named, not defaulted


def test_every_service_is_there_with_a_healthcheck_and_state_on_volumes() -> None:
    services = compose()["services"]
    assert set(services) == SERVICES
    assert all("healthcheck" in s for n, s in services.items() if n != "migrate")
    assert "shared_preload_libraries=pg_stat_statements" in " ".join(services["postgres"]["command"])
    for name in ("postgres", "redis", "monitor", "prometheus", "alertmanager", "grafana"):
        assert any(":" in v and not v.startswith(".") for v in services[name]["volumes"]), name


def test_no_secret_is_written_inline() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for key, value in re.findall(r"^\s*([A-Z_]*(?:PASSWORD|SECRET|TOKEN|DSN)[A-Z_]*):\s*(.+)$", text, re.M):
        assert value.strip().startswith("${"), f"{key} is written inline"
    assert "postgresql://converge:${POSTGRES_PASSWORD" in text


def test_mounts_match_the_provisioning_and_rules() -> None:
    services = compose()["services"]
    provider = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/converge.yml").read_text())
    dash_path = provider["providers"][0]["options"]["path"]
    assert f"./grafana/dashboards:{dash_path}:ro" in services["grafana"]["volumes"]
    prom = yaml.safe_load((ROOT / "deploy/prometheus.compose.yml").read_text())
    assert prom["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    assert "./prometheus/rules:/etc/prometheus/rules:ro" in services["prometheus"]["volumes"]
    datasource = yaml.safe_load((ROOT / "grafana/provisioning/datasources/prometheus.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
