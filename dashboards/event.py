"""6. Event-day screen: a few very large numbers, readable across a room, refreshed every 10 s.

Open it as /d/converge-event-day?kiosk (the "Kiosk" link) on the screens: no menus, no time picker,
dark. "Today" is the event's calendar day (the dashboard's time zone is the event's), so RSVPs,
connections and messages count from local midnight.
"""

from __future__ import annotations

from typing import Any

from dashboards import promql as p
from dashboards.builder import GREEN, ORANGE, RED, YELLOW, Link, Q, build_dashboard, stat_panel, value_text
from dashboards.slo import EVENT_TIMEZONE
from monitor.core.signals import signal

UID = "converge-event-day"
TITLE_SIZE, VALUE_SIZE, HEIGHT = 32, 110, 8
STATUS_OK, STATUS_DEGRADED, STATUS_DOWN = 2, 1, 0


def status_expr() -> str:
    """2 OK; 1 DEGRADED (a high alert fires or a check fails); 0 DOWN (a critical alert fires).

    Each cause is a labelled 0/1 (or 0/2) sample, `vector(0)` the all-clear; the worst one wins."""
    failing = f"{signal('probe_success').metric_name} == 0"
    causes = [
        f'label_replace(2 * clamp_max(count({p.firing("critical")}), 1), "cause", "critical", "", "")',
        f'label_replace(clamp_max(count({p.firing("high")}), 1), "cause", "high", "", "")',
        f'label_replace(clamp_max(count({failing}), 1), "cause", "check", "", "")',
    ]
    return f"{STATUS_OK} - max(vector(0) or {' or '.join(causes)})"


def _big(title: str, expr: str, **kwargs: Any) -> Any:
    kwargs.setdefault("width", 8)
    return stat_panel(title, [Q(expr)], height=HEIGHT, title_size=TITLE_SIZE, value_size=VALUE_SIZE, **kwargs)


def build() -> dict[str, Any]:
    status = value_text({STATUS_OK: ("OK", GREEN), STATUS_DEGRADED: ("DEGRADED", ORANGE),
                         STATUS_DOWN: ("DOWN", RED)})
    panels = [
        _big("Status", status_expr(), mappings=status, background=True,
             steps=[(None, RED), (STATUS_DEGRADED, ORANGE), (STATUS_OK, GREEN)],
             description="DOWN: a critical alert fires. DEGRADED: a high alert fires or a check fails."),
        _big("Requests / min", f"{p.sum_rate(p.REQUESTS, '1m')} * 60", decimals=0),
        _big("Active users", "sum(converge_websocket_connections)", decimals=0,
             description="Attendees connected live (open websockets)."),
        _big("p95 latency", p.latency_quantile(0.95, "5m"), unit="s", width=6,
             steps=[(None, GREEN), (0.5, YELLOW), (2.0, RED)]),
        _big("Error rate", p.error_ratio("5m"), unit="percentunit", decimals=1, width=6,
             steps=[(None, GREEN), (0.05, ORANGE), (0.10, RED)]),
        _big("Critical alerts", p.count_or_zero(p.firing("critical")), width=6, background=True,
             steps=[(None, GREEN), (1, RED)]),
        _big("High alerts", p.count_or_zero(p.firing("high")), width=6, background=True,
             steps=[(None, GREEN), (1, ORANGE)]),
        _big("RSVPs today", p.increase_total("converge_rsvps_total"), decimals=0),
        _big("Connections today", p.increase_total("converge_connections_total"), decimals=0),
        _big("Messages today", p.increase_total("converge_messages_total"), decimals=0),
    ]
    return build_dashboard(
        UID, "Converge event day",
        "The event-day screen: status, traffic, active users, latency, errors, open critical and high alerts, "
        "and today's RSVPs, connections and messages. Open with ?kiosk.",
        [(None, panels)], tags=("event",), refresh="10s", time_from="now/d", time_to="now",
        timezone=EVENT_TIMEZONE, kiosk=True,
        links=[Link("Kiosk", f"/d/{UID}?kiosk&refresh=10s", "Full screen, no menus: for the event-day screens")])
