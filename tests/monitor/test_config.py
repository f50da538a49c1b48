"""monitor/config: loading, ${ENV} substitution, validation errors with field paths and lines, secrets."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.config import Config, ConfigError, default_config_path, find_config_file, load_config
from monitor.config.summary import summarize
from tests.support.configs import BROKEN, MINIMAL, SECRET, write
from tests.support.paths import REPO


def problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), environ=env or {})
    return [(p.path, p.line, p.message) for p in info.value.problems]


def test_shipped_monitor_yml_validates_without_env_vars() -> None:
    config = load_config(REPO / "monitor.yml", environ={})
    kinds = [(t.name, t.kind) for t in config.all_targets()]
    assert kinds == [("api-health", "http"), ("frontend", "http"), ("login-and-sessions", "synthetic"),
                     ("critical-features", "journey"), ("frontend-page", "browser"),
                     ("api-metrics", "api_metrics"), ("postgres", "postgres"), ("redis", "redis"),
                     ("backups", "backup"), ("backup-restore", "backup_restore"), ("disks", "disk"),
                     ("python-deps", "deps")]
    assert str(config.targets.http[0].url) == "http://127.0.0.1:8000/health"
    login = config.targets.synthetic[0].steps[0]
    assert login.path == "/v1/auth/login" and login.json_body is not None
    assert login.json_body["email"].get_secret_value() == "synthetic-monitor@converge.test"  # type: ignore
    assert config.targets.synthetic[0].steps[1].path == "/v1/sessions"
    assert config.store.backend == "sqlite" and config.store.path == str(REPO / "var" / "monitor.sqlite3")
    assert config.backups[0].directory == str(REPO / "var" / "backups")
    assert config.disks[0].paths == ["/", str(REPO)]
    assert config.dependencies[0].mode == "pip-audit"
    assert (config.server.host, config.server.port) == ("127.0.0.1", 9464)
    assert config.event is not None and config.event.timezone == "America/Los_Angeles"
    assert config.source == REPO / "monitor.yml"


def test_shipped_monitor_yml_takes_its_secrets_from_the_environment() -> None:
    env = {"DATABASE_URL": f"postgresql://converge:{SECRET}@db.internal:5432/converge",
           "REDIS_URL": f"redis://:{SECRET}@cache.internal:6379/0", "SYNTHETIC_PASSWORD": SECRET,
           "BACKUP_DIR": "/srv/backups", "CONVERGE_API_URL": "https://api.converge.example"}
    config = load_config(REPO / "monitor.yml", environ=env)
    assert config.database[0].dsn.get_secret_value() == env["DATABASE_URL"]
    assert config.redis[0].url.get_secret_value() == env["REDIS_URL"]
    assert config.targets.synthetic[0].steps[0].json_body["password"].get_secret_value() == SECRET  # type: ignore
    assert config.backups[0].directory == "/srv/backups"
    assert str(config.targets.api_metrics[0].urls[0]) == "https://api.converge.example/metrics"
    for text in (repr(config), str(config), summarize(config), repr(config.all_targets())):
        assert SECRET not in text
    assert "db.internal" in summarize(config)  # masked, yet recognisable


def test_env_default_and_escape(tmp_path: Path) -> None:
    text = MINIMAL + "server:\n  host: ${HOST:-0.0.0.0}\n  port: ${PORT:-9999}\n" \
        "store:\n  path: ./state-$${NOT_A_VAR}.db\n"
    assert load_config(write(tmp_path, text), environ={}).server.port == 9999
    config = load_config(write(tmp_path, text), environ={"PORT": "8123", "HOST": ""})
    assert (config.server.host, config.server.port) == ("0.0.0.0", 8123)  # ":-" also covers an empty value
    assert config.store.path.endswith("/state-${NOT_A_VAR}.db")


def test_env_value_cannot_change_the_yaml_structure(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL + "store:\n  path: ${P}\n"), environ={"P": "x\nbackend: postgres"})
    assert config.store.backend == "sqlite"


def test_empty_sections_mean_none(tmp_path: Path) -> None:
    # Every entry commented out leaves `database:` null: that is "no databases", not a type error.
    config = load_config(write(tmp_path, "targets:\n  http:\ndatabase:\n# - name: db\nstore:\n"), environ={})
    assert config.all_targets() == [] and config.store.backend == "sqlite"


def test_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "latin1.yml").write_bytes(b"targets: {}\n# caf\xe9\n")
    for path, words in ((tmp_path / "latin1.yml", "not UTF-8"), (tmp_path, "is a directory")):
        with pytest.raises(ConfigError, match=words):
            load_config(path, environ={})


def test_yaml_anchors_and_merge_keys_work(tmp_path: Path) -> None:
    text = """\
