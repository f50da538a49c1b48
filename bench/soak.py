"""Soak: the event load against the stack, watched by the SHIPPED configuration, in real time. Is it silent?

A private PostgreSQL, Redis and the API (seeded with 500 attendees, a fresh backup dumped), and
`converge-monitor run` on monitor.yml as shipped (devstack/shipped.py: every target, interval, rule,
threshold and `for` as in the file; the event window moved to include today), with every channel a
deployment would configure - Slack, SMS (Twilio), email and a webhook - pointed at recording servers on
127.0.0.1, and one on-call person so that pages have somewhere to go. bench/event_load.py's generator plays
500 attendees with the event-day mix for `--minutes` (default 10), each from its own client address
(X-Forwarded-For; phones, not one machine), then the monitor watches the quiet stack for `--tail` seconds
more (long enough for load advisories to resolve: the 5-minute window plus keep_firing_for).

Counted where a person would count it: the requests the recording receivers accepted, per receiver, rule,
tier and state. The spec's outcome: no notification of any tier, except advisories that resolve; and no
alert left firing at the end (the monitor's /api/alerts).

Run: python -m bench.soak [--minutes 10] [--users 500] [--tail 660] [--quick] [--keep]
(tests/e2e/test_soak_realtime.py runs `run()` for 45 s with 40 users in the suite.)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.event_load import PASSWORD, SYNTHETIC_PASSWORD, generators, load_records, machine
from bench.report import write_results

RESULTS = Path(__file__).resolve().parent / "results"
ON_CALL = {"name": "soak", "phone": "+15555550123", "email": "oncall@example.org"}
ADVISORY = "advisory"
NOTE = ("Counted at the recording receivers (Slack, Twilio, SMTP, webhook) the monitor delivered to; the machine "
        "is shared with other engineers' runs (load averages recorded).")


@dataclass
class Receivers:
    slack: Any
    twilio: Any
    smtp: Any
    webhook: Any

    def channels(self) -> dict[str, Any]:
        return {"slack": {"webhook_url": self.slack.webhook_url()},
                "sms": {"account_sid": "AC" + "0" * 32, "auth_token": "twilio-token-soak-0123456789",
                        "from_number": "+15555550100", "base_url": self.twilio.url},
                "email": {"host": "127.0.0.1", "port": self.smtp.port, "starttls": False,
                          "from": "monitor@example.org", "to": ["team@example.org"]},
                "webhook": {"url": f"{self.webhook.url}/hook"}}

    def accepted(self, rules: dict[str, str]) -> list[dict[str, str]]:
        """Every message a receiver accepted: receiver, rule ('' for a report or other message), tier, state."""
        from tests.support.receivers import state_of

        out: list[dict[str, str]] = []

        def add(receiver: str, text: str, rule: str | None = None, state: str | None = None) -> None:
            rule = rule if rule is not None else _rule_in(text, rules)
            out.append({"receiver": receiver, "rule": rule, "tier": rules.get(rule, "-"),
                        "state": state or state_of(text), "headline": text.splitlines()[0][:160] if text else ""})

        for m in self.slack.messages():
            add("slack", str(m.get("text", "")))
        for m in self.twilio.messages():
            add("sms", m["Body"])
        for mail in list(self.smtp.inbox.mails):
            add("email", str(mail.message["Subject"]))
        for r in list(self.webhook.requests):
            with contextlib.suppress(ValueError, KeyError, TypeError):
                for a in json.loads(r.body)["alerts"]:
                    add("webhook", json.dumps(a["labels"]), a["labels"].get("alertname", ""), a["status"])
        return out


def _rule_in(text: str, rules: dict[str, str]) -> str:
    found = [r for r in rules if r in text]
    return max(found, key=len) if found else ""


@contextlib.contextmanager
def receivers() -> Iterator[Receivers]:
    from tests.support.fakes.recorder import RecordingServer
    from tests.support.fakes.slack import FakeSlack
    from tests.support.fakes.smtp import SmtpServer
    from tests.support.fakes.twilio import FakeTwilio

    with FakeSlack() as slack, FakeTwilio() as twilio, RecordingServer() as hook, SmtpServer() as smtp:
        yield Receivers(slack, twilio, smtp, hook)


def verdict(messages: list[dict[str, str]], firing_at_end: list[dict[str, Any]]) -> dict[str, Any]:
    alerts = [m for m in messages if m["rule"]]
    pages = [m for m in alerts if m["tier"] != ADVISORY]
    fired = {m["rule"] for m in alerts if m["tier"] == ADVISORY and m["state"] == "firing"}
    resolved = {m["rule"] for m in alerts if m["tier"] == ADVISORY and m["state"] == "resolved"}
    left = [a for a in firing_at_end if a.get("state") == "firing"]
    return {"notifications_non_advisory": len(pages), "advisories_fired": sorted(fired),
            "advisories_unresolved": sorted(fired - resolved), "alerts_firing_at_end": len(left),
            "silent": not pages and not (fired - resolved) and not left}


def run(users: int, minutes: float, tail: float, procs: int, keep: bool = False) -> dict[str, Any]:
    from devstack.monitor import MonitorServer
    from devstack.process import free_port
    from devstack.shipped import shipped_data, stack_env, write
    from devstack.stack import PrivateStack, Seed
    from monitor.config import load_config

    workdir = Path(tempfile.mkdtemp(prefix="converge-soak-"))
    report: dict[str, Any] = {"started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                              "loadavg_before": os.getloadavg()}
    t_start = time.monotonic()
    try:
        with contextlib.ExitStack() as es:
            rec = es.enter_context(receivers())
            # Each attendee's requests come from its own address (phones), as the API sees them behind the proxy.
            private = es.enter_context(PrivateStack(seed=Seed(users, PASSWORD, SYNTHETIC_PASSWORD), log_dir=workdir,
                                                    backup_dir=workdir / "backups",
                                                    api_env={"TRUSTED_PROXY_HEADER": "x-forwarded-for"}))
            port = free_port()
            env = stack_env(private.env(), workdir, port)
            data = shipped_data(channels=rec.channels(),
                                oncall={"people": [ON_CALL], "rotation": {"order": [ON_CALL["name"]],
                                                                          "start": data_start(),
                                                                          "timezone": "America/Los_Angeles"}})
            config_path = write(data, workdir / "monitor.yml", "# bench/soak.py: monitor.yml, event window on "
                                "today, channels at recording receivers\n")
            config = load_config(config_path, environ={**os.environ, **env})
            rules = {r.name: r.tier.value for r in config.effective_rules()}
            monitor = es.enter_context(MonitorServer(config_path, port, env=env, log_dir=str(workdir)))
            api_url = private.api.url
            print(f"stack up in {time.monotonic() - t_start:.0f} s: API {api_url}, monitor {monitor.url}; "
                  f"{users} users for {minutes:g} min, then {tail:g} s quiet", flush=True)
            load_s = minutes * 60
            monitor_start = time.time()
            with generators(api_url, users, procs, 2.0, min(60.0, load_s / 3), load_s + 30, workdir, False,
                            spread_ips=True) as gens:
                time.sleep(load_s)
            load_end = time.time()
            records = load_records([out for _, out in gens])
            time.sleep(tail)
            end = time.time()
            alerts = httpx.get(f"{monitor.url}/api/alerts", timeout=10).json()["alerts"]
            messages = rec.accepted(rules)
    finally:
        if keep:
            print(f"kept the stack's and the monitor's logs in {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    statuses = Counter(records["status"])
    report.update({
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "loadavg_after": os.getloadavg(),
        "load_s": round(load_end - monitor_start, 1), "observed_s": round(end - monitor_start, 1),
        "requests": len(records["status"]),
        "requests_per_minute": round(len(records["status"]) / max(1.0, (load_end - monitor_start) / 60), 1),
        "status_counts": {str(k): v for k, v in sorted(statuses.items())},
        "notifications": messages,
        "by_receiver_tier_state": [{"receiver": r, "tier": t, "state": s, "count": n} for (r, t, s), n in
                                   sorted(Counter((m["receiver"], m["tier"], m["state"]) for m in messages).items())],
        "alerts_at_end": [{k: a.get(k) for k in ("rule", "state", "labels", "tier")} for a in alerts],
    })
    report["verdict"] = verdict(messages, alerts)
    return report


def data_start() -> str:
    return str(dt.date.today() - dt.timedelta(days=1))


def markdown(report: dict[str, Any]) -> str:
    v, s = report["verdict"], report["settings"]
    lines = [f"# Soak: {s['users']} virtual users for {s['minutes']:g} min on the shipped config (real time)", "",
             f"Run {report['started_at']} .. {report['finished_at']}; load {report['load_s']:.0f} s, observed "
             f"{report['observed_s']:.0f} s; {report['requests']} requests ({report['requests_per_minute']:.0f}/min), "
             f"statuses {report['status_counts']}.", "",
             f"**{'Silent' if v['silent'] else 'NOT silent'}**: {v['notifications_non_advisory']} notification(s) of "
             f"a paging/ticket tier accepted by the receivers; advisories fired {v['advisories_fired'] or 'none'}, "
             f"left unresolved {v['advisories_unresolved'] or 'none'}; alerts firing at the end: "
             f"{v['alerts_firing_at_end']}.", "",
             "| receiver | tier | state | accepted |", "|---|---|---|---|"]
    lines += [f"| {r['receiver']} | {r['tier']} | {r['state']} | {r['count']} |"
              for r in report["by_receiver_tier_state"]] or ["| (none) | - | - | 0 |"]
    if report["notifications"]:
        lines += ["", "Messages:", ""] + [f"- {m['receiver']}: {m['headline']}" for m in report["notifications"]]
    lines += ["", f"Load average before {report['loadavg_before']}, after {report['loadavg_after']}. {NOTE}"]
    lines += ["", f"Note: {report['run_note']}", ""] if report.get("run_note") else [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=500, help="virtual attendees (default 500)")
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of load (default 10)")
    # Advisories about the load (scale up) resolve once the 5-minute rate window has emptied and their
    # keep_firing_for (5 min) has passed: the tail covers both.
    parser.add_argument("--tail", type=float, default=660.0, help="seconds watched after the load (default 660)")
    parser.add_argument("--procs", type=int, default=2, help="generator processes (default 2)")
    parser.add_argument("--quick", action="store_true", help="a 2-minute smoke run with 50 users (soak-quick.*)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the results files")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (the API's, monitor's logs)")
    parser.add_argument("--note", default="", help="what else ran on the machine, or anything a reader must know")
    args = parser.parse_args(argv)
    if args.quick:
        args.users, args.minutes, args.tail = 50, 2.0, 20.0
    report: dict[str, Any] = {"benchmark": "soak", "machine": machine(), "note": NOTE, "run_note": args.note,
                              "settings": {"users": args.users, "minutes": args.minutes, "tail_s": args.tail,
                                           "config": "monitor.yml as shipped, event window on today"}}
    report.update(run(args.users, args.minutes, args.tail, args.procs, args.keep))
    write_results(args.out, "soak", args.quick, report, markdown(report))
    return 0 if report["verdict"]["silent"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
