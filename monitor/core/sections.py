"""Config base types every layer's config section builds on: Section (strict, frozen, null is default)
and EventWindow (the event days in their time zone)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, field_validator, model_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_default(cls, data: Any) -> Any:
        # `database:` with every entry commented out is null in YAML: read it as the default, not a type error.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None or k not in cls.model_fields}
        return data


class EventWindow(Section):
    """The event days, inclusive, in the event's time zone: the scheduler probes faster inside."""

    start: date
    end: date
    timezone: str = "America/Los_Angeles"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as America/Los_Angeles") from None
        return value

    @model_validator(mode="after")
    def _ordered(self) -> EventWindow:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.start, time(0), self.zone)

    @property
    def ends_at(self) -> datetime:
        """Exclusive: midnight after the last day, local time."""
        return datetime.combine(self.end + timedelta(days=1), time(0), self.zone)

    def contains(self, when: float | datetime) -> bool:
        moment = when if isinstance(when, datetime) else datetime.fromtimestamp(when, self.zone)
        return self.starts_at <= moment < self.ends_at
