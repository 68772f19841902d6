"""What durable_rules is asked to test (``CompiledBranch.rete``): less than the branch conditions,
with the same truth for every document a segment decides (issue 10, point 2)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from engine import Engine, EvaluationError
from engine.core import catalog
from engine.core.compile import (AS_OF, BASE, CATCH_ALL, ELIGIBLE_OWNER, FALSE, Segment, normal_form, owners,
                                 simplify_terms)
from engine.core.conditions import Const, DerivedRef, FactRef, GivenRef, Memory, Test, evaluate
from engine.core.semantics import Operand
from engine.runtime.evaluate import run
from engine.runtime.explain import verify_run
from engine.core.values import previous_day
from engine.tools.samples import documents
from tests.conftest import RULESETS


def segments(engine: Engine, request: str = "payment") -> list[Segment]:
    """Every segment of every city under its default switches."""
    return [segment for city in engine.cities.values() for segment in city.segments(city.switch_assignment())
            if segment.request == request]


def patterns(segment: Segment) -> list[dict[str, Any]]:
    return [pattern for name, rule in segment.durable.items() if name != CATCH_ALL for pattern in rule["all"]]


def constant_producers(segment: Segment) -> set[str]:
    """Fact types of the rules that read no derived fact and derive constants in every branch."""
    found = set()
    for rule in segment.rules:
        derivations = [d.expr for b in rule.branches if b.action is not None and b.rete != FALSE
                       for d in b.action.derive]
        if not rule.inputs and derivations and all(isinstance(e, Operand) and e.kind in ("lit", "param")
                                                   for e in derivations):
            found.add(rule.owner)
    return found


def test_payment_segments_join_no_derived_fact_whose_producer_derives_constants(engine: Engine) -> None:
    for segment in segments(engine):
        inlined = constant_producers(segment)
        assert inlined, segment.period  # region relations and the pooling schedule, in every period
        tested = {owner for pattern in patterns(segment) for owner in pattern}
        assert not tested & inlined, (segment.city, segment.period.describe())
        assert all(len(rule["all"]) == 1 for rule in segment.durable.values())  # no join at all
        for rule in segment.rules:
            if rule.owner in inlined:
                assert all(b.encode_fact is None for b in rule.branches)  # derived in Python, never asserted


def test_eligible_is_decided_by_the_failing_checks_rules(engine: Engine) -> None:
    for segment in segments(engine):
        assert not segment.assert_eligible and ELIGIBLE_OWNER not in {o for p in patterns(segment) for o in p}
        share = next(r for r in segment.rules if r.rule_id == "shared_account_share")
        ineligible = next(b for b in share.branches if b.compiled)
        assert ineligible.reads_eligible
        decided_by = {name for name, targets in segment.names.items() if (share.slot, ineligible.branch) in targets}
        failing = {name for name, targets in segment.names.items()
                   for slot, branch in targets if (slot, branch) in segment.fail_codes}
        assert decided_by == failing and decided_by


def test_branches_testing_the_same_thing_share_one_durable_rule(engine: Engine) -> None:
    shared = 0
    for segment in segments(engine):
        texts = [repr(rule["all"]) for rule in segment.durable.values()]
        assert len(texts) == len(set(texts))  # no two rules test the same
        compiled = {(r.slot, b.branch) for r in segment.rules for b in r.branches if b.compiled}
        assert {pair for targets in segment.names.values() for pair in targets} == compiled
        shared += sum(len(targets) > 1 for targets in segment.names.values())
        # so there are fewer durable rules than compiled branches (the catch-all aside)
        assert len(segment.durable) - 1 < len(compiled)
    assert shared


def test_tests_of_the_decision_date_that_the_period_decides_are_folded(engine: Engine) -> None:
    ops = {"$lt": "lt", "$lte": "le", "$gt": "gt", "$gte": "ge"}
    folded = 0
    for segment in segments(engine) + segments(engine, "binding"):
        for pattern in patterns(segment):
            for test in pattern[BASE].get("$and", []) if BASE in pattern else []:
                op, body = next(iter(test.items()))
                if op in ops and "asof" in body and isinstance(body["asof"], int):
                    day, period = body["asof"], segment.period
                    # the test holds for some days of the period and fails for others
                    assert (period.start is None or period.start < day + (op in ("$gt", "$lte"))) and \
                        (period.end is None or day - (op in ("$gte", "$lt")) < period.end), (op, day, period)
        for rule in segment.rules:
            for branch in rule.branches:
                if branch.condition != FALSE and branch.rete == FALSE:
                    assert AS_OF in {test.left for test in _tests(branch.condition)}
                    folded += 1
    assert folded  # e.g. "sharing not yet in force" in every period after the sharing started


def _tests(node: Any) -> list[Test]:
    return [node] if isinstance(node, Test) else [t for item in node.items for t in _tests(item)]


def test_what_durable_rules_tests_holds_exactly_when_the_condition_does(engine: Engine) -> None:
    """Each branch's ``rete`` against its ``condition``, both read by the Python evaluator over
    the decision's facts, for documents of every city on random dates (the oracle of the
    compiler's inlining, independent of durable_rules)."""
    rng = random.Random(10)
    compared = set()
    for index, doc in enumerate(documents(160, "payment", seed=10)):
        if index % 2:
            doc["as_of"] = f"{rng.randrange(2021, 2028)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
        decision = engine.decide(doc)
        result = decision.run
        memory = Memory(result.base, result.derived)
        for rule in result.segment.rules:
            for branch in rule.branches:
                expected = evaluate(branch.condition, memory)
                assert evaluate(branch.rete, memory) == expected, (rule.rule_id, branch.branch, doc["as_of"])
                compared.add((branch.rete is not branch.condition, expected))
    assert compared == {(True, True), (True, False), (False, True), (False, False)}


