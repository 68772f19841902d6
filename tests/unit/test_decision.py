"""The public API and the decision format: schema-valid, deterministic, read-only shared parts."""

from __future__ import annotations

import copy
import json
import pickle

import jsonschema
import pytest

from engine import Engine, FactError, UsageError
from engine.tools.samples import documents
from engine.core.validate import schema
from tests.conftest import RULESETS, binding, payment

DECISION_SCHEMA = jsonschema.Draft202012Validator(schema("decision"))


def test_contract_example_shape(engine: Engine) -> None:
    data = engine.decide(binding(relationship="sibling", as_of="2023-05-01")).to_dict()
    assert data["request"] == "binding" and data["city"] == "341100" and data["as_of"] == "2023-05-01"
    assert data["eligible"] is False
    first = data["reasons"][0]
    assert first["rule"] == "national.relationship_in_scope" and first["outcome"] == "fail"
    assert first["code"] == "relationship_out_of_scope"
    assert set(first["message"]) == {"zh", "en"}
    assert first["facts"]["relationship"] == "sibling"
    assert first["facts"]["param.relationship_scope"] == ["spouse", "parent", "child"]
    assert first["source"] == {"document": "000_b1a913a873027671.txt", "quote": "共济对象:职工及其配偶、父母、子女"}
    assert first["effective"] == {"from": None, "to": None}
    assert data["ruleset"]["id"] == "341100" and len(data["ruleset"]["sha256"]) == 64
    # the parameter version that applied, with its dates and citation
    scope = data["parameters"]["relationship_scope"]
    assert scope["effective"] == {"from": None, "to": "2024-12-08"} and scope["origin"] == "340000"


@pytest.mark.parametrize("request_type", ["binding", "payment"])
def test_outputs_validate_against_the_decision_schema(engine: Engine, request_type: str) -> None:
    for doc in documents(150, request_type, seed=7):
        data = engine.decide(doc).to_dict()
        errors = sorted(DECISION_SCHEMA.iter_errors(json.loads(json.dumps(data))), key=str)
        assert not errors, errors[0].message


def test_failing_reasons_come_first(engine: Engine) -> None:
    data = engine.decide(binding(relationship="other", bound_members=9)).to_dict()
    outcomes = [r["outcome"] for r in data["reasons"]]
    assert outcomes[:2] == ["fail", "fail"] and "fail" not in outcomes[2:]


def test_byte_identical_output_for_the_same_input(engine: Engine) -> None:
    doc = payment()
    first = engine.decide(copy.deepcopy(doc)).to_json()
    other_engine = Engine.load(RULESETS)
    assert other_engine.decide(copy.deepcopy(doc)).to_json() == first
    assert first == json.dumps(json.loads(first), ensure_ascii=False, separators=(",", ":"))


def test_to_json_equals_dumps_of_to_dict(engine: Engine) -> None:
    for doc in list(documents(200, "binding", seed=3)) + list(documents(200, "payment", seed=3)):
        decision = engine.decide(doc)
        assert decision.to_json() == json.dumps(decision.to_dict(), ensure_ascii=False, separators=(",", ":"))


def test_the_segment_renderer_gives_the_same_bytes_as_the_reason_templates(engine: Engine) -> None:
    """to_dict() and to_json() render through functions generated per segment; explanations and
    batch rows through the per-branch reason templates: all give the same reasons, byte for byte."""
    from engine.runtime import render

    for doc in list(documents(150, "binding", seed=5)) + list(documents(150, "payment", seed=5)):
        decision = engine.decide(doc)
        data = decision.to_dict()
        assert json.dumps(data, ensure_ascii=False, separators=(",", ":")) == decision.to_json()
        assert render.reasons(decision.run) == data["reasons"]
        assert render.reasons_json(decision.run) == json.dumps(data["reasons"], ensure_ascii=False,
                                                               separators=(",", ":"))
        assert render.derived_json(decision.run) == data["derived"]


def test_shared_parts_are_read_only_and_copies_are_free(engine: Engine) -> None:
    data = engine.decide(binding()).to_dict()
    reason = data["reasons"][0]
    with pytest.raises(TypeError, match="read-only"):
        reason["source"]["quote"] = "tampered"
    with pytest.raises(TypeError, match="read-only"):  # in-place union is a change too
        reason |= {"code": "tampered"}
    assert engine.decide(binding()).to_dict()["reasons"][0]["code"] != "tampered"
    copied = copy.deepcopy(data)
    copied["reasons"][0]["source"]["quote"] = "mine"
    assert engine.decide(binding()).to_dict()["reasons"][0]["source"]["quote"] != "mine"
    assert pickle.loads(pickle.dumps(data)) == data


