"""``gongji synth``: a reproducible synthetic population over the shipped cities.

For demos, benchmarks and tests.  The same ``(n, seed, rulesets)`` always gives the same
documents.  Mixes aim at what a city's insured population looks like, not at covering cases
evenly: cities weighted by insured population; near relatives far more often than others;
beneficiaries mostly insured in the same city, some elsewhere in the province (real prefecture
and county codes), a few in another province; resident insurance common among children and
parents; balances and expenses log-normal with per-category scales; request dates spread over
**every effective period** of each city's timeline (each period as likely as any other), so a
population exercises the old and the new rules around each policy change.  Ids look like
ID-card numbers (valid check digit) of the insured place, to exercise masking and hashing.
"""

from __future__ import annotations

import datetime as _dt
import math
import random
from typing import Any
from collections.abc import Iterator, Sequence

from ..core import values

# County-level codes of each shipped city (GB/T 2260) and a few other pools of the same province.
CITY_COUNTIES: dict[str, tuple[str, ...]] = {
    "341100": ("341102", "341103", "341122", "341124", "341125", "341126", "341181", "341182"),
    "140100": ("140105", "140106", "140107", "140108", "140109", "140110", "140121", "140122", "140123", "140181"),
    "360900": ("360902", "360921", "360922", "360923", "360924", "360925", "360926", "360981", "360982", "360983"),
    "130600": ("130602", "130606", "130607", "130608", "130609", "130623", "130681", "130683", "130684"),
}
SAME_PROVINCE: dict[str, tuple[str, ...]] = {
    "34": ("340102", "340103", "340104", "340202", "340302", "341502", "341602"),  # 合肥 芜湖 蚌埠 六安 亳州
    "14": ("140212", "140213", "140302", "140403", "140702", "141002"),  # 大同 阳泉 长治 晋中 临汾
    "36": ("360102", "360103", "360111", "360402", "360702", "361102"),  # 南昌 九江 赣州 上饶
    "13": ("130102", "130104", "130202", "130503", "131002", "131102"),  # 石家庄 唐山 邢台 廊坊 衡水
}
OTHER_PROVINCES = ("110105", "110108", "310104", "310115", "320102", "330106", "440305", "440106", "510107",
                   "420106", "370102")
# Insured population, millions (rounded; only the proportions matter).
CITY_WEIGHT = {"341100": 4.0, "140100": 5.4, "360900": 5.0, "130600": 11.5}

RELATIONSHIPS = ("spouse", "parent", "child", "sibling", "grandparent", "grandchild", "parent_in_law",
                 "child_in_law", "other")
RELATIONSHIP_WEIGHTS = (30, 24, 26, 5, 4, 4, 4, 1, 2)
STATUSES = ("normal", "suspended", "terminated", "arrears")
STATUS_WEIGHTS = (92, 3, 3, 2)
CATEGORIES = ("outpatient", "pharmacy", "inpatient", "chronic_disease", "maternity", "resident_contribution",
              "public_health", "fitness", "wellness", "cosmetic", "commercial_insurance")
CATEGORY_WEIGHTS = (34, 20, 12, 10, 3, 9, 3, 2, 2, 2, 3)
# Median expense in yuan and the log-normal spread, per category.
EXPENSE_SCALE = {"outpatient": (180, 0.9), "pharmacy": (90, 0.8), "inpatient": (9000, 0.9),
                 "chronic_disease": (450, 0.7), "maternity": (4000, 0.5), "public_health": (150, 0.5),
                 "fitness": (300, 0.5), "wellness": (500, 0.6), "cosmetic": (2000, 0.8),
                 "commercial_insurance": (150, 0.3)}
