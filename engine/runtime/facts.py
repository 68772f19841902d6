"""Fact document -> normalized facts (integer fen, YYYYMMDD dates, pooling codes).

The hot path is a hand-written normalizer that validates while it converts.  When it meets
anything wrong it does not guess: the document is re-checked by ``jsonschema`` against
``schemas/facts.schema.json`` (the reference) and every problem, structural and semantic
(calendar dates, region prefixes, decimals), is raised together as one :class:`FactError`.
A test keeps the two in agreement over generated documents.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import Any
from collections.abc import Mapping

from ..core import catalog, values
from ..core.errors import FactError, Issue, SourceLocation
from ..core.load import SourceMap
from ..core.privacy import mask_id
from ..core.regions import pool_code, province_code, region_problem
from ..core.validate import validate

TOP_FIELDS = frozenset({"request", "as_of", "city", "switches", "authorizer", "beneficiary", "relationship",
                        "bound_members", "authorization", "expense"})
PARTY_FIELDS = frozenset({"id", "insurance", "status", "region", "retired", "account_balance"})
BENEFICIARY_FIELDS = PARTY_FIELDS | {"last_unbound"}
AUTH_FIELDS = frozenset({"start", "end", "limit"})
EXPENSE_FIELDS = frozenset({"amount", "category", "hospital_level", "institution_region",
                            "cross_region_registered", "credential", "chronic_conditions", "pooling_ytd"})
YTD_FIELDS = frozenset({"deductible_paid", "reimbursed"})
ENUMS = catalog.ENUMS


@dataclass
class Facts:
    """A validated request: ``base`` is what rules see (catalog keys -> engine values)."""

    request: str
    as_of: int
    city: str
    switches: dict[str, str]
    base: dict[str, Any]
    ids: dict[str, str]
    document: Mapping[str, Any]


class _Bad(Exception):
    pass


class _Normalizer:
    __slots__ = ("semantic", "bad")

    def __init__(self) -> None:
        self.semantic: list[Issue] = []
        self.bad = False

    def fail(self, pointer: str, code: str = "", message: str = "", expected: Any = None, found: Any = None) -> None:
        self.bad = True
        if code:
            self.semantic.append(Issue(code, message, SourceLocation(pointer=pointer), expected=expected, found=found))

    def mapping(self, value: Any, allowed: frozenset[str], pointer: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(pointer)
            return {}
        for key, item in value.items():
            if key not in allowed or item is None:  # an explicit null is never "absent": refuse it
                self.fail(pointer)
        return value

    def enum(self, value: Any, name: str, pointer: str) -> Any:
        value = _integral(value)
        if isinstance(value, bool) or value not in ENUMS[name]:
            self.fail(pointer)
            return ENUMS[name][0]
        return value

    def boolean(self, value: Any, pointer: str) -> bool:
        if type(value) is not bool:
            self.fail(pointer)
            return False
        return value

    def money(self, value: Any, pointer: str, positive: bool = False) -> int:
        if value is None:
            self.fail(pointer)
            return 0
        try:
            fen = values.parse_money(value)
        except values.ValueProblem as exc:
            self.fail(pointer, "invalid_money", str(exc), exc.expected, _show(value))
            return 0
        if positive and fen == 0:
            self.fail(pointer, "invalid_money", "the amount must be more than 0.00", "an amount > 0", _show(value))
        return fen

    def date(self, value: Any, pointer: str) -> int:
        if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
            return values.int_of(value)
        if not isinstance(value, str):
            self.fail(pointer)
            return 0
        try:
            return values.parse_date(value)
        except values.ValueProblem as exc:
            self.fail(pointer, "invalid_date", str(exc), exc.expected, value)
            return 0

    def region(self, value: Any, pointer: str) -> str:
        if not isinstance(value, str):
            self.fail(pointer)
            return "000000"
        problem = region_problem(value)
        if problem:
            self.fail(pointer, "invalid_region_code", f"{value!r} {problem}", "a 6-digit administrative code of "
                      "the insured place", value)
            return "000000"
        return value

    def count(self, value: Any, pointer: str, low: int, high: int) -> int:
        value = _integral(value)
        if type(value) is not int or not low <= value <= high:
            self.fail(pointer)
            return low
        return value

    def party(self, doc: Any, prefix: str, pointer: str, base: dict[str, Any], beneficiary: bool) -> str:
        party = self.mapping(doc, BENEFICIARY_FIELDS if beneficiary else PARTY_FIELDS, pointer)
        for key in ("id", "insurance", "status", "region", "retired", "account_balance"):
            if key not in party:
                self.fail(pointer)
        pid = party.get("id")
        if not isinstance(pid, str) or not 1 <= len(pid) <= 64:
            self.fail(pointer + "/id")
            pid = ""
        base[prefix + "_ins"] = self.enum(party.get("insurance"), "insurance", pointer + "/insurance")
        base[prefix + "_st"] = self.enum(party.get("status"), "status", pointer + "/status")
        region = self.region(party.get("region"), pointer + "/region")
        base[prefix + "_reg"] = region
        base[prefix + "_pool"] = pool_code(region)
        base[prefix + "_prov"] = province_code(region)
        base[prefix + "_ret"] = self.boolean(party.get("retired"), pointer + "/retired")
        base[prefix + "_bal"] = self.money(party.get("account_balance"), pointer + "/account_balance")
        if beneficiary:
            unbound = party.get("last_unbound")
            base["b_unb_set"] = unbound is not None
            base["b_unb"] = self.date(unbound, pointer + "/last_unbound") if unbound is not None else 0
        return pid


def _integral(value: Any) -> Any:
    """JSON Schema counts 2.0 as an integer; so does the normalizer (exactly, never rounding)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if type(value).__name__ == "Decimal" and value.is_finite() and value.adjusted() < 19 \
            and value == value.to_integral_value():  # 1e999999 stays a Decimal (refused): int() of it takes minutes
        return int(value)
    return value


