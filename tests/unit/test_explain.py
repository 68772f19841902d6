"""Explanations: the chain of rules, failed conditions with their values, citations, zh and en."""

from __future__ import annotations

import pytest

from engine import Engine
from engine.tools import counterfactual
from engine.tools.counterfactual import why_not
from tests.conftest import binding, payment


def test_chinese_explanation_of_a_refusal(engine: Engine) -> None:
    text = engine.decide(binding(relationship="sibling", as_of="2023-05-01")).explain("zh")
    assert text.startswith("决定：不可以绑定")
    assert "未通过的检查" in text and "relationship_out_of_scope" in text
    assert "✗ relationship ∈ param.relationship_scope (配偶、父母、子女) — 实际: 兄弟姐妹" in text
    assert "000_b1a913a873027671.txt「共济对象:职工及其配偶、父母、子女」" in text
    assert "参数 relationship_scope = 配偶、父母、子女" in text
    assert "规则链" in text and "推导事实" in text


def test_english_explanation_says_which_version_applied(engine: Engine) -> None:
    before = engine.decide(binding(relationship="sibling", as_of="2024-12-08")).explain("en")
    after = engine.decide(binding(relationship="sibling", as_of="2024-12-09")).explain("en")
    assert "Decision: NOT ELIGIBLE" in before and "Decision: ELIGIBLE" in after
    assert "parameter relationship_scope = spouse, parent, child (start not stated – 2024-12-08" in before
    assert "(2024-12-09 – open-ended; OFFICIAL_SOURCES.md" in after


def test_only_failures(engine: Engine) -> None:
    text = engine.decide(binding(bound_members=9)).explain("en", only_failures=True)
    assert "member_limit_reached" in text and "Rule chain" not in text


def test_payment_explanation_walks_the_plan(engine: Engine) -> None:
    text = engine.decide(payment()).explain("en")
    assert "Payment plan: pooling fund 120.00 → beneficiary's own account 50.00 → authorizer's shared account " \
           "830.00 → cash 0.00 (total 1000.00)" in text
    assert "derived: pooling.deductible_remaining = 800.00 yuan" in text
    assert "pooling fund pays 120.00 yuan: deductible left 800.00 yuan, base 200.00 yuan × 60% = 120.00 yuan" in text


def test_explanation_json_has_trace_and_every_condition(engine: Engine) -> None:
    data = engine.decide(payment()).explanation()
    assert data["decision"]["eligible"] is True
    fired = [step for step in data["trace"] if step["established"] == "fired"]
    assert any(step["rule"] == "national.pooling_share" and "pay.pooling_fund" in step["derived"] for step in fired)
    atoms = [a for c in data["conditions"] if c["rule"] == "national.relationship_in_scope" for a in c["atoms"]]
    assert atoms[0]["value"] == "spouse" and atoms[0]["holds"] is True


def test_ids_never_appear_in_explanations(engine: Engine) -> None:
    doc = binding()
    doc["authorizer"] = dict(doc["authorizer"], id="341102198001011234")
    decision = engine.decide(doc)
    assert "341102198001011234" not in decision.explain("zh") + decision.to_json()


def test_why_not_for_a_sibling_before_the_widening(engine: Engine) -> None:
    decision = engine.decide(binding(relationship="sibling", as_of="2023-05-01"))
    result = why_not(decision, engine)
    assert not result.eligible
    (repair,) = result.repairs
    assert repair.code == "relationship_out_of_scope"
    assert sorted(c[0].test.right.value for c in repair.options) == ["child", "parent", "spouse"]
    assert result.verified is True
    assert result.later_date == "2024-12-09"
    assert ("scope_widening", "seed") not in result.switch_options


def test_why_not_traces_derived_facts_back_to_facts(engine: Engine) -> None:
    doc = binding(as_of="2024-06-01")
    doc["beneficiary"] = dict(doc["beneficiary"], region="340102")  # Hefei: another Anhui pool
    decision = engine.decide(doc)
    result = why_not(decision, engine)
    (repair,) = result.repairs
    assert repair.code == "region_out_of_scope"
    text = repair.options[0][0].text("en")
    assert text == "beneficiary.region would need to be in pool 341100 (now 340100)"
    assert result.verified is True
    assert result.later_date == "2024-11-26"  # in-province sharing
    assert ("region_reading", "seed") not in result.switch_options


def test_why_not_money_shortfall_and_switches(engine: Engine) -> None:
    doc = payment(expense=dict(payment()["expense"], credential="authorizer"))
    result = why_not(engine.decide(doc), engine)
    assert result.repairs[0].options[0][0].text("en") == "expense.credential must be own credential (now " \
                                                          "authorizer's credential)"
    assert ("authorizer_credential_reading", "allow_bound_card") in result.switch_options
    assert result.to_json()["verified"] is True


def test_why_not_of_an_eligible_decision(engine: Engine) -> None:
    result = why_not(engine.decide(binding()), engine)
    assert result.eligible and not result.repairs
    assert "It is eligible already." in result.text("en")


def test_region_repairs_name_the_field_the_code_comes_from() -> None:
    from engine.core.conditions import Const, FactRef, Test
    from engine.tools.counterfactual import Change, apply_change

    literal = Change("expense.institution_pool_code",
                     Test(FactRef("expense.institution_pool_code"), "eq", Const("341100")), "340100")
    assert literal.text("en") == "expense.institution_region would need to be in pool 341100 (now 340100)"
    assert literal.text("zh") == "expense.institution_region 须在统筹区 341100 内（现为 340100）"
    document: dict = {"expense": {"institution_region": "340102"}}
    assert apply_change(document, literal) and document["expense"]["institution_region"] == "341100"
    province = Change("beneficiary.province_code", Test(FactRef("beneficiary.province_code"), "eq", Const("340000")),
                      "140000")
    assert province.text("en") == "beneficiary.region would need to be in province 340000 (now 140000)"


def test_why_not_never_writes_its_imagined_decisions_to_the_log(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import RULESETS

    log = tmp_path / "decisions.log"
    with Engine.load(RULESETS, decision_log=log) as logging_engine:
        decision = logging_engine.decide(binding(relationship="sibling", as_of="2023-05-01"))
        result = why_not(decision, logging_engine)
    assert result.verified is True and result.later_date == "2024-12-09"  # it did decide the variants
    assert len(log.read_text(encoding="utf-8").splitlines()) == 1  # only the decision asked for


def test_why_not_lists_every_alternative_and_says_what_was_not_verified(engine: Engine,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    doc = binding(relationship="parent_in_law")
    doc["authorizer"] = dict(doc["authorizer"], region="360902")
    doc["beneficiary"] = dict(doc["beneficiary"], region="360902")
    result = why_not(engine.decide(doc), engine)
    (repair,) = result.repairs
    wanted = {option[0].test.right.value for option in repair.options}
    assert wanted == {"spouse", "parent", "child", "sibling", "grandparent", "grandchild"}  # no silent cap at 3
    text = result.text("en")
    assert "grandchild" in text and "the other alternatives were not decided again: not verified" in text
    monkeypatch.setattr(counterfactual, "MAX_SHOWN", 2)
    assert "…and 4 more (see the JSON output)" in result.text("en") and "另有 4 种" in result.text("zh")
    result.verified, result.unverified = None, "not_applicable"
    assert "! not verified: a check has no change of the facts" in result.text("en")
    assert result.to_json()["unverified_reason"] == "not_applicable"
