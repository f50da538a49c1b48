"""${ENV_VAR} and ${ENV_VAR:-default} references in config string values.

Substitution runs on the parsed YAML (never on the text), so an environment value cannot change the
file's structure. `$${` writes a literal `${`. The values taken from the environment are remembered
so that error messages can be scrubbed of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.core.problems import Loc

_REF = re.compile(r"\$(\$)?\{([^}]*)(\})?")
_BODY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.DOTALL)


@dataclass
class Substituted:
    data: Any
    problems: list[tuple[Loc, str]] = field(default_factory=list)
    # loc -> values that came from the environment (not from defaults written in the file)
    from_env: dict[Loc, list[str]] = field(default_factory=dict)

    def env_values(self) -> set[str]:
        return {v for values in self.from_env.values() for v in values}


def substitute(data: Any, environ: Mapping[str, str]) -> Substituted:
    result = Substituted(None)
    result.data = _walk(data, (), environ, result, {})
    return result


def _walk(value: Any, loc: Loc, environ: Mapping[str, str], result: Substituted, done: dict[int, Any]) -> Any:
    # YAML aliases share one object: substitute it once and share the result too, so the walk (and the copy it
    # builds) stays the size of the file, not of every alias expansion.
    if isinstance(value, dict | list):
        if id(value) in done:
            return done[id(value)]
        if isinstance(value, dict):
            out: Any = {k: _walk(v, (*loc, k), environ, result, done) for k, v in value.items()}
        else:
            out = [_walk(v, (*loc, i), environ, result, done) for i, v in enumerate(value)]
        done[id(value)] = out
        return out
    if isinstance(value, str) and "${" in value:
        return _substitute_string(value, loc, environ, result)
    return value


def _substitute_string(text: str, loc: Loc, environ: Mapping[str, str], result: Substituted) -> str:
    def replace(m: re.Match[str]) -> str:
        escaped, body, closed = m.group(1), m.group(2), m.group(3)
        if escaped:
            return m.group(0)[1:]
        if not closed:
            result.problems.append((loc, "unterminated ${...} reference: write ${NAME} or ${NAME:-default}"))
            return ""
        ref = _BODY.match(body)
        if ref is None:
            result.problems.append((loc, f"invalid reference ${{{body}}}: write ${{NAME}} or ${{NAME:-default}}"))
            return ""
        name, default = ref.group(1), ref.group(2)
        value = environ.get(name)
        if default is not None and not value:  # like the shell: ":-" also replaces an empty value
            return default
        if value is None:
            result.problems.append((loc, f"environment variable {name} is not set "
                                         f"(set it, or give a default: ${{{name}:-...}})"))
            return ""
        result.from_env.setdefault(loc, []).append(value)
        return value

    return _REF.sub(replace, text)
