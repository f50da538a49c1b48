"""Time helpers shared by the config models: instants, local wall times and IANA zone names."""

from __future__ import annotations

import math
from datetime import datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BeforeValidator


def epoch(value: float | datetime) -> float:
    """Epoch seconds of an instant given as epoch seconds or an aware datetime (a naive one has no instant)."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"datetime {value.isoformat()} has no time zone: give an offset, e.g. +00:00")
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected epoch seconds or an aware datetime, got {type(value).__name__}")
    return float(value)


def _wall_time(value: Any) -> Any:
    # YAML 1.1 reads an unquoted 2:30 as the number 150: refuse numbers rather than guess.
    if isinstance(value, bool | int | float):
        raise ValueError('a local time is a quoted string like "02:30"')
    return value


def zone_name(value: str) -> str:
    try:
        ZoneInfo(value)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"unknown time zone {value!r}: use an IANA name such as America/Los_Angeles") from None
    return value


WallTime = Annotated[time, BeforeValidator(_wall_time)]
ZoneName = Annotated[str, AfterValidator(zone_name)]


def prom_duration(seconds: float, *, whole_seconds: bool = False) -> str:
    """Seconds as a Prometheus duration: 300 -> "5m", 90 -> "1m30s", 1.5 -> "1s500ms", 0 -> "0s".

    `whole_seconds`: a positive whole number of seconds is required (an SLO window or a recording rule's
    range), so 0 and 1.5 are refused rather than written as something Prometheus would read differently.
    """
    if seconds < 0 or not math.isfinite(seconds):
        raise ValueError(f"duration must be a finite number >= 0, got {seconds!r}")
    if whole_seconds and (round(seconds) == 0 or abs(round(seconds) - seconds) > 1e-6):
        raise ValueError(f"duration {seconds!r} is not a positive whole number of seconds")
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, ms = divmod(ms, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)
