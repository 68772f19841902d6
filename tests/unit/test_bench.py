"""``python -m engine.tools.bench raw-vs``: raw durable_rules of two source trees, side by side."""

from __future__ import annotations

import argparse
import re

import pytest

from engine.tools import bench
from tests.conftest import ROOT, RULESETS


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


def test_paired_cost_is_the_median_of_abba_pairs_on_the_same_documents() -> None:
    """The log's cost is read from short pairs run back to back (ABBA), on the same documents:
    a burst that slows a few pairs does not move the median, and drift within a pair cancels."""
    now = [0.0]
    seen: list[tuple[str, tuple[int, ...]]] = []
    burst = {3, 4, 11}  # pairs a noisy neighbour slows (their "other" runs 10x)

    def runner(name: str, per_doc: float):  # type: ignore[no-untyped-def]
        def run(part: list[int]) -> None:
            seen.append((name, tuple(part)))
            pair = (len(seen) - 1) // 4
            now[0] += per_doc * len(part) * (10 if name == "other" and pair in burst else 1)
        return run

    cost = bench.paired_cost(runner("base", 1.0), runner("other", 1.25), list(range(100)), chunk=30, pairs=15,
                             clock=lambda: now[0])
    assert cost == pytest.approx(0.25)
    assert [name for name, _ in seen[:4]] == ["base", "other", "other", "base"]
    assert all(len({part for _, part in seen[i:i + 4]}) == 1 for i in range(0, len(seen), 4))  # one chunk per pair
    assert {part[0] for _, part in seen} == {0, 30, 60, 19, 49, 8, 38, 68, 27, 57, 16, 46, 5, 35, 65}
    assert all(len(part) == 30 for _, part in seen)


def test_the_targets_table_measures_every_row() -> None:
    results = bench.bench("binding", 24, 1, str(RULESETS))
    assert {"raw", "full", "codes", "log_group", "log_strict", "log_group_full", "cost_group", "cost_strict",
            "cost_group_full", "p99_ms", "asserts"} <= set(results)


def test_the_memory_run_prints_rss_at_each_checkpoint_also_with_the_log(capsys: pytest.CaptureFixture[str]) -> None:
    for log in (False, True):
        args = argparse.Namespace(rulesets=str(RULESETS), checkpoints=[30, 15], log=log)
        assert bench.main_memory(args) == 0
        out = capsys.readouterr().out
        assert ("decision log on" in out) is log
        assert re.findall(r"after +(\d+) decisions: RSS +[\d.]+ MiB", out) == ["15", "30"]
