"""The Converge-NPS API: the service converge-monitor watches, small but real and fully instrumented.

Login, sessions, RSVPs, QR connections, messages and a websocket on PostgreSQL and Redis; request
metrics, /health, JSON logs, Sentry with PII scrubbing, per-IP request counts. Imports nothing of the
monitor: the monitor reads it from outside (its /metrics contract is monitor/core/api_contract.py).
"""
