"""The prepared engine (issue 10) and its memory bounds (issue 14, item 8)."""

from __future__ import annotations

import gc
import json
import threading
from pathlib import Path

import pytest

from engine import CompileError, Engine, EvaluationError, FactError, RuleFileError
from engine.runtime import api, evaluate, render
from engine.tools.samples import documents
from tests.conftest import FIXTURES, RULESETS, binding, payment

def test_a_defect_in_any_period_fails_the_load_not_a_later_request() -> None:
    rulesets = FIXTURES / "invalid" / "parameter_not_in_force" / "rulesets"
    with pytest.raises(CompileError) as caught:
        Engine.load(rulesets)
    assert [i.code for i in caught.value.issues] == ["parameter_not_in_force"]
    lazy = Engine.load(rulesets, prepare=False)  # what `gongji check` uses, to report every problem itself
    assert [i.code for i in lazy.check()] == ["parameter_not_in_force"]


def test_every_default_segment_is_compiled_and_registered_at_load(engine: Engine) -> None:
    for city in engine.cities.values():
        _, periods = city.periods(city.switch_assignment())
        prepared = [s for key, s in city._segments.items() if dict(key[0]) == city.switch_assignment()]
        assert len(prepared) == 2 * len(periods)
        assert all(s.handle is not None and not s.issues for s in prepared)


def test_freeze_moves_the_loaded_engine_out_of_the_collector() -> None:
    try:
        Engine.load(RULESETS, freeze=True)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_documents_choose_only_the_switches_the_engine_allows() -> None:
    doc = binding(switches={"scope_widening": "seed"})
    fixed = Engine.load(RULESETS, decision_switches=False)
    with pytest.raises(FactError) as caught:
        fixed.decide(doc)
    assert [(i.code, i.location.pointer) for i in caught.value.issues] == [("switch_not_allowed",
                                                                            "/switches/scope_widening")]
    assert fixed.decide(binding()).eligible is not None  # no switches chosen: decided
    some = Engine.load(RULESETS, decision_switches={"scope_widening"})
    assert some.decide(doc).switches["scope_widening"] == "seed"
    with pytest.raises(FactError):
        some.decide(binding(switches={"near_relative_reading": "in_law_snippet"}))


def test_segments_compiled_for_other_switches_are_bounded_and_decide_the_same(engine: Engine) -> None:
    small = Engine.load(RULESETS, segment_cache=2)
    city = small.cities["341100"]
    assignments = [a for a in city.all_assignments() if a != city.switch_assignment()][:5]
    for assignment in assignments:
        doc = payment(switches=assignment)
        assert small.decide(doc).to_json() == engine.decide(doc).to_json()
        assert len(city._recent) <= 2
    again = payment(switches=assignments[0])  # evicted: compiled again, same decision
    assert small.decide(again).to_json() == engine.decide(again).to_json()


def test_past_the_registration_limit_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = evaluate._Registry(limit=0)  # nothing registered yet and room for none
    monkeypatch.setattr(evaluate, "REGISTRY", fresh)
    monkeypatch.setattr(api, "REGISTRY", fresh)
    with pytest.raises(CompileError) as caught:
        Engine.load(RULESETS)
    assert {i.code for i in caught.value.issues} == {"ruleset_limit_reached"}
    lazy = Engine.load(RULESETS, prepare=False)
    with pytest.raises(EvaluationError) as refused:
        lazy.decide(binding())
    assert refused.value.issues[0].code == "ruleset_limit_reached"


def test_the_render_cache_is_bounded_for_the_whole_process(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "CACHE_LIMIT", 40)
    render._CACHE.clear()
    for request in ("binding", "payment"):
        for doc in documents(60, request, seed=7):
            decision = engine.decide(doc)
            assert json.loads(decision.to_json()) == decision.to_dict()
            assert render.cache_size() <= 40


def test_shared_reason_dicts_are_read_only(engine: Engine) -> None:
    reason = engine.decide(binding()).to_dict()["reasons"][0]
    with pytest.raises(TypeError):
        reason["code"] = "changed"
    assert engine.decide(binding()).to_dict()["reasons"][0]["code"] != "changed"


@pytest.mark.parametrize("request_type", ["binding", "payment"])
def test_summary_and_codes_without_rendering_agree_with_the_full_decision(engine: Engine, request_type: str) -> None:
    for doc in documents(150, request_type, seed=11):
        decision = engine.decide(doc)
        summary = decision.summary()
        assert decision._dict is None and decision._parts is None  # nothing rendered for them
        full = decision.to_dict()
        assert summary["fail_codes"] == [r["code"] for r in full["reasons"] if r["outcome"] == "fail"]
        assert summary["eligible"] == full["eligible"] and summary["as_of"] == full["as_of"]
        assert summary["ruleset"] == {k: full["ruleset"][k] for k in ("id", "version", "sha256")}
        if request_type == "payment":
            assert summary["plan"] == {p["source"]: p["amount"] for p in full["payment"]["plan"]}
            assert list(summary["plan"]) == [p["source"] for p in full["payment"]["plan"]]
            assert summary["total"] == full["payment"]["total"]
        else:
            assert "plan" not in summary


def test_one_engine_shared_by_threads_decides_as_one_thread(engine: Engine) -> None:
    docs = list(documents(80, "payment", seed=3)) + list(documents(80, "binding", seed=3))
    expected = [engine.decide(doc).to_json() for doc in docs]
    shared = Engine.load(RULESETS)
    results: dict[int, list[str]] = {}

    def work(number: int) -> None:
        results[number] = [shared.decide(doc).to_json() for doc in docs]

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [results[n] for n in range(4)] == [expected] * 4


def test_the_on_disk_cache_gives_the_same_engine_and_is_keyed_by_content(tmp_path: Path, engine: Engine) -> None:
    cache = tmp_path / "cache"
    first = Engine.load(RULESETS, cache_dir=cache)
    (pickled,) = cache.glob("rulesets-*.pickle")
    assert oct(cache.stat().st_mode & 0o777) == "0o700" and oct(pickled.stat().st_mode & 0o777) == "0o600"
    second = Engine.load(RULESETS, cache_dir=cache)  # from the pickle
    for doc in [binding(), payment(), *documents(20, "payment", seed=9)]:
        assert second.decide(doc).to_json() == first.decide(doc).to_json() == engine.decide(doc).to_json()
    pickled.write_bytes(b"damaged")
    assert Engine.load(RULESETS, cache_dir=cache).decide(binding()).to_json() == engine.decide(binding()).to_json()
    assert pickled.read_bytes() != b"damaged"  # rebuilt
    assert api.cache_key(RULESETS, None) in pickled.name


def test_a_cache_directory_others_may_write_is_not_used(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    Engine.load(RULESETS, cache_dir=shared)
    assert list(shared.iterdir()) == []


def test_a_ruleset_with_errors_is_not_cached(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    broken = FIXTURES / "invalid" / "duplicate_rule_id" / "rulesets"
    with pytest.raises(RuleFileError):
        Engine.load(broken, cache_dir=cache)
    with pytest.raises(RuleFileError):
        Engine.load(broken, cache_dir=cache)  # reported again, from the files
    assert list(cache.glob("*.pickle")) == []
