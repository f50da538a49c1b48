"""The shipped configuration (monitor.yml and the default rule catalog) for tests that judge outcomes with it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from alerts.engine import AlertEngine
from alerts.model import State
from monitor.config import Config, load_config
from monitor.core.observation import Observation
from tests.support.paths import REPO


def shipped_config(environ: Mapping[str, str] | None = None) -> Config:
    """monitor.yml as shipped, every ${VAR:-default} at its default unless `environ` sets it."""
    return load_config(REPO / "monitor.yml", environ=dict(environ or {}))


@dataclass
class ShippedRules:
    """The shipped rules in the real engine; which alerts fire (by rule name), evaluation by evaluation."""

    in_event: bool
    engine: AlertEngine = field(default_factory=lambda: AlertEngine(shipped_config().effective_rules()))
    ever_fired: set[str] = field(default_factory=set)

    def evaluate(self, observations: Iterable[Observation], now: float) -> set[str]:
        """Evaluate the latest observations at `now`; the names of the rules firing afterwards."""
        for t in self.engine.evaluate(list(observations), now, self.in_event):
            if t.new_state is State.FIRING:
                self.ever_fired.add(t.alert.rule)
        return self.firing()

    def firing(self, rule: str | None = None) -> set[str]:
        return {a.rule for a in self.engine.alerts((State.FIRING,)) if rule is None or a.rule == rule}


def fires_when_held(rule_name: str, observations: Iterable[Observation], in_event: bool, interval: float = 30.0,
                    start: float = 1_769_600_000.0) -> bool:
    """Whether the shipped rule fires when a probe keeps returning these observations every `interval`
    seconds, for the rule's `for` (in this mode) and two more runs."""
    rules = ShippedRules(in_event)
    rule = next(r for r in rules.engine.rules if r.name == rule_name)
    held = list(observations)
    now = start
    while now - start <= rule.params(in_event).for_ + 2 * interval:
        if rule_name in rules.evaluate([replace(o, timestamp=now) for o in held], now):
            return True
        now += interval
    return False
