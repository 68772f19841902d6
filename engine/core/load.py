"""YAML/JSON text -> plain Python data plus a source map (JSON pointer -> line:col).

``yaml.compose`` keeps a mark for every node, so every later error (schema, semantics,
layering) can point at ``file:line:col``.  Duplicate mapping keys, which PyYAML silently
overwrites, are reported here.  Nothing in this module raises on bad input: problems come back
as :class:`~engine.errors.Issue` objects.

Input is bounded (:class:`Limits`): a file is read with a size bound, lines have a maximum
length, YAML nesting is bounded *while composing* (PyYAML's composer recurses, so a check after
composition is too late), and alias expansion is measured on the composed node graph before
anything is built, so a few hundred bytes of nested aliases ("billion laughs") fail in
milliseconds.  Each limit has its own error code; the defaults can be changed per call, per
``Engine.load(limits=...)`` or, for the command line, with ``--max-bytes`` and friends.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as _dt
import json
import re
from dataclasses import dataclass, field, fields
from decimal import Decimal
from pathlib import Path
from typing import Any
from collections.abc import Iterator

import yaml

from .errors import Issue, SourceLocation


@dataclass(frozen=True)
class Limits:
    """Bounds on one input document (rule file, test file or fact document).

    ``max_bytes``: file size (``document_too_large``); ``max_line_length``: characters in one
    line (``line_too_long``); ``max_depth``: nesting of mappings/lists (``nesting_too_deep``);
    ``max_alias_nodes``: nodes that aliases add when expanded (``alias_limit_exceeded``).
    The defaults are far above the shipped files (60 kB, 510-character lines, 12 levels, about
    2,000 nodes added by the aliases of the largest policy test file)."""

    max_bytes: int = 1024 * 1024
    max_line_length: int = 16 * 1024
    max_depth: int = 64
    max_alias_nodes: int = 100_000

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{item.name} must be a positive whole number, not {value!r}")
        if self.max_depth > MAX_DEPTH_CEILING:
            # deeper documents would exhaust Python's recursion limit while being composed
            raise ValueError(f"max_depth must be at most {MAX_DEPTH_CEILING}, not {self.max_depth}")


MAX_DEPTH_CEILING = 200
_DEFAULT_LIMITS = Limits()
_LIMITS: contextvars.ContextVar[Limits] = contextvars.ContextVar("gongji_load_limits")


def current_limits() -> Limits:
    """The limits in force: the defaults, or those of the innermost :func:`limits_scope`."""
    return _LIMITS.get(_DEFAULT_LIMITS)


@contextlib.contextmanager
def limits_scope(limits: Limits | None) -> Iterator[Limits]:
    """Make ``limits`` the default of every load inside the ``with`` block (``None``: unchanged)."""
    if limits is None:
        yield current_limits()
        return
    token = _LIMITS.set(limits)
    try:
        yield limits
    finally:
        _LIMITS.reset(token)


LIMIT_OPTIONS = {  # command-line option -> Limits field
    "--max-bytes": "max_bytes",
    "--max-line-length": "max_line_length",
    "--max-depth": "max_depth",
    "--max-alias-nodes": "max_alias_nodes",
}


def add_limit_arguments(parser: Any) -> None:
    """The input-limit options of every command that reads rule files or fact documents."""
    defaults = Limits()
    for option, name in LIMIT_OPTIONS.items():
        parser.add_argument(option, type=int, default=None, metavar="N",
                            help=f"input limit {name} (default {getattr(defaults, name)})")


def limits_from_args(args: Any) -> Limits | None:
    """The limits the command line asks for (None: the defaults); raises ValueError on a bad value."""
    chosen = {name: getattr(args, name) for name in LIMIT_OPTIONS.values() if getattr(args, name, None) is not None}
    return Limits(**chosen) if chosen else None


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


class _LimitExceeded(Exception):
    """Composition stopped at a limit; carries the issue to report."""

    def __init__(self, issue: Issue):
        super().__init__(issue.message)
        self.issue = issue


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's composer with a depth bound (it recurses once per level) that records where each
    alias is used, for the alias-expansion check."""

    def __init__(self, text: str, file: str, limits: Limits):
        super().__init__(text)
        self.file = file
        self.max_depth = limits.max_depth
        self.depth = -1
        self.alias_uses: list[tuple[yaml.Node, yaml.Mark]] = []

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        try:
            event = self.peek_event()
            if self.depth > self.max_depth:
                mark = event.start_mark
                raise _LimitExceeded(Issue(
                    "nesting_too_deep", f"document nests deeper than {self.max_depth} levels",
                    SourceLocation(self.file, mark.line + 1, mark.column + 1),
                    expected=f"at most {self.max_depth} levels of mappings and lists"))
            node = super().compose_node(parent, index)
            if isinstance(event, yaml.AliasEvent):
                self.alias_uses.append((node, event.start_mark))
            return node
        finally:
            self.depth -= 1


