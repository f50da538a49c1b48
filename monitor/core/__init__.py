"""The shared base every layer builds on; it imports nothing else of the project.

    observation   Observation: one value of one signal for one series, or unknown
    signals       the one signal catalog (name, unit, labels, help), the SLO signals included
    api_contract  the Converge API's request metrics: names, routes left out, series selectors
    targets       target config models, one per probe kind; Duration
    sections      config base types: Section, EventWindow
    problems      config problems: Loc, Problem, ConfigError, the keys a model allows
    promql        Prometheus's rate/increase extrapolation and histogram_quantile
    timeutil      instants, wall times, zones, Prometheus durations
    redact        the one URL redaction rule
    commands      the CLI command base and exit codes
    selfmetrics   the monitor's own counters
"""
