"""PromQL's `rate`/`increase` and `histogram_quantile`, computed exactly as Prometheus does.

Pure functions, no I/O. They follow Prometheus 2.x: `extrapolatedRate` in promql/functions.go and
`bucketQuantile` in promql/quantile.go, and a range selector `x[r]` evaluated at `t` takes the
samples with `t - r <= ts <= t` (both ends included, as Prometheus 2.x does).

Timestamps are seconds (float) at the interface and milliseconds (int) inside, because Prometheus
stores and subtracts integer milliseconds; doing the same keeps the results bit-for-bit comparable.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence

Sample = tuple[float, float]  # (timestamp in seconds, value)

# quantile.go corrects float noise in summed bucket rates that would break monotonicity.
_PRECISION_TOLERANCE = 1e-12


def to_ms(seconds: float) -> int:
    return round(seconds * 1000)


def select_range(samples: Sequence[Sample], end: float, range_seconds: float) -> list[tuple[int, float]]:
    """The samples a range selector `[range]` evaluated at `end` sees, as (ms, value), oldest first."""
    end_ms, start_ms = to_ms(end), to_ms(end) - to_ms(range_seconds)
    picked = [(to_ms(t), v) for t, v in samples]
    picked.sort(key=lambda p: p[0])
    return [(t, v) for t, v in picked if start_ms <= t <= end_ms]


def extrapolated_rate(samples: Sequence[Sample], end: float, range_seconds: float, *,
                      is_counter: bool, is_rate: bool) -> float | None:
    """Prometheus's extrapolatedRate for one float series; None where Prometheus returns no element.

    Counter resets add the value before the reset; the result is extrapolated towards the range
    boundaries when the first/last sample lies within 1.1 average sample intervals of them (else
    by half an interval), and a counter is never extrapolated below zero.
    """
    if range_seconds <= 0:
        raise ValueError(f"range_seconds must be positive, got {range_seconds!r}")
    points = select_range(samples, end, range_seconds)
    # No sense in a rate from one point: Prometheus drops the element. (Prometheus never stores two
    # samples at one millisecond; should a caller pass them, there is no interval to divide by.)
    if len(points) < 2 or points[-1][0] == points[0][0]:
        return None
    range_end = to_ms(end)
    range_start = range_end - to_ms(range_seconds)

    result = points[-1][1] - points[0][1]
    if is_counter:
        prev = points[0][1]
        for _, value in points[1:]:
            if value < prev:  # a reset: the counter restarted from zero
                result += prev
            prev = value

    duration_to_start = (points[0][0] - range_start) / 1000
    duration_to_end = (range_end - points[-1][0]) / 1000
    sampled_interval = (points[-1][0] - points[0][0]) / 1000
    average_between = sampled_interval / (len(points) - 1)

    if is_counter and result > 0 and points[0][1] >= 0:
        # Counters cannot go negative: do not extrapolate past the counter's zero point.
        duration_to_zero = sampled_interval * (points[0][1] / result)
        if duration_to_zero < duration_to_start:
            duration_to_start = duration_to_zero

    threshold = average_between * 1.1
    extrapolate_to = sampled_interval
    extrapolate_to += duration_to_start if duration_to_start < threshold else average_between / 2
    extrapolate_to += duration_to_end if duration_to_end < threshold else average_between / 2

    factor = extrapolate_to / sampled_interval
    if is_rate:
        factor /= to_ms(range_seconds) / 1000
    return result * factor


def rate(samples: Sequence[Sample], end: float, range_seconds: float) -> float | None:
    """`rate(x[range])` at `end`: per-second increase of a counter; None with fewer than 2 samples."""
    return extrapolated_rate(samples, end, range_seconds, is_counter=True, is_rate=True)


def increase(samples: Sequence[Sample], end: float, range_seconds: float) -> float | None:
    """`increase(x[range])` at `end`: the counter's increase over the range; None with fewer than 2 samples."""
    return extrapolated_rate(samples, end, range_seconds, is_counter=True, is_rate=False)


def parse_le(le: str | float) -> float:
    """A bucket's `le` label as a float ('+Inf' included); ValueError names the bad value."""
    if isinstance(le, float | int):
        return float(le)
    try:
        return float(le)  # float() accepts "+Inf", "Inf", "inf", "NaN" like Go's ParseFloat
    except ValueError:
        raise ValueError(f"bad le label value {le!r}") from None


def _coalesce(buckets: list[list[float]]) -> list[list[float]]:
    """Merge buckets with the same upper bound (input sorted by bound)."""
    out = [list(buckets[0])]
    for bound, count in buckets[1:]:
        if bound == out[-1][0]:
            out[-1][1] += count
        else:
            out.append([bound, count])
    return out


def _correct_precision_errors(buckets: list[list[float]], tolerance: float) -> None:
    prev = buckets[0][1]
    for b in buckets[1:]:
        delta = abs(b[1] - prev)
        if delta == 0:
            continue
        if b[1] != 0 and delta / b[1] <= tolerance:  # Go divides by zero to +Inf: never "small"
            b[1] = prev
        else:
            prev = b[1]


def _ensure_monotonic(buckets: list[list[float]]) -> None:
    # The envelope: a bucket never counts fewer than the bucket below it.
    highest = buckets[0][1]
    for b in buckets[1:]:
        if b[1] > highest:
            highest = b[1]
        elif b[1] < highest:
            b[1] = highest


def histogram_quantile(q: float, buckets: Iterable[tuple[str | float, float]]) -> float:
    """Prometheus's bucketQuantile: the q-quantile of cumulative buckets given as (le, count).

    NaN when there are no buckets, fewer than two distinct bounds, no +Inf bucket, no observations
    or q is NaN; -Inf for q < 0 and +Inf for q > 1. A quantile in the +Inf bucket is the upper bound
    of the second-highest bucket; the lowest bucket starts at 0 when its bound is positive.
    """
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    work = sorted(([parse_le(le), float(count)] for le, count in buckets), key=lambda b: b[0])
    if not work or not math.isinf(work[-1][0]) or work[-1][0] < 0:
        return math.nan

    work = _coalesce(work)
    _correct_precision_errors(work, _PRECISION_TOLERANCE)
    _ensure_monotonic(work)

    if len(work) < 2:
        return math.nan
    observations = work[-1][1]
    if observations == 0:
        return math.nan
    rank = q * observations
    # The first bucket (the +Inf one excluded) whose cumulative count reaches the rank.
    b = bisect.bisect_left([c for _, c in work[:-1]], rank)

    if b == len(work) - 1:
        return work[-2][0]
    if b == 0 and work[0][0] <= 0:
        return work[0][0]
    bucket_start, bucket_end, count = 0.0, work[b][0], work[b][1]
    if b > 0:
        bucket_start = work[b - 1][0]
        count -= work[b - 1][1]
        rank -= work[b - 1][1]
    return bucket_start + (bucket_end - bucket_start) * (rank / count)
