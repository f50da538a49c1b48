"""5. Alerts and probes: firing alerts by tier, notifications, probe success and latency, TLS, disks.

Firing alerts are Prometheus's ALERTS series: the exported alerting rules carry `severity` = the
monitor's tier. Notification counts are the monitor's own converge_monitor_notifications_total.
"""

from __future__ import annotations

from typing import Any

from alerts.model import TIER_ORDER, Tier
from dashboards import promql as p
from dashboards import signal_panels as s
from dashboards.builder import (
    BLUE,
    GREEN,
    OK_FAILED,
    ORANGE,
    RED,
    YELLOW,
    Q,
    build_dashboard,
    stat_panel,
    table_panel,
    timeseries_panel,
    value_text,
)
from monitor.core.signals import signal

UID = "converge-alerts"
NOTIFICATIONS = "converge_monitor_notifications_total"
TIER_COLORS = {Tier.CRITICAL: RED, Tier.HIGH: ORANGE, Tier.MEDIUM: YELLOW, Tier.LOW: BLUE, Tier.ADVISORY: GREEN}


def _tiers() -> list[Tier]:
    return sorted(TIER_ORDER, key=TIER_ORDER.__getitem__)


def _notified(outcome: str) -> Q:
    return Q(f'sum(increase({NOTIFICATIONS}{{outcome="{outcome}"}}[{p.RANGE}])) or vector(0)')


