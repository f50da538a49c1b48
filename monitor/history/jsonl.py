"""History as JSON lines: one observation a line, in time order.

    {"signal": "http_up", "labels": {"target": "api-health"}, "value": 0, "ts": 1769616000.0}
    {"signal": "api_error_ratio", "labels": {...}, "value": null, "ts": ..., "error": "no requests in the window"}

`value` is a number or null (unknown); `error` (optional) says why a value is unknown: "no requests in the
window" is read as the monitor reads it (nothing to measure, not a failure). `converge-monitor export-history`
writes this format from the monitor's store.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from monitor.core.observation import Observation
from monitor.core.signals import CATALOG
from monitor.history import HistoryError


def _fail(where: str, why: str) -> HistoryError:
    return HistoryError(f"{where}: {why}")


class _Bad(Exception):
    """What is wrong with a line; read_jsonl adds the file and line number."""


FIELDS = frozenset({"signal", "labels", "value", "ts", "error"})
Interned = dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, str]]


def _series(data: dict[str, Any], seen: Interned) -> tuple[str, dict[str, str]]:
    """The line's signal and labels, checked once per series; the labels dict is shared by its observations."""
    signal = data.get("signal")
    labels = data.get("labels", {})
    if isinstance(signal, str) and isinstance(labels, dict):
        try:
            shared = seen.get((signal, tuple(labels.items())))
        except TypeError:  # an unhashable label value: refused below
            shared = None
        if shared is not None:
            return signal, shared
    if not isinstance(signal, str):
        raise _Bad("signal: required, a signal name of the catalog")
    known = CATALOG.get(signal)
    if known is None:
        raise _Bad(f"unknown signal {signal!r} (see monitor/core/signals.py)")
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise _Bad("labels: must be an object of string values")
    if set(labels) != set(known.labels):
        raise _Bad(f"labels: signal {signal!r} has the labels {', '.join(known.labels) or '(none)'}, "
                           f"got {', '.join(sorted(labels)) or '(none)'}")
    seen[(signal, tuple(labels.items()))] = labels
    return signal, labels


def _observation(data: Any, seen: Interned) -> Observation:
    if not isinstance(data, dict):
        raise _Bad("not a JSON object")
    if not FIELDS.issuperset(data):
        unknown_key = sorted(set(data) - FIELDS)[0]
        raise _Bad(f"unknown field {unknown_key!r} (fields: signal, labels, value, ts, error)")
    signal, labels = _series(data, seen)
    value = data.get("value")
    if value is not None and (value.__class__ is bool or not isinstance(value, int | float)):
        raise _Bad("value: must be a number or null")
    ts = data.get("ts")
    if ts.__class__ is bool or not isinstance(ts, int | float) or not math.isfinite(ts):
        raise _Bad("ts: required, epoch seconds")
    error = data.get("error")
    if error is not None and not isinstance(error, str):
        raise _Bad("error: must be a string or null")
    return Observation(signal, None if value is None else float(value), float(ts), labels, error)


def read_jsonl(path: str | Path, since: float = -math.inf, until: float = math.inf,
               signals: Collection[str] | None = None) -> Iterator[Observation]:
    """The observations of the file in [since, until] (of these signals, if given), line by line; every line is
    checked, and HistoryError names the line at fault."""
    name = str(path)
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed below, also when the caller stops early
    except OSError as exc:
        raise HistoryError(f"{name}: cannot read: {exc.strerror or exc}") from None
    with handle:
        last = -math.inf
        seen: Interned = {}
        try:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise _fail(f"{name}:{number}", f"malformed line (not JSON: {exc.msg})") from None
                try:
                    obs = _observation(data, seen)
                except _Bad as exc:
                    raise _fail(f"{name}:{number}", str(exc)) from None
                if obs.timestamp < last:
                    raise _fail(f"{name}:{number}", "out of time order (the lines must be sorted by ts)")
                last = obs.timestamp
                if obs.timestamp > until:
                    return
                if obs.timestamp >= since and (signals is None or obs.signal in signals):
                    yield obs
        except UnicodeDecodeError:
            raise HistoryError(f"{name}: not UTF-8 text") from None


def to_line(obs: Observation) -> str:
    value = obs.value if obs.value is None or math.isfinite(obs.value) else None
    data: dict[str, Any] = {"signal": obs.signal, "labels": dict(obs.labels), "value": value, "ts": obs.timestamp}
    if obs.error is not None:
        data["error"] = obs.error
    return json.dumps(data, separators=(",", ":"))


def write_jsonl(observations: Iterable[Observation], out: IO[str]) -> int:
    count = 0
    for obs in observations:
        out.write(to_line(obs) + "\n")
        count += 1
    return count
