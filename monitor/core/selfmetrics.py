"""The monitor's own health: probe runs, failures, timeouts, durations, last cycle."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class SelfMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.runs = Counter("converge_monitor_probe_runs_total",
                            "Probe runs by outcome: ok (check passed), failed (check failed), "
                            "timeout (hard timeout hit), error (the probe raised)",
                            ("target", "kind", "outcome"), registry=self.registry)
        self.duration = Histogram("converge_monitor_probe_run_duration_seconds", "Duration of probe runs",
                                  ("kind",), buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
                                  registry=self.registry)
        self.last_run = Gauge("converge_monitor_probe_last_run_timestamp_seconds", "When the target was last probed",
                              ("target", "kind"), registry=self.registry)
        self.last_cycle = Gauge("converge_monitor_last_cycle_timestamp_seconds",
                                "When the last probe run of any target finished", registry=self.registry)
        self.event_mode = Gauge("converge_monitor_event_mode", "1 inside the configured event window",
                                registry=self.registry)
        self.notifications = Counter("converge_monitor_notifications_total",
                                     "Notification deliveries by channel and outcome (sent, retry, failed, fallback)",
                                     ("channel", "outcome"), registry=self.registry)
        self.outbox_pending = Gauge("converge_monitor_outbox_pending", "Notifications waiting in the outbox",
                                    registry=self.registry)
        self.leader = Gauge("converge_monitor_leader", "1 when this replica evaluates alerts and delivers",
                            registry=self.registry)
        self.targets = Gauge("converge_monitor_targets", "Targets scheduled", registry=self.registry)
        self.lateness = Histogram("converge_monitor_probe_lateness_seconds",
                                  "How long after its planned time a scheduled probe run started",
                                  buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10), registry=self.registry)
        self.rechecks = Counter("converge_monitor_probe_rechecks_total",
                                "Immediate re-checks confirming a first failed check of a critical target (event mode)",
                                ("target",), registry=self.registry)
        self.loop_lag = Histogram("converge_monitor_event_loop_lag_seconds",
                                  "How late the event loop woke a task that asked to sleep (sampled every 0.25 s)",
                                  buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5), registry=self.registry)
        self.owned = Gauge("converge_monitor_targets_owned", "Targets this replica probes (the rest: other replicas)",
                           registry=self.registry)
        self.replicas = Gauge("converge_monitor_replicas", "Live replicas sharing the targets", registry=self.registry)
