"""Routing: which channels each tier goes to, inside and outside the event window, and what to try when one fails.

Defaults (the spec's 8.6 tiers):
  critical   event: sms + slack (pages at any hour)   normal: slack + email   fallback sms > slack > email
  high       slack (@channel)                                                fallback slack > email
  medium     slack, low priority (no @channel)                               fallback slack > email
  low        email                                                           fallback email > slack
  advisory   slack, never pages (sms refused)                                fallback slack > email

monitor.yml `routing:` overrides per tier, field by field; a list is short for the same channels in and out
of the event:

    routing:
      critical: {event: [sms, slack], normal: [slack, email]}
      high: [slack, email]
      medium: {mention_channel: false}

Channel names are those of the `channels:` section (checked there); `sms` is the paging channel.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator

from alerts.model import Tier
from monitor.core.sections import Section

PAGING_CHANNELS = frozenset({"sms"})
_CHANNEL = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def _channel_name(value: str) -> str:
    if not _CHANNEL.match(value):
        raise ValueError(f"channel name {value!r} must be lowercase letters, digits, - or _ (e.g. sms, slack, email)")
    return value


ChannelName = Annotated[str, AfterValidator(_channel_name)]
ChannelList = Annotated[list[ChannelName], Field(min_length=1)]

DEFAULTS: dict[Tier, dict[str, Any]] = {
    Tier.CRITICAL: {"event": ["sms", "slack"], "normal": ["slack", "email"], "fallback": ["sms", "slack", "email"],
                    "mention_channel": True},
    Tier.HIGH: {"event": ["slack"], "normal": ["slack"], "fallback": ["slack", "email"], "mention_channel": True},
    Tier.MEDIUM: {"event": ["slack"], "normal": ["slack"], "fallback": ["slack", "email"], "mention_channel": False},
    Tier.LOW: {"event": ["email"], "normal": ["email"], "fallback": ["email", "slack"], "mention_channel": False},
    Tier.ADVISORY: {"event": ["slack"], "normal": ["slack"], "fallback": ["slack", "email"],
                    "mention_channel": False},
}


class TierRoute(Section):
    event: ChannelList  # inside the event window
    normal: ChannelList  # outside it
    fallback: ChannelList  # order to try when a channel fails
    mention_channel: bool  # Slack @channel

    @model_validator(mode="after")
    def _no_repeats(self) -> TierRoute:
        for name in ("event", "normal", "fallback"):
            channels: list[str] = getattr(self, name)
            dupes = sorted({c for c in channels if channels.count(c) > 1})
            if dupes:
                raise ValueError(f"{name} lists {', '.join(dupes)} more than once")
        return self


def _merge_tier(tier: Tier, given: Any) -> Any:
    if given is None:
        return dict(DEFAULTS[tier])
    if isinstance(given, list):  # shorthand: the same channels in and out of the event window
        given = {"channels": given}
    if not isinstance(given, dict):
        return given  # let pydantic say what it expected
    given = dict(given)
    if "channels" in given:
        if "event" in given or "normal" in given:
            raise ValueError(f"{tier} has both channels and event/normal: give one or the other")
        given["event"] = given["normal"] = given.pop("channels")
    return {**DEFAULTS[tier], **given}


class RoutingConfig(Section):
    """monitor.yml `routing:`: tier -> channels, as data."""

    critical: TierRoute = Field(default_factory=lambda: TierRoute(**DEFAULTS[Tier.CRITICAL]))
    high: TierRoute = Field(default_factory=lambda: TierRoute(**DEFAULTS[Tier.HIGH]))
    medium: TierRoute = Field(default_factory=lambda: TierRoute(**DEFAULTS[Tier.MEDIUM]))
    low: TierRoute = Field(default_factory=lambda: TierRoute(**DEFAULTS[Tier.LOW]))
    advisory: TierRoute = Field(default_factory=lambda: TierRoute(**DEFAULTS[Tier.ADVISORY]))

    @model_validator(mode="before")
    @classmethod
    def _over_defaults(cls, data: Any) -> Any:
        if data is None:
            return {}
        if not isinstance(data, dict):
            return data
        known = {str(t) for t in Tier}
        return {k: _merge_tier(Tier(k), v) if k in known else v for k, v in data.items()}

    @model_validator(mode="after")
    def _advisory_never_pages(self) -> RoutingConfig:
        route = self.advisory
        for name in ("event", "normal", "fallback"):
            paging = sorted(PAGING_CHANNELS & set(getattr(route, name)))
            if paging:
                raise ValueError(f"advisory never pages: remove {', '.join(paging)} from advisory.{name}")
        return self

    def route(self, tier: Tier | str) -> TierRoute:
        route: TierRoute = getattr(self, Tier(tier).value)
        return route

    def channels_for(self, tier: Tier | str, in_event: bool) -> list[str]:
        route = self.route(tier)
        return list(route.event if in_event else route.normal)

    def fallbacks(self, tier: Tier | str, channel: str, exclude: Collection[str] = ()) -> list[str]:
        """Channels to try, in order, after `channel` failed: those after it in the tier's fallback order
        (all of them when it is not in the order), minus `exclude` (e.g. channels that already delivered)."""
        order = self.route(tier).fallback
        after = order[order.index(channel) + 1:] if channel in order else order
        return [c for c in after if c != channel and c not in exclude]

    def mentions_channel(self, tier: Tier | str) -> bool:
        return self.route(tier).mention_channel

    def pages(self, tier: Tier | str, in_event: bool) -> bool:
        return bool(PAGING_CHANNELS & set(self.channels_for(tier, in_event)))

    def channel_names(self) -> set[str]:
        """Every channel named anywhere, for the cross-check against the `channels:` section."""
        return {c for t in Tier for name in ("event", "normal", "fallback") for c in getattr(self.route(t), name)}


DEFAULT_ROUTING = RoutingConfig()
