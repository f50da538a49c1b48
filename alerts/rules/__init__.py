"""Alert rules: the model (`model`), the spec's default catalog (`catalog`) and monitor.yml's overrides
(`overrides`). The names most callers need are re-exported here."""

from alerts.rules.catalog import DEFAULT_RULE_DATA, DEFAULT_RULES
from alerts.rules.model import OPS, Comparison, EventOverride, Guard, Params, Rule, format_value, render
from alerts.rules.overrides import RuleOverride, RulesConfig, RulesError, load_rules

__all__ = ["DEFAULT_RULES", "DEFAULT_RULE_DATA", "OPS", "Comparison", "EventOverride", "Guard", "Params",
           "Rule", "RuleOverride", "RulesConfig", "RulesError", "format_value", "load_rules", "render"]
