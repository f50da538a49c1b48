"""`python -m app migrate | seed --attendees N | backup --dir DIR | serve [--port P] [--workers N]`."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import psycopg

from app.settings import SettingsError


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        raise SettingsError("DATABASE_URL is required (for example postgresql://user@127.0.0.1/converge)")
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app", description="The Converge-NPS API")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply pending SQL migrations to DATABASE_URL")
    seed = sub.add_parser("seed", help="load attendees, sessions and the synthetic monitoring account")
    seed.add_argument("--attendees", type=int, default=500)
    seed.add_argument("--password", default=os.environ.get("SEED_PASSWORD", "converge-demo"))
    seed.add_argument("--synthetic-password", default=os.environ.get("SYNTHETIC_PASSWORD", "synthetic-check"))
    dump = sub.add_parser("backup", help="pg_dump DATABASE_URL (custom format) into a folder")
    dump.add_argument("--dir", default=os.environ.get("BACKUP_DIR", "./var/backups"))
    serve = sub.add_parser("serve", help="run the API under uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)

    try:
        if args.command == "migrate":
            from app.migrate import migrate

            applied = migrate(_database_url())
            print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
        elif args.command == "seed":
            from app.seed import seed as run_seed

            if args.attendees < 0:
                raise SettingsError("--attendees must be >= 0")
            counts = run_seed(_database_url(), args.attendees, args.password, args.synthetic_password)
            print(f"seeded: {counts['attendees']} attendees, {counts['sessions']} sessions")
        elif args.command == "backup":
            from app.backup import backup

            print(f"backup written: {backup(_database_url(), args.dir)}")
        else:
            return _serve(args.host, args.port, args.workers)
    except SettingsError as exc:
        print(f"converge-api: configuration error: {exc}", file=sys.stderr)
        return 2
    except psycopg.Error as exc:
        print(f"converge-api: database error: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    return 0


def _serve(host: str, port: int, workers: int) -> int:
    import uvicorn

    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several workers share one /metrics only through prometheus_client's multiprocess files.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="converge-metrics-")
    from app.settings import load_settings

    load_settings()  # fail here with one line, before any worker starts
    uvicorn.run("app.main:app", host=host, port=port, workers=workers, access_log=False,
                log_config=None, proxy_headers=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
