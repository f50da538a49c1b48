"""`converge-monitor test-notify CHANNEL`: send a test message through one configured channel, say what happened.

Registered by monitor/cli/__init__.py from COMMANDS. Exit 0 when the receiver accepted it, 1 when it failed (with the
reason, secrets scrubbed, and whether the outbox would retry it), 2 for a channel that is not in `channels:`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import TYPE_CHECKING, Any

from alerts.dispatch import Notification
from alerts.model import Tier
from alerts.notifiers.base import AddressNotifier, ChannelNotifier, RecipientNotifier
from alerts.notifiers.config import ChannelsConfig, build_notifiers
from alerts.notifiers.errors import DeliveryError
from alerts.templates import TemplateProblem, Templates, sample_notification

if TYPE_CHECKING:
    from monitor.core.commands import Command

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
COMMANDS: tuple[Command, ...]  # built by __getattr__ on first access: monitor.cli imports this module while
# it defines Command, so a module-level import of monitor.cli here would be circular (as in monitor/cli/export.py)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("channel", metavar="CHANNEL", help="a channel name from the config's channels: section")
    parser.add_argument("--to", metavar="PERSON", help="SMS/email: this on-call person (default: the primary now)")
    parser.add_argument("--tier", choices=[str(t) for t in Tier], default=str(Tier.MEDIUM),
                        help="the tier the test message shows (default medium; it never mentions @channel)")


def _templates(config: Any) -> Templates:
    folder = getattr(config.alerting, "templates_dir", None)
    zone = config.event.timezone if config.event is not None else "UTC"
    return Templates(folder, zone)


def test_notification(config: Any, tier: str, person: str | None, now: float) -> Notification:
    note = sample_notification(now, tier=tier, test=True)
    recipients: tuple[str, ...] = ()
    if config.oncall is not None:
        recipients = (person or config.oncall.who(now).primary.name,)
    return Notification(**{**note.__dict__, "recipients": recipients, "mention_channel": False})


def test_notify(args: argparse.Namespace) -> int:
    from monitor.config import load_config
    from monitor.core.commands import config_file

    config = load_config(config_file(args))
    channels = config.channels if isinstance(config.channels, ChannelsConfig) else \
        ChannelsConfig.model_validate(config.channels or {})
    if args.channel not in channels:
        names = ", ".join(channels.names()) or "none: add a channels: section"
        print(f"test-notify: no channel {args.channel!r} in the config (channels: {names})", file=sys.stderr)
        return EXIT_USAGE
    if args.to and (config.oncall is None or args.to not in {p.name for p in config.oncall.people}):
        print(f"test-notify: --to {args.to!r} is not one of the on-call people", file=sys.stderr)
        return EXIT_USAGE
    try:
        templates = _templates(config)
    except ValueError as exc:
        print(f"test-notify: {exc}", file=sys.stderr)
        return EXIT_USAGE
    notifier = build_notifiers(channels, config.oncall, templates=templates)[args.channel]
    note = test_notification(config, args.tier, args.to, time.time())
    whom = _whom(notifier, note)
    try:
        asyncio.run(notifier.deliver(note, test=True))
    except DeliveryError as exc:
        why = (f"temporary; the outbox would retry{f' after {exc.retry_after:g}s' if exc.retry_after else ''}"
               if exc.retryable else "permanent: check the channel's config")
        print(f"{args.channel}: FAILED via {notifier.describe()}{whom} ({why}): {exc.reason}")
        return EXIT_FAILED
    except TemplateProblem as exc:
        print(f"{args.channel}: FAILED: {exc}")
        return EXIT_FAILED
    print(f"{args.channel}: sent a test message via {notifier.describe()}{whom}")
    return EXIT_OK


def _whom(notifier: ChannelNotifier, note: Notification) -> str:
    if isinstance(notifier, RecipientNotifier):  # SMS: names, never the numbers
        return " to " + (", ".join(p.name for p in notifier.recipients(note)) or "nobody")
    if isinstance(notifier, AddressNotifier):
        return " to " + (", ".join(notifier.addresses(note)) or "nobody")
    return ""


def _commands() -> tuple[Command, ...]:
    from monitor.core.commands import Command

    return (Command("test-notify", "send a test message through one configured channel and say what happened",
                    test_notify, _arguments),)


def __getattr__(name: str) -> Any:
    if name == "COMMANDS":
        commands = _commands()
        globals()["COMMANDS"] = commands  # built once
        return commands
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