class _Fallback(Exception):
    """The fast path met something it leaves to PyYAML's own composer (errors, mostly)."""


_CLoader = getattr(yaml, "CSafeLoader", None)


def _compose_fast(text: str, file: str, limits: Limits) -> tuple[yaml.Node | None, list[tuple[yaml.Node, yaml.Mark]]]:
    """Compose with libyaml's parser and an iterative composer: the same nodes as PyYAML's
    composer (tags resolved alike, same marks) about ten times faster, with the depth bound.
    Anything unusual (a syntax error, an undefined or repeated anchor) raises ``_Fallback`` and
    the pure-Python loader then reports it with its usual messages."""
    if _CLoader is None:
        raise _Fallback
    parser = _CLoader(text)
    uses: list[tuple[yaml.Node, yaml.Mark]] = []
    try:
        try:
            parser.get_event()  # stream start
            if parser.check_event(yaml.StreamEndEvent):
                return None, uses
            parser.get_event()  # document start
            anchors: dict[str, yaml.Node] = {}
            stack: list[list[Any]] = []  # [collection node, pending mapping key or None]
            root: yaml.Node | None = None
            while root is None:
                event = parser.get_event()
                if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                    done = stack.pop()[0]
                    done.end_mark = event.end_mark
                elif isinstance(event, yaml.AliasEvent):
                    if event.anchor not in anchors:
                        raise _Fallback
                    done = anchors[event.anchor]
                    uses.append((done, event.start_mark))
                else:
                    if len(stack) > limits.max_depth:
                        mark = event.start_mark
                        raise _LimitExceeded(Issue(
                            "nesting_too_deep", f"document nests deeper than {limits.max_depth} levels",
                            SourceLocation(file, mark.line + 1, mark.column + 1),
                            expected=f"at most {limits.max_depth} levels of mappings and lists"))
                    if event.anchor is not None and event.anchor in anchors:
                        raise _Fallback
                    tag = event.tag
                    if isinstance(event, yaml.ScalarEvent):
                        if tag is None or tag == "!":
                            tag = parser.resolve(yaml.ScalarNode, event.value, event.implicit)
                        done = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
                    else:
                        kind = yaml.SequenceNode if isinstance(event, yaml.SequenceStartEvent) else yaml.MappingNode
                        if tag is None or tag == "!":
                            tag = parser.resolve(kind, None, event.implicit)
                        node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
                        if event.anchor is not None:
                            anchors[event.anchor] = node
                        stack.append([node, None])
                        continue
                    if event.anchor is not None:
                        anchors[event.anchor] = done
                if not stack:
                    root = done
                    break
                parent = stack[-1]
                if isinstance(parent[0], yaml.SequenceNode):
                    parent[0].value.append(done)
                elif parent[1] is None:
                    parent[1] = done
                else:
                    parent[0].value.append((parent[1], done))
                    parent[1] = None
            parser.get_event()  # document end
            if not parser.check_event(yaml.StreamEndEvent):
                raise _Fallback  # several documents: PyYAML words the error
            return root, uses
        except yaml.YAMLError:
            raise _Fallback from None
    finally:
        parser.dispose()


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    return []


