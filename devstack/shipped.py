"""The shipped monitor.yml, pointed at a private stack and put in event mode - nothing else changed.

The drills (default mode) and the soaks judge the monitor with the configuration it ships: the same
targets, intervals, rules, thresholds and `for` durations. What a private stack needs is given the way a
deployment gives it, through the environment monitor.yml reads (${CONVERGE_API_URL}, ${DATABASE_URL}, ...);
the one edit to the file's data is the event window, moved to include today (`event:`), so that event-mode
intervals and rule values apply now. `extra` adds sections the file leaves to the deployment (channels,
on-call, routing) or targets a private stack needs on top (a local TLS target).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

MONITOR_YML = Path(__file__).resolve().parent.parent / "monitor.yml"


def event_today(data: dict[str, Any], today: date | None = None) -> dict[str, str]:
    """The file's event window (its time zone), moved to yesterday..tomorrow so that it contains now."""
    tz = str(data.get("event", {}).get("timezone", "UTC"))
    today = today or datetime.now(ZoneInfo(tz)).date()
    return {"start": str(today - timedelta(days=1)), "end": str(today + timedelta(days=1)), "timezone": tz}


def shipped_data(extra_targets: dict[str, list[dict[str, Any]]] | None = None,
                 **sections: Any) -> dict[str, Any]:
    """monitor.yml's data with the event window on today; `extra_targets` appended to `targets`, and
    `sections` (channels, oncall, routing...) added. Raises ValueError if a section would replace one the
    file sets (other than `event`): that would no longer be the shipped config."""
    data: dict[str, Any] = yaml.safe_load(MONITOR_YML.read_text())
    data["event"] = event_today(data)
    for kind, targets in (extra_targets or {}).items():
        data["targets"].setdefault(kind, []).extend(targets)
    clash = sorted(k for k in sections if k in data and k != "event")
    if clash:
        raise ValueError(f"monitor.yml already sets {', '.join(clash)}")
    data.update(sections)
    return data


def stack_env(base: dict[str, str], work_dir: Path, monitor_port: int, frontend_url: str | None = None
              ) -> dict[str, str]:
    """The environment monitor.yml reads, for a private stack (`base`: PrivateStack.env()): its own store,
    notifications file and port; the restore check's scratch server is the stack's PostgreSQL; the dependency
    audit off (it needs the internet, and a run without it is 'unknown')."""
    env = {**base, "MONITOR_STORE": str(work_dir / "monitor.sqlite3"),
           "NOTIFICATIONS_FILE": str(work_dir / "notifications.jsonl"), "MONITOR_HOST": "127.0.0.1",
           "MONITOR_PORT": str(monitor_port), "DEPS_AUDIT": "false"}
    if "DATABASE_URL" in base:
        env["RESTORE_SCRATCH_DSN"] = base["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    if frontend_url is not None:
        env["FRONTEND_URL"] = frontend_url
    elif "CONVERGE_API_URL" in base:
        env["FRONTEND_URL"] = f"{base['CONVERGE_API_URL']}/v1/ping"  # as monitor.yml's own default does
    return env


def write(data: dict[str, Any], path: Path, header: str = "") -> Path:
    path.write_text(header + yaml.safe_dump(data, sort_keys=False))
    return path
