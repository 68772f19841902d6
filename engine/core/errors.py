"""Errors with stable codes and locations, reported all at once.

Every problem the engine finds in a rule file, a test file or a fact document is an
:class:`Issue`: a stable snake_case ``code``, a :class:`SourceLocation` (file:line:col and/or
a JSON pointer), a message, and what was expected vs found.  Errors never travel alone: an
:class:`EngineError` carries the full, sorted list so a user fixes everything in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from collections.abc import Callable, Iterable, Sequence


@dataclass(frozen=True, order=True)
class SourceLocation:
    """Where a problem is: a file position (1-based line/col) and/or a JSON pointer."""

    file: str = ""
    line: int = 0
    col: int = 0
    pointer: str = ""

    def __str__(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.line:
            parts.append(str(self.line))
            parts.append(str(self.col or 1))
        text = ":".join(parts)
        if self.pointer and not self.line:
            text = f"{text}#{self.pointer}" if text else self.pointer or "/"
        return text or "<input>"


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    return str(value)


@dataclass(frozen=True)
class Issue:
    """One problem: ``code`` is stable and documented; ``message`` is for humans."""

    code: str
    message: str
    location: SourceLocation = field(default_factory=SourceLocation)
    expected: Any = None
    found: Any = None
    severity: str = "error"  # error | warning
    hint: str = ""

    def format(self) -> str:
        """``file:line:col: code: message (expected X, found Y)`` on one line."""
        text = f"{self.location}: " + ("warning: " if self.severity == "warning" else "")
        text += f"{self.code}: {self.message}"
        details = []
        if self.expected is not None:
            details.append(f"expected {self.expected if isinstance(self.expected, str) else _show(self.expected)}")
        if self.found is not None:
            details.append(f"found {_show(self.found)}")
        if details:
            text += f" ({', '.join(details)})"
        if self.hint:
            text += f" — {self.hint}"
        return text

    def to_dict(self) -> dict[str, Any]:
        loc = self.location
        out: dict[str, Any] = {"code": self.code, "severity": self.severity, "message": self.message}
        if loc.file:
            out["file"] = loc.file
        if loc.line:
            out["line"] = loc.line
            out["col"] = loc.col
        if loc.pointer:
            out["pointer"] = loc.pointer
        if self.expected is not None:
            out["expected"] = self.expected
        if self.found is not None:
            out["found"] = self.found
        if self.hint:
            out["hint"] = self.hint
        return out

    def sort_key(self) -> tuple[Any, ...]:
        loc = self.location
        return (loc.file, loc.line, loc.col, loc.pointer, self.code, self.message)


def sort_issues(issues: Iterable[Issue]) -> list[Issue]:
    """Sort by location and drop duplicates (the same message at the same place), keeping the
    one with the most helpful hint."""
    best: dict[tuple[Any, ...], Issue] = {}
    for issue in issues:
        key = (issue.sort_key(), issue.severity)
        kept = best.get(key)
        if kept is None or len(issue.hint) > len(kept.hint):
            best[key] = issue
    return [best[key] for key in sorted(best, key=lambda k: k[0])]


def render_with_context(issue: Issue, source_text: str | None) -> str:
    """The one-line form plus the offending source line with a caret, compiler style."""
    line = issue.format()
    if not source_text or not issue.location.line:
        return line
    lines = source_text.splitlines()
    index = issue.location.line - 1
    if not 0 <= index < len(lines):
        return line
    text = lines[index]
    col = max(issue.location.col, 1)
    text, col = _window(text, col)
    gutter = f"{issue.location.line:>5} | "
    caret = " " * (len(gutter) - 2) + "| " + _display_pad(text[: col - 1]) + "^"
    return f"{line}\n{gutter}{text}\n{caret}"


CONTEXT_WIDTH = 160  # characters of a source line shown around the column; a long line is cut with ...


def _window(text: str, col: int) -> tuple[str, int]:
    """The part of ``text`` around column ``col`` (1-based) and the column within that part."""
    if len(text) <= CONTEXT_WIDTH:
        return text, col
    start = max(0, min(col - 1 - CONTEXT_WIDTH // 2, len(text) - CONTEXT_WIDTH))
    part = text[start:start + CONTEXT_WIDTH]
    prefix = "..." if start else ""
    suffix = "..." if start + CONTEXT_WIDTH < len(text) else ""
    return prefix + part + suffix, col - start + len(prefix)


def _display_pad(prefix: str) -> str:
    """Pad to the display width of ``prefix`` (CJK characters take two columns)."""
    width = 0
    for char in prefix:
        width += 2 if "\u1100" <= char <= "\uffdc" and not char.isspace() else 1
    return " " * width


class EngineError(Exception):
    """Base of all user-facing errors; carries every :class:`Issue` found."""

    kind = "error"

    def __init__(self, issues: Sequence[Issue], summary: str | None = None):
        self.issues = sort_issues(issues)
        self.summary = summary or self._default_summary()
        super().__init__(self.summary)

    def _default_summary(self) -> str:
        errors = sum(1 for i in self.issues if i.severity == "error")
        return f"{self.kind}: {errors} error(s)"

    def __str__(self) -> str:
        return "\n".join([self.summary] + [issue.format() for issue in self.issues])

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.kind, "summary": self.summary, "issues": [i.to_dict() for i in self.issues]}


class RuleFileError(EngineError):
    """A rule or test file is unreadable, invalid YAML, or violates the schema/semantics."""

    kind = "rule_file_error"


class CompileError(EngineError):
    """Rule files are individually valid but cannot be merged or compiled together."""

    kind = "compile_error"


class FactError(EngineError):
    """A fact document is invalid: every problem with its JSON pointer."""

    kind = "fact_error"


class EvaluationError(EngineError):
    """The engine could not finish a decision (a bug or an engine fault; never bad input)."""

    kind = "evaluation_error"


class InputError(EngineError):
    """An input file (a corpus, a decision log) cannot be read."""

    kind = "input_error"


class UsageError(EngineError):
    """The command line or API was called wrongly."""

    kind = "usage_error"


def issue(code: str, message: str, location: SourceLocation | None = None, **kw: Any) -> Issue:
    return Issue(code=code, message=message, location=location or SourceLocation(), **kw)


class Printer:
    """Writes issues compiler-style, with the offending source line and a caret."""

    def __init__(self, stream: TextIO, mask: Callable[[str], str] | None = None):
        self.stream = stream
        self.texts: dict[str, str | None] = {}
        self.mask = mask  # fact documents: their lines are quoted only with personal data masked

    def source(self, file: str) -> str | None:
        if file not in self.texts:
            from .load import current_limits, read_bounded  # load imports this module

            self.texts[file] = None
            try:
                limits = current_limits()
                raw = read_bounded(Path(file), limits) if file else b""  # never /dev/zero in full
                if raw and len(raw) <= limits.max_bytes:
                    self.texts[file] = raw.decode("utf-8-sig")
            except (OSError, UnicodeDecodeError):
                pass
        text = self.texts[file]
        return self.mask(text) if text and self.mask is not None else text

    def issues(self, issues: Iterable[Issue]) -> None:
        for issue in sort_issues(issues):
            print(render_with_context(issue, self.source(issue.location.file)), file=self.stream)
