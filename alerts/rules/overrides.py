"""monitor.yml's `rules:` section: overrides of the default catalog, disabled rules and custom rules.

    rules = load_rules(config.rules)       # DEFAULT_RULES with monitor.yml's `rules:` section applied

    rules:
      overrides:                     # any field of a default rule, by rule name
        ErrorRateHigh: {threshold: 0.03, for: 2m}
        ApiDown: {labels: {target: prod-health}, event: {for: 5s}}
      disabled: [ScaleDownCpu]       # same as overrides: {ScaleDownCpu: {enabled: false}}
      custom:                        # new rules, every field as in the catalog
        - {name: SyntheticLoginFailing, tier: high, signal: synthetic_success, comparison: "==", threshold: 0, for: 2m}

Overriding `labels` replaces the matcher; overriding `event` or `deploy` merges field by field (`event: null`
removes it).
Changing `threshold` without `clear_threshold` keeps the rule's hysteresis band in proportion
(ErrorRateHigh 5% / clear 4% -> threshold 3% clears at 2.4%); the same holds for an event `threshold`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alerts.model import Tier
from alerts.rules.catalog import DEFAULT_RULES
from alerts.rules.model import Comparison, EventOverride, Guard, NonNegDuration, Rule, derive_clear
from monitor.core.problems import Loc, allowed_keys, format_loc

# --------------------------------------------------------------------------------------------------
# monitor.yml `rules:` section


class RuleOverride(BaseModel):
    """Any field of a rule but its name; fields left out keep the default."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True, allow_inf_nan=False)

    tier: Tier | None = None
    signal: str | None = None
    labels: dict[str, str] | None = None
    comparison: Comparison | None = None
    threshold: float | None = None
    for_: NonNegDuration | None = Field(None, alias="for")
    clear_threshold: float | None = None
    keep_firing_for: NonNegDuration | None = None
    summary: str | None = None
    runbook: str | None = None
    event: EventOverride | None = None
    only_if: Guard | None = None
    deploy: EventOverride | None = None
    enabled: bool | None = None


class RulesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    overrides: dict[str, RuleOverride] = Field(default_factory=dict)
    disabled: list[str] = Field(default_factory=list)
    custom: list[Rule] = Field(default_factory=list)


_FIELD_PREFIX = re.compile(r"^((?:event\.|deploy\.)?[a-z_]+): (.*)$", re.DOTALL)


class RulesError(ValueError):
    """The `rules:` section is invalid; `problems` holds (field path, message) for every mistake."""

    def __init__(self, problems: Sequence[tuple[Loc, str]]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(f"{format_loc(loc)}: {msg}" for loc, msg in self.problems))