def _show(value: Any) -> Any:
    return str(value) if type(value).__name__ == "Decimal" else value


_SETS = {name: frozenset(v for v in domain if not isinstance(v, bool)) for name, domain in ENUMS.items()}


def _fast_party(party: Any, prefix: str, base: dict[str, Any], beneficiary: bool) -> str:
    """The common case of a party, with no detours; anything unusual raises _Bad."""
    if type(party) is not dict:
        raise _Bad
    allowed = BENEFICIARY_FIELDS if beneficiary else PARTY_FIELDS
    if len(party) != 6 and not (beneficiary and len(party) == 7 and "last_unbound" in party):
        raise _Bad
    for key, item in party.items():
        if key not in allowed or item is None:
            raise _Bad
    get = party.get
    pid, insurance, status, region, retired, balance = (get("id"), get("insurance"), get("status"), get("region"),
                                                        get("retired"), get("account_balance"))
    if (type(pid) is not str or not 0 < len(pid) <= 64 or type(insurance) is not str
            or insurance not in _SETS["insurance"] or type(status) is not str or status not in _SETS["status"]
            or type(retired) is not bool or type(region) is not str or region_problem(region) is not None
            or type(balance) is not str):
        raise _Bad
    base[prefix + "_ins"] = insurance
    base[prefix + "_st"] = status
    base[prefix + "_reg"] = region
    base[prefix + "_pool"] = pool_code(region)
    base[prefix + "_prov"] = province_code(region)
    base[prefix + "_ret"] = retired
    try:
        base[prefix + "_bal"] = values.parse_money(balance)
        if beneficiary:
            unbound = party.get("last_unbound")
            base["b_unb_set"] = unbound is not None
            base["b_unb"] = values.parse_date(unbound) if unbound is not None else 0
    except values.ValueProblem:
        raise _Bad from None
    return pid


def _fast(doc: Any, as_of: int | None, default_as_of: int | None) -> Facts:
    """Normalize a valid document quickly; raise _Bad at the first doubt (the careful path then
    finds and reports every problem)."""
    if type(doc) is not dict:
        raise _Bad
    for key in doc:
        if key not in TOP_FIELDS or doc[key] is None:
            raise _Bad
    request = doc.get("request")
    if request not in ("binding", "payment") or type(request) is not str:
        raise _Bad
    base: dict[str, Any] = {"rq": request}
    try:
        if as_of is None:
            raw = doc.get("as_of")
            as_of = (default_as_of if default_as_of is not None else values.today()) if raw is None else \
                values.parse_date(raw)
    except values.ValueProblem:
        raise _Bad from None
    base["asof"] = as_of
    ids = {"authorizer": _fast_party(doc.get("authorizer"), "a", base, False),
           "beneficiary": _fast_party(doc.get("beneficiary"), "b", base, True)}
    relationship = doc.get("relationship")
    bound = doc.get("bound_members")
    if type(relationship) is not str or relationship not in _SETS["relationship"] or type(bound) is not int \
            or not 0 <= bound <= 1000:
        raise _Bad
    base["rel"] = relationship
    base["bound"] = bound
    city = doc.get("city")
    if city is None:
        city = base["a_pool"]
    elif type(city) is not str or region_problem(city) is not None:
        raise _Bad
    base["city"] = city
    switches = doc.get("switches", {})
    if type(switches) is not dict or not all(type(v) is str for v in switches.values()):
        raise _Bad
    if request == "payment":
        _fast_payment(doc, base)
    elif "authorization" in doc or "expense" in doc:
        raise _Bad
    return Facts(request, as_of, city, dict(switches), base, ids, doc)


