"""monitor.yml as YAML: the data, plus the node tree so a field path can be mapped back to its line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from monitor.core.problems import ConfigError, Loc, Problem, format_loc

# Bounds on what one config document may build, so a hostile or broken file is refused in bounded time and
# memory: nesting (the composer and every walk after it recurse) and the values the document expands to
# once aliases are followed (nine anchors of nine aliases each would be 9**9 values: an "alias bomb").
MAX_DEPTH = 64
MAX_VALUES = 50_000


class _TooDeep(yaml.YAMLError):
    def __init__(self, loc: Loc, mark: yaml.Mark | None) -> None:
        super().__init__("too deep")
        self.loc = loc
        self.mark = mark


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that stops composing past MAX_DEPTH levels, before Python's recursion limit is reached."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._path: list[str | int] = []  # where the composer is: mapping keys and sequence indexes

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        # The composer passes a value's key node, or an item's index; None while composing a key.
        part = index.value if isinstance(index, yaml.ScalarNode) else index if isinstance(index, int) else "?"
        self._path.append(part)
        try:
            if len(self._path) > MAX_DEPTH:
                raise _TooDeep(tuple(self._path[1:6]), self.peek_event().start_mark)
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._path.pop()


@dataclass(frozen=True)
class YamlDocument:
    root: yaml.Node
    data: Any

    def locate(self, loc: Loc) -> tuple[int, int | None]:
        """How many parts of `loc` exist in the file, and the line (1-based) of the deepest one found."""
        matched, line, _ = self._walk(loc)
        return matched, line

    def keys_at(self, loc: Loc) -> set[str]:
        """The keys written in the mapping at `loc` (empty if there is none)."""
        matched, _, node = self._walk(loc)
        if matched < len(loc) or not isinstance(node, yaml.MappingNode):
            return set()
        return {k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode)}

    def _walk(self, loc: Loc) -> tuple[int, int | None, yaml.Node]:
        node, line, matched = self.root, None, 0
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                # the last match wins, as in the built mapping (merge keys put inherited pairs first)
                entry = next((kv for kv in reversed(node.value) if isinstance(kv[0], yaml.ScalarNode)
                              and kv[0].value == str(part)), None)
                if entry is None:
                    break
                line, node = entry[0].start_mark.line + 1, entry[1]  # the key's line names the field
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                break
            matched += 1
        return matched, line, node


def parse_yaml(text: str, source: str) -> YamlDocument:
    """Parse one YAML document; syntax errors become a ConfigError with line and column."""
    loader = _BoundedLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise ConfigError(source, [Problem("", "the file is empty (expected sections: targets:, database:, ...)")])
        _reject_alias_bombs(root, source)
        _reject_duplicate_keys(root, source)
        data = loader.construct_document(root)
    except _TooDeep as exc:
        line = exc.mark.line + 1 if exc.mark else None
        raise ConfigError(source, [Problem(format_loc(exc.loc) + "...", f"nested more than {MAX_DEPTH} levels deep",
                                           line)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # Only the parser's own words: no snippet of the file, which could hold a literal secret.
        what = " ".join(str(s) for s in (exc.context, exc.problem) if s) or "invalid YAML"
        raise ConfigError(source, [Problem("", f"YAML syntax error: {what}", mark.line + 1 if mark else None,
                                           mark.column + 1 if mark else None)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, [Problem("", f"YAML error: {type(exc).__name__}")]) from None
    except (ValueError, TypeError) as exc:  # a scalar YAML resolves but cannot build, e.g. date 2026-02-30
        raise ConfigError(source, [_bad_scalar(root, exc)]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ConfigError(source, [Problem("", "the top level must be a mapping of sections (targets:, store:, ...)",
                                           root.start_mark.line + 1)])
    return YamlDocument(root, data)


def _reject_alias_bombs(root: yaml.Node, source: str) -> None:
    """Refuse a document that expands to more than MAX_VALUES values through aliases, or that contains itself.

    Counted on the node tree, each node once (its expanded size memoised), so the count itself is linear in
    the file; recursion is bounded by MAX_DEPTH, which the composer has already enforced."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node, loc: Loc) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise ConfigError(source, [Problem(format_loc(loc), "an alias refers to a value that contains it (a cycle)",
                                               node.start_mark.line + 1)])
        open_nodes.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            total += sum(size(k, loc) + size(v, (*loc, str(getattr(k, "value", "?")))) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(v, (*loc, i)) for i, v in enumerate(node.value))
        open_nodes.discard(key)
        sizes[key] = total
        if total > MAX_VALUES:
            raise ConfigError(source, [Problem(format_loc(loc), f"expands to more than {MAX_VALUES} values through "
                                                                "aliases (*name): refused as an alias bomb",
                                               node.start_mark.line + 1)])
        return total

    size(root, ())


def _reject_duplicate_keys(node: yaml.Node, source: str) -> None:
    # PyYAML silently keeps the last of two equal keys; a config typo must not vanish that way.
    problems: list[Problem] = []
    stack, seen_nodes = [node], set()
    while stack:
        current = stack.pop()
        if id(current) in seen_nodes:  # aliases share nodes: visit each once
            continue
        seen_nodes.add(id(current))
        if isinstance(current, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    line = key.start_mark.line + 1
                    if key.value in seen:
                        problems.append(Problem("", f"duplicate key {key.value!r} (first at line {seen[key.value]})",
                                                line))
                    seen.setdefault(key.value, line)
                stack.append(value)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
    if problems:
        raise ConfigError(source, sorted(problems, key=lambda p: p.line or 0))


def _bad_scalar(root: yaml.Node, exc: Exception) -> Problem:
    # Find the scalar that failed by building each one alone, to report its line.
    loader = yaml.SafeLoader("")
    stack, seen = [root], set()
    try:
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, yaml.ScalarNode):
                try:
                    loader.construct_object(node)
                except (ValueError, TypeError) as one:
                    return Problem("", f"invalid value {node.value!r}: {one}", node.start_mark.line + 1,
                                   node.start_mark.column + 1)
            elif isinstance(node, yaml.MappingNode):
                stack.extend(v for kv in node.value for v in kv)
            elif isinstance(node, yaml.SequenceNode):
                stack.extend(node.value)
    finally:
        loader.dispose()
    return Problem("", f"invalid value: {exc}")
