"""`converge-monitor export-rules --out DIR`: write the Prometheus rule files for the config's rules.

    converge-monitor export-rules --out prometheus/rules      # the committed copy (default config)

Registered by monitor/cli/__init__.py from COMMANDS.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alerts.promrules import RuleGroup, rule_files
from monitor.config import Config, load_config
from monitor.core.commands import EXIT_OK, EXIT_USAGE, Command, config_file

EXIT_STALE = 1  # --check: the files differ


def slo_groups(config: Config) -> list[RuleGroup]:
    """The SLO recording and burn-rate groups from slo/ (slo.prometheus.slo_rule_groups); none while the slo
    package is not there."""
    try:
        from slo.prometheus import slo_rule_groups
        from slo.spec import parse_slos
    except ModuleNotFoundError as exc:
        if exc.name not in ("slo.prometheus", "slo.spec"):
            raise  # a bug inside slo/, not a missing package
        return []
    return list(slo_rule_groups(parse_slos(config.slos), config.event))


def write_rules(config: Config, out: Path) -> list[Path]:
    """Write every rule file into `out` (created if missing); returns the paths written."""
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out: {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rule_files(config.effective_rules(), slo_groups=slo_groups(config)).items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_files(config: Config, out: Path) -> list[str]:
    """The rule files in `out` that are missing or differ from what export-rules would write."""
    expected = rule_files(config.effective_rules(), slo_groups=slo_groups(config))
    return [name for name, text in expected.items()
            if not (out / name).is_file() or (out / name).read_text(encoding="utf-8") != text]


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="DIR", required=True, type=Path,
                        help="directory for the rule files (created if missing; files of the same name are replaced)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if the files in DIR differ from the generator's output")


def export_rules(args: argparse.Namespace) -> int:
    config = load_config(config_file(args))
    try:
        if args.check:
            stale = stale_files(config, args.out)
            for name in stale:
                print(f"{args.out / name}: missing or out of date", file=sys.stderr)
            if stale:
                print(f"converge-monitor: run `converge-monitor export-rules --out {args.out}`", file=sys.stderr)
                return EXIT_STALE
            print(f"{args.out}: rule files up to date")
            return EXIT_OK
        written = write_rules(config, args.out)
    except (OSError, ValueError) as exc:  # ValueError: a custom rule PromQL cannot express, named in the message
        print(f"converge-monitor export-rules: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for path in written:
        print(path)
    return EXIT_OK


COMMANDS: tuple[Command, ...] = (
    Command("export-rules", "write Prometheus alerting and recording rules generated from the rule catalog",
            export_rules, _export_arguments),
)