def test_inferred_derivations_are_settled_in_dependency_order(engine: Engine) -> None:
    for segment in segments(engine) + segments(engine, "binding"):
        producers = {name: rule.slot for rule in segment.rules for name in rule.version.derived}
        seen: set[int] = set()
        for slot, _, needs in segment.inferred_derivations:
            assert all(producers[name] in seen or producers[name] not in
                       {s for s, _, _ in segment.inferred_derivations} for name in needs if name in producers)
            seen.add(slot)


def test_a_payment_decision_asserts_only_its_base_fact(engine: Engine) -> None:
    from engine.tools.bench import raw_decide

    asserted: list[int] = []
    expected = []
    for index, doc in enumerate(documents(80, "payment", seed=3)):
        facts = engine.normalize(doc)
        city = engine.city(facts.city)
        segment = city.segment(city.switch_assignment(), facts.as_of, "payment")
        raw_decide(segment, facts.base, f"a{index}", asserted)
        # the base fact, and the catch-all's own fact in a session where no rule fired
        expected.append(1 + (not any(f.rule_name for f in engine.decide(doc).run.firings)))
    assert asserted == expected and 1 in asserted


def test_a_failing_check_also_fires_the_ineligible_branch_after_the_checks(engine: Engine) -> None:
    from tests.conftest import payment

    doc = payment(expense=dict(payment()["expense"], credential="authorizer"))
    result = engine.decide(doc).run
    share = next(r for r in result.segment.rules if r.rule_id == "shared_account_share")
    check = next(r for r in result.segment.rules if r.rule_id == "own_credential")
    order = [(f.slot, f.branch) for f in result.firings]
    firing = next(f for f in result.firings if f.slot == share.slot)
    assert firing.rule_name and firing.rule_name == next(f.rule_name for f in result.firings if f.slot == check.slot)
    assert order.index((share.slot, firing.branch)) > max(order.index((s, b)) for s, b in order
                                                          if result.segment.rules[s].stratum == 1)
    assert result.derived["pay.authorizer_account"] == 0 and not result.eligible


def test_the_oracle_refuses_a_date_outside_the_segment(engine: Engine) -> None:
    from tests.conftest import payment

    facts = engine.normalize(payment(as_of="2025-03-01"))
    city = engine.city(facts.city)
    segment = city.segment(city.switch_assignment(), facts.as_of, "payment")
    assert segment.period.start is not None
    early = dict(facts.base, **{catalog.BY_PATH["as_of"].key: previous_day(segment.period.start)})
    with pytest.raises(EvaluationError) as caught:
        verify_run(run(segment, early))
    assert caught.value.issues[0].code == "oracle_disagreement" and "outside the period" in \
        caught.value.issues[0].message