def _fast_payment(doc: dict[str, Any], base: dict[str, Any]) -> None:
    auth = doc.get("authorization")
    expense = doc.get("expense")
    if type(auth) is not dict or type(expense) is not dict:
        raise _Bad
    for key, item in auth.items():
        if key not in AUTH_FIELDS or item is None:
            raise _Bad
    for key, item in expense.items():
        if key not in EXPENSE_FIELDS or item is None:
            raise _Bad
    try:
        start = values.parse_date(auth["start"])
        end = auth.get("end")
        end_day = values.parse_date(end) if end is not None else 0
        if end is not None and end_day < start:
            raise _Bad
        limit = auth.get("limit")
        amount = values.parse_money(expense["amount"])
        ytd = expense.get("pooling_ytd", {})
        if type(ytd) is not dict or any(k not in YTD_FIELDS or v is None for k, v in ytd.items()):
            raise _Bad
        deductible_paid = values.parse_money(ytd.get("deductible_paid", 0))
        reimbursed = values.parse_money(ytd.get("reimbursed", 0))
        limit_fen = values.parse_money(limit) if limit is not None else 0
    except (KeyError, values.ValueProblem):
        raise _Bad from None
    category = expense.get("category")
    region = expense.get("institution_region")
    registered = expense.get("cross_region_registered")
    credential = expense.get("credential")
    level = expense.get("hospital_level")
    chronic = expense.get("chronic_conditions")
    if (amount == 0 or type(category) is not str or category not in _SETS["category"]
            or type(region) is not str or region_problem(region) is not None or type(registered) is not bool
            or type(credential) is not str or credential not in _SETS["credential"]
            or (level is not None and (type(level) is not int or level not in _SETS["hospital_level"]))
            or (chronic is not None and (type(chronic) is not int or not 1 <= chronic <= 50))):
        raise _Bad
    base.update({"au_s": start, "au_e_set": end is not None, "au_e": end_day, "au_l_set": limit is not None,
                 "au_l": limit_fen, "x_amt": amount, "x_cat": category, "x_lvl_set": level is not None,
                 "x_lvl": level if level is not None else 0, "x_reg": region, "x_pool": pool_code(region),
                 "x_prov": province_code(region), "x_xreg": registered, "x_cred": credential,
                 "x_chr_set": chronic is not None, "x_chr": chronic if chronic is not None else 0,
                 "ytd_d": deductible_paid, "ytd_r": reimbursed})


def normalize(doc: Any, as_of: int | None = None, default_as_of: int | None = None) -> Facts:
    """Validate and convert one fact document; raises :class:`FactError` listing every problem.

    ``as_of`` (e.g. from ``--as-of``) overrides the document's; ``default_as_of`` is used when
    neither gives one (the API passes today).
    """
    try:
        return _fast(doc, as_of, default_as_of)
    except _Bad:
        pass
    norm = _Normalizer()
    top = norm.mapping(doc, TOP_FIELDS, "")
    base: dict[str, Any] = {}
    request = norm.enum(top.get("request"), "request", "/request")
    base["rq"] = request
    if as_of is None:
        raw_as_of = top.get("as_of")
        if raw_as_of is None:
            as_of = default_as_of if default_as_of is not None else values.today()
        else:
            as_of = norm.date(raw_as_of, "/as_of")
    base["asof"] = as_of
    for key in ("authorizer", "beneficiary", "relationship", "bound_members"):
        if key not in top:
            norm.fail("")
    ids = {"authorizer": norm.party(top.get("authorizer"), "a", "/authorizer", base, False),
           "beneficiary": norm.party(top.get("beneficiary"), "b", "/beneficiary", base, True)}
    base["rel"] = norm.enum(top.get("relationship"), "relationship", "/relationship")
    base["bound"] = norm.count(top.get("bound_members"), "/bound_members", 0, 1000)
    city = top.get("city")
    if city is not None:
        city = norm.region(city, "/city")
    else:
        city = base["a_pool"]
    base["city"] = city
    switches = top.get("switches", {})
    if not isinstance(switches, dict) or not all(isinstance(v, str) for v in switches.values()):
        norm.fail("/switches")
        switches = {}
    if request == "payment":
        _payment(norm, top, base)
    elif "authorization" in top or "expense" in top:
        norm.fail("")
    if norm.bad:
        raise _fact_error(doc, norm.semantic)
    return Facts(request, as_of, city, dict(switches), base, ids, doc)


