"""`converge-monitor report`: print the daily status report of a day from the monitor's store.

    converge-monitor report                      # today so far, in the event's time zone
    converge-monitor report --date 2026-01-28    # a past day
    converge-monitor report --date 2026-01-28 --format html > report.html

Registered by monitor/cli/__init__.py from COMMANDS below (monitor/core/commands.py has Command).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, datetime
from pathlib import Path

from monitor.config import load_config
from monitor.core.commands import EXIT_OK, EXIT_USAGE, Command, config_file
from slo.incidents import load_incidents
from slo.report import gather_report, render_html, render_text, report_zone
from slo.service import SloService
from slo.spec import parse_slos


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", metavar="YYYY-MM-DD", help="the local day to report (default: today)")
    parser.add_argument("--format", choices=("text", "slack", "html"), default="text",
                        help="text (terminal), slack (mrkdwn) or html (e-mail); default text")


def _parse_day(text: str | None, today: date) -> date:
    if text is None:
        return today
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--date {text!r} is not a date like 2026-01-28") from None



def report(args: argparse.Namespace) -> int:
    from monitor.store import open_store

    config = load_config(config_file(args))
    slos = parse_slos(config.slos)
    zone = report_zone(slos.report, config.event)
    now = time.time()
    try:
        day = _parse_day(args.date, datetime.fromtimestamp(now, zone).date())
    except ValueError as exc:
        print(f"converge-monitor: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if day > datetime.fromtimestamp(now, zone).date():
        print(f"converge-monitor: {day} is in the future ({zone})", file=sys.stderr)
        return EXIT_USAGE
    if config.store.backend == "sqlite" and not Path(config.store.path).exists():
        print(f"converge-monitor: no monitor data at {config.store.path}: run `converge-monitor run` with this "
              "config first", file=sys.stderr)
        return EXIT_USAGE
    store = open_store(config.store)
    try:
        service = SloService.from_config(config, store, cache=False)
        incidents = load_incidents(store, config.alerting.notifications_file)
        result = gather_report(service, store, day, zone, now, incidents, config.event)
    finally:
        store.close()
    if args.format == "html":
        print(render_html(result), end="")
    else:
        print(render_text(result, slack=args.format == "slack"), end="")
    return EXIT_OK


COMMANDS: tuple[Command, ...] = (
    Command("report", "print the daily status report of a day (uptime, p95, errors, SLO budgets, incidents)",
            report, _report_arguments),
)
