"""`converge-monitor export-rules --out DIR`: write the Prometheus rule files for the config's rules.

    converge-monitor export-rules --out prometheus/rules      # the committed copy (default config)

Registered by monitor/cli.py from COMMANDS. COMMANDS is built on first access because monitor.cli imports
this module while it defines Command (a module-level import of monitor.cli here would be circular).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.config import Config, load_config
from monitor.promrules import RuleGroup, rule_files

if TYPE_CHECKING:
    from monitor.commands import Command

# slo/ hands its Prometheus groups over here once it exists: slo.prometheus.slo_rule_groups(config) -> groups
SLO_HOOK = ("slo.prometheus", "slo_rule_groups")

EXIT_STALE = 1  # --check: the files differ
COMMANDS: tuple[Command, ...]  # built by __getattr__ on first access


def slo_groups(config: Config) -> list[RuleGroup]:
    """The SLO recording and burn-rate groups, when the slo package provides them (none until then)."""
    module_name, function = SLO_HOOK
    if importlib.util.find_spec(module_name) is None:
        return []
    return list(getattr(importlib.import_module(module_name), function)(config))


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
    from monitor.commands import EXIT_OK, EXIT_USAGE, config_file

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


def _commands() -> tuple[Command, ...]:
    from monitor.commands import Command

    return (
        Command("export-rules", "write Prometheus alerting and recording rules generated from the rule catalog",
                export_rules, _export_arguments),
    )


def __getattr__(name: str) -> Any:
    if name == "COMMANDS":
        commands = _commands()
        globals()["COMMANDS"] = commands  # built once
        return commands
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