x-defaults: &fast {interval: 10s, timeout: 2s}
"""
    with pytest.raises(ConfigError, match="unknown key 'x-defaults'"):
        load_config(write(tmp_path, text + MINIMAL), environ={})
    text = """\
targets:
  http:
    - &api {name: api, url: "http://127.0.0.1:8000/health", interval: 10s, timeout: 2s}
    - {<<: *api, name: api-ping, url: "http://127.0.0.1:8000/v1/ping", timeout: 20s}
"""
    found = problems(tmp_path, text)
    assert found == [("targets.http[1].timeout", 4, "timeout (20s) must not exceed interval (10s)")]


def test_all_targets_is_stable_and_skips_disabled(tmp_path: Path) -> None:
    text = """\
disks:
  - {name: d1, paths: [/]}
targets:
  http:
    - {name: h1, url: "http://a/"}
    - {name: h2, url: "http://b/", enabled: false}
  api_metrics:
    - {name: m1, urls: ["http://a/metrics"]}
redis:
  - {name: r1, url: "redis://127.0.0.1:6379/0"}
"""
    config = load_config(write(tmp_path, text), environ={})
    assert [(t.name, t.kind) for t in config.all_targets()] == [
        ("h1", "http"), ("m1", "api_metrics"), ("r1", "redis"), ("d1", "disk")]
    assert "h2 (disabled)" in summarize(config)


def test_event_window_is_inclusive_in_its_time_zone(tmp_path: Path) -> None:
    config = load_config(REPO / "monitor.yml", environ={})
    event = config.event
    assert event is not None
    la = ZoneInfo("America/Los_Angeles")
    assert event.contains(datetime(2026, 1, 28, 0, 0, tzinfo=la))
    assert event.contains(datetime(2026, 1, 30, 23, 59, tzinfo=la))
    assert not event.contains(datetime(2026, 1, 27, 23, 59, tzinfo=la))
    assert not event.contains(datetime(2026, 1, 31, 0, 0, tzinfo=la))
    assert event.contains(datetime(2026, 1, 31, 7, 0, tzinfo=ZoneInfo("UTC")))  # 23:00 on the 30th in LA
    assert event.contains(datetime(2026, 1, 29, 12, tzinfo=la).timestamp())


def test_config_path_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert default_config_path() == REPO / "monitor.yml"  # found from the package, not the working dir
    assert find_config_file(None, {"CONVERGE_MONITOR_CONFIG": "/x/other.yml"}) == Path("/x/other.yml")
    assert find_config_file("mine.yml", {"CONVERGE_MONITOR_CONFIG": "/x/other.yml"}) == Path("mine.yml")
    other = write(tmp_path, MINIMAL, "other.yml")
    assert load_config(environ={"CONVERGE_MONITOR_CONFIG": str(other)}).source == other


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    text = MINIMAL + "store:\n  path: state/m.sqlite3\nbackups:\n  - {name: b, directory: ../b}\n"
    config = load_config(write(tmp_path, text), environ={})
    assert config.store.path == str(tmp_path / "state" / "m.sqlite3")
    assert config.backups[0].directory == str(tmp_path.parent / "b")


def test_channel_secrets_stay_out_of_repr_and_summary(tmp_path: Path) -> None:
    text = MINIMAL + f"""\
