"""The SLO side of `converge-monitor run`: SLO signals every evaluation interval, and the daily status report
to stakeholders at its configured local time (text to Slack, HTML to email, always to the log), handed to
the outbox like every other message."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import date
from pathlib import Path
from typing import Any

from alerts.reports import Report, can_carry_report, report_rows
from monitor.config import Config
from monitor.store import Store
from slo.incidents import load_incidents
from slo.report import gather_report, render_html, render_text, report_due, report_zone
from slo.service import RETRY_WITHOUT_DATA, SloService

log = logging.getLogger("converge.slo")
REPORT_STATE = "slo_report"


async def slo_loop(config: Config, store: Store, slos: SloService, channels: dict[str, Any],
                   is_leader: Any) -> None:
    while True:
        now = time.time()
        delay: float | None = None
        try:
            store.write(await asyncio.to_thread(slos.observations, now))
            if is_leader():
                await send_report_if_due(config, store, slos, channels, now)
        except Exception:  # the next cycle tries again soon; alerting does not depend on this loop
            log.exception("SLO evaluation failed")
            delay = min(slos.interval, RETRY_WITHOUT_DATA)
        await asyncio.sleep(delay if delay is not None else slos.next_delay(time.time() - now))


async def send_report_if_due(config: Config, store: Store, slos: SloService, channels: dict[str, Any],
                             now: float) -> date | None:
    """Make the day's report when it is due and put it in the outbox for `channels` (the delivery channels;
    those of `slos.report.channels` that can carry a report get it); returns the day, or None."""
    cfg = slos.config.report
    state = store.get_state(REPORT_STATE) or {}
    last = date.fromisoformat(state["last_sent"]) if state.get("last_sent") else None
    day = report_due(now, last, cfg, config.event)
    if day is None:
        return None
    incidents = load_incidents(store, config.alerting.notifications_file)
    report_data = await asyncio.to_thread(gather_report, slos, store, day, report_zone(cfg, config.event), now,
                                          incidents, config.event)
    text, html = render_text(report_data), render_html(report_data)
    folder = Path(config.alerting.notifications_file).parent / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{day.isoformat()}.txt").write_text(text)
    (folder / f"{day.isoformat()}.html").write_text(html)
    print(f"--- daily status report {day}\n{text}", flush=True)
    # Through the outbox like every message (retries, fallback, once per channel), in one transaction with
    # the day marked done: a crash before it makes the report again, after it the outbox delivers it.
    report = Report(key=f"report-{day.isoformat()}", subject=f"{report_data.title}: {day.isoformat()}", text=text,
                    slack_text=render_text(report_data, slack=True), html=html)
    names = [n for n in cfg.channels if can_carry_report(channels.get(n))]
    store.commit_cycle(REPORT_STATE, {"last_sent": day.isoformat()}, report_rows(report, names, now))
    return day
