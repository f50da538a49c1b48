"""Delivery without loss: every notification is in the store's outbox before anything is sent.

Each (notification, channel) row is sent by the worker in the order it was decided, retried with
exponential backoff (honouring a receiver's Retry-After), and kept pending across restarts. A
channel that keeps failing gives up the row, hands the notification to the tier's next fallback
channel, and reports itself down (`notification_channel_up` 0), which is an alert of its own.
Rows of one channel are delivered strictly in order: a row waiting to be retried holds the ones
behind it, so an alert's resolve never overtakes its firing message.

The `log` channel (console + JSON-lines file) records every notification: it is the embedded
default, and the whole delivery when no credentials are configured.

The daily status report goes through the same rows (alerts/reports.py): retried, handed to the next channel,
sent once per channel, with the report's own text (Slack) or text and HTML mail (email).

A channel that batches some tiers (email's low-tier digest) takes those rows into its digest buffer,
persisted in the store, and mails the batch when it is due; a failed digest is kept and retried.

A row's parts a receiver accepted are recorded in the row the moment each is accepted (RowProgress,
the Progress a ResumableNotifier reports to): a text Twilio accepted for one of several people, a mail
whose DATA the SMTP server accepted. A retry of the row, by this process or by the next one after a
restart or a takeover, skips them, so a failure for the second person, a failing QUIT or a kill in
between sends nothing twice. What is left is the moment between a receiver's accept and that record
(one store write).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from alerts.dispatch import Notification
from alerts.notifiers.base import DigestNotifier, DigestQueue, Notifier, ResumableNotifier, TimedNotifier
from alerts.notifiers.outgoing import Outgoing
from alerts.reports import can_carry_report, send_report
from alerts.routing import RoutingConfig
from monitor.core.observation import Observation
from monitor.core.redact import redact_text
from monitor.core.selfmetrics import SelfMetrics
from monitor.store import OutboxRow, Store

log = logging.getLogger("converge.alerts.outbox")
LOG_CHANNEL = "log"
ACCEPTED = "accepted"  # the payload key of the parts of a row its receivers accepted (RowProgress)
REMEMBER_REACHED = 10_000


def _critical_fallback() -> dict[str, float]:
    return {"critical": 5.0}


@dataclass(frozen=True)
class RetryPolicy:
    base: float = 1.0
    factor: float = 2.0
    max_delay: float = 60.0
    max_attempts: int = 6
    send_timeout: float = 20.0
    # A page of these tiers that has not gone out this long after it was decided is handed to the next
    # channel at once, while its own channel keeps retrying: a critical page reaches a person within
    # seconds, not after the whole backoff (about 31 s).
    fallback_after: Mapping[str, float] = field(default_factory=_critical_fallback)

    def delay(self, attempts: int, retry_after: float | None) -> float:
        backoff = min(self.max_delay, self.base * self.factor ** max(0, attempts - 1))
        return max(backoff, retry_after or 0.0)


def outbox_rows(note: Notification, text: str, configured: Collection[str]) -> list[OutboxRow]:
    """The rows one notification becomes: the log, and each of its channels that is configured."""
    payload = {"notification": note.to_dict(), "text": text}
    channels = [LOG_CHANNEL, *(c for c in note.channels if c in configured)]
    return [OutboxRow(note.id, c, note.created_at, payload) for c in channels]


class RowProgress:
    """The notifiers' Progress for one row: the parts its receivers accepted, written to the row
    (payload["accepted"]) the moment each one is. Called on the event loop (SMS) or from the SMTP
    thread (email): hence the lock."""

    def __init__(self, store: Store, row: OutboxRow) -> None:
        self._store = store
        self._id, self._channel = row.notification_id, row.channel
        self._payload = dict(row.payload)
        self._parts: list[str] = list(row.payload.get(ACCEPTED, []))
        self._lock = threading.Lock()

    def done(self, part: str) -> bool:
        with self._lock:
            return part in self._parts

    def accepted(self, part: str) -> None:
        with self._lock:
            if part in self._parts:
                return
            self._parts.append(part)
            self._payload[ACCEPTED] = list(self._parts)
            try:
                self._store.outbox_payload(self._id, self._channel, self._payload)
            except Exception as exc:  # the send goes on: the row is still marked sent when it returns
                log.warning("could not record that %s accepted part of %s: %s", self._channel, self._id,
                            redact_text(f"{type(exc).__name__}: {exc}"),
                            extra={"channel": self._channel, "notification": self._id})


class FanOut:
    """Several notifiers as one channel (the log: console and JSON-lines file)."""

    def __init__(self, name: str, notifiers: Sequence[Notifier]) -> None:
        self.name = name
        self.notifiers = list(notifiers)

    async def send(self, message: Outgoing) -> None:
        for notifier in self.notifiers:
            await notifier.send(message)


class DeliveryWorker:
    def __init__(self, store: Store, channels: Mapping[str, Notifier], routing: RoutingConfig | None = None, *,
                 policy: RetryPolicy | None = None, metrics: SelfMetrics | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.channels = dict(channels)
        self.routing = routing or RoutingConfig()
        self.policy = policy or RetryPolicy()
        self.metrics = metrics
        self.clock = clock
        self._health: dict[str, bool] = {}
        self._handed: set[tuple[str, str]] = set()  # (notification, channel) fallback copies added
        self._reached: dict[str, None] = {}  # notifications a channel (not the log) delivered: no early hand-off
        self.reload()

    def reload(self) -> None:
        """Digest buffers from the store: at start-up, and when this replica takes over the lead (the
        previous leader may have taken rows into a digest it never mailed)."""
        self._digests: dict[str, DigestQueue] = {}
        self._digest_attempts: dict[str, int] = {}
        for name, notifier in self.channels.items():
            if isinstance(notifier, DigestNotifier):
                buffer = notifier.digest_buffer()
                buffer.restore(self.store.get_state(f"digest:{name}"))
                self._digests[name] = buffer

    @property
    def configured(self) -> set[str]:
        return set(self.channels) - {LOG_CHANNEL}

    async def run_once(self, still_leader: Callable[[], Awaitable[bool]] | None = None) -> int:
        """Send what is due; returns how many rows were delivered (or taken into a digest). `still_leader`
        is asked before each row: a replica that lost the lead mid-backlog stops, and the new leader
        (which sees the same rows) goes on, instead of both sending them."""
        await self._send_digests()
        rows = self.store.outbox_pending()
        if self.metrics is not None:
            self.metrics.outbox_pending.set(len(rows))
        held: set[str] = set()
        probed: set[str] = set()  # channels known down that one row has tried this cycle
        delivered = 0
        for row in rows:
            if row.channel in held:
                continue
            if still_leader is not None and not await still_leader():
                break
            if row.next_attempt > self.clock():
                held.add(row.channel)  # in order per channel: nothing overtakes a row waiting to retry
                continue
            if await self._deliver(row, probed):
                delivered += 1
            elif row.status == "pending":
                held.add(row.channel)
        return delivered

    def next_due(self) -> float | None:
        """When the earliest pending row may be tried: the head of each channel's queue (rows behind it wait
        for it), so a delivery loop sleeps exactly until a retry or a Retry-After is due."""
        heads: dict[str, float] = {}
        for row in self.store.outbox_pending():
            heads.setdefault(row.channel, row.next_attempt)
        return min(heads.values(), default=None)

    async def _deliver(self, row: OutboxRow, probed: set[str] | None = None) -> bool:
        notifier = self.channels.get(row.channel)
        now = self.clock()
        if notifier is None:  # the channel was removed from the config: record it and give the row up
            self._give_up(row, now, "channel is not configured")
            return False
        if "report" in row.payload:
            return await self._send(row, now, send_report(notifier, row.payload["report"]), probed)
        note = Notification.from_dict(row.payload["notification"])
        if row.channel in self._digests and isinstance(notifier, DigestNotifier) and notifier.digests(note):
            buffer = self._digests[row.channel]
            buffer.add(note, now)
            self.store.put_state(f"digest:{row.channel}", buffer.snapshot())  # before the row is marked done
            row.status, row.last_error = "sent", None
            self.store.outbox_update(row)
            self._count(row.channel, "digested")
            return True
        outgoing = Outgoing(note, row.payload["text"])
        if isinstance(notifier, ResumableNotifier):  # it skips what its receivers accepted on an earlier attempt
            return await self._send(row, now, notifier.resume(outgoing, RowProgress(self.store, row)), probed)
        return await self._send(row, now, notifier.send(outgoing), probed)

    async def _send(self, row: OutboxRow, now: float, sending: Coroutine[Any, Any, None],
                    probed: set[str] | None) -> bool:
        notifier = self.channels.get(row.channel)
        if self._health.get(row.channel) is False and probed is not None:
            if row.channel in probed:  # one try a cycle tells whether it is back; the rest go elsewhere now
                sending.close()
                self._give_up(row, now, "channel is down")
                return False
            probed.add(row.channel)
        try:
            await asyncio.wait_for(sending, self.send_timeout(notifier))
        except Exception as exc:  # DeliveryError carries retryable/retry_after; anything else is retried
            self._failed(row, now, exc)
            return False
        row.status, row.last_error = "sent", None
        row.attempts += 1
        self.store.outbox_update(row)
        self._count(row.channel, "sent")
        if row.channel != LOG_CHANNEL:
            self._reached[row.notification_id] = None
            while len(self._reached) > REMEMBER_REACHED:
                del self._reached[next(iter(self._reached))]
        self._set_health(row.channel, True, now)
        return True

    def send_timeout(self, notifier: Notifier | None) -> float:
        """How long one send may take: long enough for every request of it at the channel's own timeout
        (SMTP's several steps, one SMS per recipient). Cutting a send short while it still goes out (an
        SMTP thread cannot be cancelled) would send it again on the retry."""
        if not isinstance(notifier, TimedNotifier):
            return self.policy.send_timeout
        return max(self.policy.send_timeout, notifier.config.timeout * notifier.requests_per_send + 5.0)

    async def _send_digests(self) -> None:
        for name, buffer in self._digests.items():
            now = self.clock()
            batch = buffer.due(now)
            if not batch:
                continue
            try:
                sender = self.channels[name]
                assert isinstance(sender, DigestNotifier)  # reload() gives only these a buffer
                await asyncio.wait_for(sender.send_digest(batch), self.send_timeout(sender))
            except Exception as exc:  # keep the batch; due again after the retry policy's backoff
                attempt = self._digest_attempts[name] = self._digest_attempts.get(name, 0) + 1
                # backoff, but never longer than the digest's own interval
                delay = min(self.policy.delay(attempt, getattr(exc, "retry_after", None)), buffer.interval)
                for note in batch:
                    buffer.add(note, now - buffer.interval + delay)
                self._count(name, "retry")
                reason = str(getattr(exc, "reason", "") or type(exc).__name__)
                log.warning("digest of %d notifications to %s failed (attempt %d): %s; next try in %.1fs",
                            len(batch), name, attempt, redact_text(reason), delay,
                            extra={"channel": name, "attempt": attempt, "reason": reason})
                continue
            self._digest_attempts.pop(name, None)
            self.store.put_state(f"digest:{name}", buffer.snapshot())
            self._count(name, "sent")
            self._set_health(name, True, now)

    def _failed(self, row: OutboxRow, now: float, exc: Exception) -> None:
        reason = str(getattr(exc, "reason", "") or type(exc).__name__)
        if isinstance(exc, TimeoutError):
            reason = f"timed out after {self.send_timeout(self.channels.get(row.channel)):g}s"
        retryable = bool(getattr(exc, "retryable", True))
        row.attempts += 1
        row.last_error = reason[:500]
        # A channel already known down gets no retries: its rows fall back at once, not after the backoff.
        if retryable and row.attempts < self.policy.max_attempts and self._health.get(row.channel) is not False:
            delay = self.policy.delay(row.attempts, getattr(exc, "retry_after", None))
            row.next_attempt = now + delay
            if not self.store.outbox_update(row):
                return  # another replica settled this row meanwhile
            self._count(row.channel, "retry")
            log.warning("delivery of %s to %s failed (attempt %d of %d): %s; next try in %.1fs",
                        row.notification_id, row.channel, row.attempts, self.policy.max_attempts,
                        redact_text(row.last_error), delay, extra=self._extra(row))
            # A page no channel has delivered yet, and this one will not in time: the next channel gets it now.
            deadline = self.policy.fallback_after.get(self._route(row)[0])
            if (deadline is not None and row.next_attempt > row.created_at + deadline
                    and row.notification_id not in self._reached):
                self._fall_back(row, now)
            return
        self._give_up(row, now, reason)

    @staticmethod
    def _extra(row: OutboxRow) -> dict[str, object]:
        return {"channel": row.channel, "attempt": row.attempts, "reason": row.last_error,
                "notification": row.notification_id}

    def _give_up(self, row: OutboxRow, now: float, reason: str) -> None:
        row.status, row.last_error = "failed", reason[:500]
        if not self.store.outbox_update(row):
            return  # another replica settled this row meanwhile: no fallback copy of it
        self._count(row.channel, "failed")
        log.error("delivery of %s to %s gave up after attempt %d: %s", row.notification_id, row.channel,
                  row.attempts, redact_text(row.last_error or ""), extra=self._extra(row))
        self._set_health(row.channel, False, now, reason)
        self._fall_back(row, now)

    def _route(self, row: OutboxRow) -> tuple[str, list[str]]:
        """The tier and the channels of what a row carries."""
        meta = row.payload.get("notification") or row.payload["route"]
        return meta["tier"], list(meta["channels"])

    def _fall_back(self, row: OutboxRow, now: float) -> None:
        """Hand the row to the next channel in the tier's fallback order not already carrying it (once: a
        second hand-off of the same row adds nothing, the outbox keeps one row per notification and channel)."""
        if row.channel == LOG_CHANNEL:
            return
        tier, carrying = self._route(row)
        for channel in self.routing.fallbacks(tier, row.channel, exclude=carrying):
            if channel in self.channels and ("report" not in row.payload or can_carry_report(self.channels[channel])):
                if (row.notification_id, channel) not in self._handed:
                    self._handed.add((row.notification_id, channel))
                    # what the failing channel's receivers accepted is none of the next channel's progress
                    payload = {k: v for k, v in row.payload.items() if k != ACCEPTED}
                    self.store.outbox_add([OutboxRow(row.notification_id, channel, now, payload)])
                    self._count(row.channel, "fallback")
                    log.warning("%s handed to %s after attempt %d on %s", row.notification_id, channel,
                                row.attempts, row.channel, extra=self._extra(row))
                break

    def _set_health(self, channel: str, up: bool, now: float, reason: str | None = None) -> None:
        if channel == LOG_CHANNEL or self._health.get(channel) == up:
            return
        self._health[channel] = up
        self.store.write([Observation("notification_channel_up", 1.0 if up else 0.0, now, {"target": channel},
                                      error=None if up else reason)])

    def _count(self, channel: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.notifications.labels(channel, outcome).inc()
