"""gongji lint: each warning on a rulesets copy with exactly that defect."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.tools.lint import lint, satisfiable
from engine.core.conditions import Const, FactRef, Test, conj, disj
from tests.conftest import RULESETS

CHUZHOU = "cities/341100-chuzhou.yaml"


@pytest.fixture()
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "rulesets"
    shutil.copytree(RULESETS, target, ignore=shutil.ignore_patterns("*.test.yaml"))
    return target


def edit(root: Path, name: str, old: str, new: str) -> None:
    path = root / name
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def codes(root: Path) -> list[str]:
    return [w.code for w in lint(root)]


def test_the_shipped_rulesets_are_clean() -> None:
    assert lint(RULESETS) == []


def test_satisfiability_reasoning() -> None:
    a = lambda op, v: Test(FactRef("bound_members"), op, Const(v))
    assert not satisfiable(conj([a("gt", 5), a("lt", 6)]))
    assert satisfiable(conj([a("gt", 5), a("lt", 7)]))
    assert not satisfiable(conj([Test(FactRef("relationship"), "eq", Const("spouse")),
                                 Test(FactRef("relationship"), "eq", Const("child"))]))
    all_categories = ["outpatient", "pharmacy", "inpatient", "chronic_disease", "maternity", "resident_contribution",
                      "public_health", "fitness", "wellness", "cosmetic", "commercial_insurance"]
    assert not satisfiable(conj([Test(FactRef("expense.category"), "ne", Const(c)) for c in all_categories]))
    assert satisfiable(disj([conj([a("gt", 5), a("lt", 6)]), a("eq", 1)]))


def test_branch_never_holds_and_shadowed_cases(copy: Path) -> None:
    edit(copy, CHUZHOU, "parameters:\n", """rules:
  - id: silly
    title: {zh: x, en: x}
    applies_to: [binding]
    source: {document: 000_b1a913a873027671.txt, quote: "必须在同一医保统筹区内"}
    cases:
      - when: {fact: relationship, eq: spouse}
        then: {outcome: info, code: spouse, message: {zh: x, en: x}}
      - when: {all: [{fact: relationship, eq: spouse}, {fact: bound_members, lt: 3}]}
        then: {outcome: info, code: shadowed, message: {zh: x, en: x}}
      - when: {all: [{fact: bound_members, gt: 5}, {fact: bound_members, lt: 6}]}
        then: {outcome: info, code: empty, message: {zh: x, en: x}}

parameters:
""")
    warnings = lint(copy)
    found = [(w.code, w.message.split(":")[1].strip()) for w in warnings]
    assert found == [("branch_never_holds", "the case 2 branch can hold for no input in any city, period and switch "
                                            "combination (its condition contradicts itself, an earlier case, or the "
                                            "parameters in force)"),
                     ("branch_never_holds", "the case 3 branch can hold for no input in any city, period and switch "
                                            "combination (its condition contradicts itself, an earlier case, or the "
                                            "parameters in force)")]
    assert all(w.severity == "warning" and w.location.line for w in warnings)


def test_parameter_unused_and_quote_not_found(copy: Path) -> None:
    edit(copy, CHUZHOU, "parameters:\n", """parameters:
  - id: nobody_reads_me
    type: int
    title: {zh: x, en: x}
    value: 3
    source: {document: 000_b1a913a873027671.txt, quote: "这句话不在文中"}
""")
    assert codes(copy) == ["parameter_unused", "quote_not_found"]


def test_a_quote_differing_in_white_space_says_so(copy: Path) -> None:
    edit(copy, CHUZHOU, 'quote: "同一个家庭账户最多能绑定7人,包括授权人本人"', 'quote: "同一个家庭账户最多能绑定7人, 包括授权人本人"')
    (warning,) = lint(copy)
    assert warning.code == "quote_not_found" and "apart from white space" in warning.message


def test_override_no_change(copy: Path) -> None:
    edit(copy, CHUZHOU, "parameters:\n", """parameters:
  - id: payment_mode
    overrides: national
    value: split
    source:
      - {document: 002_1979e341b644880d.txt, quote: "系统会优先从使用者本人的账户中扣款,若余额不足,则使用授权人的个人账户余额"}
      - {document: 002_1979e341b644880d.txt, quote: "本人账户余额用完后再使用授权人的个人账户余额"}
""")
    assert codes(copy) == ["override_no_change"]


def test_effective_period_gap(copy: Path) -> None:
    edit(copy, CHUZHOU, "parameters:\n", """rules:
  - id: interrupted
    title: {zh: x, en: x}
    applies_to: [binding]
    versions:
      - from: "2022-07-01"
        to: "2024-12-31"
        source: {document: 000_b1a913a873027671.txt, quote: "必须在同一医保统筹区内"}
        when: {fact: bound_members, lt: 3}
        then: {outcome: info, code: few, message: {zh: x, en: x}}
      - from: "2025-03-01"
        source: {document: 000_b1a913a873027671.txt, quote: "必须在同一医保统筹区内"}
        when: {fact: bound_members, lt: 3}
        then: {outcome: info, code: few, message: {zh: x, en: x}}

