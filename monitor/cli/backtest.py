"""`converge-monitor backtest` and `export-history`: replay recorded history through a config's alerting.

    converge-monitor backtest --config new.yml                       # the store's whole history
    converge-monitor backtest --config new.yml --against --from 7d   # and what differs from the running config
    converge-monitor backtest --config new.yml --history h.jsonl --json
    converge-monitor backtest --config new.yml --prometheus http://prometheus:9090 --from 2026-01-28T08:00
    converge-monitor export-history --from 2026-01-28 --to 2026-01-31 --out h.jsonl

The replay is alerts/backtest.py (the live AlertService over an in-memory store, nothing sent) with the SLO
burn rates of slo/backtest.py; this module only opens the history and prints. The store is only read.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alerts.backtest import Change, Replay, ReplayResult, ReplayStore, compare
from alerts.service import AlertService
from monitor.config import Config, find_config_file, load_config
from monitor.core.commands import EXIT_OK, EXIT_USAGE, Command, config_file
from monitor.core.observation import Observation
from monitor.core.targets import parse_duration
from monitor.core.timeutil import prom_duration
from monitor.history import HistoryError
from monitor.history.jsonl import read_jsonl, write_jsonl
from monitor.history.prometheus import read_prometheus
from slo.backtest import BurnInputs

# What the store holds before the window opens: read so that the first evaluation sees the latest values, as
# the live monitor's store would (longer than any target's staleness limit at the default intervals).
WARMUP = 3600.0

Opener = Callable[[float, float, set[str] | None], Iterator[Observation]]  # (since, until, signals or all)


@dataclass
class History:
    describe: str
    open: Opener  # (since, until, signals) -> observations of those signals in time order
    span: tuple[float, float] | None = None  # first and last sample, when the source knows them cheaply


def parse_time(text: str | None, now: float) -> float | None:
    """Epoch seconds, an ISO date/time (UTC unless it names an offset), or a duration back from now ("7d")."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        when = None
    if when is not None:
        return (when if when.tzinfo is not None else when.replace(tzinfo=UTC)).timestamp()
    try:
        return now - parse_duration(text)
    except (ValueError, TypeError):
        raise HistoryError(f"{text!r} is not a time: give epoch seconds, an ISO date/time or a duration "
                           "back from now like 7d") from None


