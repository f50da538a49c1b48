"""Soak, simulated: the three event days through the shipped configuration on a simulated clock.

devstack/event_days.py runs every monitor.yml target at its event interval against simulated healthy values
(the API's /metrics from a simulated two-replica fleet, read by the real api_metrics probe) - traffic that
follows a day, a deploy restarting both API instances, a Redis restart with its cache refilling - and the
real AlertEngine judges with the shipped rules. The outcome the spec asks for: no page of any tier, no alert
left firing (advisories allowed only if they resolve). tests/e2e/test_soak_simulated.py asserts the same on the
first two days (the deploy and the Redis restart fall on the second).

Run: python -m bench.soak_simulated [--days 3]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.report import write_results

RESULTS = Path(__file__).resolve().parent / "results"


def run(days: int) -> dict[str, Any]:
    from devstack import event_days
    from devstack.shipped import MONITOR_YML
    from monitor.config import load_config

    config = load_config(MONITOR_YML, environ={})
    started = time.monotonic()
    result = asyncio.run(event_days.simulate(config, days=days))
    unresolved = sorted({f["rule"] for f in result.firings if f["resolved"] is None})
    return {
        "benchmark": "soak_simulated", "ran_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "wall_s": round(time.monotonic() - started, 1),
        "settings": {"days": days, "tick_s": event_days.TICK, "replicas": 2, "day_curve": event_days.DAY_CURVE,
                     "deploy": event_days.DEPLOY, "redis_restart": event_days.REDIS_RESTART,
                     "redis_down_s": event_days.REDIS_DOWN_S, "config": "monitor.yml as shipped, event mode"},
        "result": {**asdict(result), "pages": result.pages},
        "verdict": {"pages": len(result.pages), "alerts_left_firing": len(result.firing_at_end),
                    "unresolved": unresolved, "silent": not result.pages and not result.firing_at_end},
    }


def markdown(report: dict[str, Any]) -> str:
    r, v, s = report["result"], report["verdict"], report["settings"]
    lines = [f"# Soak, simulated: {s['days']} event days on the shipped config", "",
             f"{r['evaluations']} evaluations every {s['tick_s']:g} s of simulated time, {r['probe_runs']} probe runs "
             f"(each target at its event interval); two API replicas; traffic peaks at "
             f"{r['peak_requests_per_minute']:.0f} requests/min (nights near zero); a deploy restarts both API "
             f"instances on day {s['deploy'][0] + 1} at {s['deploy'][1]:g} h; Redis restarts on day "
             f"{s['redis_restart'][0] + 1} at {s['redis_restart'][1]:g} h, down {s['redis_down_s']:g} s, its memory "
             f"from {r['redis_memory_min_after_restart']:.0%} refilling. Highest p95 the probe measured: "
             f"{r['api_p95_max_s'] * 1000:.0f} ms. Simulated in {report['wall_s']:.0f} s.", "",
             f"**{'Silent' if v['silent'] else 'NOT silent'}**: {v['pages']} rule(s) paged "
             f"({', '.join(f'{k} ({t})' for k, t in r['pages'].items()) or 'none'}); alerts left firing: "
             f"{v['alerts_left_firing']}.", ""]
    if r["firings"]:
        lines += ["| alert | tier | fired | resolved |", "|---|---|---|---|"]
        lines += [f"| {f['rule']} | {f['tier']} | {f['at']} | {f['resolved'] or '-'} |" for f in r["firings"]]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak_simulated", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=3, help="event days (default 3)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the results files")
    args = parser.parse_args(argv)
    report = run(args.days)
    write_results(args.out, "soak_simulated", False, report, markdown(report))
    return 0 if report["verdict"]["silent"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
