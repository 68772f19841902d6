"""Property tests over random valid fact documents for every city (hypothesis).

Hypothesis draws a seed and the document is built from it (``make_document``), leaning on the
edges — the dates where rules change, amounts at caps, floors and deductibles.  Drawing the
nested document field by field through hypothesis strategies cost ~10 ms an example; from a
seed it is well under 1 ms, which is what makes 10,000 examples per city fit in CI.  A failing
example reports its seed and the full document.

Payment invariants, 10,000 documents per city: the plan sums exactly to the amount, no source
is negative, no account pays more than it may (own balance; the shared balance above the
reserve floor and within the authorization limit), the shared account never pays when the
decision is not eligible, pooling stays within the cap left this year, and every decision is
cross-checked against the condition IR (the engine fixture has verify on).  Binding: every
valid document gets a decision, deterministically.
"""

from __future__ import annotations

import json
from decimal import Decimal

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core import catalog
from engine.core.values import format_money
from engine.tools.samples import CITY_DISTRICTS, OTHER_POOL_SAME_PROVINCE, OTHER_PROVINCE

CITIES = sorted(CITY_DISTRICTS)
RESERVE_FLOOR = {"140100": 100000}  # fen; Taiyuan only (001)
PAYMENT_EXAMPLES = 10_000
SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="session")
def engine(shipped_engine):  # type: ignore[no-untyped-def]
    """These tests guard the shipped rulesets, not the engine's frozen snapshot."""
    return shipped_engine


# The edges (dates where rules change, amounts at caps, floors and deductibles) are the catalog's
# generator hints (engine/core/catalog.py, ``Gen``); the city-specific choices are made here.
AUTHORIZER_INSURANCE = ["employee"] * 6 + ["resident", "none"]
STATUSES = ["normal", "normal", "normal", "suspended", "terminated", "arrears"]


def make_document(seed: int, city: str, request: str) -> dict:
    """A valid document drawn from ``seed`` through the fact catalog's generator, with the
    parties, places and switches of ``city``."""
    rng = random.Random(seed)

    def region() -> str:
        roll = rng.random()
        if roll < 0.75:
            return rng.choice(CITY_DISTRICTS[city])
        return OTHER_POOL_SAME_PROVINCE[city] if roll < 0.9 else rng.choice(OTHER_PROVINCE)

    def choose(spec: catalog.Field, rng: random.Random) -> object:
        path = spec.path
        if path == "city":
            return city
        if path == "as_of":
            return catalog.draw(spec, rng)
        if path == "authorizer.region":
            return rng.choice(CITY_DISTRICTS[city])
        if path in ("beneficiary.region", "expense.institution_region"):
            return region()
        if path == "authorizer.insurance":
            return rng.choice(AUTHORIZER_INSURANCE)
        if path.endswith(".status"):
            return rng.choice(STATUSES)
        if path == "expense.amount" and rng.random() < 0.1:
            return format_money(rng.randrange(1, 2_000_001))  # a large bill now and then
        if path == "switches":
            if rng.random() >= 0.15:
                return {}
            return {"payment_mode_reading": "zero_balance_only"} if city in ("140100", "130600") else {
                "scope_widening": "seed"}
        return None

    doc = catalog.generate(rng, request, choose)
    if not doc.get("switches"):
        doc.pop("switches", None)
    if request == "payment":
        doc["expense"].setdefault("pooling_ytd", {})
    return doc


SEEDS = st.integers(0, 2**64 - 1)


def fen(text: str) -> int:
    return int(Decimal(text) * 100)


def check_payment(engine, doc: dict) -> None:  # type: ignore[no-untyped-def]
    decision = engine.decide(doc)
    data = decision.to_dict()
    plan = {p["source"]: fen(p["amount"]) for p in data["payment"]["plan"]}
    assert [p["source"] for p in data["payment"]["plan"]] == ["pooling_fund", "beneficiary_account",
                                                             "authorizer_account", "cash"]
    amount = fen(doc["expense"]["amount"])
    assert sum(plan.values()) == amount == fen(data["payment"]["total"])
    assert all(value >= 0 for value in plan.values())
    assert plan["beneficiary_account"] <= fen(doc["beneficiary"]["account_balance"])
    shared_room = max(0, fen(doc["authorizer"]["account_balance"]) - RESERVE_FLOOR.get(doc["city"], 0))
    assert plan["authorizer_account"] <= shared_room
    if "limit" in doc["authorization"]:
        assert plan["authorizer_account"] <= fen(doc["authorization"]["limit"])
    if not data["eligible"]:
        assert plan["authorizer_account"] == 0
        assert any(r["outcome"] == "fail" for r in data["reasons"])
    derived = data["derived"]
    if derived["pooling.schedule"] == "none":
        assert plan["pooling_fund"] == 0
    else:
        cap_left = max(0, fen(derived["pooling.cap"]) - fen(doc["expense"]["pooling_ytd"].get("reimbursed", "0.00")))
        assert plan["pooling_fund"] <= cap_left
    if doc["expense"]["category"] in ("public_health", "fitness", "wellness", "cosmetic"):
        assert plan["cash"] == amount and not data["eligible"]
    assert decision.to_json() == json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _payment_test(city: str):  # type: ignore[no-untyped-def]
    @settings(max_examples=PAYMENT_EXAMPLES, **SETTINGS)
    @given(seed=SEEDS)
    def test(engine, seed):  # type: ignore[no-untyped-def]
        doc = make_document(seed, city, "payment")
        try:
            check_payment(engine, doc)
        except AssertionError as error:
            raise AssertionError(f"{error}\ndocument: {json.dumps(doc, ensure_ascii=False)}") from error

    test.__name__ = f"test_payment_invariants_{city}"
    return test