def fmt_time(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def fmt_span(seconds: float) -> str:
    return prom_duration(max(0.0, round(seconds)), whole_seconds=True) if seconds >= 1 else f"{seconds:.1f}s"


# -- the history sources ---------------------------------------------------------------------------------

def store_history(config: Config) -> tuple[History, Callable[[], None]]:
    from monitor.store import open_store

    if config.store.backend == "sqlite" and not Path(config.store.path).exists():
        raise HistoryError(f"no monitor history at {config.store.path}: run `converge-monitor run` with this config "
                           "first, or pass --history FILE or --prometheus URL")
    store = open_store(config.store)
    where = config.store.path if config.store.backend == "sqlite" else "the PostgreSQL store"
    return History(f"store {where}", store.iter_history, store.history_span()), store.close


def choose_history(args: argparse.Namespace, config: Config) -> tuple[History, Callable[[], None]]:
    if getattr(args, "history", None):
        path = args.history
        return History(f"file {path}", lambda since, until, signals: read_jsonl(path, since, until, signals)), \
            lambda: None
    if getattr(args, "prometheus", None):
        url = args.prometheus
        return History(f"Prometheus {url}",
                       lambda since, until, signals: read_prometheus(url, since, until, signals)), lambda: None
    return store_history(config)


# -- the replay ------------------------------------------------------------------------------------------

def replay(config: Config, history: History, start: float | None, end: float | None) -> ReplayResult:
    store = ReplayStore()
    service = AlertService(config, store, set(config.channels.root), clock=lambda: 0.0)
    api = [t.name for t in config.targets.api_metrics if t.enabled]
    slos = BurnInputs(config.slos, config.event, api)
    runner = Replay(service, store, interval=config.alerting.evaluation_interval,
                    event_interval=config.alerting.event_evaluation_interval, derived=[slos])
    since = -math.inf if start is None else start - WARMUP
    # only what a rule or a burn rate reads: the rest would be replayed for nothing
    signals = {r.signal for r in config.effective_rules() if r.enabled} | slos.signals()
    result = runner.run(history.open(since, math.inf if end is None else end, signals), start, end)
    if result.observations == 0:
        span = f"between {fmt_time(start)} and {fmt_time(end)}" if start is not None or end is not None else ""
        raise HistoryError(f"no history {span} in the {history.describe}".replace("  ", " "))
    return result


def _labels(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "-"


def _pages(pages: list[Any]) -> str:
    parts = []
    for p in pages:
        if p.kind == "resolved":
            continue
        who = f" ({', '.join(p.recipients)})" if p.recipients else ""
        parts.append(f"{p.kind} {fmt_time(p.at)[11:]}: {', '.join(p.channels) or 'log only'}{who}")
    return "; ".join(parts) or "none"


def render_result(name: str, history: History, result: ReplayResult) -> str:
    lines = [f"backtest of {name} over {fmt_time(result.start)} .. {fmt_time(result.end)} ({history.describe}): "
             f"{result.observations} observations, {len(result.alerts)} alert(s) would have fired"]
    for a in result.alerts:
        held = f"  held: {a.held}" if a.held else ""
        lines.append(f"  {a.tier:<9} {a.rule}  {{{_labels(a.labels)}}}\n"
                     f"      fired {fmt_time(a.fired_at)}  resolved {fmt_time(a.resolved_at)}  "
                     f"lasted {fmt_span(a.duration(result.end))}{held}\n      pages: {_pages(a.pages)}")
    return "\n".join(lines)


def render_changes(name: str, changes: list[Change]) -> str:
    lines = [f"against {name}: {len(changes)} difference(s)"]
    for c in changes:
        a = c.new or c.old
        assert a is not None
        detail = f" by {fmt_span(c.by)}" if c.by is not None else ""
        if c.pages:
            detail += f": {', '.join(c.pages)}"
        lines.append(f"  {c.kind:<13} {c.rule}  {{{_labels(c.labels)}}}  fired {fmt_time(a.fired_at)}{detail}")
    return "\n".join(lines)


def run_backtest(config: Config, name: str, history: History, start: float | None, end: float | None,
                 against: tuple[Config, str] | None, as_json: bool) -> str:
    result = replay(config, history, start, end)
    changes: list[Change] | None = None
    if against is not None:
        old = replay(against[0], history, result.start, result.end)
        tolerance = max(config.alerting.evaluation_interval, against[0].alerting.evaluation_interval) / 2
        changes = compare(result.alerts, old.alerts, result.end, tolerance)
    if as_json:
        doc: dict[str, Any] = {"config": name, "source": history.describe, **result.to_dict()}
        if changes is not None and against is not None:
            doc["against"] = {"config": against[1], "alerts": [a.to_dict(result.end) for a in old.alerts],
                              "changes": [c.to_dict(result.end) for c in changes]}
        return json.dumps(doc, indent=2)
    text = render_result(name, history, result)
    if changes is not None and against is not None:
        text += "\n" + render_changes(against[1], changes)
    return text


def _backtest_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--against", nargs="?", const="", metavar="OLD.yml",
                        help="also replay this config (default: the running one) and print what differs")
    parser.add_argument("--from", dest="start", metavar="T", help="epoch seconds, ISO time (UTC) or e.g. 7d ago")
    parser.add_argument("--to", dest="end", metavar="T", help="as --from (default: the end of the history)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--history", metavar="FILE", help="a JSON-lines history file (export-history writes one)")
    source.add_argument("--prometheus", metavar="URL", help="read the converge_* series from this Prometheus")
    parser.add_argument("--json", action="store_true", help="print JSON (documented in the README)")


def _against(args: argparse.Namespace) -> tuple[Config, str] | None:
    if args.against is None:
        return None
    path = args.against or str(find_config_file(None))
    return load_config(path), path


def backtest(args: argparse.Namespace) -> int:
    name = str(find_config_file(config_file(args)))
    config = load_config(config_file(args))
    against = _against(args)
    close: Callable[[], None] = lambda: None  # noqa: E731
    try:
        now = time.time()
        start, end = parse_time(args.start, now), parse_time(args.end, now)
        if start is not None and end is not None and end <= start:
            raise HistoryError(f"--to {args.end} is not after --from {args.start}")
        history, close = choose_history(args, config)
        print(run_backtest(config, name, history, start, end, against, args.json))
    except HistoryError as exc:
        print(f"converge-monitor: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        close()
    return EXIT_OK


def backtest_running(config: Config, name: str, lookback: str) -> str:
    """check-config --backtest 7d: this config over the running monitor's recent history, against it."""
    running_path = str(find_config_file(None))
    running = load_config(running_path)
    now = time.time()
    start = parse_time(lookback, now)
    history, close = store_history(running)
    try:
        return run_backtest(config, name, history, start, now, (running, running_path), False)
    finally:
        close()


# -- export-history ----------------------------------------------------------------------------------------

def _export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="start", metavar="T", required=True, help="as for backtest")
    parser.add_argument("--to", dest="end", metavar="T", help="as for backtest (default: now)")
    parser.add_argument("--out", metavar="FILE", required=True, help="the JSON-lines file to write ('-': stdout)")


def export_history(args: argparse.Namespace) -> int:
    config = load_config(config_file(args))
    close: Callable[[], None] = lambda: None  # noqa: E731
    try:
        now = time.time()
        start = parse_time(args.start, now)
        end = parse_time(args.end, now) if args.end else now
        assert start is not None and end is not None
        history, close = store_history(config)
        observations = history.open(start, end, None)
        if args.out == "-":
            count = write_jsonl(observations, sys.stdout)
        else:
            with open(args.out, "w", encoding="utf-8") as out:
                count = write_jsonl(observations, out)
    except HistoryError as exc:
        print(f"converge-monitor: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"converge-monitor: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        close()
    print(f"converge-monitor: {count} observations written to {args.out}", file=sys.stderr)
    return EXIT_OK


COMMANDS: tuple[Command, ...] = (
    Command("backtest", "replay recorded history through a config's alert rules: what would have fired and paged",
            backtest, _backtest_arguments),
    Command("export-history", "write the store's observations of a time range as JSON lines (for backtest)",
            export_history, _export_arguments),
)
