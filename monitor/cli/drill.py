"""`converge-monitor drill NAME|all [--config FILE]`: run fault drills and print the table.

Without --config the drill starts its own private stack (see devstack/drills/stack.py) and stops every
process of it by PID at the end, also on failure, Ctrl-C or SIGTERM. With --config it drills the stack
that config names (loopback hosts only). Exit 0 only when every drill passed; 1 otherwise; 2 for bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from devstack.drills.catalog import BY_NAME, DRILLS, QUICK_DRILLS, SHIPPED_DRILLS
from monitor.config import ConfigError
from monitor.core.commands import EXIT_OK, EXIT_USAGE, Command, config_file

if TYPE_CHECKING:  # the drill machinery (psycopg, redis, cryptography) loads only when a drill runs
    from devstack.drills.runner import Row
    from devstack.drills.stack import Stack

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130  # as a shell reports a Ctrl-C


def _arguments(parser: argparse.ArgumentParser) -> None:
    names = ", ".join(d.name for d in DRILLS)
    parser.add_argument("names", nargs="+", metavar="NAME", help=f"a drill ({names}), several, or all")
    parser.add_argument("--work-dir", metavar="DIR",
                        help="where the drill's stack keeps its config, logs and state (default: a new temporary "
                             "directory, removed when every drill passed)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    parser.add_argument("--quick", action="store_true",
                        help="the drill's own stack on a tuned config (`for` of seconds, 1 s probes) for tests; "
                             "by default the shipped rules, thresholds and `for` durations run, in event mode")


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _interrupts_unwind_once() -> Iterator[None]:
    """Ctrl-C or SIGTERM unwinds the drill (faults removed, every process stopped); a second one while
    that runs is ignored, so an impatient second Ctrl-C cannot leave a database running."""
    interrupted = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupted
        if interrupted:
            _say("stopping: removing the fault and stopping every process of the stack...")
            return
        interrupted = True
        raise KeyboardInterrupt

    try:
        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: nothing to install
        yield
        return
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def select(names: Sequence[str], quick: bool = False) -> list[str]:
    """The drills to run (of the mode's set), in catalog order; raises ValueError naming an unknown drill."""
    available = QUICK_DRILLS if quick else SHIPPED_DRILLS
    if "all" in names:
        return [d.name for d in available]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown drill {unknown[0]!r}; choose from: {', '.join(BY_NAME)} or all")
    other = [n for n in names if BY_NAME[n] not in available]
    if other:
        where = "only without --quick" if quick else "only with --quick"
        raise ValueError(f"drill {other[0]!r} runs {where}")
    return [d.name for d in available if d.name in names]


def _run_all(stack: Stack, names: list[str], rows: list[Row], quick: bool) -> None:
    """Append one row per drill to `rows` (kept when the run is interrupted)."""
    from devstack.drills.runner import FAIL, MonitorGone, Row, Runner

    runner = Runner(stack, _say, enforce_bound=not quick)
    for name in names:
        try:
            rows.append(runner.run(BY_NAME[name]))
        except MonitorGone as exc:
            rows += [Row(n, " or ".join(BY_NAME[n].expected), result=FAIL, note=str(exc))
                     for n in names[len(rows):]]
            break


def drill(args: argparse.Namespace) -> int:
    from devstack.drills.stack import new_work_dir

    try:
        # A config's stack is drilled as that config says: the quick set of drills, its own timing.
        names = select(args.names, bool(getattr(args, "quick", False)) or config_file(args) is not None)
    except ValueError as exc:
        print(f"converge-monitor drill: {exc}", file=sys.stderr)
        return EXIT_USAGE
    work_dir, temporary = new_work_dir(args.work_dir)
    code = _drill(args, names, work_dir)
    if temporary and (code in (EXIT_OK, EXIT_USAGE) or not any(work_dir.iterdir())):
        shutil.rmtree(work_dir, ignore_errors=True)
    elif code != EXIT_OK:
        print(f"logs and the drill config: {work_dir}", file=sys.stderr)
    return code


def _drill(args: argparse.Namespace, names: list[str], work_dir: Path) -> int:
    from devstack.drills.loopback import NotLoopback
    from devstack.drills.runner import PASS, render_table, to_json
    from devstack.drills.stack import external_stack, own_stack
    from devstack.process import MissingBinaryError

    path = config_file(args)
    rows: list[Row] = []
    try:
        with _interrupts_unwind_once():
            quick = bool(getattr(args, "quick", False))
            stack_cm = external_stack(path, _say, work_dir) if path else own_stack(_say, work_dir, quick)
            with stack_cm as stack:
                _run_all(stack, names, rows, quick or bool(path))
    except KeyboardInterrupt:
        if rows:
            print(to_json(rows) if args.json else render_table(rows))
        print("converge-monitor drill: interrupted; the fault was removed and the drill's processes stopped",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_USAGE
    except NotLoopback as exc:
        print(f"converge-monitor drill: refusing to run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MissingBinaryError as exc:
        print(f"converge-monitor drill: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (RuntimeError, TimeoutError) as exc:  # the stack did not come up
        print(f"converge-monitor drill: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(to_json(rows) if args.json else render_table(rows))
    ok = bool(rows) and all(r.result == PASS for r in rows)
    return EXIT_OK if ok else EXIT_FAILED


COMMANDS: tuple[Command, ...] = (
    Command("drill", "run fault drills (api-down, ..., cert-expiry, or all) and print how fast each alert "
                     "fired and resolved", drill, _arguments),
)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m monitor.cli.drill NAME...`: the same command outside converge-monitor's parser."""
    parser = argparse.ArgumentParser(prog="converge-monitor drill", description=COMMANDS[0].help)
    parser.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                        help="drill the stack this config names instead of a private one")
    _arguments(parser)
    args = parser.parse_args(argv)
    try:
        return drill(args)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
