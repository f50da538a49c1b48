"""The monitor config of the drill's own stack.

By default (shipped_drill_config) it is monitor.yml as shipped - every target, interval, rule, threshold and
`for` - pointed at the drill's stack through the environment the file reads, with the event window moved to
include today, plus one https target for the certificate drill (with the http defaults). Nothing is tuned.

With --quick (drill_config below): the same probes, rules and code paths as monitor.yml, tuned
so that every alert fires and resolves within seconds instead of minutes; the end-to-end tests use it.

What differs from the defaults, and why:
  * probes every 1 s (the TLS target every 2 s), in and out of the event window; api_metrics computes its
    rates over 5 s instead of 5 min, so a fault shows (and its end clears) within seconds;
  * the event window covers today, so event-mode rules and routing (critical -> sms + slack) apply;
  * rules are evaluated every second and a group's next alert waits 1 s, not 1 min;
  * RULE_OVERRIDES below: `for` of seconds instead of minutes, `keep_firing_for` of 1 s, and the one
    threshold that would need a huge volume (DdosSuspected 10000/min -> 600/min). Other thresholds stay:
    the injected faults exceed them (2.5 s delay > 1.5 s p95, 50% errors > 10%, a 3-day certificate <
    14 days, Redis filled past 80% of a 32 MB maxmemory, statements slower than 1000 ms).
  * a browser target on the drill's page every 15 s, a restore check of the dump PrivateStack takes at start
    every 5 s, Sentry's webhooks on (a client secret made per run), and a 90 s deploy window (the deploy drill
    runs last; the window closes soon after it instead of 24 h later).
Rules no drill expects keep their defaults, so they stay quiet in a run of a few minutes.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

EVENT_TZ = "America/Los_Angeles"
PROBE_INTERVAL = 1.0
TLS_INTERVAL = 2.0
API_WINDOW = "5s"
DDOS_THRESHOLD = 600  # requests per minute from one IP; the drill's own stack sees ~200/min from 127.0.0.1
REDIS_MAXMEMORY = "32mb"
DB_POOL_MAX = 5  # the API's pool in the drill stack: fewer concurrent requests exhaust it
ENV_DSN, ENV_REDIS = "DRILL_DATABASE_URL", "DRILL_REDIS_URL"
BACKUP_DIR = "backups"  # under the work dir


def _fast(for_: str, keep: str = "1s") -> dict[str, Any]:
    """The same `for`/`keep_firing_for` in and out of the event window."""
    return {"for": for_, "keep_firing_for": keep, "event": {"for": for_, "keep_firing_for": keep}}


# rule -> (override, why)
RULE_OVERRIDES: dict[str, tuple[dict[str, Any], str]] = {
    "ApiDown": (_fast("2s"), "for 30s (event 5s) -> 2s: two failed 1 s health checks page"),
    "RedisDown": (_fast("2s"), "for 1m (event 20s) -> 2s"),
    "PostgresDown": (_fast("2s"), "for 1m (event 20s) -> 2s"),
    "SlowQueries": (_fast("1s"), "for 5m (event 2m), keep firing 10m -> 1s/1s; pg_stat_statements is cumulative"),
    "DbPoolExhausted": (_fast("2s"), "for 1m (event 20s), keep firing 2m -> 2s/1s"),
    "DbPoolRequestsWaiting": (_fast("2s"), "for 1m (event 20s), keep firing 2m -> 2s/1s"),
    "LatencyP95High": (_fast("2s"), "for 5m (event 2m), keep firing 5m -> 2s/1s; threshold unchanged"),
    "LatencyP95Elevated": (_fast("2s"), "for 5m (event 2m), keep firing 5m -> 2s/1s; threshold unchanged"),
    "ErrorRateCritical": (_fast("2s"), "for 2m (event 30s), keep firing 5m -> 2s/1s; threshold unchanged"),
    "ErrorSpike": (_fast("2s"), "for 1m (event 15s), keep firing 5m -> 2s/1s; threshold unchanged"),
    "DdosSuspected": ({"threshold": DDOS_THRESHOLD, **_fast("0s")},
                      f"10000/min -> {DDOS_THRESHOLD}/min (clears below 80% of it, as the default); keep firing "
                      "5m -> 1s"),
    "RedisMemoryHigh": (_fast("2s"), "for 5m (event 2m), keep firing 5m -> 2s/1s; threshold unchanged"),
    "CriticalJourneyFailing": (_fast("2s"), "for 4m (event 1m) -> 2s: two failed journeys page"),
    "TlsCertExpiring": (_fast("1s", "0s"), "for 5m -> 1s; threshold unchanged (7 days, 14 in the event)"),
    "PageLoadVerySlow": (_fast("1s"), "for 6m (event 2m), keep firing 4m -> 1s/1s; threshold unchanged (4 s)"),
    "BackupRestoreFailed": (_fast("0s"), "keep firing 30m -> 1s"),
    "ErrorRateHigh": ({**_fast("2s"), "deploy": {"for": "2s", "keep_firing_for": "1s"}},
                      "for 5m (event 2m, deploy 2m), keep firing 5m -> 2s/1s; thresholds unchanged (3% in the "
                      "event, 1% after a deploy)"),
}


TLS_TARGET = "drill-tls"


def shipped_drill_config(*, tls_url: str, ca_file: Path) -> dict[str, Any]:
    """monitor.yml's data, event window on today, plus the local https target (no interval: the defaults)."""
    from devstack.shipped import shipped_data

    return shipped_data(extra_targets={"http": [{"name": TLS_TARGET, "url": tls_url, "ca_file": str(ca_file)}]})


