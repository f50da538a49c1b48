"""`converge-monitor check-config`: exit codes, messages on stderr, secrets masked, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import main
from tests.support.configs import BROKEN, MINIMAL, SECRET, write
from tests.support.paths import REPO

# Variables the configs under test refer to: unset in-process so the runner's environment cannot leak in.
ENV_NAMES = ("DATABASE_URL", "REDIS_URL", "SYNTHETIC_PASSWORD", "BACKUP_DIR", "CONVERGE_API_URL", "FRONTEND_URL",
             "MONITOR_HOST", "MONITOR_PORT", "CONVERGE_MONITOR_CONFIG", "CHECK_INTERVAL", "DEADMAN_URL", "TOKEN")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it."""
    script = Path(sys.executable).with_name("converge-monitor")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "monitor.cli"]
    base = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=60,
                          env={**base, **(env or {})}, cwd=cwd)


def test_check_config_of_the_shipped_file_from_anywhere(tmp_path: Path) -> None:
    result = cli("check-config", cwd=tmp_path)  # no file named, no env: monitor.yml at the repo root
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"config: {REPO / 'monitor.yml'}: valid" in out
    for name, kind in (("api-health", "http"), ("frontend", "http"), ("login-and-sessions", "synthetic"),
                       ("api-metrics", "api_metrics"), ("postgres", "postgres"), ("redis", "redis"),
                       ("backups", "backup"), ("disks", "disk"), ("python-deps", "deps")):
        assert any(line.split()[:2] == [name, kind] for line in out.splitlines()), (name, out)
    rows = {line.split()[0]: line.split()[1:5] for line in out.splitlines() if line.startswith("  ")}
    assert rows["api-health"] == ["http", "30s", "5s", "4s"]  # kind, interval, event interval, timeout
    assert rows["python-deps"] == ["deps", "1d", "8h", "5m"]
    assert "store: sqlite" in out and "retention 30d" in out
    assert "server: http://127.0.0.1:9464" in out
    assert "event: 2026-01-28 to 2026-01-30 inclusive, America/Los_Angeles" in out
    assert "channels: none" in out


def test_check_config_masks_secrets_from_the_environment(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"postgresql://converge:{SECRET}@db.internal/converge",
           "REDIS_URL": f"redis://default:{SECRET}@cache.internal:6379/0", "SYNTHETIC_PASSWORD": SECRET}
    result = cli("check-config", str(REPO / "monitor.yml"), env=env)
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert "postgresql://converge:***@db.internal/converge" in result.stdout
    assert "redis://default:***@cache.internal:6379/0" in result.stdout


def test_invalid_config_exits_2_without_traceback_or_secret(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "      interval: ${TOKEN}\nserver:\n  port: 70000\n")
    result = cli("--config", str(path), "check-config", env={"TOKEN": SECRET})
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"{path}:5: targets.http[0].interval: invalid duration" in result.stderr
    assert f"{path}:7: server.port: Input should be less than or equal to 65535" in result.stderr
    assert "2 problems" in result.stderr
    assert SECRET not in result.stderr and "Traceback" not in result.stderr


def test_yaml_syntax_error_exits_2_with_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "targets:\n  http:\n    - name: api\n     url: [\n")
    result = cli("check-config", str(path))
    assert result.returncode == 2
    assert f"{path}:4:" in result.stderr and "YAML syntax error" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = cli("check-config", str(tmp_path / "nope.yml"))
    assert result.returncode == 2
    assert "config file not found" in result.stderr and "Traceback" not in result.stderr


def test_env_var_selects_the_config_file(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL, "elsewhere.yml")
    result = cli("check-config", env={"CONVERGE_MONITOR_CONFIG": str(path)})
    assert result.returncode == 0, result.stderr
    assert f"config: {path}: valid" in result.stdout


@pytest.mark.parametrize(("text", "env", "path", "line", "words"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_broken_config_exits_2_naming_field_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch, text: str, env: dict[str, str],
                                                     path: str, line: int | None, words: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    file = write(tmp_path, text)
    assert main(["check-config", str(file)]) == 2
    err = capsys.readouterr().err
    where = f"{file}:{line}:" if line else f"{file}:"
    lines = err.splitlines()
    assert any(ln.startswith(where) and (not path or f": {path}: " in ln) and words in ln for ln in lines), err


def test_config_option_before_or_after_the_subcommand(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = write(tmp_path, MINIMAL)
    assert main(["--config", str(file), "check-config"]) == 0
    assert main(["check-config", "--config", str(file)]) == 0
    assert capsys.readouterr().out.count(f"config: {file}: valid") == 2


def test_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2  # a subcommand is required
    assert main(["no-such-command"]) == 2
    assert main(["--help"]) == 0
    assert "check-config" in capsys.readouterr().out


def test_channel_secrets_are_not_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN", SECRET)
    sid = "AC" + "a" * 32
    channel = f"{{type: sms, account_sid: {sid}, auth_token: '${{TOKEN}}', from_number: '+15555550100'}}"
    file = write(tmp_path, MINIMAL + f"channels:\n  oncall-sms: {channel}\n")
    assert main(["check-config", str(file)]) == 0
    out = capsys.readouterr().out
    assert "channels: oncall-sms (sms)" in out and SECRET not in out
