"""What every `converge-monitor` subcommand module shares: the Command record, exit codes, the config file."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

EXIT_OK = 0
EXIT_USAGE = 2  # argparse's code for bad usage; a bad config is the same kind of mistake


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    run: Callable[[argparse.Namespace], int]
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None


def config_file(args: argparse.Namespace) -> str | None:
    """The config file named on the command line, if any (else load_config uses the env var or monitor.yml)."""
    return getattr(args, "file", None) or getattr(args, "config", None)
