"""The rule model: what one alert rule is, how its condition is compared, and how its texts are rendered.

A rule compares one signal (from monitor/core/signals.py) of every matching series with a threshold:

    name, tier, signal, labels       which series (labels: equality matchers, {} = every series)
    comparison, threshold            when the condition holds (comparison "unknown": the value is unknown)
    for                              how long it must hold before the alert fires (0 = at once)
    clear_threshold                  hysteresis: a firing alert resolves only once the value is back past it
    keep_firing_for                  and only after the condition last held this long ago
    event                            the same four numbers during the event window (any subset)
    only_if                          a guard: {signal, comparison, threshold} on another signal of the same
                                     series (joined on the guard signal's labels, e.g. target); the condition
                                     holds only while the guard holds with a known value, so a firing alert
                                     whose guard stops holding resolves (after keep_firing_for)
    deploy                           the same four numbers in the window after a deploy (post-deployment
                                     checklist); on top of the event values when both apply
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from alerts.model import Tier
from monitor.core.signals import CATALOG
from monitor.core.targets import parse_duration

Comparison = Literal[">", ">=", "<", "<=", "==", "!=", "unknown"]
OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
}
_ABOVE = (">", ">=")  # fires high: healthy (clear) side is below
_BELOW = ("<", "<=")


def _non_negative_duration(value: object) -> float:
    # monitor.core.targets.Duration refuses 0, but `for: 0` (fire at once) is a meaningful rule setting.
    if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
        return 0.0
    if isinstance(value, str) and re.fullmatch(r"\s*0+(?:\.0+)?\s*(ms|s|m|h|d)?\s*", value):
        return 0.0
    return parse_duration(value)


NonNegDuration = Annotated[float, BeforeValidator(_non_negative_duration)]
RuleName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,79}$")]
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_FIXED_PLACEHOLDERS = ("value", "threshold", "target")


@dataclass(frozen=True, slots=True)
class Params:
    """A rule's numbers in one mode (normal or event)."""

    threshold: float | None
    for_: float
    clear_threshold: float | None  # None only for comparison "unknown"
    keep_firing_for: float


def derive_clear(old_threshold: float, old_clear: float | None, new_threshold: float, comparison: str) -> float:
    """The clear threshold that keeps a rule's hysteresis band in proportion when its threshold moves."""
    if old_clear is None or old_clear == old_threshold:
        return new_threshold
    if old_threshold != 0:
        clear = round(new_threshold * old_clear / old_threshold, 12)
    else:
        clear = new_threshold + (old_clear - old_threshold)
    if (comparison in _ABOVE and clear > new_threshold) or (comparison in _BELOW and clear < new_threshold):
        return new_threshold  # the scaled band flipped sides (signs differ): no hysteresis rather than a wrong one
    return clear


class EventOverride(BaseModel):
    """What changes inside the event window; fields left out keep the rule's normal value."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True, allow_inf_nan=False)

    threshold: float | None = None
    for_: NonNegDuration | None = Field(None, alias="for")
    clear_threshold: float | None = None
    keep_firing_for: NonNegDuration | None = None


class Guard(BaseModel):
    """A second condition the rule's condition needs, on another signal of the same target: scaling advice
    only while there is room to scale (api_scale_down_room > 0)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    signal: str
    comparison: Literal[">", ">=", "<", "<=", "==", "!="]
    threshold: float

    @field_validator("signal")
    @classmethod
    def _known_signal(cls, value: str) -> str:
        return _known(value)

    def holds(self, value: float | None) -> bool:
        return value is not None and value == value and OPS[self.comparison](value, self.threshold)


