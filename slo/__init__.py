"""SLOs compute: specs, error budgets, multiwindow burn-rate alerts, the daily report, Prometheus rules.

Imports only monitor.core, monitor.store and alerts. The request counts come from probes/request_counts.py
through the store; `converge-monitor report` is monitor/cli/slo.py.

    spec.py        monitor.yml `slos:` (SlosConfig, SloSpec; defaults: availability, health-checks, latency)
    windows.py     rolling and calendar windows; the Workbook's alert windows scaled to a period
    periods.py     the rolling (30d) and event periods as everything else sees them
    budget.py      pure math over cumulative (timestamps, good, total): counts, budgets, burn rates
    burn.py        trailing burn rates and the multiwindow decision
    sources.py     each SLI's count series from the store
    evaluate.py    one SLO at one instant -> SloStatus -> observations (slo_* signals)
    service.py     the shell: store -> evaluate -> observations, cached history, board items
    alerting.py    burn-rate alert rules for the embedded engine (page and ticket tiers)
    prometheus.py  recording and alerting rule groups for Prometheus
    incidents.py   incidents from the notification log
    report.py      the daily status report (templates/report.txt.j2, report.html.j2)
"""
