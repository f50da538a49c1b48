"""Dotted paths into decoded JSON ("checks.database.ok", "sessions.0.id"), shared by the HTTP probes."""

from __future__ import annotations

from typing import Any


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def resolve(data: Any, path: str) -> Any:
    """The value at `path`, or MISSING when any part of the path does not exist.

    A part that is a whole number indexes a list; otherwise it is an object key.
    """
    current = data
    for part in path.split("."):
        if isinstance(current, dict):
            if part not in current:
                return MISSING
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            if not -len(current) <= index < len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current


def json_equal(actual: Any, expected: Any) -> bool:
    """Equality without Python's bool/int mixing: `true` does not equal 1, `1` equals 1.0."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and actual is expected
    return bool(actual == expected)
