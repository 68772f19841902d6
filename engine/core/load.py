"""YAML/JSON text -> plain Python data plus a source map (JSON pointer -> line:col).

``yaml.compose`` keeps a mark for every node, so every later error (schema, semantics,
layering) can point at ``file:line:col``.  Duplicate mapping keys, which PyYAML silently
overwrites, are reported here.  Nothing in this module raises on bad input: problems come back
as :class:`~engine.errors.Issue` objects.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from .errors import Issue, SourceLocation


MAX_DEPTH = 64  # nesting levels a YAML or JSON document may have


def escape_pointer_token(token: Any) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def join_pointer(base: str, token: Any) -> str:
    return f"{base}/{escape_pointer_token(token)}"


@dataclass
class SourceMap:
    """Positions of the nodes of one loaded document."""

    file: str
    text: str = ""
    values: dict[str, tuple[int, int]] = field(default_factory=dict)
    keys: dict[str, tuple[int, int]] = field(default_factory=dict)

    def location(self, pointer: str, at_key: bool = False) -> SourceLocation:
        """Location of ``pointer``; falls back to the nearest ancestor that has one."""
        table = self.keys if at_key else self.values
        probe = pointer
        while True:
            pos = table.get(probe) or self.values.get(probe)
            if pos:
                return SourceLocation(self.file, pos[0], pos[1], pointer)
            if not probe:
                return SourceLocation(self.file, 0, 0, pointer)
            probe = probe.rsplit("/", 1)[0]


@dataclass
class Loaded:
    data: Any
    source: SourceMap
    issues: list[Issue]


class _Constructor(yaml.SafeLoader):
    """Only used for its scalar constructors."""

    def __init__(self) -> None:
        super().__init__("")


_SCALARS = _Constructor()


def _build(node: yaml.Node, pointer: str, smap: SourceMap, issues: list[Issue], depth: int) -> Any:
    smap.values.setdefault(pointer, (node.start_mark.line + 1, node.start_mark.column + 1))
    if depth > MAX_DEPTH:
        issues.append(Issue("nesting_too_deep", f"document nests deeper than {MAX_DEPTH} levels",
                            smap.location(pointer)))
        return None
    if isinstance(node, yaml.ScalarNode):
        try:
            value = _SCALARS.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            loc = SourceLocation(smap.file, node.start_mark.line + 1, node.start_mark.column + 1, pointer)
            if node.tag == "tag:yaml.org,2002:timestamp":
                issues.append(Issue("invalid_date", f"{node.value!r} is not a calendar date ({_first_line(exc)})", loc,
                                    expected="a real date YYYY-MM-DD", found=node.value))
            else:
                tag = node.tag.rsplit(":", 1)[-1]
                issues.append(Issue("yaml_syntax_error", f"cannot read {node.value!r} as {tag}: "
                                    f"{_first_line(exc)}", loc, found=node.value))
            return None
        # Unquoted dates become date objects in YAML 1.1; the engine reads dates as ISO text.
        if isinstance(value, (_dt.date, _dt.datetime)):
            return value.isoformat()
        return value
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, join_pointer(pointer, i), smap, issues, depth + 1)
                for i, item in enumerate(node.value)]
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        merged: list[yaml.MappingNode] = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor`: explicit keys win
                items = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for item in items:
                    if isinstance(item, yaml.MappingNode):
                        merged.append(item)
                    else:
                        issues.append(Issue("invalid_key", "'<<' merges only mappings",
                                            SourceLocation(smap.file, key_node.start_mark.line + 1,
                                                           key_node.start_mark.column + 1, pointer)))
                continue
            key_loc = SourceLocation(smap.file, key_node.start_mark.line + 1,
                                     key_node.start_mark.column + 1, pointer)
            if not isinstance(key_node, yaml.ScalarNode):
                issues.append(Issue("invalid_key", "mapping keys must be scalars", key_loc))
                continue
            try:
                key = _SCALARS.construct_object(key_node, deep=True)
            except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
                issues.append(Issue("yaml_syntax_error", f"invalid key: {_first_line(exc)}", key_loc))
                continue
            if not isinstance(key, (str, int, bool)) and key is not None:
                key = str(key)
            child = join_pointer(pointer, key)
            key_pos = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in result:
                first = smap.keys.get(child, (0, 0))
                issues.append(Issue(
                    "duplicate_key",
                    f"key {key!r} appears twice in the same mapping (first at line {first[0]}); "
                    "the second would silently replace the first",
                    SourceLocation(smap.file, key_pos[0], key_pos[1], child)))
                continue
            smap.keys[child] = key_pos
            result[key] = _build(value_node, child, smap, issues, depth + 1)
        for source in merged:
            # Build the merged mapping against a scratch map, then adopt only the keys not written
            # here, with their own positions: explicit keys keep theirs.
            scratch = SourceMap(smap.file)
            base = _build(source, pointer, scratch, issues, depth + 1)
            for key, value in (base or {}).items():
                if key in result:
                    continue
                result[key] = value
                child = join_pointer(pointer, key)
                for table, scratch_table in ((smap.values, scratch.values), (smap.keys, scratch.keys)):
                    for where, pos in scratch_table.items():
                        if where == child or where.startswith(child + "/"):
                            table.setdefault(where, pos)
        return result
    return None


def _first_line(exc: BaseException) -> str:
    """PyYAML messages span several lines with their own positions; ours are one line."""
    problem = getattr(exc, "problem", None)
    text = str(problem or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_yaml_text(text: str, file: str) -> Loaded:
    """Parse one YAML document; never raises on bad input."""
    smap = SourceMap(file=file, text=text)
    issues: list[Issue] = []
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = SourceLocation(file, mark.line + 1, mark.column + 1) if mark else SourceLocation(file)
        problem = exc.problem or _first_line(exc)
        if exc.context:
            problem = f"{exc.context}: {problem}"
        hint = ""
        if "mapping values are not allowed" in problem:
            hint = "a ': ' inside unquoted text starts a mapping: put the text in quotes"
        return Loaded(None, smap, [Issue("yaml_syntax_error", problem, loc, hint=hint)])
    except (yaml.YAMLError, ValueError) as exc:
        return Loaded(None, smap, [Issue("yaml_syntax_error", _first_line(exc), SourceLocation(file))])
    finally:
        loader.dispose()
    if node is None:
        return Loaded(None, smap, [])
    data = _build(node, "", smap, issues, 0)
    return Loaded(data, smap, issues)


def load_json_text(text: str, file: str) -> Loaded:
    """Parse JSON with exact decimals; positions are known only for syntax errors."""
    smap = SourceMap(file=file, text=text)
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        return Loaded(None, smap, [Issue("json_syntax_error", exc.msg,
                                         SourceLocation(file, exc.lineno, exc.colno))])
    except RecursionError:  # thousands of nested brackets: refuse, as the YAML reader does past 64 levels
        return Loaded(None, smap, [Issue("nesting_too_deep", "document nests too deeply to read",
                                         SourceLocation(file))])
    except ValueError as exc:  # an integer literal over Python's digit limit
        return Loaded(None, smap, [Issue("json_syntax_error", str(exc).split(";")[0], SourceLocation(file))])
    if _deeper_than(data, MAX_DEPTH):  # later recursive steps (validation, copies) would overflow the stack
        return Loaded(None, smap, [Issue("nesting_too_deep", f"document nests deeper than {MAX_DEPTH} levels",
                                         SourceLocation(file))])
    return Loaded(data, smap, [])


def _deeper_than(data: Any, limit: int) -> bool:
    """Whether JSON data nests deeper than ``limit`` (iterative: safe on any depth)."""
    stack = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def load_file(path: Path | str, display: str | None = None) -> Loaded:
    """Load ``.json`` as JSON and anything else as YAML."""
    path = Path(path)
    name = display or str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Loaded(None, SourceMap(name), [Issue("file_not_found", "no such file", SourceLocation(name))])
    except IsADirectoryError:
        return Loaded(None, SourceMap(name), [Issue("file_not_found", "is a directory, not a file",
                                                    SourceLocation(name))])
    except OSError as exc:
        return Loaded(None, SourceMap(name), [Issue("file_unreadable", exc.strerror or str(exc),
                                                    SourceLocation(name))])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text: {exc.reason} at byte {exc.start}"
        return Loaded(None, SourceMap(name), [Issue("file_not_utf8", message,
                                                    SourceLocation(name))])
    if path.suffix.lower() == ".json":
        return load_json_text(text, name)
    return load_yaml_text(text, name)
