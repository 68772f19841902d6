"""Bounded fact-document fuzzing in ``make test`` (the harness: ``fact_fuzz.py``; longer runs:
``make fuzz-facts SECONDS=N``).

The seed is fixed (``guard.SUITE_SEED``) so the suite is deterministic, and printed;
``GONGJI_FUZZ_SEED=N make test`` runs another one and ``GONGJI_FUZZ_SEED=random`` draws one.  Every
case is a valid catalog document with hostile edits, decided in-process under a per-case
watchdog; one batch also goes through ``gongji decide`` as JSON Lines in a subprocess, which
catches hangs inside C code and aborts.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from conftest import RULESETS
from engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fact_fuzz import case, run_case, run_subprocess
from guard import suite_seed

SEED = suite_seed()
IN_PROCESS_CASES = 5000  # ~10 s on the shared 2-core VM
SUBPROCESS_LINES = 400  # one `gongji decide` run: ~5 s, most of it loading the rulesets


@pytest.fixture(scope="module", autouse=True)
def _print_seed(request: pytest.FixtureRequest) -> None:
    """The seed goes to the terminal even when output is captured (pytest -q)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    line = f"fact-document fuzz seed {SEED} (replay: GONGJI_FUZZ_SEED={SEED})"
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)


@seed(SEED)
@settings(max_examples=IN_PROCESS_CASES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow], phases=[Phase.generate])
@given(case_seed=st.integers(0, 2**63 - 1))
def test_hostile_documents_end_in_a_decision_or_coded_errors(engine: Engine, case_seed: int) -> None:
    text = case(case_seed)
    try:
        run_case(engine, text)
    except BaseException as exc:
        raise AssertionError(f"fuzz seed {SEED}, case seed {case_seed}: {type(exc).__name__}: {exc}\n"
                             f"document: {text[:3000]}") from exc


def test_a_batch_through_gongji_decide_in_a_subprocess(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    texts = [case(rng.randrange(2**63)) for _ in range(SUBPROCESS_LINES)]
    tally = run_subprocess(texts, workdir=tmp_path, rulesets=RULESETS)  # the engine tests' snapshot
    assert not tally.failures, f"fuzz seed {SEED}: {tally.failures}"
    assert tally.decided + tally.invalid == SUBPROCESS_LINES and tally.decided and tally.invalid
