"""Config texts shared by the config and CLI tests: a minimal valid file and the broken variants."""

from __future__ import annotations

from pathlib import Path

SECRET = "s3cr3t-token"


MINIMAL = """\
targets:
  http:
    - name: api
      url: http://127.0.0.1:8000/health
"""


def write(tmp_path: Path, text: str, name: str = "monitor.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


BROKEN = [
    ("wrong-type", MINIMAL + "      interval: [1, 2]\n", {}, "targets.http[0].interval", 5, "duration"),
    ("unknown-key", MINIMAL + "      timout: 3s\n", {}, "targets.http[0].timout", 5, "did you mean 'timeout'"),
    ("unknown-section", MINIMAL + "alerts: {}\n", {}, "alerts", 5, "unknown key"),
    ("missing-env", MINIMAL + "database:\n  - name: db\n    dsn: ${DATABASE_URL}\n", {}, "database[0].dsn", 7,
     "DATABASE_URL is not set"),
    ("bad-duration", MINIMAL + "      interval: 5 minutes\n", {}, "targets.http[0].interval", 5, "invalid duration"),
    ("zero-duration", MINIMAL + "      timeout: 0s\n", {}, "targets.http[0].timeout", 5, "positive"),
    ("bad-url", "targets:\n  http:\n    - name: api\n      url: localhost:8000/health\n", {},
     "targets.http[0].url", 4, "URL"),
    ("bad-metrics-url", "targets:\n  api_metrics:\n    - name: m\n      urls: [ftp://x/metrics]\n", {},
     "targets.api_metrics[0].urls[0]", 4, "scheme"),
    ("duplicate-name", MINIMAL + "redis:\n  - name: api\n    url: redis://127.0.0.1:6379/0\n", {},
     "redis[0].name", 6, "already used by targets.http[0].name (line 3)"),
    ("timeout-over-interval", MINIMAL + "      interval: 10s\n      timeout: 20s\n", {}, "targets.http[0].timeout", 6,
     "must not exceed interval"),
    ("bad-timezone", MINIMAL + "event:\n  start: 2026-01-28\n  end: 2026-01-30\n  timezone: Mars/Olympus\n", {},
     "event.timezone", 8, "unknown time zone"),
    ("event-end-before-start", MINIMAL + "event:\n  start: 2026-01-30\n  end: 2026-01-28\n", {}, "event.end", 7,
     "before start"),
    ("impossible-date", MINIMAL + "event:\n  start: 2026-02-30\n  end: 2026-03-01\n", {}, "", 6, "day is out of range"),
    ("yaml-syntax", "targets:\n  http: [\n    - name: x\n", {}, "", 3, "YAML syntax error"),
    ("yaml-duplicate-key", MINIMAL + "store: {}\nstore: {}\n", {}, "", 6, "duplicate key 'store'"),
    ("empty-file", "# only a comment\n", {}, "", None, "empty"),
    ("not-a-mapping", "- targets\n", {}, "", 1, "top level must be a mapping"),
    ("unknown-backend", MINIMAL + "store:\n  backend: mysql\n", {}, "store.backend", 6, "'sqlite' or 'postgres'"),
    ("postgres-store-without-dsn", MINIMAL + "store:\n  backend: postgres\n", {}, "store.backend", 6, "needs a dsn"),
    ("store-is-monitored-db", MINIMAL + "database:\n  - {name: db, dsn: 'postgresql://h/app'}\n"
     "store: {backend: postgres, dsn: 'postgresql://h/app'}\n", {}, "store.dsn", 7,
     "must not be the database monitored by database[0] (line 6)"),
    ("negative-number", MINIMAL + "database:\n  - name: db\n    dsn: postgresql://h/app\n    slow_query_ms: -5\n",
     {}, "database[0].slow_query_ms", 8, "greater than 0"),
    ("negative-retention", MINIMAL + "store:\n  retention: -1d\n", {}, "store.retention", 6, "duration"),
    ("bad-port", MINIMAL + "server:\n  port: 70000\n", {}, "server.port", 6, "less than or equal to 65535"),
    ("port-not-a-number", MINIMAL + "server:\n  port: http\n", {}, "server.port", 6, "valid integer"),
    ("missing-required", "targets:\n  http:\n    - name: api\n", {}, "targets.http[0].url", 3, "required"),
    ("bad-name", "targets:\n  http:\n    - name: API Health\n      url: http://x/\n", {}, "targets.http[0].name", 3,
     "pattern"),
    ("no-steps", "targets:\n  synthetic:\n    - name: s\n      base_url: http://x/\n      steps: []\n", {},
     "targets.synthetic[0].steps", 5, "at least 1"),
    ("backup-two-sources", MINIMAL + "backups:\n  - {name: b, directory: /x, command: [ls]}\n", {}, "backups[0]", 6,
     "exactly one of directory or command"),
    ("loose-section-scalar", MINIMAL + "rules: 5\n", {}, "rules", 5, "mapping or a list"),
    ("bad-reference", MINIMAL + "server:\n  host: ${not valid}\n", {}, "server.host", 6, "invalid reference"),
    ("deadman-not-a-url", MINIMAL + "deadman:\n  url: ${DEADMAN_URL}\n", {"DEADMAN_URL": "hc-ping/abc"},
     "deadman.url", 6, "http(s) URL"),
    ("section-not-a-list", MINIMAL + "redis:\n  name: r\n", {}, "redis", 5, "valid list"),
]
