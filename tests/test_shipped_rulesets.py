"""The shipped rulesets: valid, compiled in every switch combination, lint-clean, fully covered.

These are the CI gates of the analyst tooling: `gongji check`, `gongji lint --strict` and
`gongji test --min-coverage 100` on rulesets/.
"""

from __future__ import annotations

from pathlib import Path

from engine.lint import lint
from engine.testing import run_tests
from tests.conftest import RULESETS


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
    from engine.testing import load_test_file

    for path in sorted(Path(RULESETS, "cities").glob("*.test.yaml")):
        test_file, issues = load_test_file(path)
        assert not issues and test_file is not None
        binding = [c for c in test_file.cases if c.facts.get("request") == "binding"]
        payment = [c for c in test_file.cases if c.facts.get("request") == "payment"]
        assert len(binding) >= 8, path
        assert len(payment) >= 10, path


def test_every_quote_is_verbatim_in_its_document() -> None:
    from engine.layering import load_collection
    from engine.lint import check_quotes

    assert check_quotes(load_collection(RULESETS)) == []


def test_the_seed_copies_are_the_shared_seeds() -> None:
    shared = RULESETS.parent.parent / "shared"
    if not (shared / "seeds").is_dir():
        import pytest

        pytest.skip("../shared is not beside this checkout")
    for seed in sorted((shared / "seeds").glob("*.txt")):
        assert (RULESETS / "sources" / seed.name).read_bytes() == seed.read_bytes()
    assert (RULESETS / "sources" / "OFFICIAL_SOURCES.md").read_bytes() == (shared / "OFFICIAL_SOURCES.md").read_bytes()