def event_window(today: date | None = None) -> dict[str, str]:
    today = today or datetime.now(ZoneInfo(EVENT_TZ)).date()
    return {"start": str(today - timedelta(days=1)), "end": str(today + timedelta(days=1)), "timezone": EVENT_TZ}


JOURNEY_INTERVAL = 3.0  # two Argon2 logins per journey: 1 s would be tight on 2 cores
BROWSER_INTERVAL = 15.0  # Chromium starts in 1-4 s on a busy machine, and the slow page takes 4.5 s on top
RESTORE_INTERVAL = 5.0  # a pg_restore and a scratch database each time
DEPLOY_WINDOW = "90s"


def drill_config(*, api_url: str, tls_url: str, ca_file: Path, work_dir: Path, monitor_port: int,
                 synthetic_password: str = "synthetic-check", page_url: str | None = None) -> dict[str, Any]:
    """The config as plain data (written as YAML); the DSN and Redis URL come from the environment."""
    every = {"interval": PROBE_INTERVAL, "event_interval": PROBE_INTERVAL, "timeout": PROBE_INTERVAL}
    return {
        "targets": {
            "http": [
                {"name": "api-health", "url": f"{api_url}/health", **every,
                 "json_checks": [{"path": "status", "equals": "healthy"}]},
                {"name": "drill-tls", "url": tls_url, "ca_file": str(ca_file), "interval": TLS_INTERVAL,
                 "event_interval": TLS_INTERVAL, "timeout": TLS_INTERVAL},
            ],
            "api_metrics": [{"name": "api-metrics", "urls": [f"{api_url}/metrics"], "window": API_WINDOW, **every}],
            "journey": [{"name": "critical-features", "base_url": api_url, "interval": JOURNEY_INTERVAL,
                         "event_interval": JOURNEY_INTERVAL, "timeout": JOURNEY_INTERVAL,
                         "email": "synthetic-monitor@converge.test", "password": synthetic_password,
                         "peer_email": "synthetic-peer@converge.test", "peer_password": synthetic_password,
                         "peer_qr_code": "CNV-SYNTHETIC-PEER"}],
            # The slow-page drill's page (devstack/drills/page.py); the API's own pages answer JSON.
            "browser": [{"name": "drill-page", "url": page_url or f"{api_url}/v1/ping", "interval": BROWSER_INTERVAL,
                         "event_interval": BROWSER_INTERVAL, "timeout": BROWSER_INTERVAL}],
        },
        # The dump PrivateStack takes once the database is seeded (own_stack's backup_dir), restored on the same
        # server into the check's scratch database. Key tables: the ones the drill's traffic does not grow (its
        # RSVPs, connections and messages soon outnumber a dump taken at start-up by more than the tolerance).
        "restore_checks": [{"name": "restore-check", "directory": str(work_dir / BACKUP_DIR),
                            "source_dsn": f"${{{ENV_DSN}}}", "scratch_dsn": f"${{{ENV_DSN}}}",
                            "key_tables": ["attendees", "sessions"], "interval": RESTORE_INTERVAL,
                            "event_interval": RESTORE_INTERVAL, "timeout": RESTORE_INTERVAL}],
        "sentry": {"client_secret": secrets.token_hex(16)},
        "deploys": {"window": DEPLOY_WINDOW},
        "database": [{"name": "postgres", "dsn": f"${{{ENV_DSN}}}", **every}],
        "redis": [{"name": "redis", "url": f"${{{ENV_REDIS}}}", **every}],
        "store": {"backend": "sqlite", "path": str(work_dir / "monitor.sqlite3")},
        "server": {"host": "127.0.0.1", "port": monitor_port},
        "event": event_window(),
        "alerting": {"evaluation_interval": "1s", "event_evaluation_interval": "1s", "group_interval": "1s",
                     "notifications_file": str(work_dir / "notifications.jsonl")},
        "rules": {"overrides": {name: override for name, (override, _) in RULE_OVERRIDES.items()}},
    }
