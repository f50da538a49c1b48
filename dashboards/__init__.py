"""Grafana dashboards for Converge, generated from the signal catalog and the API's metrics contract.

    converge-monitor export-dashboards --out grafana/dashboards   # the committed JSON (--check: compare)
    GRAFANA_TOKEN=... converge-monitor push-dashboards --grafana-url http://grafana:3000

builder.py wraps grafana-foundation-sdk; promql.py and signal_panels.py write the queries; one module
per dashboard (api, postgres, redis, slo, alerts, event); catalog.py lists them; export.py and push.py
write files and upload through Grafana's HTTP API; queries.py extracts panel queries for the tests.
Imports only monitor.core and alerts.model; the commands are monitor/cli/dashboards.py.
"""