def test_simplified_terms_are_the_same_disjunction() -> None:
    a, b, c = (Test(FactRef(p), "eq", Const(v)) for p, v in
               (("authorizer.status", "normal"), ("relationship", "spouse"), ("expense.category", "outpatient")))
    given_t, given_f = (Test(GivenRef("authorization.end"), "eq", Const(v)) for v in (True, False))
    derived = Test(DerivedRef("same_pool", 3), "eq", Const(True))
    assert simplify_terms([(a, b), (a, b.negated())]) == [(a,)]  # A and B, A and not B: A
    assert simplify_terms([(a, given_t), (a, given_f)]) == [(a,)]  # a flag is one of two bools
    assert simplify_terms([(given_t, given_f, a), (c,)]) == [(c,)]  # both bools: never
    assert simplify_terms([(a,), (a, c)]) == [(a,)]  # absorbed
    # a derived fact may not exist: "d and not d" is not everything
    assert simplify_terms([(a, derived), (a, derived.negated())]) == [(a, derived), (a, derived.negated())]
    x = Test(FactRef("relationship"), "eq", Const("x"))
    assert normal_form(x) == (x,) and owners(derived) == {"d3"}


def test_a_rule_reading_what_the_ineligible_branch_derives_fires_after_it(tmp_path: Path) -> None:
    """The ineligible branch of the shared-account step fires with a failing check and is taken
    once eligibility is settled; a rule testing the fact it derives (asserted, as it is computed
    from other derived facts) must still fire then (the engine verifies every decision)."""
    from tests.conftest import payment

    rulesets = tmp_path / "rulesets"
    shutil.copytree(RULESETS, rulesets)
    national = rulesets / "national.yaml"
    national.write_text(national.read_text(encoding="utf-8") + """
  - id: cash_only_notice
    title: {zh: 全部由现金支付, en: Cash pays all}
    applies_to: [payment]
    source: {document: 002_1979e341b644880d.txt, quote: "本人账户余额用完后再使用授权人的个人账户余额"}
    cases:
      - when: {derived: pay.cash, gt: "0.00"}
        then: {outcome: info, code: cash_pays, message: {zh: "现金支付 {derived:pay.cash}", en: "cash pays {derived:pay.cash}"}}
""", encoding="utf-8")
    engine = Engine.load(rulesets, verify=True)
    doc = payment(expense=dict(payment()["expense"], credential="authorizer", amount="900.00"))
    decision = engine.decide(doc)
    result = decision.run
    notice = next(r for r in result.segment.rules if r.rule_id == "cash_only_notice")
    share = next(r for r in result.segment.rules if r.rule_id == "shared_account_share")
    assert not result.eligible and result.derived["pay.cash"] > 0
    assert result.branch_of[notice.slot] == 0 and result.branch_of[share.slot] == 0
    order = [f.slot for f in result.firings]
    assert order.index(share.slot) < order.index(notice.slot)
    assert any(r["code"] == "cash_pays" for r in decision.to_dict()["reasons"])


def test_no_catch_all_where_a_rule_fires_in_every_session(engine: Engine) -> None:
    always = 0
    for segment in segments(engine) + segments(engine, "binding"):
        fires_always = any(rule["all"] == [{BASE: {"t": "f"}}] for name, rule in segment.durable.items()
                           if name != CATCH_ALL)
        assert (CATCH_ALL in segment.durable) != fires_always
        always += fires_always
    assert always  # sharing not yet in force: its failing branch holds before the day it starts
    city = engine.city("341100")
    segment = city.segment(city.switch_assignment(), 20220101, "payment")
    assert CATCH_ALL not in segment.durable
    for doc in documents(20, "payment", seed=5, city="341100"):
        doc["as_of"] = "2022-01-01"
        assert not engine.decide(doc).eligible  # every session deleted safely: the rule fired
