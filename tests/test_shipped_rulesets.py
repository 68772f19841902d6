"""The shipped rulesets: valid, compiled in every switch combination, lint-clean, fully covered.

These are the CI gates of the analyst tooling: `gongji check`, `gongji lint --strict` and
`gongji test --min-coverage 100` on rulesets/.
"""

from __future__ import annotations

import pytest

from pathlib import Path

from engine.tools.lint import lint
from engine.tools.testing import run_tests
from tests.conftest import SHIPPED as RULESETS


@pytest.fixture(scope="session")
def engine(shipped_engine):  # type: ignore[no-untyped-def]
    """These tests guard the shipped rulesets, not the engine's frozen snapshot."""
    return shipped_engine


def test_every_period_and_switch_combination_compiles(engine) -> None:  # type: ignore[no-untyped-def]
    assert engine.check() == []


def test_lint_clean() -> None:
    warnings = lint(RULESETS)
    assert warnings == [], "\n".join(w.format() for w in warnings)


def test_policy_tests_cover_every_rule_branch_and_parameter_version() -> None:
    report = run_tests([RULESETS])
    assert not report.file_issues and not report.failed
    coverage = report.coverage
    assert coverage is not None
    assert coverage.branches.percent == 100.0, coverage.branches.missing()
    assert coverage.parameters.percent == 100.0, coverage.parameters.missing()


def test_each_city_has_enough_policy_cases() -> None:
    from engine.tools.testing import load_test_file

    for path in sorted(Path(RULESETS, "cities").glob("*.test.yaml")):
        test_file, issues = load_test_file(path)
        assert not issues and test_file is not None
        binding = [c for c in test_file.cases if c.facts.get("request") == "binding"]
        payment = [c for c in test_file.cases if c.facts.get("request") == "payment"]
        assert len(binding) >= 8, path
        assert len(payment) >= 10, path


def test_every_quote_is_verbatim_in_its_document() -> None:
    from engine.core.layering import load_collection
    from engine.tools.lint import check_quotes

    assert check_quotes(load_collection(RULESETS)) == []


def test_the_source_copies_are_unchanged() -> None:
    """Citations are checked against rulesets/sources/; SHA256SUMS pins those copies to the
    documents they were taken from, so an edited seed cannot make a wrong quote pass."""
    import hashlib

    manifest = (RULESETS / "sources" / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    pinned = dict(reversed(line.split(maxsplit=1)) for line in manifest if line.strip())
    assert len(pinned) == 6  # the five seeds and OFFICIAL_SOURCES.md; new notices may be added beside them
    for name, digest in pinned.items():
        assert hashlib.sha256((RULESETS / "sources" / name).read_bytes()).hexdigest() == digest, name
