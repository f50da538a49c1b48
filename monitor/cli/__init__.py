"""`converge-monitor`: the command line.

One function per subcommand, registered in COMMANDS: to add `run` or `probe`, write
`def run(args) -> int` (and, if it takes arguments, a function adding them) and append a Command.
Every subcommand accepts `--config FILE`; `config_file(args)` gives the choice to pass to load_config.
Exit codes: 0 ok, 2 bad usage or bad config (one line per problem on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import metadata

from monitor.cli import alerts as cli_alerts
from monitor.cli import backtest as cli_backtest
from monitor.cli import dashboards as dashboards_cli
from monitor.cli import deploy as deploy_cli
from monitor.cli import drill as drills_cli
from monitor.cli import export as cli_export
from monitor.cli import notify
from monitor.cli import slo as slo_cli
from monitor.config import ENV_CONFIG, ConfigError, find_config_file, load_config
from monitor.config.summary import summarize
from monitor.core.commands import EXIT_OK, EXIT_USAGE, Command, config_file


def _check_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", metavar="FILE", help="the config file (default: as for --config)")
    parser.add_argument("--backtest", metavar="DURATION",
                        help="also replay the running monitor's last DURATION (e.g. 7d) of history with this config "
                             "and print what it would have fired and what differs from the running config")


def check_config(args: argparse.Namespace) -> int:
    config = load_config(config_file(args))
    print(summarize(config))
    if getattr(args, "backtest", None):
        from monitor.history import HistoryError

        try:
            print(cli_backtest.backtest_running(config, str(find_config_file(config_file(args))), args.backtest))
        except HistoryError as exc:
            print(f"converge-monitor: {exc}", file=sys.stderr)
            return EXIT_USAGE
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    from monitor.runner import run_forever

    return run_forever(load_config(config_file(args)))


def _probe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true", help="run each probe once (the default and only mode)")
    parser.add_argument("--target", action="append", metavar="NAME", help="only this target (repeatable)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def probe(args: argparse.Namespace) -> int:
    from monitor.cli.probe_once import UnknownTarget, all_passed, probe_once, render_table, to_json

    config = load_config(config_file(args))
    try:
        results = probe_once(config, args.target)
    except UnknownTarget as exc:
        print(f"converge-monitor: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(to_json(results) if args.json else render_table(results))
    return EXIT_OK if all_passed(results) else 1


COMMANDS: tuple[Command, ...] = (
    Command("check-config", "validate the config file and print a summary of it (secrets masked)",
            check_config, _check_config_arguments),
    Command("run", "run the probe scheduler and the HTTP server (/metrics, /health, /api/signals)", run),
    Command("probe", "run the probes once and print what they saw; exit 1 if any check failed",
            probe, _probe_arguments),
    Command("alerts", "list the active alerts of the running monitor", cli_alerts.alerts),
    Command("ack", "acknowledge a firing alert: its escalation and reminders stop", cli_alerts.ack,
            cli_alerts._ack_arguments),
    Command("silence", "add, list or expire silences", cli_alerts.silence, cli_alerts._silence_arguments),
    Command("rules", "print the effective alert rules (defaults, overrides, event mode)", cli_alerts.rules),
    *notify.COMMANDS,
    *dashboards_cli.COMMANDS,
    *cli_export.COMMANDS,
    *cli_backtest.COMMANDS,
    *slo_cli.COMMANDS,
    *drills_cli.COMMANDS,
    *deploy_cli.COMMANDS,
)


def build_parser() -> argparse.ArgumentParser:
    # --config on the main parser and on every subcommand; SUPPRESS so a subcommand does not reset it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                        help=f"config file (default: ${ENV_CONFIG}, else monitor.yml at the repository root)")
    parser = argparse.ArgumentParser(prog="converge-monitor", parents=[common],
                                     description="Observability and SLO monitoring for the Converge API.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        cmd_parser = sub.add_parser(command.name, parents=[common], help=command.help, description=command.help)
        if command.add_arguments:
            command.add_arguments(cmd_parser)
        cmd_parser.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, message already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return args.run(args)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the output was piped into `head` and closed
        sys.stderr.close()
        return 0


def _version() -> str:
    try:
        return metadata.version("converge-monitor")
    except metadata.PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