def _known(value: str) -> str:
    if value not in CATALOG:
        close = difflib.get_close_matches(value, CATALOG, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else " (see monitor/core/signals.py)"
        raise ValueError(f"unknown signal {value!r}{hint}")
    return value


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True, allow_inf_nan=False)

    name: RuleName
    tier: Tier
    signal: str
    labels: dict[str, str] = Field(default_factory=dict)
    comparison: Comparison
    threshold: float | None = None
    for_: NonNegDuration = Field(0.0, alias="for")
    clear_threshold: float | None = None
    keep_firing_for: NonNegDuration = 0.0
    summary: str = ""
    runbook: str = ""
    event: EventOverride | None = None
    only_if: Guard | None = None
    deploy: EventOverride | None = None
    enabled: bool = True

    @field_validator("signal")
    @classmethod
    def _known_signal(cls, value: str) -> str:
        return _known(value)

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        declared = CATALOG[self.signal].labels
        for key in self.labels:
            if key not in declared:
                raise ValueError(f"labels: signal {self.signal!r} has no label {key!r} "
                                 f"(its labels: {', '.join(declared)})")
        if self.only_if is not None:
            self._check_guard(self.only_if, declared)
        allowed = (*_FIXED_PLACEHOLDERS, *declared)
        for field_name in ("summary", "runbook"):
            for name in PLACEHOLDER.findall(getattr(self, field_name)):
                if name not in allowed:
                    raise ValueError(f"{field_name}: unknown placeholder {{{name}}}; "
                                     f"use {', '.join('{' + a + '}' for a in allowed)}")
        if self.comparison == "unknown":
            for field_name in ("threshold", "clear_threshold"):
                in_mode = next((mode for mode in ("event", "deploy") if getattr(self, mode) is not None
                                and getattr(getattr(self, mode), field_name) is not None), None)
                if getattr(self, field_name) is not None or in_mode:
                    where = f"{in_mode}." if in_mode else ""
                    raise ValueError(f"{where}{field_name}: not used with comparison 'unknown' (the condition is "
                                     "'the value is unknown'); remove it")
            return self
        if self.threshold is None:
            raise ValueError(f"threshold: required with comparison {self.comparison!r}")
        self._check_clear(self.params(False), "")
        if self.event is not None:
            self._check_clear(self.params(True), "event.")
        if self.deploy is not None:
            self._check_clear(self.params(False, True), "deploy.")
            self._check_clear(self.params(True, True), "deploy.")
        return self

    def _check_guard(self, guard: Guard, declared: tuple[str, ...]) -> None:
        if self.comparison == "unknown":
            raise ValueError("only_if: not used with comparison 'unknown'; remove it")
        join = CATALOG[guard.signal].labels
        if not join or not set(join) <= set(declared):
            raise ValueError(f"only_if: signal {guard.signal!r} (labels: {', '.join(join) or 'none'}) cannot be "
                             f"matched to the series of {self.signal!r} (labels: {', '.join(declared)}); its labels "
                             "must be among them")

    def guard_key(self, labels: Mapping[str, str]) -> tuple[str | None, ...]:
        """The series' values of the guard signal's labels: the guard series it is matched with."""
        assert self.only_if is not None
        return tuple(labels.get(k) for k in CATALOG[self.only_if.signal].labels)

    def _check_clear(self, p: Params, where: str) -> None:
        assert p.threshold is not None and p.clear_threshold is not None
        t, c, cmp = p.threshold, p.clear_threshold, self.comparison
        if cmp in ("==", "!=") and c != t:
            raise ValueError(f"{where}clear_threshold: comparison {cmp!r} has no hysteresis; leave it out")
        if cmp in _ABOVE and c > t:
            raise ValueError(f"{where}clear_threshold: {c:g} must be <= the threshold {t:g} for comparison {cmp!r} "
                             "(a firing alert resolves once the value is back at or below it)")
        if cmp in _BELOW and c < t:
            raise ValueError(f"{where}clear_threshold: {c:g} must be >= the threshold {t:g} for comparison {cmp!r} "
                             "(a firing alert resolves once the value is back at or above it)")

    def params(self, in_event: bool, in_deploy: bool = False) -> Params:
        """The effective numbers: the rule's own, with its event override on top inside the event window and
        its deploy override on top of that inside a deploy window."""
        clear = self.clear_threshold if self.clear_threshold is not None else self.threshold
        p = Params(self.threshold, self.for_, clear, self.keep_firing_for)
        if in_event and self.event is not None:
            p = self._apply(p, self.event)
        if in_deploy and self.deploy is not None:
            p = self._apply(p, self.deploy)
        return p

    def _apply(self, p: Params, ov: EventOverride) -> Params:
        threshold, clear = p.threshold, p.clear_threshold
        if ov.threshold is not None:
            assert p.threshold is not None
            threshold = ov.threshold
            clear = derive_clear(p.threshold, p.clear_threshold, threshold, self.comparison)
        if ov.clear_threshold is not None:
            clear = ov.clear_threshold
        return Params(threshold, p.for_ if ov.for_ is None else ov.for_, clear,
                      p.keep_firing_for if ov.keep_firing_for is None else ov.keep_firing_for)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.labels.items())


def format_value(signal_name: str, value: float | None) -> str:
    """A value as a person reads it, by the signal's unit: 0.123 ratio -> "12.3%", 2.5 seconds -> "2.50s"."""
    if value is None:
        return "unknown"
    if not math.isfinite(value):
        return str(value)
    unit = CATALOG[signal_name].unit if signal_name in CATALOG else ""
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit == "seconds":
        return f"{value * 1000:.0f}ms" if abs(value) < 1 else f"{value:.2f}s"
    if unit == "days":
        return f"{value:.1f} days"
    if unit == "per_minute":
        return f"{value:.0f}/min"
    if unit == "per_second":
        return f"{value:.1f}/s"
    return f"{value:g}"


def render(template: str, rule: Rule, labels: Mapping[str, str], value: float | None,
           threshold: float | None) -> str:
    """Fill {value}, {threshold}, {target} and the series' label placeholders of a summary or runbook."""
    if "{" not in template:
        return template

    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key == "value":
            return format_value(rule.signal, value)
        if key == "threshold":
            return format_value(rule.signal, threshold)
        return labels.get(key, "")

    return PLACEHOLDER.sub(sub, template)
