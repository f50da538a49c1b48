"""The benchmarks' headline ratios in one markdown table: bench/results/summary.md, and the README's copy
between its `bench:start` / `bench:end` markers. Reads only bench/results/*.json."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
README = Path(__file__).resolve().parent.parent / "README.md"
Row = tuple[str, str, str, str, str]


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _yes(ok: bool) -> str:
    return "met" if ok else "**missed**"


def instrumentation(d: dict[str, Any]) -> list[Row]:
    rows = []
    for stack in ("default", "fast"):
        ours = [r for r in d["summary"] if r["stack"] == stack and r["variant"] == "ours"]
        peers = [r for r in d["summary"] if r["stack"] == stack and r["variant"] in ("instrumentator", "exporter")]
        worst = min(r["ratio"] for r in ours)
        best_peer = max(r["ratio"] for r in peers)
        verdict = d["verdict"][stack]
        rows.append((f"Instrumentation overhead, {stack} uvicorn stack (req/s vs bare app, worst route)",
                     f"{worst:.3f}", f"{best_peer:.3f} (best library)", ">= 0.95, ahead of both libraries",
                     _yes(verdict["meets_goal"] and verdict["ahead_of_libraries"])))
    return rows


def probes(d: dict[str, Any]) -> list[Row]:
    s = d["summary"]
    out = []
    for key, label in (("ours-jobs", "scheduler jobs"), ("ours-loop", "run_all_once loop")):
        if key in s:
            ratio = s[key]["ratio_checks_per_cpu_s"]
            out.append((f"Probe capacity, {label} (HTTP checks per CPU second)",
                        f"{s[key]['checks_per_cpu_s']:.0f}/s", f"{s['blackbox']['checks_per_cpu_s']:.0f}/s "
                        "(blackbox_exporter)" if "blackbox" in s else "blackbox_exporter",
                        f">= 1.0x blackbox (ratio {ratio:.2f})", _yes(ratio >= 1.0)))
    return out


def rules(d: dict[str, Any]) -> list[Row]:
    text = d["headline"]["verdict"]
    engine = re.search(r"engine p95 ([\d.]+) ms", text)
    service = re.search(r"AlertService cycle p95 ([\d.]+) ms", text)
    prom = re.search(r"incident: embedded engine ([\d.]+) ms vs Prometheus hysteresis ([\d.]+) ms", d["comparison"])
    rows: list[Row] = []
    if engine:
        rows.append(("Rule evaluation, 1,000 rules x 10,000 series (engine p95)", f"{engine.group(1)} ms",
                     f"{prom.group(2)} ms median (Prometheus 2.42)" if prom else "-", "< 50 ms",
                     _yes(float(engine.group(1)) < 50)))
    if service:
        rows.append(("Rule evaluation, full alert cycle p95", f"{service.group(1)} ms", "-", "< 50 ms",
                     _yes(float(service.group(1)) < 50)))
    return rows


def detection(d: dict[str, Any]) -> list[Row]:
    s = d["summary"]
    return [
        ("Detection: API down -> notification (median)", f"{s['ours_fault_to_firing_median_s']:.1f} s",
         f"{s['prom_fault_to_firing_median_s']:.1f} s (Prometheus + blackbox + Alertmanager)",
         f"<= 5 s and <= 0.25x (ratio {s['ratio_firing_ours_over_prom']:.3f})",
         _yes(s["goals"]["ours_firing_le_5s"] and s["goals"]["ratio_le_0.25"])),
        ("Detection: recovery -> resolved notification (median)", f"{s['ours_recovery_to_resolved_median_s']:.1f} s",
         f"{s['prom_recovery_to_resolved_median_s_waited_or_by_construction']:.1f} s", "<= 10 s",
         _yes(s["goals"]["ours_resolved_le_10s"])),
    ]


def event_load(d: dict[str, Any]) -> list[Row]:
    a, users = d["agreement"], d["settings"]["users"]
    monitor = d["resources"]["roles"]["monitor"]
    return [(f"Event load: {users} virtual users, the monitor's p95 vs the load generator's",
             _ms(a["monitor_p95_s"]), f"{_ms(a['client_p95_s'])} (client side)",
             f"within 10% ({a['monitor_vs_client']:+.1%})", _yes(bool(a["within_goal"]))),
            (f"Event load: the monitor's own cost while {users} users are watched",
             f"{monitor['cpu_cores']:.3f} cores, {monitor['rss_mib_max']:.0f} MiB", "-", "-", "-")]


def soak(d: dict[str, Any]) -> list[Row]:
    v, s = d["verdict"], d["settings"]
    return [(f"Soak, real time: {s['users']} virtual users for {s['minutes']:g} min, shipped config "
             "(notifications accepted by the recording receivers)",
             f"{v['notifications_non_advisory']} notifications, {v['alerts_firing_at_end']} firing at the end",
             "-", "0, advisories only if they resolve", _yes(bool(v["silent"])))]


def soak_simulated(d: dict[str, Any]) -> list[Row]:
    v, s = d["verdict"], d["settings"]
    return [(f"Soak, simulated: {s['days']} event days (deploy, Redis restart), shipped rules",
             f"{v['pages']} pages, {v['alerts_left_firing']} left firing", "-", "0 pages, 0 left firing",
             _yes(bool(v["silent"])))]


def drills(d: dict[str, Any]) -> list[Row]:
    rows = d["drills"]
    passed = sum(r["result"] == "pass" for r in rows)
    return [("Fault drills on the shipped config: alert fired within its bound and resolved",
             f"{passed} of {len(rows)} passed", "-", "every row", _yes(passed == len(rows)))]


def backtest(d: dict[str, Any]) -> list[Row]:
    s = d["summary"]
    return [(f"Backtest: {s['days']:g} days of event-interval history, default catalog ({s['observations']:,} "
             "observations; one replay from the store)",
             f"{s['replay_s_median']:.1f} s, {s['peak_rss_mib']:.0f} MiB",
             "- (Grafana: behind a feature flag; promtool: an open pull request)", "< 60 s, bounded memory",
             _yes(bool(s["goal_met"])))]


def history(d: dict[str, Any]) -> list[Row]:
    ours, today, met = d["ours"], d["today_30d"], d["met"]
    days = f"{d['days']:g} days"
    return [(f"History: store size, {days} of the shipped config", f"{ours['store_mb']:.0f} MB",
             f"{today['store_mb']} MB (before, issue 15)", "< 250 MB", _yes(met["store_mb"])),
            (f"History: SLO cycle (steady median; first after a start), {days}",
             f"{ours['cycle_ms']:.1f} ms; {ours['first_s']:.2f} s",
             f"{today['cycle_ms']} ms; {today['first_s']} s (before)", "< 50 ms", _yes(met["cycle_ms"])),
            (f"History: RSS peak with {days}", f"{ours['rss_mb']:.0f} MB", f"{today['rss_mb']} MB (before)",
             "< 150 MB", _yes(met["rss_mb"]))]


def many_targets(d: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for r in d["runs"]:
        g = r["goals"]
        rows.append((f"{r['targets']:,} HTTP targets on one monitor: CPU, RSS, /health median, runs > 1 s late",
                     f"{r['cpu_cores']:.2f} cores, {r['rss_mib']['first_third']:.0f} -> "
                     f"{r['rss_mib']['last_third']:.0f} MiB, {r['health_ms']['median']:.1f} ms, "
                     f"{r['late_over_1s']} of {r['probe_runs']}", "-",
                     "< 0.30 cores, RSS flat, < 20 ms, none", _yes(all(g.values()))))
    return rows


def _ms(seconds: float) -> str:
    """Milliseconds with the digits that matter: 6.4 ms, 899 ms."""
    return f"{seconds * 1000:.3g} ms" if seconds < 0.1 else f"{seconds * 1000:.0f} ms"


SECTIONS: tuple[tuple[str, Callable[[dict[str, Any]], list[Row]]], ...] = (
    ("instrumentation_overhead", instrumentation), ("probe_capacity", probes), ("rule_evaluation", rules),
    ("detection_latency", detection), ("event_load", event_load), ("backtest", backtest),
    ("history_scale", history), ("many_targets", many_targets), ("drills", drills), ("soak", soak),
    ("soak_simulated", soak_simulated))


def table() -> str:
    rows: list[Row] = []
    for name, fn in SECTIONS:
        data = _load(name)
        if data is not None:
            try:
                rows += fn(data)
            except (KeyError, TypeError, ValueError):
                rows.append((name, "?", "?", "?", "results file in an unexpected shape"))
    lines = ["| benchmark | ours | peer | goal | |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def main() -> int:
    text = table()
    (RESULTS / "summary.md").write_text(text)
    readme = README.read_text()
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    if start in readme and end in readme:
        head, rest = readme.split(start, 1)
        README.write_text(head + start + "\n" + text + rest[rest.index(end):])
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