def build() -> dict[str, Any]:
    firing = [stat_panel(f"Firing: {tier}", [Q(p.count_or_zero(p.firing(tier)))], width=4,
                         steps=[(None, GREEN), (1, TIER_COLORS[tier])], background=True,
                         description=f"ALERTS{{alertstate=\"firing\",severity=\"{tier}\"}}")
              for tier in _tiers()]
    firing.append(stat_panel("Pending", [Q(p.count_or_zero('ALERTS{alertstate="pending"}'))], width=4,
                             description="Conditions that hold but have not lasted their `for` yet."))
    alerts = [
        timeseries_panel("Firing alerts per tier", [Q(f"count by (severity) ({p.firing()})", "{{severity}}")],
                         min_value=0, stacked=True, width=12),
        table_panel("Firing now", Q(p.firing()), width=12,
                    hide_columns=("Time", "__name__", "alertstate", "Value")),
    ]
    channel_up = s.latest("notification_channel_up", "Channels", width=6, steps=[(None, RED), (1, GREEN)],
                          mappings=value_text({1: ("OK", GREEN), 0: ("FAILING", RED)}))
    notifications = [
        stat_panel("Notifications sent", [_notified("sent")],
                   width=6, decimals=0, description=f'{NOTIFICATIONS}{{outcome="sent"}} over the time range'),
        stat_panel("Notifications failed",
                   [_notified("failed")], width=6,
                   decimals=0, steps=[(None, GREEN), (1, RED)],
                   description="Deliveries a channel gave up on (they fell back to the next channel)."),
        channel_up,
        stat_panel("Retries", [_notified("retry")],
                   width=6, decimals=0, steps=[(None, GREEN), (1, YELLOW)]),
        timeseries_panel("Notifications per channel and outcome",
                         [Q(f"sum by (channel, outcome) (increase({NOTIFICATIONS}[{p.RATE}]))",
                            "{{channel}} {{outcome}}")], min_value=0, width=24, stacked=True),
    ]
    probes = [
        stat_panel("Failing checks", [Q(p.count_or_zero(f"{signal('probe_success').metric_name} == 0"))], width=6,
                   steps=[(None, GREEN), (1, RED)], background=True),
        stat_panel("Signals the monitor could not measure",
                   [Q(p.count_or_zero("converge_signal_unknown == 1"))], width=6,
                   steps=[(None, GREEN), (1, ORANGE)],
                   description="converge_signal_unknown: unknown is never healthy (a probe timed out, or a "
                               "value needs a second sample)."),
        stat_panel("Seconds since the last probe run", [Q("time() - converge_monitor_last_cycle_timestamp_seconds")],
                   unit="s", width=6, steps=[(None, GREEN), (60, ORANGE), (300, RED)],
                   description="The monitor's heartbeat: grows when the scheduler is stuck."),
        stat_panel("Event mode", [Q("max(converge_monitor_event_mode)")], width=6,
                   mappings=value_text({1: ("EVENT", ORANGE), 0: ("normal", GREEN)}),
                   description="converge_monitor_event_mode: 1 inside the event window (faster probes, "
                               "stricter rules)."),
        s.latest("probe_success", "Checks", width=24, height=5),
        s.graph("probe_duration_seconds", "Probe duration per target", width=12),
        timeseries_panel("Probe runs per outcome", [
            Q(f"sum by (outcome) ({p.rate('converge_monitor_probe_runs_total')})", "{{outcome}}")],
            unit="short", min_value=0, width=12, stacked=True,
            description="ok, failed (the check failed), timeout (the hard timeout hit), error (the probe raised)."),
        timeseries_panel("Probe run p95 per kind", [
            Q(f"histogram_quantile(0.95, sum by (le, kind) "
              f"({p.rate('converge_monitor_probe_run_duration_seconds_bucket')}))", "{{kind}}")],
            unit="s", min_value=0, width=12),
        timeseries_panel("Unknown signals", [
            Q("sum by (signal) (converge_signal_unknown) or on() vector(0)", "{{signal}}")],
            min_value=0, width=12),
    ]
    http = [
        s.latest("http_up", "HTTP checks", width=8),
        s.latest("tls_cert_days_left", "TLS certificate days left", width=8,
                 steps=[(None, RED), (7, ORANGE), (14, YELLOW), (30, GREEN)], decimals=0),
        s.latest("synthetic_success", "Synthetic flows", width=8, mappings=OK_FAILED),
        s.graph("http_latency_seconds", "HTTP check latency", width=8),
        s.graph("http_status_code", "HTTP status code", width=8, min_value=None),
        s.graph("tls_cert_days_left", "TLS certificate days left", width=8, min_value=None,
                steps=[(None, RED), (7, ORANGE), (14, GREEN)]),
        s.graph("synthetic_duration_seconds", "Synthetic flow duration", width=12),
        s.graph("synthetic_step_latency_seconds", "Synthetic step latency", width=12),
    ]
    # Spec 1 "< 2 s page load" (8.4 Core Web Vitals) and the checklist's critical features, from the browser and
    # journey probes; backups verified by restoring them (spec 10: RTO, RPO).
    user = [
        s.latest("browser_page_ok", "Page loads", width=6, mappings=OK_FAILED),
        s.latest("journey_success", "Critical-feature journey", width=6, mappings=OK_FAILED),
        s.latest("backup_restore_success", "Backup restores", width=6, mappings=OK_FAILED),
        s.latest("backup_restore_age_seconds", "Age of the newest restorable backup", width=6,
                 steps=[(None, GREEN), (3600, ORANGE), (93600, RED)]),
        s.graph("browser_load_seconds", "Page load time (real browser)", width=12,
                steps=[(None, GREEN), (2, ORANGE), (4, RED)]),
        s.graph("browser_lcp_seconds", "Largest Contentful Paint", width=6, steps=[(None, GREEN), (2.5, ORANGE)]),
        s.graph("browser_cls", "Cumulative Layout Shift", width=6, steps=[(None, GREEN), (0.1, ORANGE)]),
        s.graph("browser_ttfb_seconds", "Time to first byte", width=6),
        s.graph("browser_dom_content_loaded_seconds", "DOMContentLoaded", width=6),
        s.latest("browser_failed_requests", "Failed requests on the page", width=6, steps=[(None, GREEN), (1, ORANGE)]),
        s.latest("browser_console_errors", "Console errors on the page", width=6, steps=[(None, GREEN), (1, ORANGE)]),
        s.graph("journey_step_latency_seconds", "Journey step latency", width=12),
        s.graph("journey_duration_seconds", "Journey duration", width=12),
        s.graph("backup_restore_seconds", "Restore time (RTO)", width=12,
                steps=[(None, GREEN), (900, ORANGE), (3600, RED)]),
        s.latest("backup_restore_tables_missing", "Tables missing from the restored backup", width=6,
                 steps=[(None, GREEN), (1, RED)]),
        s.latest("backup_restore_row_deviation_ratio", "Row-count deviation of the restored backup", width=6,
                 steps=[(None, GREEN), (0.1, RED)]),
    ]
    deploys_and_sentry = [
        stat_panel("Deploy window", [Q(f"max({signal('deploy_window').metric_name})")], width=6,
                   mappings=value_text({1: ("WATCHING", ORANGE), 0: ("closed", GREEN)}),
                   description="converge_deploy_window: 1 for 24 h after a deploy (`converge-monitor deploy mark`); "
                               "the rules' deploy thresholds apply (error rate > 1%, p95 > 500 ms)."),
        stat_panel("Since the last deploy",
                   [Q(f"time() - ({signal('deploy_last_timestamp_seconds').metric_name} > 0)")],
                   unit="s", width=6, description="Deploys are the annotations on every dashboard."),
        stat_panel("Deployed version", [Q(f"{signal('deploy_info').metric_name} == 1", "{{version}}")], width=6,
                   description="converge_deploy_info: the version of the last recorded deploy."),
        s.latest("sentry_open_alerts", "Sentry alerts open", width=6, steps=[(None, GREEN), (1, ORANGE)],
                 decimals=0),
    ]
    host = [
        s.graph("disk_used_ratio", "Disk used", width=12, steps=[(None, GREEN), (0.8, ORANGE), (0.9, RED)]),
        s.latest("dependency_vulnerabilities", "Known vulnerabilities in dependencies", width=12,
                 steps=[(None, GREEN), (1, ORANGE)]),
    ]
    return build_dashboard(
        UID, "Converge alerts and probes",
        "Firing alerts per tier, notifications sent and failed, and every check the monitor runs: probe "
        "success and latency, HTTP and TLS, synthetic flows, real-browser page loads, the critical-feature journey, "
        "backup restores, disks and dependencies.",
        [(None, firing), ("Alerts", alerts), ("Notifications", notifications), ("Probes", probes),
         ("HTTP, TLS and synthetic checks", http),
         ("Page loads, critical features and backup restores", user), ("Deploys and Sentry", deploys_and_sentry),
         ("Disks and dependencies", host)],
        tags=("alerts",))
