"""Alerts judge and deliver: the rule catalog, the engine, silences, inhibition, on-call and notifiers.

    model        Tier, State, Alert (the types dashboards and SLOs may read)
    rules/       the rule model, the spec's default catalog, monitor.yml's overrides
    engine       pending -> firing -> resolved, with for, hysteresis, keep_firing_for, event mode
    promrules    the same catalog as Prometheus alerting and recording rules
    dispatch, routing, oncall, ack, silences, maintenance, inhibition: who hears what, when
    service      the shell: store -> engine -> outbox, persisted each cycle
    outbox       durable delivery: retries, fallback, no loss, no duplicates
    notifiers/   one module per channel behind the protocols of notifiers/base.py

Imports only monitor.core and monitor.store.
"""
