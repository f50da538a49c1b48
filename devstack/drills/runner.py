"""One drill -> one Row: inject, wait for the firing notification, remove, wait for the resolve.

Times are measured by this process: "fired after" from the start of the injection to the moment the
firing notification is in the monitor's notifications file; "resolved after" from the moment the fault
is removed (the process is back, the load stopped, ...) to the resolve notification. Every wait is
bounded by the rule's own numbers (`for`, `keep_firing_for`), the probe and evaluation intervals and a
margin, so a run against any config ends.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import TypeVar

import httpx

from devstack.drills.catalog import DRILL_RULES, Drill
from devstack.drills.faults import Fault
from devstack.drills.faults_more import make_fault
from devstack.drills.notifications import NotificationLog, Seen
from devstack.drills.stack import Say, Stack

PASS, FAIL, NOT_RUN = "pass", "fail", "not run"
MARGIN = 20.0  # seconds on top of what the rule and the intervals need: a busy machine, a slow restart
POLL = 0.2
T = TypeVar("T")


class MonitorGone(RuntimeError):
    pass


@dataclass
class Row:
    drill: str
    alert: str
    tier: str = ""
    channels: str = ""
    fired_after: float | None = None
    resolved_after: float | None = None
    result: str = FAIL
    note: str = ""
    bound: float | None = None  # detection bound: probe interval x 2 + for (+ the signal's window fill)
    bound_text: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class Runner:
    def __init__(self, stack: Stack, say: Say, enforce_bound: bool = True) -> None:
        self.stack = stack
        self.say = say
        self.enforce_bound = enforce_bound  # the shipped config: a row passes only within its bound
        self.log = NotificationLog(stack.notifications)

    # -- waiting ----------------------------------------------------------------------------------------
    def _until(self, check: Callable[[], T | None], limit: float, tick: Callable[[], None] | None = None) -> T | None:
        deadline = time.monotonic() + limit
        while True:
            self.log.poll()
            found = check()
            if found is not None:
                return found
            if self.stack.monitor_gone():
                raise MonitorGone("the monitor exited; see its log")
            if time.monotonic() >= deadline:
                return None
            if tick is not None:
                tick()
            time.sleep(POLL)

    def _active(self, rules: Iterable[str]) -> list[str] | None:
        """Rules of `rules` pending or firing now (None when the monitor cannot be asked)."""
        wanted = set(rules)
        try:
            return sorted({a["rule"] for a in self.stack.active_alerts() if a.get("rule") in wanted})
        except (httpx.HTTPError, ValueError, KeyError):
            return None

    def _wait_quiet(self, drill: Drill) -> list[str]:
        """Wait until no drill alert is pending or firing (after-effects of the last drill; with the shipped
        config, until this drill's own alerts are quiet); returns those of this drill's expected alerts still
        active when the wait ran out."""
        rules = drill.expected if self.enforce_bound else DRILL_RULES
        keep = max((p.keep_firing_for for r in drill.expected if (p := self.stack.params(r)) is not None), default=0)
        limit = MARGIN + self.stack.api_window() + 4 * self.stack.evaluation_interval()
        if self.enforce_bound:
            limit += keep
        quiet = self._until(lambda: True if self._active(rules) == [] else None, limit)
        if quiet:
            return []
        active = self._active(DRILL_RULES) or []
        if active:
            self.say(f"{drill.name}: still active from before: {', '.join(active)}")
        return [r for r in active if r in drill.expected]

    def limits(self, drill: Drill) -> tuple[float, float] | None:
        """(fire, resolve) time limits in seconds; None when the config disables every expected rule."""
        params = [p for r in drill.expected if (p := self.stack.params(r)) is not None]
        if not params and not drill.external:
            return None
        cycle = 4 * self.stack.probe_interval(drill.watches) + 4 * self.stack.evaluation_interval()
        window = self.stack.api_window() if drill.watches == "api_metrics" else 0.0
        fire = max((p.for_ for p in params), default=0.0) + cycle + MARGIN + drill.extra_fire
        resolve = (max((p.keep_firing_for for p in params), default=0.0) + window + cycle + MARGIN
                   + drill.extra_resolve)
        return fire, resolve

    def bound(self, drill: Drill) -> tuple[float, str] | None:
        """The detection bound, probe interval x 2 + the rule's `for` (the first expected rule's, in the mode
        the stack is in) + one evaluation interval (the rule is judged that often), plus the time the signal's
        window needs to cross the threshold at this fault's size when the drill names one; and how it was
        computed."""
        p = next((p for r in drill.expected if (p := self.stack.params(r)) is not None), None)
        if p is None:
            return None
        interval = self.stack.probe_interval(drill.watches)
        evaluation = self.stack.evaluation_interval()
        fill = self.window_fill(drill)
        text = f"2x{interval:g}+{p.for_:g}+{evaluation:g}" + (f"+{fill:g}" if fill else "")
        return 2 * interval + p.for_ + evaluation + fill, text

    def window_fill(self, drill: Drill) -> float:
        """Seconds for a windowed signal to reach the threshold at the fault's size, traffic steady:
        "api_window:<fraction>" or "api_window:<Rule>/<size>" (window x threshold / size), "seconds:<Rule>/<rate>"
        (threshold / rate per second)."""
        if not drill.window_fill:
            return 0.0
        kind, expr = drill.window_fill.split(":", 1)
        base = self.stack.api_window() if kind == "api_window" else 1.0
        if "/" in expr:
            rule, size = expr.split("/")
            p = self.stack.params(rule)
            if p is None or p.threshold is None:
                return 0.0
            return round(base * p.threshold / float(size), 1)
        return round(base * float(expr), 1)

    # -- one drill ----------------------------------------------------------------------------------------
    def run(self, drill: Drill) -> Row:
        row = Row(drill.name, " or ".join(drill.expected))
        fault = make_fault(drill.name)
        limits = self.limits(drill)
        reason = next((why for need in drill.needs if (why := self.stack.missing(need))), None)
        if reason is None and limits is None:
            reason = f"the config disables {' and '.join(drill.expected)}"
        if reason is None:
            reason = fault.precheck(self.stack)
        if reason is not None:
            row.result, row.note = NOT_RUN, reason
            self.say(f"{drill.name}: not run: {reason}")
            return row
        assert limits is not None
        bound = self.bound(drill)
        if bound is not None:
            row.bound, row.bound_text = round(bound[0], 1), bound[1]
            limits = (max(limits[0], bound[0] + MARGIN), limits[1])
        busy = self._wait_quiet(drill)
        if busy:
            row.note = f"{', '.join(busy)} was already active before the fault"
            return row
        self._drill(drill, fault, row, *limits)
        return row

    def _drill(self, drill: Drill, fault: Fault, row: Row, fire_limit: float, resolve_limit: float) -> None:
        try:
            fault.prepare(self.stack)
        except (MonitorGone, KeyboardInterrupt):
            raise
        except Exception as exc:
            row.note = f"preparing the fault failed: {type(exc).__name__}: {exc}"
            return
        start = self.log.mark()
        self.say(f"{drill.name}: {drill.summary}")
        t0 = time.time()
        fired: tuple[str, Seen] | None = None
        removed = False
        try:
            fault.inject(self.stack)
            fired = self._until(lambda: self.log.first("firing", drill.expected, start), fire_limit,
                                tick=lambda: fault.tick(self.stack))
        except (MonitorGone, KeyboardInterrupt):
            raise
        except Exception as exc:  # a drill that cannot inject is a failed drill, not a failed run
            row.note = f"injecting the fault failed: {type(exc).__name__}: {exc}"
        finally:
            try:
                fault.remove(self.stack)
                removed = True
            except Exception as exc:  # reported in the row; the next drills still run
                row.note = f"{row.note}; " if row.note else ""
                row.note += f"removing the fault failed: {type(exc).__name__}: {exc}"
        t1 = time.time()
        if fired is None:
            row.note = row.note or f"no notification of {row.alert} within {fire_limit:.0f}s"
            self.say(f"{drill.name}: FAIL: {row.note}")
            return
        rule, note = fired
        row.alert, row.tier = rule, note.tier
        row.channels = ", ".join(note.channels) or "log"
        row.fired_after = round(note.seen_at - t0, 1)
        self.say(f"{drill.name}: {rule} ({note.tier}) notified after {row.fired_after:.1f}s via {row.channels}")
        if not removed:
            return
        resolved = self._until(lambda: self.log.first("resolved", (rule,), start), resolve_limit)
        if resolved is None:
            row.note = f"no resolve notification within {resolve_limit:.0f}s of removing the fault"
            self.say(f"{drill.name}: FAIL: {row.note}")
            return
        row.resolved_after = round(max(0.0, resolved[1].seen_at - t1), 1)
        row.note = "; ".join(n for n in (row.note, fault.note) if n)
        if self.enforce_bound and row.bound is not None and row.fired_after > row.bound:
            row.note = "; ".join(n for n in (f"fired after its bound of {row.bound:g}s", row.note) if n)
            self.say(f"{drill.name}: FAIL: {row.note}")
            return
        row.result = PASS
        self.say(f"{drill.name}: resolved after {row.resolved_after:.1f}s: pass")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def render_table(rows: list[Row]) -> str:
    header = ("drill", "expected alert", "tier", "channel(s)", "fired after", "bound", "resolved after", "result",
              "note")
    body = [(r.drill, r.alert, r.tier or "-", r.channels or "-", _seconds(r.fired_after),
             f"{_seconds(r.bound)} ({r.bound_text})" if r.bound is not None else "-",
             _seconds(r.resolved_after), r.result, r.note) for r in rows]
    widths = [max(len(str(line[i])) for line in (header, *body)) for i in range(len(header) - 1)]
    lines = []
    for line in (header, *body):
        cells = [str(c).ljust(w) for c, w in zip(line[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, str(line[-1])]).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths) + "  ----")
    passed = sum(r.result == PASS for r in rows)
    not_run = sum(r.result == NOT_RUN for r in rows)
    lines.append(f"\n{passed} passed, {len(rows) - passed - not_run} failed, {not_run} not run")
    return "\n".join(lines)


def to_json(rows: list[Row]) -> str:
    return json.dumps({"drills": [r.to_dict() for r in rows]}, indent=2)
