"""Compiler-style context lines: a long source line is shown as a window around the column."""

from __future__ import annotations

from engine.core.errors import CONTEXT_WIDTH, Issue, SourceLocation, render_with_context


def context(text: str, col: int) -> tuple[str, str]:
    rendered = render_with_context(Issue("line_too_long", "m", SourceLocation("f.yaml", 1, col)), text + "\n")
    _, source, caret = rendered.split("\n")
    return source.split(" | ", 1)[1], caret.split("| ", 1)[1]


def test_short_lines_are_shown_whole() -> None:
    source, caret = context("key: value", 6)
    assert source == "key: value" and caret == "     ^"


def test_a_long_line_is_cut_around_the_column_and_the_caret_still_points_at_it() -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(20_000))
    for col in (1, 5_000, 20_000):
        source, caret = context(text, col)
        assert len(source) <= CONTEXT_WIDTH + 6
        assert source[len(caret) - 1] == text[col - 1]
    assert context(text, 1)[0].endswith("...") and not context(text, 1)[0].startswith("...")
    assert context(text, 20_000)[0].startswith("...") and not context(text, 20_000)[0].endswith("...")
