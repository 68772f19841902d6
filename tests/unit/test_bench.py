"""``python -m engine.tools.bench raw-vs``: raw durable_rules of two source trees, side by side."""

from __future__ import annotations

import argparse
import re

import pytest

from engine.tools import bench
from tests.conftest import ROOT


def test_raw_vs_times_both_trees_and_prints_their_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    # main_raw_vs, not main: main pins the calling process to one core
    args = argparse.Namespace(against=str(ROOT), request="both", count=12, rounds=2)
    assert bench.main_raw_vs(args) == 0
    out = capsys.readouterr().out
    assert "best of 2 alternating rounds" in out
    rates = re.findall(r"^  (against|this) +([\d,]+)/s  asserts per decision ([\d.]+)", out, re.M)
    assert [name for name, _, _ in rates] == ["against", "this"] and all(float(a) >= 1 for _, _, a in rates)
    assert re.search(r"^  ratio +\d+\.\d\dx$", out, re.M)


def test_raw_vs_needs_the_other_tree() -> None:
    with pytest.raises(SystemExit):
        bench.main(["raw-vs"])
