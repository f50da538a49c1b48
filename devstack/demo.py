"""`make demo`: the whole thing on one machine, from a fresh clone.

Private PostgreSQL and Redis from the local binaries, the Converge API migrated and seeded, synthetic
event-day traffic, and converge-monitor on its embedded default config (monitor.yml) watching it all.
Ctrl-C stops everything, children first, and leaves no process behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
from pathlib import Path

from devstack.monitor import MonitorServer
from devstack.process import MissingBinaryError, free_port, port_open
from devstack.seeded import SEED_PASSWORD, SYNTHETIC_PASSWORD  # what monitor.yml's synthetic flow uses by default
from devstack.stack import PrivateStack, Seed
from devstack.traffic import Traffic

ROOT = Path(__file__).resolve().parent.parent
ATTENDEES = 200


def _port(preferred: int) -> int:
    return preferred if not port_open(preferred) else free_port()


def _follow(path: Path, stop: threading.Event) -> None:
    """Print each notification the monitor writes, as it lands."""
    offset = 0
    while not stop.wait(0.5):
        if not path.exists():
            continue
        with open(path, "rb") as f:
            f.seek(offset)
            chunk = f.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        offset += len(complete)
        for line in complete.splitlines():
            note = json.loads(line)
            print(f"\n[notification -> {', '.join(note['channels']) or 'log'}]\n{note['text']}", flush=True)


def _traffic(base_url: str, stop: threading.Event) -> None:
    traffic = Traffic(base_url, ATTENDEES, SEED_PASSWORD, users=20, think=0.5)

    async def run() -> None:
        task = asyncio.create_task(traffic.run())
        while not stop.is_set():
            await asyncio.sleep(0.2)
        traffic.stop()
        await task

    asyncio.run(run())


def demo() -> int:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):  # also when started in the background, where SIGINT is ignored
        signal.signal(sig, lambda *_: stop.set())
    var = Path(os.environ.get("CONVERGE_DEMO_DIR") or ROOT / "var" / "demo")  # the tests give their own
    var.mkdir(parents=True, exist_ok=True)
    notifications = var / "notifications.jsonl"
    # The dependency audit needs the internet (pip-audit queries vulnerability databases): off in the demo.
    env = {"SYNTHETIC_PASSWORD": SYNTHETIC_PASSWORD, "BACKUP_DIR": str(var / "backups"), "DEPS_AUDIT": "false",
           "MONITOR_STORE": str(var / "monitor.sqlite3"), "NOTIFICATIONS_FILE": str(notifications)}
    (var / "backups").mkdir(exist_ok=True)
    with contextlib.ExitStack() as stack:
        api = None
        try:
            private = stack.enter_context(PrivateStack(
                seed=Seed(ATTENDEES, SEED_PASSWORD, SYNTHETIC_PASSWORD), api_port=_port(8000), log_dir=var,
                backup_dir=var / "backups"))  # a real, fresh backup for the backup check
            api = private.api
            env.update(private.env())
            env["RESTORE_SCRATCH_DSN"] = private.postgres.admin_url  # the restore check's scratch copy, same server
            print(f"PostgreSQL    {private.postgres.url}\nRedis         {private.redis.url}\nConverge API  {api.url}  "
                  f"(metrics {api.url}/metrics, health {api.url}/health)")
        except MissingBinaryError as exc:
            print(f"demo: {exc}\ndemo: starting the monitor anyway: it will report what it cannot reach.",
                  file=sys.stderr)
        port = _port(9464)
        env["MONITOR_PORT"] = str(port)
        monitor = MonitorServer(ROOT / "monitor.yml", port, env=env, log_dir=str(var))
        stack.enter_context(monitor)
        print(f"converge-monitor  status board {monitor.url}/board  (kiosk {monitor.url}/board/kiosk)\n"
              f"                  metrics {monitor.url}/metrics  signals {monitor.url}/api/signals  "
              f"alerts {monitor.url}/api/alerts\n"
              f"notifications     printed here and appended to {notifications}\n"
              f"monitor log       {monitor.log_path}\nPress Ctrl-C to stop everything.", flush=True)
        threads = [threading.Thread(target=_follow, args=(notifications, stop), daemon=True)]
        if api is not None:
            threads.append(threading.Thread(target=_traffic, args=(api.url, stop), daemon=True))
        for t in threads:
            t.start()
        try:
            while not stop.wait(0.5):
                if monitor.pid is None:
                    print("demo: the monitor exited; see its log", file=sys.stderr)
                    break
        except KeyboardInterrupt:
            pass
        stop.set()
        print("\nstopping...", flush=True)
        for t in threads:
            t.join(timeout=10)
        # Leaving the ExitStack stops the monitor, the API, Redis and PostgreSQL, in that order.
    print("stopped.")
    return 0
