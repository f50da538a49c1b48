"""`converge-monitor deploy mark --version V` / `deploy list`: record deploys in the monitor's store.

For deploys.window after a deploy (24 h by default) the rules' `deploy` values apply (the post-deployment
checklist: error rate above 1%, p95 above 500 ms); the running monitor reads the store at its next cycle.
Registered by monitor/cli/__init__.py from COMMANDS.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from datetime import UTC, datetime

from monitor.config import load_config
from monitor.core.commands import EXIT_OK, EXIT_USAGE, Command, config_file
from monitor.deploys import DeployError, load_deploys, open_window, record_deploy
from monitor.store import open_store


def _arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    mark = sub.add_parser("mark", help="record a deploy now: the deploy window opens")
    mark.add_argument("--version", required=True, help="the deployed version (a tag, semver or commit)")
    mark.add_argument("--by", default=None, help="who deployed (default: the current user)")
    mark.add_argument("--note", default="", help="a short note shown on the board")
    sub.add_parser("list", help="the recorded deploys and whether the window is open")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def deploy(args: argparse.Namespace) -> int:
    config = load_config(config_file(args))
    store = open_store(config.store)
    try:
        now = time.time()
        window = config.deploys.window
        if args.action == "mark":
            try:
                d = record_deploy(store, args.version, at=now, by=args.by or getpass.getuser(), note=args.note,
                                  keep=config.deploys.keep)
            except DeployError as exc:
                print(f"converge-monitor deploy: --version: {exc}", file=sys.stderr)
                return EXIT_USAGE
            print(f"deploy {d.version} recorded at {_iso(d.at)}; deploy thresholds apply until {_iso(d.at + window)}")
            return EXIT_OK
        deploys = load_deploys(store)
        current = open_window(deploys, now, window)
        for d in deploys:
            mark = "  (window open)" if d is current else ""
            print(f"{_iso(d.at)}  {d.version}  {d.by}  {d.note}{mark}".rstrip())
        if not deploys:
            print("no deploys recorded")
        return EXIT_OK
    finally:
        store.close()


COMMANDS: tuple[Command, ...] = (
    Command("deploy", "record a deploy (mark) or list them: the deploy thresholds apply for deploys.window",
            deploy, _arguments),
)
