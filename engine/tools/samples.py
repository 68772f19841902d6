"""Random but valid fact documents for benchmarks, replay corpora and smoke tests.

Deterministic for a given seed.  The mix leans on realistic requests (same city, normal status,
near relatives) with a share of everything that makes a decision fail.
"""

from __future__ import annotations

import datetime as _dt
import random
from typing import Any
from collections.abc import Iterator

from ..core.catalog import ENUMS
from ..core.values import format_money

CITY_DISTRICTS = {
    "341100": ["341102", "341103", "341122", "341124", "341125", "341126", "341181", "341182"],
    "140100": ["140105", "140106", "140107", "140108", "140109", "140110", "140121", "140181"],
    "360900": ["360902", "360921", "360981", "360982", "360983"],
    "130600": ["130602", "130606", "130607", "130681", "130682", "130683"],
}
OTHER_POOL_SAME_PROVINCE = {"341100": "340102", "140100": "140202", "360900": "360102", "130600": "130102"}
OTHER_PROVINCE = ["110105", "310104", "440305", "510107"]
# Domains from the fact catalog (the weights below are in its order); outpatient bills drawn 3x as often.
RELATIONSHIPS = list(ENUMS["relationship"])
CATEGORIES = ["outpatient", "outpatient", *ENUMS["category"]]


def _money(rng: random.Random, high: int) -> str:
    return format_money(rng.randrange(0, high * 100))


def _date(rng: random.Random, start: _dt.date, end: _dt.date) -> _dt.date:
    return start + _dt.timedelta(days=rng.randrange((end - start).days + 1))


def _party(rng: random.Random, region: str, insurance: str, label: str, index: int) -> dict[str, Any]:
    status = rng.choices(["normal", "suspended", "terminated", "arrears"], [90, 4, 3, 3])[0]
    return {"id": f"{label}-{index:07d}", "insurance": insurance, "status": status, "region": region,
            "retired": rng.random() < 0.25, "account_balance": _money(rng, 5000)}


def document(rng: random.Random, index: int, request: str, city: str | None = None) -> dict[str, Any]:
    city = city or rng.choice(sorted(CITY_DISTRICTS))
    districts = CITY_DISTRICTS[city]
    as_of = _date(rng, _dt.date(2022, 5, 1), _dt.date(2026, 6, 30))
    where = rng.random()
    if where < 0.8:
        b_region = rng.choice(districts)
    elif where < 0.92:
        b_region = OTHER_POOL_SAME_PROVINCE[city]
    else:
        b_region = rng.choice(OTHER_PROVINCE)
    a_insurance = rng.choices(["employee", "resident", "none"], [94, 4, 2])[0]
    b_insurance = rng.choices(["employee", "resident", "none"], [45, 52, 3])[0]
    doc: dict[str, Any] = {
        "request": request,
        "as_of": as_of.isoformat(),
        "authorizer": _party(rng, rng.choice(districts), a_insurance, "A", index),
        "beneficiary": _party(rng, b_region, b_insurance, "B", index),
        "relationship": rng.choices(RELATIONSHIPS, [30, 25, 25, 6, 4, 4, 3, 1, 2])[0],
        "bound_members": rng.choices([0, 1, 2, 3, 4, 5, 6, 7], [30, 25, 20, 10, 6, 4, 3, 2])[0],
    }
    if rng.random() < 0.3:
        doc["beneficiary"]["account_balance"] = "0.00"
    if request == "payment":
        start = _date(rng, as_of - _dt.timedelta(days=400), as_of + _dt.timedelta(days=10))
        authorization: dict[str, Any] = {"start": start.isoformat()}
        if rng.random() < 0.7:
            authorization["end"] = _date(rng, start, start + _dt.timedelta(days=500)).isoformat()
        if rng.random() < 0.4:
            authorization["limit"] = _money(rng, 2000)
        doc["authorization"] = authorization
        category = rng.choice(CATEGORIES)
        expense: dict[str, Any] = {
            "amount": _money(rng, 3000) if rng.random() < 0.9 else _money(rng, 20000),
            "category": category,
            "institution_region": rng.choice(districts) if rng.random() < 0.85 else rng.choice(
                [OTHER_POOL_SAME_PROVINCE[city]] + OTHER_PROVINCE),
            "cross_region_registered": rng.random() < 0.2,
            "credential": "own" if rng.random() < 0.93 else "authorizer",
            "pooling_ytd": {"deductible_paid": _money(rng, 900), "reimbursed": _money(rng, 2100)},
        }
        if expense["amount"] == "0.00":
            expense["amount"] = "0.01"
        if rng.random() < 0.85:
            expense["hospital_level"] = rng.choice([1, 2, 3])
        if category == "chronic_disease" and rng.random() < 0.7:
            expense["chronic_conditions"] = rng.choice([1, 2, 3])
        doc["expense"] = expense
    return doc


def documents(count: int, request: str = "binding", seed: int = 2026,
              city: str | None = None) -> Iterator[dict[str, Any]]:
    """``count`` distinct documents (ids are numbered), reproducible from ``seed``."""
    rng = random.Random(f"{seed}:{request}:{city}")
    for index in range(count):
        yield document(rng, index, request, city)
