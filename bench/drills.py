"""The fault drills on the shipped configuration, as results: bench/results/drills.{json,md}.

Runs `converge-monitor drill all --json` (the shipped rules, thresholds and `for` durations, in event mode;
each fault at the spec's size; about an hour), or, with `--from`, merges the JSON of runs made
separately (e.g. groups of drills run side by side, each on its own private stack), then writes the table the
command prints. The README's "Fault drills" section carries the same table.

Run: python -m bench.drills [--from run1.json run2.json ...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.report import write_results

RESULTS = Path(__file__).resolve().parent / "results"
README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- drills:start -->", "<!-- drills:end -->"


def rows_from(paths: list[Path]) -> list[dict[str, Any]]:
    from devstack.drills.catalog import DRILLS

    rows = [r for p in paths for r in json.loads(p.read_text())["drills"]]
    order = {d.name: i for i, d in enumerate(DRILLS)}
    return sorted(rows, key=lambda r: order.get(r["drill"], len(order)))


def markdown(report: dict[str, Any]) -> str:
    from devstack.drills.runner import Row, render_table

    table = render_table([Row(**r) for r in report["drills"]])
    return (f"# Fault drills on the shipped configuration ({report['ran_at']})\n\n"
            "monitor.yml's rules, thresholds and `for` durations in event mode; each fault at the size the spec "
            "names. Detection is bounded by probe interval x 2 + `for` + one evaluation interval (+ the time a "
            "windowed signal needs to cross its threshold at the fault's size, when it has a window). "
            f"{report['how']}\n\n"
            f"```\n{table}\n```\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.drills", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="sources", nargs="+", type=Path, help="merge these `drill --json` outputs")
    parser.add_argument("--how", default="", help="how the run was made (printed with the table)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the results files")
    args = parser.parse_args(argv)
    if args.sources:
        rows = rows_from(args.sources)
    else:
        out = subprocess.run([sys.executable, "-m", "monitor.cli", "drill", "all", "--json"], check=False,
                             stdout=subprocess.PIPE, text=True).stdout
        rows = json.loads(out)["drills"]
    report = {"benchmark": "drills", "ran_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "how": args.how or "One `converge-monitor drill all` run.", "drills": rows}
    text = markdown(report)
    write_results(args.out, "drills", False, report, text)
    readme = README.read_text()
    if START in readme and END in readme:  # the README's "Fault drills" section carries the same table
        head, rest = readme.split(START, 1)
        table = text[text.index("```"):]
        README.write_text(f"{head}{START}\nThe last run ({report['ran_at'][:10]}; {report['how']}):\n\n{table}"
                          f"{rest[rest.index(END):]}")
    return 0 if all(r["result"] == "pass" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
