"""The compiler: parameter folding, guards, timelines, durable_rules JSON (normal forms: test_conditions)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import durable_rules_engine

from engine import Engine
from engine.core.compile import make_base_encoder, timeline
from engine.core.conditions import FALSE, Const, Test, conj, dnf
from engine.core.values import parse_date
from tests.conftest import FIXTURES, RULESETS


def test_the_base_encoder_writes_only_tested_fields() -> None:
    encode = make_base_encoder(("a_ins", "bound"))
    text = encode("7", {"a_ins": "employee", "bound": 2, "unused": "x"})
    assert json.loads(text) == {"sid": "7", "id": "f", "t": "f", "a_ins": "employee", "bound": 2}


def test_timeline_cuts_where_versions_start_and_end(engine: Engine) -> None:
    city = engine.city("140100")
    periods = timeline(city.view, city.switch_assignment())
    starts = [p.start for p in periods]
    assert parse_date("2024-09-01") in starts  # Shanxi's widening to near relatives
    assert parse_date("2024-08-30") in starts  # in-province sharing
    assert parse_date("2026-01-09") in starts  # the national cross-province notice
    assert periods[0].start is None and periods[-1].end is None
    for earlier, later in zip(periods, periods[1:]):
        assert earlier.end is not None and later.start is not None and later.start > earlier.end


def test_parameters_fold_into_constant_conditions(engine: Engine) -> None:
    city = engine.city("341100")
    segment = city.segment(city.switch_assignment(), parse_date("2023-05-01"), "binding")
    region = next(r for r in segment.rules if r.rule_id == "region_in_scope")
    # region_scope is same_pool then: the condition is a single test on the derived same_pool
    pass_branch = region.branches[0]
    assert isinstance(pass_branch.condition, Test) and pass_branch.condition.right == Const(True)


def test_branches_are_exclusive_and_cover_everything(engine: Engine) -> None:
    city = engine.city("130600")
    segment = city.segment(city.switch_assignment(), parse_date("2025-06-01"), "payment")
    for rule in segment.rules:
        conditions = [b.condition for b in rule.branches]
        for i, first in enumerate(conditions):
            for second in conditions[i + 1:]:
                assert conj([first, second]) == FALSE or not dnf(conj([first, second])) or all(
                    conj(term) == FALSE for term in dnf(conj([first, second]))), rule.rule_id


def test_compiled_rulesets_are_valid_durable_rules_json(engine: Engine) -> None:
    city = engine.city("341100")
    segment = city.segment(city.switch_assignment(), parse_date("2025-03-01"), "payment")
    text = json.dumps(segment.durable)
    handle = durable_rules_engine.create_ruleset(f"test_{segment.digest[:12]}", text)
    assert isinstance(handle, int)
    assert "zz_catch_all" in segment.durable and segment.durable["zz_catch_all"]["pri"] == 1000000


def test_identical_content_shares_one_registration(engine: Engine) -> None:
    other = Engine.load(RULESETS)
    a = engine.city("341100")
    b = other.city("341100")
    day = parse_date("2025-03-01")
    seg_a = a.segment(a.switch_assignment(), day, "binding")
    seg_b = b.segment(b.switch_assignment(), day, "binding")
    assert seg_a.digest == seg_b.digest
    engine.decide({"request": "binding", "as_of": "2025-03-01", "authorizer": {
        "id": "A", "insurance": "employee", "status": "normal", "region": "341102", "retired": False,
        "account_balance": "1.00"}, "beneficiary": {"id": "B", "insurance": "employee", "status": "normal",
                                                     "region": "341102", "retired": False, "account_balance": "1.00"},
        "relationship": "spouse", "bound_members": 0})
    other.decide({"request": "binding", "as_of": "2025-03-01", "authorizer": {
        "id": "A", "insurance": "employee", "status": "normal", "region": "341102", "retired": False,
        "account_balance": "1.00"}, "beneficiary": {"id": "B", "insurance": "employee", "status": "normal",
                                                     "region": "341102", "retired": False, "account_balance": "1.00"},
        "relationship": "spouse", "bound_members": 0})
    assert seg_a.handle == seg_b.handle


def test_derived_values_fold_where_no_branch_can_produce_them(engine: Engine) -> None:
    # Taiyuan states no employee deductible: pooling_terms' employee case can never hold there
    city = engine.city("140100")
    segment = city.segment(city.switch_assignment(), parse_date("2025-03-01"), "payment")
    terms = next(r for r in segment.rules if r.rule_id == "pooling_terms")
    assert terms.branches[0].condition == FALSE


def test_a_parameter_reached_through_a_reference_is_named_when_it_is_not_in_force(tmp_path: Path) -> None:
    """``member_limit`` reads ``limit_alias`` = ``{param: max_beneficiaries}``, which has no version
    before 2025: the error names the parameter where the chain stops (layering.resolve's)."""
    rulesets = tmp_path / "rulesets"
    shutil.copytree(FIXTURES / "invalid" / "parameter_not_in_force" / "rulesets", rulesets)
    national = rulesets / "national.yaml"
    text = national.read_text(encoding="utf-8").replace("rules:\n", """  - id: limit_alias
    type: int
    title: {zh: 人数上限, en: Limit}
    value: {param: max_beneficiaries}
    source: {document: policy.txt, quote: 最多可授权省内6位参保人与其绑定}
rules:
""").replace("lt: {param: max_beneficiaries}", "lt: {param: limit_alias}")
    national.write_text(text, encoding="utf-8")
    issues = Engine.load(rulesets, prepare=False).check()
    assert [i.code for i in issues] == ["parameter_not_in_force"]
    assert issues[0].found == "max_beneficiaries" and "rule 'member_limit'" in issues[0].message
    assert issues[0].location.line == 6  # max_beneficiaries' definition, not the alias's
