"""`python -m devstack up`: private PostgreSQL and Redis, the migrated and seeded API; Ctrl-C stops all."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading

from devstack import ApiServer, MissingBinaryError, PrivatePostgres, PrivateRedis


def up(attendees: int, port: int) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.ExitStack() as stack:
        try:
            pg = stack.enter_context(PrivatePostgres())
            redis = stack.enter_context(PrivateRedis())
        except MissingBinaryError as exc:
            print(f"devstack: {exc}", file=sys.stderr)
            return 1
        env = {"DATABASE_URL": pg.url}
        for cmd in (["migrate"], ["seed", "--attendees", str(attendees)]):
            subprocess.run([sys.executable, "-m", "app", *cmd], check=True, env={**os.environ, **env})
        api = stack.enter_context(ApiServer(pg.url, redis.url, port=port or None))
        print(f"PostgreSQL  {pg.url}  (pid {pg.pid})")
        print(f"Redis       {redis.url}  (pid {redis.pid})")
        print(f"Converge API {api.url}   health {api.url}/health   metrics {api.url}/metrics")
        print(f"API log     {api.log_path}")
        print("Press Ctrl-C to stop everything.", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        print("\nstopping...", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("up", help="start PostgreSQL, Redis and the seeded API until Ctrl-C")
    cmd.add_argument("--attendees", type=int, default=200)
    cmd.add_argument("--port", type=int, default=0)
    sub.add_parser("demo", help="the stack, synthetic traffic and converge-monitor watching it, until Ctrl-C")
    args = parser.parse_args()
    if args.command == "demo":
        from devstack.demo import demo

        return demo()
    return up(args.attendees, args.port)


if __name__ == "__main__":
    sys.exit(main())
