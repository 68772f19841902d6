"""The durable_rules driver: sessions always cleaned up, faults never swallowed, oracle agreement."""

from __future__ import annotations

import durable_rules_engine
import pytest

from engine import Engine, EvaluationError
from engine.runtime.evaluate import REGISTRY, run
from engine.runtime.explain import branch_by_python, verify_run
from engine.core.compile import FALSE
from engine.core.values import parse_date
from tests.conftest import binding, payment


def segment_for(engine: Engine, doc: dict):  # type: ignore[no-untyped-def]
    facts = engine.normalize(doc)
    city = engine.city(facts.city)
    return city.segment(city.switch_assignment(), facts.as_of, facts.request), facts


def test_a_session_leaves_no_state_behind(engine: Engine) -> None:
    segment, facts = segment_for(engine, payment())
    result = run(segment, facts.base)
    handle = REGISTRY.handle(segment)
    assert result.eligible and result.sid
    with pytest.raises(Exception, match="error code: 309"):  # ERR_SID_NOT_FOUND: the session was deleted
        durable_rules_engine.get_state(handle, result.sid)


def test_an_action_that_raises_is_reported_and_the_state_is_deleted(engine: Engine) -> None:
    segment, facts = segment_for(engine, payment())
    rule = next(r for r in segment.rules if r.rule_id == "pooling_share")
    branch = rule.branches[0]
    original = branch.derive

    def broken(base: dict, derived: dict) -> tuple:
        raise ZeroDivisionError("boom")

    branch.derive = broken
    try:
        with pytest.raises(EvaluationError) as caught:
            run(segment, facts.base)
        assert caught.value.issues[0].code == "action_failed"
        assert "ZeroDivisionError" in caught.value.issues[0].message
    finally:
        branch.derive = original
    # the engine keeps working afterwards: no half-finished session blocks the next one
    assert run(segment, facts.base).eligible


def test_every_rule_reaches_exactly_one_branch(engine: Engine) -> None:
    segment, facts = segment_for(engine, payment())
    result = run(segment, facts.base)
    assert sorted(result.branch_of) == [r.slot for r in segment.rules]
    for rule in segment.rules:
        assert result.branch_of[rule.slot] == branch_by_python(rule, result)


def test_the_oracle_catches_a_disagreement(engine: Engine) -> None:
    segment, facts = segment_for(engine, binding(relationship="sibling", as_of="2023-01-01"))
    result = run(segment, facts.base)
    slot = next(r.slot for r in segment.rules if r.rule_id == "relationship_in_scope")
    result.branch_of[slot] = 0  # pretend durable_rules fired the pass branch
    with pytest.raises(EvaluationError) as caught:
        verify_run(result)
    assert caught.value.issues[0].code == "oracle_disagreement"


def test_failing_checks_fire_and_passing_checks_are_established(engine: Engine) -> None:
    segment, facts = segment_for(engine, binding(relationship="sibling", as_of="2023-01-01"))
    result = run(segment, facts.base)
    fired = {segment.rules[f.slot].rule_id for f in result.firings if f.rule_name}
    established = {segment.rules[f.slot].rule_id for f in result.firings if not f.rule_name}
    assert "relationship_in_scope" in fired          # its fail branch fired in durable_rules
    assert "member_limit" in established             # passed: its fail branch did not fire
    assert "region_relation" in fired                # a derive rule always fires
    assert not result.eligible and result.derived["eligible"] is False


def test_stratum_two_runs_after_eligibility(engine: Engine) -> None:
    segment, facts = segment_for(engine, payment(expense=dict(payment()["expense"], credential="authorizer")))
    assert segment.stratum2
    result = run(segment, facts.base)
    assert result.derived["eligible"] is False
    assert result.derived["pay.authorizer_account"] == 0


def test_many_decisions_in_a_row_reuse_session_slots(engine: Engine) -> None:
    # durable_rules allows 1024 live sessions per ruleset: deleting each one is what makes this pass
    doc = binding()
    for _ in range(1500):
        engine.decide(doc)


def test_the_decision_date_picks_the_segment(engine: Engine) -> None:
    city = engine.city("140100")
    switches = city.switch_assignment()
    before = city.segment(switches, parse_date("2024-08-31"), "binding")
    after = city.segment(switches, parse_date("2024-09-01"), "binding")
    assert before.period.end == parse_date("2024-08-31") and after.period.start == parse_date("2024-09-01")


def test_durable_rules_sees_only_facts_a_condition_tests(engine: Engine) -> None:
    from engine.tools.bench import raw_decide
    from engine.tools.samples import documents

    asserted: list[int] = []
    for doc in documents(60, "payment", seed=21):
        segment, facts = segment_for(engine, doc)
        raw_decide(segment, facts.base, f"t{len(asserted)}", asserted)
        tested = {owner for pattern in (p for rule in segment.durable.values() for p in rule["all"])
                  for owner in pattern}
        for rule in segment.rules:
            for branch in rule.branches:
                if branch.derive is not None:
                    assert (branch.encode_fact is not None) == (rule.owner in tested), rule.rule_id
    assert sum(asserted) / len(asserted) <= 5  # issue 10: 11 asserts per payment decision before