test_payment_invariants_341100 = _payment_test("341100")
test_payment_invariants_140100 = _payment_test("140100")
test_payment_invariants_360900 = _payment_test("360900")
test_payment_invariants_130600 = _payment_test("130600")


@settings(max_examples=2_000, **SETTINGS)
@given(city=st.sampled_from(CITIES), seed=SEEDS)
def test_binding_decisions_are_total_and_deterministic(engine, city, seed):  # type: ignore[no-untyped-def]
    doc = make_document(seed, city, "binding")
    first = engine.decide(doc).to_json()
    assert engine.decide(doc).to_json() == first
    decision = json.loads(first)
    assert decision["eligible"] == (not any(r["outcome"] == "fail" for r in decision["reasons"]))


# ------------------------------------------------------------------ the normalizer agrees with the schema

JUNK = [None, "", "abc", -1, 0, 1.5, 2.0, True, False, [], {}, "2025-02-30", "2025-13-01", "341102\n", "300.005",
        "-5.00", "999999999999999.00", "34110", "991100", "341102198001011234", 7, "spouse", "employee"]


def mutate(doc: dict, seed: int) -> dict:
    """Replace, delete or add one field somewhere in the document."""
    rng = random.Random(seed)
    doc = json.loads(json.dumps(doc))
    containers = [doc] + [v for v in doc.values() if isinstance(v, dict)]
    containers += [v for c in list(containers) for v in c.values() if isinstance(v, dict)]
    target = rng.choice(containers)
    key = rng.choice(sorted(target)) if target else "x"
    roll = rng.random()
    if roll < 0.7:
        target[key] = rng.choice(JUNK)
    elif roll < 0.85:
        target.pop(key, None)
    else:
        target[rng.choice(["extra", "Request", "amount", "id"])] = rng.choice(JUNK)
    return doc


# Rules a JSON Schema cannot state, checked by the normalizer only (documented in the schema's
# x-expected texts): calendar dates, existing province prefixes, exact fen, amounts > 0, periods.
BEYOND_THE_SCHEMA = {"invalid_date", "invalid_region_code", "invalid_money", "invalid_period"}


@settings(max_examples=3_000, **SETTINGS)
@given(city=st.sampled_from(CITIES), request_type=st.sampled_from(["binding", "payment"]), seed=SEEDS)
def test_the_normalizer_and_the_schema_agree_both_ways(city, request_type, seed):  # type: ignore[no-untyped-def]
    """Whatever the normalizer accepts the schema accepts; whatever the schema accepts the normalizer
    accepts, unless it breaks one of the rules beyond a JSON Schema.  Both normalizers (the fast
    one generated from the catalog, the careful one walking it) produce the same facts."""
    from engine.core.errors import FactError
    from engine.core.validate import validator
    from engine.runtime import facts

    valid = make_document(seed, city, request_type)
    assert facts.normalize(valid, default_as_of=20250301) == facts._careful(valid, None, 20250301)
    doc = mutate(valid, seed)
    schema_errors = list(validator("facts").iter_errors(doc))
    try:
        careful = facts._careful(doc, None, 20250301)
    except FactError as error:
        codes = {i.code for i in error.issues}
        assert "invalid_document" not in codes, error
        assert schema_errors or codes <= BEYOND_THE_SCHEMA, f"refused although the schema accepts: {error}\n{doc}"
        return
    assert not schema_errors, f"accepted although the schema refuses: {schema_errors[0].message}\n{doc}"
    fast = facts.normalize(doc, default_as_of=20250301)
    assert (fast.request, fast.as_of, fast.city, fast.switches, fast.base, fast.ids) == (
        careful.request, careful.as_of, careful.city, careful.switches, careful.base, careful.ids)