RESIDENT_CONTRIBUTION = {2022: 35000, 2023: 38000, 2024: 40000, 2025: 40000, 2026: 40000}  # fen per year
OLD_GENERATION = frozenset({"parent", "grandparent", "parent_in_law"})
YOUNG_GENERATION = frozenset({"child", "grandchild", "child_in_law"})
# Open-ended periods are cut here (the timeline's first and last days we draw from).
FIRST_DAY, LAST_DAY = _dt.date(2021, 1, 1), _dt.date(2027, 12, 31)
_CHECK_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_card(rng: random.Random, region: str, born: _dt.date) -> str:
    """A synthetic 18-digit ID-card number with a valid ISO 7064 MOD 11-2 check digit."""
    body = f"{region}{born:%Y%m%d}{rng.randrange(1000):03d}"
    total = sum(int(d) * w for d, w in zip(body, _CHECK_WEIGHTS))
    return body + "10X98765432"[total % 11]


def _fen(rng: random.Random, median_yuan: float, sigma: float, cap_yuan: int) -> int:
    """Whole fen from a log-normal draw (the draw is random; the amount is then exact)."""
    return max(1, min(cap_yuan * 100, int(rng.lognormvariate(math.log(median_yuan), sigma) * 100)))


def _day(rng: random.Random, start: _dt.date, end: _dt.date) -> _dt.date:
    return start + _dt.timedelta(days=rng.randrange((end - start).days + 1))


def _periods(city: Any) -> list[tuple[_dt.date, _dt.date]]:
    _, periods = city.periods(city.switch_assignment())
    spans = []
    for period in periods:
        start = _dt.date.fromisoformat(values.format_date(period.start)) if period.start else FIRST_DAY
        end = _dt.date.fromisoformat(values.format_date(period.end)) if period.end else LAST_DAY
        start, end = max(start, FIRST_DAY), min(end, LAST_DAY)
        if start <= end:
            spans.append((start, end))
    return spans or [(FIRST_DAY, LAST_DAY)]