def test_rules_that_cannot_be_false_are_not_compiled(engine: Engine) -> None:
    segment, _ = segment_for(engine, payment())
    order = next(r for r in segment.rules if r.rule_id == "shared_account_order")
    live = [b for b in order.branches if b.condition != FALSE]
    assert len(live) == 1 and order.inferred == live[0].branch
    assert not any(name.startswith(f"r{order.slot}b") for name in segment.durable)
    assert all(b.compiled or b.rete == FALSE or b.branch == r.inferred for r in segment.rules for b in r.branches)


def test_an_inferred_derivation_runs_in_the_driver_and_says_so(engine: Engine) -> None:
    segment, facts = segment_for(engine, payment(expense=dict(payment()["expense"], category="public_health")))
    schedule = next(r for r in segment.rules if r.rule_id == "pooling_schedule")
    result = run(segment, facts.base)
    verify_run(result)
    firing = next(f for f in result.firings if f.slot == schedule.slot)
    assert result.branch_of[schedule.slot] == schedule.inferred and firing.inferred
    assert firing.values == (result.derived["pooling.schedule"],)


def test_a_session_in_which_nothing_fired_is_deleted_safely(engine: Engine) -> None:
    from engine.tools.samples import documents

    quiet = 0
    for doc in documents(300, "binding", seed=4):
        segment, facts = segment_for(engine, doc)
        result = run(segment, facts.base)
        quiet += not any(f.rule_name for f in result.firings)
    assert quiet > 0  # the catch-all's own fact was asserted in those sessions, and they were deleted


def test_running_out_of_memory_is_named_as_such_not_as_an_action_fault(engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """durable_rules signals exhausted sessions with MemoryError: the code must say so (not action_failed)."""
    import engine.runtime.evaluate as evaluate
    from engine.core.errors import EvaluationError
    from tests.conftest import binding

    real = evaluate._dre.assert_fact

    def exhausted(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise MemoryError()

    monkeypatch.setattr(evaluate._dre, "assert_fact", exhausted)
    with pytest.raises(EvaluationError) as info:
        engine.decide(binding())
    monkeypatch.setattr(evaluate._dre, "assert_fact", real)
    assert [i.code for i in info.value.issues] == ["engine_resources_exhausted"]
    assert engine.decide(binding()).eligible  # the session was deleted: the next decision works


def test_the_generated_settle_agrees_with_its_reference(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each segment's generated settle function gives what the plain loop gives, on the same state."""
    import engine.runtime.evaluate as evaluate
    from engine.tools.samples import documents

    compared = []
    real = evaluate._settle

    def both(segment, derived, branch_of, firings):  # type: ignore[no-untyped-def]
        reference_branches, reference_firings = dict(branch_of), list(firings)
        expected = evaluate._settle_reference(segment, dict(derived), reference_branches, reference_firings)
        got = real(segment, derived, branch_of, firings)
        assert got == expected and branch_of == reference_branches
        assert [(f.slot, f.branch, f.rule_name) for f in firings] == \
            [(f.slot, f.branch, f.rule_name) for f in reference_firings]
        compared.append(got[0])
        return got

    monkeypatch.setattr(evaluate, "_settle", both)
    for doc in list(documents(60, "binding", seed=11)) + list(documents(60, "payment", seed=11)):
        engine.decide(doc)
    assert True in compared and False in compared


def test_the_generated_settle_reports_a_missing_input_and_an_undecided_check(engine: Engine) -> None:
    import engine.runtime.evaluate as evaluate

    segment, _ = segment_for(engine, payment())
    plan = evaluate.settle_plan(segment)
    reader, _, inputs, _ = next(step for step in plan if step[1] is not None and step[2])
    decided = {slot: inferred for slot, inferred, _, _ in plan if slot < reader and inferred is not None}
    with pytest.raises(EvaluationError) as caught:
        evaluate._generate_settle(segment)({}, dict(decided), [])
    assert caught.value.issues[0].code == "inputs_missing"
    assert f"rule {segment.rules[reader].rule_id!r} could not be decided: derived fact {inputs[0]!r}" in \
        caught.value.issues[0].message
    check = next(slot for slot, _, _, failing in plan if failing is not None)
    segment._settle_plan = tuple((s, None if s == check else i, ins, f) for s, i, ins, f in plan)  # no inferred branch
    try:
        with pytest.raises(EvaluationError) as caught:
            evaluate._generate_settle(segment)(dict.fromkeys(n for _, _, ins, _ in plan for n in ins), {}, [])
    finally:
        segment._settle_plan = plan
    assert caught.value.issues[0].code == "check_undecided"
    assert repr(segment.rules[check].rule_id) in caught.value.issues[0].message


def test_a_branch_fires_in_durable_rules_exactly_when_it_is_compiled(engine: Engine) -> None:
    """The segment renderer writes ``established`` from ``compiled`` alone; this is why it may."""
    from engine.tools.samples import documents

    for doc in list(documents(80, "binding", seed=12)) + list(documents(80, "payment", seed=12)):
        result = engine.decide(doc).run
        for firing in result.firings:
            assert bool(firing.rule_name) == result.segment.rules[firing.slot].branches[firing.branch].compiled
