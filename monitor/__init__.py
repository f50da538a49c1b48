"""The monitor: the shared base (`core`), the store (`store`), and the wiring that runs everything.

    core/      observation, the signal catalog, the API's metrics contract, config base types, problems,
               PromQL math, durations, redaction, the command base, self-metrics: imports nothing else
    store/     latest value, history, alert state and outbox (SQLite or PostgreSQL): imports only core
    config/    monitor.yml -> Config (composes every layer's config sections)
    cli/       every `converge-monitor` command
    scheduler, runner, server, board, exporter, ...: the wiring; the only modules that import every layer
"""
