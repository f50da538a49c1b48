"""`converge-monitor export-dashboards` and `push-dashboards` (registered by monitor/cli/__init__.py from COMMANDS)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from monitor.core.commands import EXIT_OK, EXIT_USAGE, Command

EXIT_FAILED = 1
TOKEN_ENV = "GRAFANA_TOKEN"
DEFAULT_OUT = "grafana/dashboards"


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="DIR", default=DEFAULT_OUT,
                        help=f"directory for the dashboard JSON files (default: {DEFAULT_OUT})")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if the files in DIR differ from the generator's output")


def export_dashboards(args: argparse.Namespace) -> int:
    from dashboards.export import check, write

    out = Path(args.out)
    if args.check:
        drift = check(out)
        for d in drift:
            print(f"{out / d.filename}: {d.problem}", file=sys.stderr)
        if drift:
            print(f"converge-monitor: dashboards in {out} are out of date: run "
                  f"`converge-monitor export-dashboards --out {out}`", file=sys.stderr)
            return EXIT_FAILED
        print(f"{out}: dashboards up to date")
        return EXIT_OK
    for path in write(out):
        print(path)
    return EXIT_OK


def _push_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--grafana-url", metavar="URL", required=True, help="Grafana's base URL, e.g. http://grafana:3000")
    parser.add_argument("--folder-uid", metavar="UID", default=None,
                        help="put the dashboards in this folder (created if missing); default: General")
    parser.add_argument("--folder-title", metavar="TITLE", default="Converge", help="title of a folder it creates")
    parser.add_argument("--from-dir", metavar="DIR", default=None,
                        help="push the JSON files in DIR instead of the generator's output")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")


def push_dashboards(args: argparse.Namespace) -> int:
    from dashboards.export import generate
    from dashboards.push import GrafanaClient, GrafanaError, push_all

    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        print(f"converge-monitor: {TOKEN_ENV} is not set: export a Grafana service-account token "
              "(Editor role) in it", file=sys.stderr)
        return EXIT_USAGE
    if args.from_dir:
        files = sorted(Path(args.from_dir).glob("*.json"))
        if not files:
            print(f"converge-monitor: --from-dir: no *.json files in {args.from_dir}", file=sys.stderr)
            return EXIT_USAGE
        models = [json.loads(f.read_text(encoding="utf-8")) for f in files]
    else:
        models = [json.loads(text) for text in generate().values()]
    try:
        with GrafanaClient(args.grafana_url, token, timeout=args.timeout) as client:
            for pushed in push_all(client, models, args.folder_uid, args.folder_title):
                where = f" {pushed.url}" if pushed.url else ""
                print(f"pushed {pushed.uid} ({pushed.title}){where}")
    except GrafanaError as exc:
        print(f"converge-monitor: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


COMMANDS: tuple[Command, ...] = (
    Command("export-dashboards", "write the Grafana dashboards as JSON (or --check the committed ones)",
            export_dashboards, _export_arguments),
    Command("push-dashboards", f"upload the dashboards through Grafana's HTTP API (token from ${TOKEN_ENV})",
            push_dashboards, _push_arguments),
)