class Synthesizer:
    """Draws documents; one instance per population (its random stream is the seed's)."""

    def __init__(self, engine: Any, seed: int):
        self.rng = random.Random(f"gongji-synth:{seed}")
        self.cities = sorted(engine.cities)
        self.weights = [CITY_WEIGHT.get(c, 5.0) for c in self.cities]
        self.spans = {c: _periods(engine.cities[c]) for c in self.cities}

    def counties(self, city: str) -> Sequence[str]:
        return CITY_COUNTIES.get(city, (city,))

    def party(self, region: str, insurance: str, retired: bool, born: _dt.date, balance: int) -> dict[str, Any]:
        rng = self.rng
        return {"id": id_card(rng, region, born), "insurance": insurance,
                "status": rng.choices(STATUSES, STATUS_WEIGHTS)[0], "region": region, "retired": retired,
                "account_balance": values.format_money(balance)}

    def document(self) -> dict[str, Any]:
        rng = self.rng
        city = rng.choices(self.cities, self.weights)[0]
        start, end = rng.choice(self.spans[city])
        as_of = _day(rng, start, end)
        request = "payment" if rng.random() < 0.45 else "binding"
        relationship = rng.choices(RELATIONSHIPS, RELATIONSHIP_WEIGHTS)[0]
        a_retired = rng.random() < 0.18
        a_born = _day(rng, _dt.date(1955 if a_retired else 1965, 1, 1), _dt.date(1963 if a_retired else 2000, 12, 31))
        if relationship in OLD_GENERATION:
            b_born = _day(rng, _dt.date(1935, 1, 1), _dt.date(1970, 12, 31))
            b_retired = rng.random() < 0.75
            b_insurance = rng.choices(("employee", "resident", "none"), (35, 62, 3))[0]
        elif relationship in YOUNG_GENERATION:
            b_born = _day(rng, _dt.date(1990, 1, 1), as_of if as_of.year < 2027 else _dt.date(2026, 12, 31))
            b_retired = False
            b_insurance = rng.choices(("employee", "resident", "none"), (15, 80, 5))[0]
        else:
            b_born = _day(rng, _dt.date(1950, 1, 1), _dt.date(2002, 12, 31))
            b_retired = rng.random() < 0.15
            b_insurance = rng.choices(("employee", "resident", "none"), (55, 42, 3))[0]
        where = rng.random()
        if where < 0.78:
            b_region = rng.choice(self.counties(city))
        elif where < 0.90:
            b_region = rng.choice(SAME_PROVINCE.get(city[:2], (city,)))
        else:
            b_region = rng.choice(OTHER_PROVINCES)
        a_insurance = rng.choices(("employee", "resident", "none"), (94, 4, 2))[0]
        a_balance = _fen(rng, 2500 if not a_retired else 6000, 1.0, 80000)
        b_balance = 0 if b_insurance != "employee" or rng.random() < 0.25 else _fen(rng, 800, 1.1, 40000)
        document: dict[str, Any] = {
            "request": request,
            "as_of": as_of.isoformat(),
            "authorizer": self.party(rng.choice(self.counties(city)), a_insurance, a_retired, a_born, a_balance),
            "beneficiary": self.party(b_region, b_insurance, b_retired, b_born, b_balance),
            "relationship": relationship,
            "bound_members": rng.choices(range(8), (34, 28, 18, 9, 5, 3, 2, 1))[0],
        }
        if rng.random() < 0.03:  # released an earlier binding (Yichun: rebinding from the next day)
            document["beneficiary"]["last_unbound"] = _day(rng, as_of - _dt.timedelta(days=30), as_of).isoformat()
        if request == "payment":
            document["authorization"] = self.authorization(as_of)
            document["expense"] = self.expense(city, as_of, b_region)
        return document

    def authorization(self, as_of: _dt.date) -> dict[str, Any]:
        rng = self.rng
        start = _day(rng, as_of - _dt.timedelta(days=700), as_of + _dt.timedelta(days=5))
        out: dict[str, Any] = {"start": start.isoformat()}
        if rng.random() < 0.6:
            out["end"] = _day(rng, start + _dt.timedelta(days=30), start + _dt.timedelta(days=1100)).isoformat()
        if rng.random() < 0.35:
            out["limit"] = values.format_money(rng.choice((500, 1000, 2000, 3000, 5000)) * 100)
        return out

    def expense(self, city: str, as_of: _dt.date, b_region: str) -> dict[str, Any]:
        rng = self.rng
        category = rng.choices(CATEGORIES, CATEGORY_WEIGHTS)[0]
        if category == "resident_contribution":
            amount = RESIDENT_CONTRIBUTION.get(as_of.year, 40000)
        else:
            median, sigma = EXPENSE_SCALE[category]
            amount = _fen(rng, median, sigma, 300000)
        place = rng.random()
        if place < 0.85:
            institution = rng.choice(self.counties(city))
        elif place < 0.93:
            institution = b_region
        else:
            institution = rng.choice(SAME_PROVINCE.get(city[:2], (city,)) + OTHER_PROVINCES)
        expense: dict[str, Any] = {
            "amount": values.format_money(amount),
            "category": category,
            "institution_region": institution,
            "cross_region_registered": rng.random() < 0.15,
            "credential": "own" if rng.random() < 0.95 else "authorizer",
        }
        if category in ("outpatient", "inpatient", "chronic_disease", "maternity") and rng.random() < 0.9:
            expense["hospital_level"] = rng.choices((1, 2, 3), (45, 35, 20))[0]
        if category == "chronic_disease":
            expense["chronic_conditions"] = rng.choices((1, 2, 3), (60, 30, 10))[0]
        if rng.random() < 0.8:
            deductible = rng.choice((0, 0, 200, 500, 600, 800))
            expense["pooling_ytd"] = {"deductible_paid": values.format_money(deductible * 100),
                                      "reimbursed": values.format_money(rng.randrange(0, 2000) * 100)}
        return expense


def population(engine: Any, n: int, seed: int = 2026) -> Iterator[dict[str, Any]]:
    """``n`` synthetic fact documents over the engine's cities, reproducible from ``seed``."""
    synthesizer = Synthesizer(engine, seed)
    for _ in range(n):
        yield synthesizer.document()
