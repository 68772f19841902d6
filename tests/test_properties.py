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

import datetime as dt
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.tools.samples import CITY_DISTRICTS, OTHER_POOL_SAME_PROVINCE, OTHER_PROVINCE

CITIES = sorted(CITY_DISTRICTS)
RESERVE_FLOOR = {"140100": 100000}  # fen; Taiyuan only (001)
PAYMENT_EXAMPLES = 10_000
SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# Dates where rules or parameters change, and the days around them: most bugs live at edges.
EDGE_DATES = ["2022-06-30", "2022-07-01", "2022-12-31", "2023-01-01", "2024-08-01", "2024-08-02", "2024-08-16",
              "2024-08-17", "2024-08-29", "2024-08-30", "2024-08-31", "2024-09-01", "2024-10-19", "2024-10-20",
              "2024-11-25", "2024-11-26", "2024-12-08", "2024-12-09", "2024-12-31", "2025-01-01", "2026-01-08",
              "2026-01-09"]
EDGE_MONEY = ["0.00", "0.01", "999.99", "1000.00", "1000.01", "80.00", "300.00", "400.00", "500.00", "600.00",
              "800.00", "1500.00", "1800.00", "2000.00", "3000.00"]


@pytest.fixture(scope="session")
def engine(shipped_engine):  # type: ignore[no-untyped-def]
    """These tests guard the shipped rulesets, not the engine's frozen snapshot."""
    return shipped_engine


def _money(rng: random.Random, high_yuan: int) -> str:
    if rng.random() < 0.25:
        return rng.choice(EDGE_MONEY)
    fen = rng.randrange(0, high_yuan * 100 + 1)
    return f"{fen // 100}.{fen % 100:02d}"


def _date(rng: random.Random, low: str = "2021-06-01", high: str = "2026-12-31") -> str:
    if rng.random() < 0.3:
        candidates = [d for d in EDGE_DATES if low <= d <= high]
        if candidates:
            return rng.choice(candidates)
    start, end = dt.date.fromisoformat(low), dt.date.fromisoformat(high)
    return (start + dt.timedelta(days=rng.randrange((end - start).days + 1))).isoformat()


def _party(rng: random.Random, region: str, insurances: list[str]) -> dict:
    return {"id": "".join(rng.choice("0123456789X") for _ in range(rng.choice([1, 6, 18]))),
            "insurance": rng.choice(insurances),
            "status": rng.choice(["normal", "normal", "normal", "suspended", "terminated", "arrears"]),
            "region": region, "retired": rng.random() < 0.3,
            "account_balance": _money(rng, 6000) if rng.random() < 0.7 else "0.00"}


def make_document(seed: int, city: str, request: str) -> dict:
    """A valid document drawn from ``seed``, leaning on the edges (dates, amounts, caps, floors)."""
    rng = random.Random(seed)

    def region() -> str:
        roll = rng.random()
        if roll < 0.75:
            return rng.choice(CITY_DISTRICTS[city])
        return OTHER_POOL_SAME_PROVINCE[city] if roll < 0.9 else rng.choice(OTHER_PROVINCE)

    doc: dict = {
        "request": request, "as_of": _date(rng), "city": city,
        "authorizer": _party(rng, rng.choice(CITY_DISTRICTS[city]), ["employee"] * 6 + ["resident", "none"]),
        "beneficiary": _party(rng, region(), ["employee", "resident", "none"]),
        "relationship": rng.choice(["spouse", "parent", "child", "sibling", "grandparent", "grandchild",
                                    "parent_in_law", "child_in_law", "other"]),
        "bound_members": rng.randrange(0, 9),
    }
    if request == "payment":
        authorization = {"start": _date(rng, "2021-01-01", "2026-12-31")}
        if rng.random() < 0.6:
            authorization["end"] = _date(rng, authorization["start"], "2027-12-31")
        if rng.random() < 0.4:
            authorization["limit"] = _money(rng, 3000)
        amount = _money(rng, 20000 if rng.random() < 0.1 else 3000)
        expense: dict = {
            "amount": amount if amount != "0.00" else "0.01",
            "category": rng.choice(["outpatient", "outpatient", "outpatient", "pharmacy", "inpatient",
                                    "chronic_disease", "maternity", "resident_contribution", "public_health",
                                    "fitness", "wellness", "cosmetic", "commercial_insurance"]),
            "institution_region": region(), "cross_region_registered": rng.random() < 0.3,
            "credential": "own" if rng.random() < 0.85 else "authorizer",
            "pooling_ytd": {"deductible_paid": _money(rng, 1000), "reimbursed": _money(rng, 3500)},
        }
        if rng.random() < 0.85:
            expense["hospital_level"] = rng.choice([1, 2, 3])
        if rng.random() < 0.5:
            expense["chronic_conditions"] = rng.randrange(1, 5)
        doc["authorization"] = authorization
        doc["expense"] = expense
    if rng.random() < 0.15:
        doc["switches"] = {"payment_mode_reading": "zero_balance_only"} if city in ("140100", "130600") else {
            "scope_widening": "seed"}
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
        cap_left = max(0, fen(derived["pooling.cap"]) - fen(doc["expense"]["pooling_ytd"]["reimbursed"]))
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


@settings(max_examples=3_000, **SETTINGS)
@given(city=st.sampled_from(CITIES), request_type=st.sampled_from(["binding", "payment"]), seed=SEEDS)
def test_the_normalizer_never_accepts_what_the_schema_refuses(city, request_type, seed):  # type: ignore[no-untyped-def]
    from engine.core.errors import FactError
    from engine.runtime.facts import normalize
    from engine.core.validate import validator

    doc = mutate(make_document(seed, city, request_type), seed)
    schema_errors = list(validator("facts").iter_errors(doc))
    try:
        normalize(doc)
    except FactError as error:
        assert error.issues and all(i.code != "invalid_document" for i in error.issues), error
        return
    assert not schema_errors, f"accepted although the schema refuses: {schema_errors[0].message}\n{doc}"