def _alias_problem(root: yaml.Node, uses: list[tuple[yaml.Node, yaml.Mark]], file: str,
                   limit: int) -> Issue | None:
    """How many nodes the aliases add once expanded, measured on the node graph (each distinct
    node visited once), so a tiny document that would expand to millions of nodes is refused
    before anything is built.  An alias inside the node it refers to would expand forever."""
    if not uses:
        return None
    sizes: dict[int, int] = {}
    active: set[int] = set()
    recursive: list[yaml.Node] = []

    def size(node: yaml.Node) -> int:
        key = id(node)
        known = sizes.get(key)
        if known is not None:
            return known
        if key in active:
            recursive.append(node)
            return limit + 1
        active.add(key)
        total = 1 + sum(size(child) for child in _children(node))
        active.discard(key)
        sizes[key] = total
        return total

    expanded = size(root)
    added = expanded - len(sizes)
    if not recursive and added <= limit:
        return None
    node, mark = max(uses, key=lambda use: sizes.get(id(use[0]), limit + 1))
    where = SourceLocation(file, mark.line + 1, mark.column + 1)
    if recursive:
        return Issue("alias_limit_exceeded", "an alias refers to a node that contains it: it would expand "
                     "without end", where, expected="aliases of complete, earlier nodes")
    return Issue("alias_limit_exceeded", f"aliases would expand this document by {added} nodes "
                 f"(limit {limit})", where, expected=f"at most {limit} nodes added by aliases", found=added)