def _payment(norm: _Normalizer, top: dict[str, Any], base: dict[str, Any]) -> None:
    if "authorization" not in top or "expense" not in top:
        norm.fail("")
    auth = norm.mapping(top.get("authorization", {}), AUTH_FIELDS, "/authorization")
    if "start" not in auth:
        norm.fail("/authorization")
    base["au_s"] = start = norm.date(auth.get("start"), "/authorization/start")
    end = auth.get("end")
    base["au_e_set"] = end is not None
    base["au_e"] = norm.date(end, "/authorization/end") if end is not None else 0
    if end is not None and base["au_e"] and start and base["au_e"] < start:
        norm.fail("/authorization/end", "invalid_period", "the authorization ends before it starts",
                  f"a date on or after {values.format_date(start)}", end)
    limit = auth.get("limit")
    base["au_l_set"] = limit is not None
    base["au_l"] = norm.money(limit, "/authorization/limit") if limit is not None else 0
    expense = norm.mapping(top.get("expense", {}), EXPENSE_FIELDS, "/expense")
    for key in ("amount", "category", "institution_region", "cross_region_registered", "credential"):
        if key not in expense:
            norm.fail("/expense")
    base["x_amt"] = norm.money(expense.get("amount"), "/expense/amount", positive=True)
    base["x_cat"] = norm.enum(expense.get("category"), "category", "/expense/category")
    level = expense.get("hospital_level")
    base["x_lvl_set"] = level is not None
    base["x_lvl"] = norm.enum(level, "hospital_level", "/expense/hospital_level") if level is not None else 0
    region = norm.region(expense.get("institution_region"), "/expense/institution_region")
    base["x_reg"] = region
    base["x_pool"] = pool_code(region)
    base["x_prov"] = province_code(region)
    base["x_xreg"] = norm.boolean(expense.get("cross_region_registered"), "/expense/cross_region_registered")
    base["x_cred"] = norm.enum(expense.get("credential"), "credential", "/expense/credential")
    chronic = expense.get("chronic_conditions")
    base["x_chr_set"] = chronic is not None
    base["x_chr"] = norm.count(chronic, "/expense/chronic_conditions", 1, 50) if chronic is not None else 0
    ytd = norm.mapping(expense.get("pooling_ytd", {}), YTD_FIELDS, "/expense/pooling_ytd")
    base["ytd_d"] = norm.money(ytd.get("deductible_paid", 0), "/expense/pooling_ytd/deductible_paid")
    base["ytd_r"] = norm.money(ytd.get("reimbursed", 0), "/expense/pooling_ytd/reimbursed")


def _fact_error(doc: Any, semantic: list[Issue]) -> FactError:
    smap = SourceMap(file="")
    structural = validate("facts", _jsonable(doc), smap)
    seen = {i.location.pointer for i in structural}
    issues = [_masked(i) for i in structural + [i for i in semantic if i.location.pointer not in seen]]
    if not issues:  # pragma: no cover - the test suite keeps the normalizer and the schema in agreement
        issues = [Issue("invalid_document", "the fact document is invalid", SourceLocation(pointer=""))]
    return FactError(issues, f"invalid fact document: {len(issues)} problem(s)")


_ID_LIKE = re.compile(r"[0-9]{17}[0-9Xx]|[0-9]{15}")


def _masked(item: Issue) -> Issue:
    """Personal ids (ID-card numbers) never appear in error output."""
    if item.found is None:
        return item
    found = str(item.found)
    if item.location.pointer.endswith("/id") and isinstance(item.found, str):
        secrets = [found]  # any text in an id field is personal, whatever its shape
    else:
        secrets = [match.group(0) for match in _ID_LIKE.finditer(found)]
    if not secrets:
        return item
    message = item.message
    for secret in secrets:
        hidden = mask_id(secret)
        message, found = message.replace(secret, hidden), found.replace(secret, hidden)
    return Issue(item.code, message, item.location, item.expected, found, item.severity, item.hint)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, _dt.date):
        return value.isoformat()
    return value


def with_locations(error: FactError, smap: SourceMap) -> FactError:
    """Attach file:line:col (from a loaded YAML document) to every issue's pointer."""
    issues = []
    for item in error.issues:
        loc = smap.location(item.location.pointer)
        issues.append(Issue(item.code, item.message, loc, item.expected, item.found, item.severity, item.hint))
    return FactError(issues, error.summary)
