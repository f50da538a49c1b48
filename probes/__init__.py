"""Probes measure: one module per kind of check, `async def run(target, ctx) -> list[Observation]`.

They import only monitor.core (the target models, the signal catalog, Observation). A new probe is one
module here, registered in registry.py, with its signals declared in monitor/core/signals.py and its
target model in monitor/core/targets.py; thresholds and alerting are not a probe's business.
"""