def _build(node: yaml.Node, pointer: str, smap: SourceMap, issues: list[Issue], depth: int,
           max_depth: int = 64) -> Any:
    smap.values.setdefault(pointer, (node.start_mark.line + 1, node.start_mark.column + 1))
    if depth > max_depth:  # reachable through aliases: an alias of a deep node placed deep
        issues.append(Issue("nesting_too_deep", f"document nests deeper than {max_depth} levels",
                            smap.location(pointer), expected=f"at most {max_depth} levels of mappings and lists"))
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
        return [_build(item, join_pointer(pointer, i), smap, issues, depth + 1, max_depth)
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
            result[key] = _build(value_node, child, smap, issues, depth + 1, max_depth)
        for source in merged:
            # Build the merged mapping against a scratch map, then adopt only the keys not written
            # here, with their own positions: explicit keys keep theirs.
            scratch = SourceMap(smap.file)
            base = _build(source, pointer, scratch, issues, depth + 1, max_depth)
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


def _size_problem(size: int, file: str, limits: Limits) -> Issue | None:
    if size <= limits.max_bytes:
        return None
    return Issue("document_too_large", f"the document is larger than {limits.max_bytes} bytes",
                 SourceLocation(file), expected=f"at most {limits.max_bytes} bytes",
                 found=f"{size} bytes" if size > limits.max_bytes + 1 else f"more than {limits.max_bytes} bytes")


def _text_size_problem(text: str, file: str, limits: Limits) -> Issue | None:
    if len(text) * 4 <= limits.max_bytes:  # no UTF-8 encoding of it can be too large
        return None
    return _size_problem(len(text.encode("utf-8", "surrogatepass")), file, limits)


def _line_problem(text: str, file: str, limits: Limits) -> Issue | None:
    """The first line longer than the limit (PyYAML's scanner is slow on huge lines, and a caret
    under such a line helps nobody)."""
    limit = limits.max_line_length
    if len(text) <= limit:
        return None
    for number, line in enumerate(text.splitlines(), 1):
        if len(line) > limit:
            return Issue("line_too_long", f"line {number} has {len(line)} characters (limit {limit})",
                         SourceLocation(file, number, limit + 1), expected=f"at most {limit} characters per line",
                         found=len(line))
    return None


def load_yaml_text(text: str, file: str, limits: Limits | None = None) -> Loaded:
    """Parse one YAML document; never raises on bad input."""
    limits = limits or current_limits()
    smap = SourceMap(file=file, text=text)
    problem = _text_size_problem(text, file, limits) or _line_problem(text, file, limits)
    if problem is not None:
        return Loaded(None, SourceMap(file), [problem])
    issues: list[Issue] = []
    loader: _BoundedLoader | None = None
    try:
        try:
            node, uses = _compose_fast(text, file, limits)
        except _Fallback:
            loader = _BoundedLoader(text, file, limits)  # the reader rejects control characters here
            node, uses = loader.get_single_node(), loader.alias_uses
        alias_issue = _alias_problem(node, uses, file, limits.max_alias_nodes) if node else None
    except _LimitExceeded as exc:
        return Loaded(None, smap, [exc.issue])
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = SourceLocation(file, mark.line + 1, mark.column + 1) if mark else SourceLocation(file)
        problem_text = exc.problem or _first_line(exc)
        if exc.context:
            problem_text = f"{exc.context}: {problem_text}"
        hint = ""
        if "mapping values are not allowed" in problem_text:
            hint = "a ': ' inside unquoted text starts a mapping: put the text in quotes"
        return Loaded(None, smap, [Issue("yaml_syntax_error", problem_text, loc, hint=hint)])
    except yaml.reader.ReaderError as exc:
        line, col = _offset_position(text, exc.position)
        return Loaded(None, smap, [Issue("yaml_syntax_error", "a control character is not allowed in YAML",
                                         SourceLocation(file, line, col), expected="printable characters",
                                         found=_code_point(exc.character))])
    except RecursionError:  # a safety net: the depth bound stops composition long before
        return Loaded(None, smap, [Issue("nesting_too_deep", "document nests too deeply to read",
                                         SourceLocation(file),
                                         expected=f"at most {limits.max_depth} levels of mappings and lists")])
    except (yaml.YAMLError, ValueError) as exc:
        return Loaded(None, smap, [Issue("yaml_syntax_error", _first_line(exc), SourceLocation(file))])
    finally:
        if loader is not None:
            loader.dispose()
    if alias_issue is not None:
        return Loaded(None, smap, [alias_issue])
    if node is None:
        return Loaded(None, smap, [])
    data = _build(node, "", smap, issues, 0, limits.max_depth)
    return Loaded(data, smap, issues)


def _code_point(character: Any) -> str:
    """PyYAML reports the offending character as text or as its code point."""
    code = ord(character) if isinstance(character, str) and len(character) == 1 else character
    return f"U+{code:04X}" if isinstance(code, int) else repr(character)


def _offset_position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _json_depth_problem(data: Any, file: str, limits: Limits) -> Issue | None:
    """Nesting of parsed JSON, measured without recursion (later steps recurse)."""
    stack: list[tuple[Any, int, str]] = [(data, 0, "")]
    while stack:
        value, depth, pointer = stack.pop()
        if depth > limits.max_depth:
            return Issue("nesting_too_deep", f"document nests deeper than {limits.max_depth} levels",
                         SourceLocation(file, 0, 0, pointer),
                         expected=f"at most {limits.max_depth} levels of mappings and lists")
        if isinstance(value, dict):
            stack.extend((v, depth + 1, join_pointer(pointer, k)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, depth + 1, join_pointer(pointer, i)) for i, v in enumerate(value))
    return None


def load_json_text(text: str, file: str, limits: Limits | None = None) -> Loaded:
    """Parse JSON with exact decimals; positions are known only for syntax errors."""
    limits = limits or current_limits()
    smap = SourceMap(file=file, text=text)
    problem = _text_size_problem(text, file, limits)
    if problem is not None:
        return Loaded(None, SourceMap(file), [problem])
    duplicates: list[str] = []
    try:
        data = json.loads(text, parse_float=Decimal, object_pairs_hook=lambda pairs: _json_object(pairs, duplicates))
    except json.JSONDecodeError as exc:
        return Loaded(None, smap, [Issue("json_syntax_error", exc.msg,
                                         SourceLocation(file, exc.lineno, exc.colno))])
    except RecursionError:
        return Loaded(None, smap, [Issue("nesting_too_deep", "document nests too deeply to read", SourceLocation(file),
                                         expected=f"at most {limits.max_depth} levels of mappings and lists")])
    except ValueError:  # an integer longer than Python converts (4,300 digits)
        long_number = re.search(r"\d{4300,}", text)
        line, col = _offset_position(text, long_number.start()) if long_number else (0, 0)
        return Loaded(None, smap, [Issue("number_too_large", "a number has too many digits to read",
                                         SourceLocation(file, line, col), expected="at most 4300 digits",
                                         found=f"{len(long_number.group())} digits" if long_number else None)])
    problem = _json_depth_problem(data, file, limits)
    if problem is not None:
        return Loaded(None, smap, [problem])
    return Loaded(data, smap, [_json_duplicate(key, text, file) for key in duplicates])


def _json_object(pairs: list[tuple[str, Any]], duplicates: list[str]) -> dict[str, Any]:
    """JSON objects as dicts, remembering keys given twice (json.loads would keep the last silently)."""
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        duplicates.extend(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
    return result


def _json_duplicate(key: str, text: str, file: str) -> Issue:
    """As for YAML: a key given twice is an error; the position is that of its second occurrence."""
    found = [m.start() for m in re.finditer(re.escape(json.dumps(key)) + r"\s*:", text)]
    line, col = _offset_position(text, found[1] if len(found) > 1 else (found[0] if found else 0))
    return Issue("duplicate_key", f"key {key!r} appears twice in the same object; the second would silently "
                 "replace the first", SourceLocation(file, line, col))


def read_bounded(path: Path, limits: Limits) -> bytes:
    """At most ``max_bytes + 1`` bytes of ``path`` (``/dev/zero`` or a huge file stop there)."""
    with open(path, "rb") as handle:
        return handle.read(limits.max_bytes + 1)


def read_stream(stream: Any, name: str, limits: Limits | None = None) -> tuple[str | None, list[Issue]]:
    """Read a text stream (stdin) with the size bound; (text, problems)."""
    limits = limits or current_limits()
    binary = getattr(stream, "buffer", None)
    if binary is None:  # an in-memory text stream
        text = stream.read(limits.max_bytes + 1)
        problem = _text_size_problem(text, name, limits)
        return (None, [problem]) if problem else (text, [])
    raw = binary.read(limits.max_bytes + 1)
    problem = _size_problem(len(raw), name, limits)
    if problem is not None:
        return None, [problem]
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        return None, [Issue("file_not_utf8", f"not UTF-8 text: {exc.reason} at byte {exc.start}",
                            SourceLocation(name))]


def load_file(path: Path | str, display: str | None = None, limits: Limits | None = None) -> Loaded:
    """Load ``.json`` as JSON and anything else as YAML."""
    limits = limits or current_limits()
    path = Path(path)
    name = display or str(path)
    try:
        raw = read_bounded(path, limits)
    except FileNotFoundError:
        return Loaded(None, SourceMap(name), [Issue("file_not_found", "no such file", SourceLocation(name))])
    except IsADirectoryError:
        return Loaded(None, SourceMap(name), [Issue("file_not_found", "is a directory, not a file",
                                                    SourceLocation(name))])
    except OSError as exc:
        return Loaded(None, SourceMap(name), [Issue("file_unreadable", exc.strerror or str(exc),
                                                    SourceLocation(name))])
    problem = _size_problem(len(raw), name, limits)
    if problem is not None:
        return Loaded(None, SourceMap(name), [problem])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text: {exc.reason} at byte {exc.start}"
        return Loaded(None, SourceMap(name), [Issue("file_not_utf8", message,
                                                    SourceLocation(name))])
    if path.suffix.lower() == ".json":
        return load_json_text(text, name, limits)
    return load_yaml_text(text, name, limits)