def test_the_decision_date_defaults_to_today(engine: Engine) -> None:
    import datetime as dt

    doc = binding()
    del doc["as_of"]
    assert engine.decide(doc).to_dict()["as_of"] == dt.date.today().isoformat()


def test_as_of_argument_overrides_the_document(engine: Engine) -> None:
    assert engine.decide(binding(relationship="sibling"), as_of="2023-01-01").eligible is False
    assert engine.decide(binding(relationship="sibling"), as_of="2025-01-01").eligible is True
    with pytest.raises(UsageError) as caught:
        engine.decide(binding(), as_of="2025-02-30")
    assert caught.value.issues[0].code == "invalid_date"


def test_unknown_city_and_switches_are_fact_errors(engine: Engine) -> None:
    with pytest.raises(FactError) as caught:
        engine.decide(binding(authorizer=dict(binding()["authorizer"], region="110105")))
    assert caught.value.issues[0].code == "unknown_city"
    assert caught.value.issues[0].location.pointer == "/authorizer/region"
    with pytest.raises(FactError) as caught:
        engine.decide(binding(switches={"scope_widen": "seed", "region_reading": "maybe"}))
    assert sorted(i.code for i in caught.value.issues) == ["unknown_switch", "unknown_switch_option"]
    assert "scope_widening" in caught.value.issues[0].hint + caught.value.issues[1].hint


def test_engine_level_switches(engine: Engine) -> None:
    seed_engine = Engine.load(RULESETS, switches={"scope_widening": "seed"})
    assert seed_engine.decide(binding(relationship="sibling")).eligible is False
    assert engine.decide(binding(relationship="sibling")).eligible is True
    with pytest.raises(UsageError):
        Engine.load(RULESETS, switches={"no_such_switch": "x"})


def test_decide_many_keeps_going_after_bad_documents(engine: Engine) -> None:
    results = list(engine.decide_many([binding(), {"request": "binding"}, binding(relationship="child")]))
    assert [type(r).__name__ for r in results] == ["Decision", "FactError", "Decision"]


def test_payment_plan_order_and_total(engine: Engine) -> None:
    data = engine.decide(payment()).to_dict()
    assert [p["source"] for p in data["payment"]["plan"]] == ["pooling_fund", "beneficiary_account",
                                                            "authorizer_account", "cash"]
    assert data["payment"] == {"plan": [{"source": "pooling_fund", "amount": "120.00"},
                                        {"source": "beneficiary_account", "amount": "50.00"},
                                        {"source": "authorizer_account", "amount": "830.00"},
                                        {"source": "cash", "amount": "0.00"}], "total": "1000.00",
                               "complete": True, "incomplete": []}


def test_money_given_as_numbers_is_exact(engine: Engine) -> None:
    from decimal import Decimal

    doc = payment()
    doc["expense"] = dict(doc["expense"], amount=Decimal("1000.00"))
    doc["beneficiary"] = dict(doc["beneficiary"], account_balance=50)
    assert engine.decide(doc).to_dict()["payment"]["plan"][2]["amount"] == "830.00"
    doc["expense"]["amount"] = 0.1 + 0.2
    with pytest.raises(FactError) as caught:
        engine.decide(doc)
    assert caught.value.issues[0].code == "invalid_money"


def test_segments_share_the_code_of_their_generated_renderers(engine: Engine) -> None:
    """A city's segments (periods, switch assignments) generate the same rendering code with
    other constants: each text is compiled once per process, not once per segment (compiling it
    used to take most of the time of a decision in a new segment), and each segment's
    functions still read their own constants."""
    from engine.runtime import render

    city = next(c for c in engine.cities.values() if len(c.periods(c.switch_assignment())[1]) > 2)
    assignment = city.switch_assignment()
    starts, _ = city.periods(assignment)
    first, second = (city.segment(assignment, day, "binding") for day in starts[-2:])
    assert first is not second
    shared = [(slot, branch) for slot, rules in enumerate(render.renderer(first).by_slot())
              for branch, template in enumerate(rules)
              if template is not None and slot < len(second.rules) and branch < len(second.rules[slot].branches)
              and render.renderer(second).template(slot, branch) is not None
              and first.rules[slot].rule_id == second.rules[slot].rule_id]
    same_text = 0
    for slot, branch in shared:
        one, two = render.renderer(first).template(slot, branch), render.renderer(second).template(slot, branch)
        assert one is not two and one.tid != two.tid
        assert one.values.__globals__["_tid"] == one.tid and two.values.__globals__["_tid"] == two.tid
        code, other = one.values.__code__, two.values.__code__
        if (code.co_code, code.co_consts, code.co_names) == (other.co_code, other.co_consts, other.co_names):
            assert code is other  # the same text: one code object, two namespaces
            same_text += 1
    assert same_text >= len(shared) // 2, (same_text, len(shared))  # most rules do not change between periods