channels:
  slack: {{type: slack, webhook_url: "https://hooks.example/{SECRET}"}}
"""
    config = load_config(write(tmp_path, text), environ={})
    assert config.channels.root["slack"].webhook_url.get_secret_value() == f"https://hooks.example/{SECRET}"
    assert SECRET not in repr(config) and SECRET not in summarize(config)
    assert "channels: slack (slack)" in summarize(config)


def test_postgres_store_and_deadman(tmp_path: Path) -> None:
    text = MINIMAL + "store:\n  backend: postgres\n  dsn: ${STORE_DSN}\n  retention: 7d\n" \
        "deadman:\n  url: https://hc-ping.example/${DEADMAN_TOKEN}\n"
    config = load_config(write(tmp_path, text),
                         environ={"STORE_DSN": f"postgresql://m:{SECRET}@state/monitor", "DEADMAN_TOKEN": SECRET})
    assert config.store.retention == 7 * 86400
    assert config.deadman is not None and config.deadman.url.get_secret_value().endswith(SECRET)
    out = summarize(config)
    assert "store: postgres postgresql://m:***@state/monitor" in out
    assert "deadman: GET https://hc-ping.example/***" in out
    assert SECRET not in out and SECRET not in repr(config)


# Each broken config: (id, yaml, env, expected field path, expected line, words the message contains)


@pytest.mark.parametrize(("text", "env", "path", "line", "words"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_broken_config_names_the_field_and_line(tmp_path: Path, text: str, env: dict[str, str], path: str,
                                                line: int | None, words: str) -> None:
    found = problems(tmp_path, text, env)
    assert any(p == path and ln == line and words in msg for p, ln, msg in found), found


def test_every_problem_is_reported_at_once_in_file_order(tmp_path: Path) -> None:
    text = """\
targets:
  http:
    - name: a
      url: nope
      interval: soon
server:
  port: 0
store:
  backend: mysql
"""
    found = problems(tmp_path, text)
    assert [(p, ln) for p, ln, _ in found] == [
        ("targets.http[0].url", 4), ("targets.http[0].interval", 5), ("server.port", 7), ("store.backend", 9)]


def test_all_duplicate_names_are_reported_with_both_places(tmp_path: Path) -> None:
    text = MINIMAL + """\
    - name: api
      url: http://127.0.0.1:8000/
disks:
  - {name: api, paths: [/]}
"""
    found = problems(tmp_path, text)
    assert [(p, ln) for p, ln, _ in found] == [("targets.http[1].name", 5), ("disks[0].name", 8)]
    assert all("already used by targets.http[0].name (line 3)" in msg for _, _, msg in found)


def test_missing_env_var_is_reported_once_without_follow_up_noise(tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL + "      interval: ${CHECK_INTERVAL}\n")
    assert found == [("targets.http[0].interval", 5, "environment variable CHECK_INTERVAL is not set "
                                                     "(set it, or give a default: ${CHECK_INTERVAL:-...})")]


@pytest.mark.parametrize("text", [
    MINIMAL + "      interval: ${TOKEN}\n",  # a duration error would quote the value
    MINIMAL + "server:\n  port: ${TOKEN}\n",
    MINIMAL + "deadman:\n  url: ${TOKEN}\n",
    MINIMAL + "store:\n  dsn: postgresql://u:${TOKEN}@h/db\n",  # dsn with backend sqlite
    MINIMAL + "database:\n  - {name: db, dsn: '${TOKEN}', slow_query_ms: '${TOKEN}'}\n",
    MINIMAL + "targets2: ${TOKEN}\n",
])
def test_errors_never_show_secret_values(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), environ={"TOKEN": SECRET})
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    assert all(p.path for p in info.value.problems)  # still says where the problem is


def test_config_built_in_code_checks_names_too() -> None:
    with pytest.raises(ValueError, match="already used"):
        Config.model_validate({"disks": [{"name": "d", "paths": ["/"]}, {"name": "d", "paths": ["/tmp"]}]})
