"""The SLO side of `converge-monitor run`: SLO signals every evaluation interval, and the daily status report
to stakeholders at its configured local time (text to Slack, HTML to email, always to the log)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import date
from pathlib import Path
from typing import Any

from alerts.notifiers.base import ReportNotifier, TextNotifier
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
    cfg = slos.config.report
    state = store.get_state(REPORT_STATE) or {}
    last = date.fromisoformat(state["last_sent"]) if state.get("last_sent") else None
    day = report_due(now, last, cfg, config.event)
    if day is None:
        return None
    incidents = load_incidents(store, config.alerting.notifications_file)
    report = await asyncio.to_thread(gather_report, slos, store, day, report_zone(cfg, config.event), now,
                                     incidents, config.event)
    text, html = render_text(report), render_html(report)
    folder = Path(config.alerting.notifications_file).parent / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{day.isoformat()}.txt").write_text(text)
    (folder / f"{day.isoformat()}.html").write_text(html)
    print(f"--- daily status report {day}\n{text}", flush=True)
    for name in cfg.channels:
        channel = channels.get(name)
        try:
            if isinstance(channel, TextNotifier):
                await channel.post_text(render_text(report, slack=True))
            elif isinstance(channel, ReportNotifier):
                await channel.send_report(f"{report.title}: {day.isoformat()}", text, html,
                                          message_id=f"report-{day.isoformat()}")
        except Exception as exc:  # one channel's failure must not stop the others; logged without secrets
            log.error("daily report not delivered", extra={"channel": name,
                                                            "reason": str(getattr(exc, "reason", type(exc).__name__))})
    store.put_state(REPORT_STATE, {"last_sent": day.isoformat()})
    return day
