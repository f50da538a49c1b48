"""Time helpers shared by the config models: instants, local wall times and IANA zone names."""

from __future__ import annotations

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
