"""What every probe returns: observations of signals from the signal catalog."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Observation:
    """One value of one series at one time.

    `value is None` means the signal is unknown (the probe could not run, timed out, or the target
    could not tell); `error` then says why. Unknown is never read as healthy.
    """

    signal: str
    value: float | None
    timestamp: float
    labels: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None
    details: Mapping[str, Any] | None = None

    @property
    def known(self) -> bool:
        return self.value is not None

    def series_key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return self.signal, tuple(sorted(self.labels.items()))


# The reason of a value that is unknown because there was nothing to measure (no requests: no latency, no
# error ratio), not because the probe failed. Alert rules treat it as Prometheus treats the NaN it gets
# there: it compares false, so it clears an alert instead of holding it (traffic that stops at night must
# not keep a latency alert firing until morning).
NOTHING_TO_MEASURE = "no requests in the window"


def unknown(signal: str, timestamp: float, error: str, labels: Mapping[str, str] | None = None) -> Observation:
    return Observation(signal=signal, value=None, timestamp=timestamp, labels=dict(labels or {}), error=error)
