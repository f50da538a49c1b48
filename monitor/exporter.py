"""/metrics for the monitor: every signal's latest value as `converge_<signal>`, from the catalog.

An unknown series is not exported with a made-up value: it appears as
`converge_signal_unknown{signal, target} 1` instead, so a Prometheus rule can alert on it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from monitor.core.observation import Observation
from monitor.core.signals import CATALOG


class SignalCollector(Collector):
    def __init__(self, latest: Callable[[], Sequence[Observation]]) -> None:
        self.latest = latest

    def describe(self) -> Iterable[Any]:
        return []  # the series depend on the config; nothing to check at registration

    def collect(self) -> Iterable[Any]:
        families: dict[str, GaugeMetricFamily] = {}
        unknown: dict[tuple[str, str], int] = defaultdict(int)
        for obs in sorted(self.latest(), key=lambda o: o.series_key()):
            sig = CATALOG.get(obs.signal)
            if sig is None or set(obs.labels) != set(sig.labels):
                continue  # not in the catalog: the catalog test keeps probes honest
            if obs.value is None:
                unknown[(obs.signal, obs.labels.get("target") or obs.labels.get("flow", ""))] = 1
                continue
            fam = families.get(sig.name)
            if fam is None:
                fam = families[sig.name] = GaugeMetricFamily(sig.metric_name, f"{sig.help} ({sig.unit})",
                                                             labels=list(sig.labels))
            fam.add_metric([obs.labels[label] for label in sig.labels], obs.value, timestamp=None)
        yield from families.values()
        fam = GaugeMetricFamily("converge_signal_unknown", "1 for each signal a target could not measure",
                                labels=["signal", "target"])
        for (signal, target), flag in sorted(unknown.items()):
            fam.add_metric([signal, target], flag)
        yield fam
