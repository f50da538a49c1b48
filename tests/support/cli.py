"""Run `converge-monitor` commands in-process: the commands of one module, parsed as the CLI parses them."""

from __future__ import annotations

import argparse

from monitor.cli.notify import COMMANDS


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        p = sub.add_parser(command.name)
        if command.add_arguments:
            command.add_arguments(p)
        p.set_defaults(run=command.run)
    args = parser.parse_args(argv)
    return int(args.run(args))
