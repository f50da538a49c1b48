"""The alert pipeline's shared types: tiers, states and the alert itself."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property


class Tier(StrEnum):
    """The spec's 8.6 tiers plus advisory (the 9.3 scaling triggers: Slack, never pages)."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    ADVISORY = "advisory"


TIER_ORDER = {Tier.CRITICAL: 0, Tier.HIGH: 1, Tier.MEDIUM: 2, Tier.LOW: 3, Tier.ADVISORY: 4}


class State(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


def fingerprint(rule: str, labels: Mapping[str, str]) -> str:
    """Stable id of one alert: its rule and its series labels."""
    raw = json.dumps([rule, sorted(labels.items())], separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


@dataclass
class Alert:
    """One alert instance: a rule applied to one series. `labels` always include alertname and tier."""

    rule: str
    tier: Tier
    labels: dict[str, str]
    state: State = State.INACTIVE
    value: float | None = None
    threshold: float | None = None
    active_since: float | None = None  # when the condition started to hold (pending)
    fired_at: float | None = None
    resolved_at: float | None = None
    last_true: float | None = None  # last evaluation where the condition held (keep_firing_for)
    summary: str = ""
    runbook: str = ""
    annotations: dict[str, str] = field(default_factory=dict)

    @cached_property
    def id(self) -> str:
        # Labels never change once the alert exists; hashing them on every access was a hot spot (bench/).
        return fingerprint(self.rule, self.labels)
