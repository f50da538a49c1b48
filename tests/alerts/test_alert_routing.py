"""alerts/routing: tier -> channels inside and outside the event, fallbacks, @channel, config overrides."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from alerts.model import Tier
from alerts.routing import DEFAULT_ROUTING, RoutingConfig


@pytest.mark.parametrize(("tier", "in_event", "channels", "pages"), [
    (Tier.CRITICAL, True, ["sms", "slack"], True),  # pages at any hour during the event
    (Tier.CRITICAL, False, ["slack", "email"], False),
    (Tier.HIGH, True, ["slack"], False),
    (Tier.HIGH, False, ["slack"], False),
    (Tier.MEDIUM, True, ["slack"], False),
    (Tier.MEDIUM, False, ["slack"], False),
    (Tier.LOW, True, ["email"], False),
    (Tier.LOW, False, ["email"], False),
    (Tier.ADVISORY, True, ["slack"], False),
    (Tier.ADVISORY, False, ["slack"], False),
])
def test_default_channels(tier: Tier, in_event: bool, channels: list[str], pages: bool) -> None:
    assert DEFAULT_ROUTING.channels_for(tier, in_event) == channels
    assert DEFAULT_ROUTING.channels_for(tier.value, in_event) == channels
    assert DEFAULT_ROUTING.pages(tier, in_event) is pages


@pytest.mark.parametrize(("tier", "mention"), [
    (Tier.CRITICAL, True), (Tier.HIGH, True), (Tier.MEDIUM, False), (Tier.LOW, False), (Tier.ADVISORY, False),
])
def test_default_channel_mentions(tier: Tier, mention: bool) -> None:
    assert DEFAULT_ROUTING.mentions_channel(tier) is mention


@pytest.mark.parametrize(("tier", "failed", "exclude", "then"), [
    (Tier.CRITICAL, "sms", (), ["slack", "email"]),
    (Tier.CRITICAL, "slack", (), ["email"]),
    (Tier.CRITICAL, "email", (), []),
    (Tier.CRITICAL, "sms", ("slack",), ["email"]),  # slack already delivered it
    (Tier.CRITICAL, "webhook", (), ["sms", "slack", "email"]),  # not in the order: the whole order
    (Tier.HIGH, "slack", (), ["email"]),
    (Tier.LOW, "email", (), ["slack"]),
    (Tier.ADVISORY, "slack", (), ["email"]),
])
def test_fallbacks(tier: Tier, failed: str, exclude: tuple[str, ...], then: list[str]) -> None:
    assert DEFAULT_ROUTING.fallbacks(tier, failed, exclude=exclude) == then


def test_partial_overrides_keep_the_other_defaults() -> None:
    text = """\
critical: {event: [sms, slack], normal: [sms, slack]}
high: [slack, email]
medium: {mention_channel: true}
low: ~
"""
    routing = RoutingConfig.model_validate(yaml.safe_load(text))
    assert routing.channels_for(Tier.CRITICAL, False) == ["sms", "slack"]  # pages at any hour all year
    assert routing.fallbacks(Tier.CRITICAL, "sms") == ["slack", "email"]  # fallback kept
    assert routing.channels_for(Tier.HIGH, True) == routing.channels_for(Tier.HIGH, False) == ["slack", "email"]
    assert routing.mentions_channel(Tier.HIGH)
    assert routing.mentions_channel(Tier.MEDIUM) and routing.channels_for(Tier.MEDIUM, False) == ["slack"]
    assert routing.route(Tier.LOW) == DEFAULT_ROUTING.route(Tier.LOW)
    assert routing.channel_names() == {"sms", "slack", "email"}


def test_the_brief_example_and_empty_sections_give_the_defaults() -> None:
    example = RoutingConfig.model_validate({"critical": {"event": ["sms", "slack"], "normal": ["slack", "email"]}})
    assert example == DEFAULT_ROUTING
    assert RoutingConfig.model_validate({}) == DEFAULT_ROUTING
    assert RoutingConfig.model_validate(None) == DEFAULT_ROUTING


def test_custom_channel_names_are_allowed() -> None:
    routing = RoutingConfig.model_validate({"high": {"channels": ["slack-oncall", "webhook"],
                                                     "fallback": ["webhook", "email"]}})
    assert routing.channels_for("high", True) == ["slack-oncall", "webhook"]
    assert routing.fallbacks("high", "webhook") == ["email"]
    assert {"slack-oncall", "webhook"} <= routing.channel_names()


@pytest.mark.parametrize(("data", "loc", "words"), [
    ({"advisory": ["sms"]}, "", "advisory never pages: remove sms from advisory.event"),
    ({"advisory": {"fallback": ["slack", "sms"]}}, "", "remove sms from advisory.fallback"),
    ({"critical": {"channels": ["sms"], "event": ["sms"]}}, "", "critical has both channels and event/normal"),
    ({"urgent": ["sms"]}, "urgent", "Extra inputs"),
    ({"low": []}, "low.event", "at least 1"),
    ({"high": ["slack", "slack"]}, "high", "event lists slack more than once"),
    ({"low": {"event": ["SMS"]}}, "low.event.0", "lowercase letters"),
    ({"medium": {"mention_channel": "loud"}}, "medium.mention_channel", "boolean"),
    ({"medium": {"colour": "red"}}, "medium.colour", "Extra inputs"),
    ({"high": "slack"}, "high", "valid dictionary"),
])
def test_routing_errors_name_the_field(data: dict[str, Any], loc: str, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        RoutingConfig.model_validate(data)
    errors = {".".join(map(str, e["loc"])): e["msg"] for e in info.value.errors()}
    assert loc in errors and words in errors[loc], errors


def test_unknown_tier_is_an_error() -> None:
    with pytest.raises(ValueError, match="'urgent' is not a valid Tier"):
        DEFAULT_ROUTING.channels_for("urgent", True)
