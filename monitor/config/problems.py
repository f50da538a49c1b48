"""Pydantic validation errors -> Problems: field path, file line, a plain message, and never a secret.

Pydantic's own rendering echoes the input value; here the input is never used, and any value that
came from the environment is scrubbed from the message as well.
"""

from __future__ import annotations

import difflib

from pydantic import BaseModel, ValidationError

from monitor.config.env import Substituted
from monitor.config.loader import YamlDocument
from monitor.core.problems import Loc, Problem, allowed_keys, format_loc

_PREFIXES = ("Value error, ", "Assertion failed, ")


def validation_problems(exc: ValidationError, doc: YamlDocument, model: type[BaseModel],
                        env: Substituted) -> list[Problem]:
    env_problem_locs = [loc for loc, _ in env.problems]
    by_path: dict[str, Problem] = {}
    for err in exc.errors(include_url=False, include_input=False, include_context=True):
        ctx = err.get("ctx") or {}
        loc: Loc = tuple(ctx.get("loc", err["loc"]))
        if any(_related(loc, other) for other in env_problem_locs):
            continue  # already reported as a missing variable; its empty stand-in would only add noise
        kind = err["type"]
        message = _message(kind, err["msg"], loc, model)
        matched, line = doc.locate(loc)
        if matched < len(loc) and not (kind == "missing" and matched == len(loc) - 1):
            loc = loc[:matched]  # union member tags and the like are not places in the file
        if kind == "value_error" and matched == len(loc):
            # "timeout (10s) must not exceed ..." raised on the target: point at the field it names
            first = message.split(" ", 1)[0]
            if first in doc.keys_at(loc):
                loc = (*loc, first)
                _, line = doc.locate(loc)
        if "other_loc" in ctx:
            _, other_line = doc.locate(tuple(ctx["other_loc"]))
            message += f" (line {other_line})" if other_line else ""
        message = _scrub(message, loc, env)
        path = format_loc(loc)
        if path in by_path:  # several union members failing at one place are one problem
            previous = by_path[path]
            by_path[path] = Problem(path, _merge(previous.message, message), previous.line)
        else:
            by_path[path] = Problem(path, message, line)
    return list(by_path.values())


def _merge(first: str, second: str) -> str:
    if second in first:
        return first
    lead = "Input should be a valid "
    if first.startswith(lead) and second.startswith(lead):  # "a valid string or integer or number"
        return f"{first} or {second.removeprefix(lead)}"
    return f"{first}; {second}"


def _related(loc: Loc, other: Loc) -> bool:
    return bool(loc) and (loc[: len(other)] == other or other[: len(loc)] == loc)


def _message(kind: str, msg: str, loc: Loc, model: type[BaseModel]) -> str:
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        allowed = allowed_keys(model, loc[:-1])
        close = difflib.get_close_matches(key, allowed, n=1)
        if close:
            return f"unknown key {key!r}; did you mean {close[0]!r}?"
        return f"unknown key {key!r}" + (f"; expected one of: {', '.join(allowed)}" if allowed else "")
    for prefix in _PREFIXES:
        msg = msg.removeprefix(prefix)
    return msg


def _scrub(message: str, loc: Loc, env: Substituted) -> str:
    # Values substituted at this place (even short ones), and any long environment value anywhere.
    values = {v for where, vs in env.from_env.items() if _related(loc, where) for v in vs if len(v) >= 4}
    values |= {v for v in env.env_values() if len(v) >= 8}
    for value in sorted(values, key=len, reverse=True):
        message = message.replace(value, "***")
    return message