def _problems(exc: ValidationError, prefix: Loc, model: type[BaseModel]) -> list[tuple[Loc, str]]:
    out: list[tuple[Loc, str]] = []
    for err in exc.errors(include_url=False, include_input=False):
        loc: Loc = (*prefix, *err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            key = str(err["loc"][-1])
            allowed = allowed_keys(model, err["loc"][:-1])
            close = difflib.get_close_matches(key, allowed, n=1)
            msg = f"unknown field {key!r}" + (f"; did you mean {close[0]!r}?" if close
                                              else f"; expected one of: {', '.join(allowed)}")
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "value_error" and (m := _FIELD_PREFIX.match(msg)):
            loc = (*loc, *m.group(1).split("."))  # "clear_threshold: ..." raised on the rule: point at the field
            msg = m.group(2)
        out.append((loc, msg))
    return out


def load_rules(section: RulesConfig | Mapping[str, Any] | None = None,
               defaults: Sequence[Rule] = DEFAULT_RULES) -> list[Rule]:
    """The effective rule list: the defaults with the user's overrides, then the custom rules.

    Disabled rules stay in the list with enabled=False (so `converge-monitor rules` can show them);
    the engine skips them. Raises RulesError naming every bad rule and field (paths start at `rules`).
    """
    if section is None:
        return list(defaults)
    problems: list[tuple[Loc, str]] = []
    cfg = section if isinstance(section, RulesConfig) else _parse_section(section, problems)
    by_name = {r.name: r for r in defaults}
    result: dict[str, Rule] = dict(by_name)
    for name, override in cfg.overrides.items():
        loc: Loc = ("rules", "overrides", name)
        if name not in by_name:
            problems.append((loc, _unknown_rule(name, by_name)))
            continue
        try:
            result[name] = apply_override(by_name[name], override)
        except ValidationError as exc:
            problems += _problems(exc, loc, Rule)
    for i, name in enumerate(cfg.disabled):
        if name not in by_name:
            problems.append((("rules", "disabled", i), _unknown_rule(name, by_name)))
        else:
            result[name] = Rule.model_validate({**result[name].model_dump(by_alias=True), "enabled": False})
    seen: set[str] = set()
    for i, rule in enumerate(cfg.custom):
        loc = ("rules", "custom", i, "name")
        if rule.name in by_name:
            problems.append((loc, f"{rule.name!r} is a default rule: change it under rules.overrides"))
        elif rule.name in seen:
            problems.append((loc, f"duplicate custom rule {rule.name!r}"))
        seen.add(rule.name)
        result[rule.name] = rule
    if problems:
        raise RulesError(problems)
    return list(result.values())


def _parse_section(section: Any, problems: list[tuple[Loc, str]]) -> RulesConfig:
    """Validate each part on its own, so one mistake does not hide the others."""
    if not isinstance(section, Mapping):
        raise RulesError([(("rules",), "must be a mapping with overrides, disabled and custom")])
    allowed = list(RulesConfig.model_fields)
    for key in section:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            problems.append((("rules", str(key)), f"unknown field {key!r}" + (
                f"; did you mean {close[0]!r}?" if close else f"; expected one of: {', '.join(allowed)}")))
    overrides: dict[str, RuleOverride] = {}
    raw_overrides = section.get("overrides") or {}
    if not isinstance(raw_overrides, Mapping):
        problems.append((("rules", "overrides"), "must be a mapping of rule name -> fields to change"))
        raw_overrides = {}
    for name, body in raw_overrides.items():
        try:
            overrides[str(name)] = RuleOverride.model_validate(body if body is not None else {})
        except ValidationError as exc:
            problems += _problems(exc, ("rules", "overrides", str(name)), RuleOverride)
    disabled = section.get("disabled") or []
    if not isinstance(disabled, list) or not all(isinstance(n, str) for n in disabled):
        problems.append((("rules", "disabled"), "must be a list of rule names"))
        disabled = []
    custom: list[Rule] = []
    raw_custom = section.get("custom") or []
    if not isinstance(raw_custom, list):
        problems.append((("rules", "custom"), "must be a list of rules"))
        raw_custom = []
    for i, body in enumerate(raw_custom):
        try:
            custom.append(Rule.model_validate(body))
        except ValidationError as exc:
            problems += _problems(exc, ("rules", "custom", i), Rule)
    return RulesConfig.model_construct(overrides=overrides, disabled=disabled, custom=custom)


def _unknown_rule(name: str, known: Mapping[str, Rule]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f"unknown rule {name!r}" + (f"; did you mean {close[0]!r}?" if close else
                                       " (custom rules go under rules.custom)")


def apply_override(rule: Rule, override: RuleOverride) -> Rule:
    """`rule` with the fields the override sets; raises ValidationError if the result is not a valid rule."""
    data = rule.model_dump(by_alias=True)
    given = override.model_dump(by_alias=True, exclude_unset=True)
    modes = {mode: given.pop(mode, ...) for mode in ("event", "deploy")}
    data.update(given)
    if "clear_threshold" not in given and ("threshold" in given or "comparison" in given):
        if "comparison" in given and given["comparison"] != rule.comparison:
            data["clear_threshold"] = None  # a new direction: the old band means nothing
        elif rule.threshold is not None and data["threshold"] is not None:
            data["clear_threshold"] = derive_clear(rule.threshold, rule.clear_threshold, data["threshold"],
                                                   rule.comparison)
    for mode, value in modes.items():  # merged field by field; null removes the block
        if value is None:
            data[mode] = None
        elif value is not ...:
            data[mode] = {**(data[mode] or {}), **_set_fields(getattr(override, mode))}
    return Rule.model_validate(data)


def _set_fields(model: BaseModel | None) -> dict[str, Any]:
    return model.model_dump(by_alias=True, exclude_unset=True) if model is not None else {}
