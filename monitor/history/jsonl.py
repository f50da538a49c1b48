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
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from monitor.core.observation import Observation
from monitor.core.signals import CATALOG
from monitor.history import HistoryError


def _fail(where: str, why: str) -> HistoryError:
    return HistoryError(f"{where}: {why}")


def _observation(data: Any, where: str) -> Observation:
    if not isinstance(data, dict):
        raise _fail(where, "not a JSON object")
    unknown_keys = set(data) - {"signal", "labels", "value", "ts", "error"}
    if unknown_keys:
        raise _fail(where, f"unknown field {sorted(unknown_keys)[0]!r} (fields: signal, labels, value, ts, error)")
    signal = data.get("signal")
    if not isinstance(signal, str):
        raise _fail(where, "signal: required, a signal name of the catalog")
    known = CATALOG.get(signal)
    if known is None:
        raise _fail(where, f"unknown signal {signal!r} (see monitor/core/signals.py)")
    labels = data.get("labels", {})
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise _fail(where, "labels: must be an object of string values")
    if set(labels) != set(known.labels):
        raise _fail(where, f"labels: signal {signal!r} has the labels {', '.join(known.labels) or '(none)'}, "
                           f"got {', '.join(sorted(labels)) or '(none)'}")
    value = data.get("value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise _fail(where, "value: must be a number or null")
    ts = data.get("ts")
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        raise _fail(where, "ts: required, epoch seconds")
    error = data.get("error")
    if error is not None and not isinstance(error, str):
        raise _fail(where, "error: must be a string or null")
    return Observation(signal, None if value is None else float(value), float(ts), labels, error)


def read_jsonl(path: str | Path, since: float = -math.inf, until: float = math.inf) -> Iterator[Observation]:
    """The observations of the file in [since, until], line by line; HistoryError names the line at fault."""
    name = str(path)
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed below, also when the caller stops early
    except OSError as exc:
        raise HistoryError(f"{name}: cannot read: {exc.strerror or exc}") from None
    with handle:
        last = -math.inf
        try:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                where = f"{name}:{number}"
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise _fail(where, f"malformed line (not JSON: {exc.msg})") from None
                obs = _observation(data, where)
                if obs.timestamp < last:
                    raise _fail(where, "out of time order (the lines must be sorted by ts)")
                last = obs.timestamp
                if obs.timestamp > until:
                    return
                if obs.timestamp >= since:
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