parameters:
""")
    (warning,) = lint(copy)
    assert warning.code == "effective_period_gap"
    assert "rule 'interrupted' has no version in force from 2025-01-01 to 2025-02-28" in warning.message


def test_switch_unused(copy: Path) -> None:
    edit(copy, CHUZHOU, "switches:\n", """switches:
  - id: idle
    title: {zh: x, en: x}
    default: a
    options:
      a: {description: {zh: x, en: x}, source: {document: 000_b1a913a873027671.txt, quote: "必须在同一医保统筹区内"}}
      b: {description: {zh: x, en: x}, source: {document: 000_b1a913a873027671.txt, quote: "必须在同一医保统筹区内"}}
""")
    assert codes(copy) == ["switch_unused"]


def test_cli_strict_and_json(copy: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run_cli("lint", RULESETS, "--strict")
    assert code == 0 and "0 warning(s)" in out
    edit(copy, CHUZHOU, 'quote: "同一个家庭账户最多能绑定7人,包括授权人本人"', 'quote: "不在文中"')
    assert run_cli("lint", copy)[0] == 0
    code, out, _ = run_cli("lint", copy, "--strict")
    assert code == 1 and "quote_not_found" in out and "strict: failing" in out
    code, out, _ = run_cli("lint", copy, "--format", "json")
    assert code == 0 and '"code": "quote_not_found"' in out


def test_lint_reports_errors_instead_of_warnings(copy: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    edit(copy, CHUZHOU, "kind: city", "kind: town")
    code, _, err = run_cli("lint", copy)
    assert code == 1 and "invalid_value" in err


def test_every_gap_of_one_rule_is_reported(copy: Path) -> None:
    edit(copy, CHUZHOU, "parameters:\n", """rules:
  - id: twice_interrupted
    title: {zh: x, en: x}
    applies_to: [binding]
    versions:
      - from: "2022-07-01"
        to: "2023-12-31"
        source: {document: 000_b1a913a873027671.txt, quote: "必须在同一医保统筹区内"}
        when: {fact: bound_members, lt: 3}
        then: {outcome: info, code: few, message: {zh: x, en: x}}
      - from: "2024-03-01"
        to: "2024-12-31"
        source: {document: 000_b1a913a873027671.txt, quote: "必须在同一医保统筹区内"}
        when: {fact: bound_members, lt: 3}
        then: {outcome: info, code: few, message: {zh: x, en: x}}
      - from: "2025-03-01"
        source: {document: 000_b1a913a873027671.txt, quote: "必须在同一医保统筹区内"}
        when: {fact: bound_members, lt: 3}
        then: {outcome: info, code: few, message: {zh: x, en: x}}

parameters:
""")
    spans = sorted(w.message.split(" in force ")[1].split(" in ")[0] for w in lint(copy))
    assert spans == ["from 2024-01-01 to 2024-02-29", "from 2025-01-01 to 2025-02-28"]


def test_a_parameter_read_only_by_an_unused_parameter_is_unused_too(copy: Path) -> None:
    edit(copy, CHUZHOU, "parameters:\n", """parameters:
  - id: nobody_reads_me
    type: int
    title: {zh: x, en: x}
    value: {param: read_only_by_the_unused}
    source: {document: 000_b1a913a873027671.txt, quote: "必须在同一医保统筹区内"}
  - id: read_only_by_the_unused
    type: int
    title: {zh: x, en: x}
    value: 3
    source: {document: 000_b1a913a873027671.txt, quote: "必须在同一医保统筹区内"}
""")
    assert sorted(w.found for w in lint(copy)) == ["nobody_reads_me", "read_only_by_the_unused"]


def _taiyuan_notice(root: Path) -> None:
    """A Taiyuan document in the copy, declared as Taiyuan's in national.yaml documents:."""
    (root / "sources" / "taiyuan.txt").write_text("太原市家庭共济自2022年7月1日起实施。", encoding="utf-8")
    edit(root, "national.yaml", "\nswitches:\n", '\ndocuments:\n  taiyuan.txt: "140100"\n\nswitches:\n')


CHUZHOU_START = 'source: {document: 000_b1a913a873027671.txt, quote: "安徽滁州医保门诊共济政策自2022年7月1日起实施"}'


def test_citation_other_jurisdiction(copy: Path) -> None:
    # Chuzhou's sharing start backed by a Taiyuan text only: a Chuzhou decision would cite another city.
    _taiyuan_notice(copy)
    edit(copy, CHUZHOU, CHUZHOU_START, 'source: {document: taiyuan.txt, quote: "太原市家庭共济自2022年7月1日起实施"}')
    (warning,) = lint(copy)
    assert warning.code == "citation_other_jurisdiction"
    assert "341100" in warning.message and "taiyuan.txt (140100)" in warning.message
    assert warning.location.file.endswith("341100-chuzhou.yaml")


def test_a_note_or_a_jurisdiction_of_its_own_lets_a_citation_pass(copy: Path) -> None:
    _taiyuan_notice(copy)
    edit(copy, CHUZHOU, CHUZHOU_START, 'source: {document: taiyuan.txt, quote: "太原市家庭共济自2022年7月1日起实施", '
         'note: "the same reform date as Taiyuan (an inference)"}')
    assert codes(copy) == []
    edit(copy, CHUZHOU, 'note: "the same reform date as Taiyuan (an inference)"', 'jurisdiction: "341100"')
    assert codes(copy) == []
