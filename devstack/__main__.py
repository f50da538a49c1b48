"""`python -m devstack up`: private PostgreSQL and Redis, the migrated and seeded API; Ctrl-C stops all."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from devstack.process import MissingBinaryError
from devstack.seeded import SEED_PASSWORD, SYNTHETIC_PASSWORD
from devstack.stack import PrivateStack, Seed


def up(attendees: int, port: int) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # The seed passwords as `python -m app seed` takes them when given none.
    seed = Seed(attendees, os.environ.get("SEED_PASSWORD", SEED_PASSWORD),
                os.environ.get("SYNTHETIC_PASSWORD", SYNTHETIC_PASSWORD))
    try:
        stack = PrivateStack(seed=seed, api_port=port or None, echo=True).start()
    except MissingBinaryError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1
    with stack:
        pg, redis, api = stack.postgres, stack.redis, stack.api
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
