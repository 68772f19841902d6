"""The differential check of two source trees (tests/fuzz/differential.py), run on this tree twice."""

from __future__ import annotations

import pytest

from tests.fuzz import differential


def test_the_same_tree_decides_the_same_and_the_counts_add_up(capsys: pytest.CaptureFixture[str]) -> None:
    assert differential.main(["--against", str(differential.ROOT), "--count", "2"]) == 0
    out = capsys.readouterr().out
    assert "24 documents decided by" in out and "to_json() differs for 0" in out
    assert "6 explanations: differ without the trace for 0; the trace's entries differ for 0, their order for 0" in out
