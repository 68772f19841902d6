"""engine.runtime.facts: fact documents -> normalized facts; every problem at once, each with a JSON pointer."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from conftest import binding, payment
from engine.cli import locate
from engine.core.errors import FactError
from engine.runtime.facts import Facts, normalize
from engine.core.load import SourceMap, load_yaml_text
from engine.core.validate import validate


def problems(doc: Any, **kw: Any) -> dict[str, str]:
    """pointer -> code of every issue (one per pointer is enough for these documents)."""
    with pytest.raises(FactError) as info:
        normalize(doc, **kw)
    return {issue.location.pointer: issue.code for issue in info.value.issues}


def issues(doc: Any, **kw: Any) -> list[Any]:
    with pytest.raises(FactError) as info:
        normalize(doc, **kw)
    return info.value.issues


def with_party(doc: dict, role: str, **fields: Any) -> dict:
    doc = copy.deepcopy(doc)
    doc[role] = dict(doc[role], **fields)
    return doc


def without(doc: dict, *path: str) -> dict:
    doc = copy.deepcopy(doc)
    target = doc
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return doc


# ------------------------------------------------------------------ valid documents

def test_binding_document_is_normalized() -> None:
    facts = normalize(binding())
    assert isinstance(facts, Facts)
    assert (facts.request, facts.as_of, facts.city, facts.switches) == ("binding", 20250301, "341100", {})
    assert facts.ids == {"authorizer": "341102198001011234", "beneficiary": "B-001"}
    base = facts.base
    assert base["rq"] == "binding" and base["asof"] == 20250301
    assert (base["a_ins"], base["a_st"], base["a_ret"]) == ("employee", "normal", False)
    assert (base["a_reg"], base["a_pool"], base["a_prov"]) == ("341102", "341100", "340000")
    assert (base["b_reg"], base["b_pool"], base["b_prov"]) == ("341122", "341100", "340000")
    assert (base["a_bal"], base["b_bal"]) == (320000, 0)
    assert (base["rel"], base["bound"], base["city"]) == ("spouse", 2, "341100")
    assert (base["b_unb_set"], base["b_unb"]) == (False, 0)
    assert not any(key.startswith(("au_", "x_", "ytd_")) for key in base)


def test_payment_document_is_normalized() -> None:
    base = normalize(payment()).base
    assert (base["rq"], base["au_s"], base["au_e_set"], base["au_e"]) == ("payment", 20250101, True, 20251231)
    assert (base["au_l_set"], base["au_l"]) == (False, 0)
    assert (base["x_amt"], base["x_cat"], base["x_lvl_set"], base["x_lvl"]) == (100000, "outpatient", True, 1)
    assert (base["x_reg"], base["x_pool"], base["x_prov"]) == ("341102", "341100", "340000")
    assert (base["x_xreg"], base["x_cred"], base["x_chr_set"]) == (False, "own", False)
    assert (base["ytd_d"], base["ytd_r"]) == (0, 0)


def test_optional_payment_fields() -> None:
    doc = payment(authorization={"start": "2025-01-01", "limit": "500.00"})
    doc["expense"] = dict(doc["expense"], chronic_conditions=2, pooling_ytd={"deductible_paid": "800.00"})
    del doc["expense"]["hospital_level"]
    base = normalize(doc).base
    assert (base["au_e_set"], base["au_l_set"], base["au_l"]) == (False, True, 50000)
    assert (base["x_lvl_set"], base["x_chr_set"], base["x_chr"]) == (False, True, 2)
    assert (base["ytd_d"], base["ytd_r"]) == (80000, 0)
    assert normalize(without(payment(), "expense", "pooling_ytd")).base["ytd_d"] == 0


def test_city_defaults_to_the_authorizers_pool_and_may_be_given() -> None:
    assert normalize(with_party(binding(), "authorizer", region="429004")).city == "429004"
    assert normalize(with_party(binding(), "authorizer", region="110105")).city == "110000"
    assert normalize(binding(city="140100")).city == "140100"


def test_as_of_override_and_defaults() -> None:
    assert normalize(binding(), as_of=20240101).as_of == 20240101
    doc = without(binding(), "as_of")
    assert normalize(doc, default_as_of=20230505).as_of == 20230505
    assert normalize(doc).as_of > 20250000  # today
    assert normalize(binding(as_of="2025-02-30"), as_of=20240101).as_of == 20240101  # the override wins


def test_last_unbound_date() -> None:
    base = normalize(with_party(binding(), "beneficiary", last_unbound="2024-12-31")).base
    assert (base["b_unb_set"], base["b_unb"]) == (True, 20241231)


def test_the_document_is_kept_unchanged() -> None:
    doc = payment()
    before = copy.deepcopy(doc)
    assert normalize(doc).document is doc
    assert doc == before


def test_valid_documents_are_valid_for_the_reference_schema_too() -> None:
    for doc in (binding(), payment(), payment(authorization={"start": "2025-01-01", "limit": 0})):
        normalize(doc)
        assert validate("facts", doc, SourceMap("")) == []


# ------------------------------------------------------------------ Python values through the API

def test_decimal_int_and_float_amounts() -> None:
    doc = with_party(binding(), "authorizer", account_balance=Decimal("10.50"))
    doc = with_party(doc, "beneficiary", account_balance=7)
    base = normalize(doc).base
    assert (base["a_bal"], base["b_bal"]) == (1050, 700)
    assert normalize(with_party(binding(), "authorizer", account_balance=0.1)).base["a_bal"] == 10


@pytest.mark.parametrize("amount", [Decimal("10.505"), Decimal("-1"), 0.1 + 0.2, "1.234", "-1.00", True, "1e3"])
def test_bad_amounts_are_invalid_money(amount: Any) -> None:
    doc = with_party(binding(), "authorizer", account_balance=amount)
    assert problems(doc) == {"/authorizer/account_balance": "invalid_money"}


def test_date_objects_are_accepted() -> None:
    doc = payment(as_of=dt.date(2025, 3, 1), authorization={"start": dt.date(2025, 1, 1), "end": dt.date(2025, 6, 30)})
    doc = with_party(doc, "beneficiary", last_unbound=dt.date(2024, 2, 29))
    facts = normalize(doc)
    assert (facts.as_of, facts.base["au_s"], facts.base["au_e"], facts.base["b_unb"]) == (
        20250301, 20250101, 20250630, 20240229)


def test_a_datetime_is_not_a_date() -> None:
    assert problems(binding(as_of=dt.datetime(2025, 3, 1, 10, 0))) == {"/as_of": "invalid_date"}
    doc = payment(authorization={"start": dt.datetime(2025, 1, 1, 0, 0)})
    assert problems(doc) == {"/authorization/start": "invalid_date"}


# ------------------------------------------------------------------ every problem at once

def test_every_problem_of_a_document_is_reported_at_once_with_pointers() -> None:
    doc = binding(request="bind", as_of="2025-02-30", relationship="cousin", bound_members="2", extra=1)
    doc = with_party(doc, "authorizer", account_balance="1.234", region="3411", status="active")
    doc = without(doc, "beneficiary", "region")
    doc["beneficiary"]["nmae"] = "x"
    found = issues(doc)
    assert {i.location.pointer: i.code for i in found} == {
        "/request": "invalid_value", "/as_of": "invalid_date", "/relationship": "invalid_value",
        "/bound_members": "wrong_type", "/extra": "unknown_field", "/authorizer/account_balance": "invalid_money",
        "/authorizer/region": "invalid_region_code", "/authorizer/status": "invalid_value",
        "/beneficiary": "missing_field", "/beneficiary/nmae": "unknown_field",
    }
    assert len(found) == 10
    assert [i.location.pointer for i in found] == sorted(i.location.pointer for i in found)
    assert str(FactError(found)).count("\n") == 10


def test_payment_problems_at_once() -> None:
    doc = payment(authorization={"start": "2025-01-01", "end": "2024-12-31", "limit": "-5"})
    doc["expense"] = dict(doc["expense"], amount="0.00", category="food", hospital_level=4,
                          institution_region="000000", credential="card", cross_region_registered="no",
                          chronic_conditions=51, pooling_ytd={"deductible_paid": "x"})
    assert problems(doc) == {
        "/authorization/end": "invalid_period", "/authorization/limit": "invalid_money",
        "/expense/amount": "invalid_money", "/expense/category": "invalid_value",
        "/expense/hospital_level": "invalid_value", "/expense/institution_region": "invalid_region_code",
        "/expense/credential": "invalid_value", "/expense/cross_region_registered": "wrong_type",
        "/expense/chronic_conditions": "invalid_value", "/expense/pooling_ytd/deductible_paid": "invalid_money",
    }


def test_missing_fields_are_named() -> None:
    found = issues({})
    assert {i.code for i in found} == {"missing_field"}
    assert sorted(i.expected for i in found) == ["authorizer", "beneficiary", "bound_members", "relationship",
                                                 "request"]
    found = issues(without(payment(), "expense"))
    assert [(i.location.pointer, i.code, i.expected) for i in found] == [("", "missing_field", "expense")]
    assert problems(payment(authorization={"end": "2025-12-31"})) == {"/authorization": "missing_field"}
    assert problems(without(binding(), "authorizer", "account_balance")) == {"/authorizer": "missing_field"}


@pytest.mark.parametrize("doc", [None, [], "binding", 3])
def test_a_document_that_is_not_a_mapping(doc: Any) -> None:
    assert problems(doc) == {"": "wrong_type"}


@pytest.mark.parametrize("pointer", [
    "/city", "/as_of", "/relationship", "/bound_members", "/switches", "/authorizer/region", "/authorizer/id",
    "/authorizer/retired", "/beneficiary/account_balance", "/beneficiary/last_unbound", "/authorization/end",
    "/authorization/limit", "/expense/hospital_level", "/expense/chronic_conditions", "/expense/pooling_ytd",
    "/expense/pooling_ytd/reimbursed",
])
def test_an_explicit_null_is_refused_never_taken_as_absent(pointer: str) -> None:
    doc = payment()
    doc["expense"]["pooling_ytd"] = {"deductible_paid": "0.00", "reimbursed": "0.00"}
    parent = doc
    *path, last = pointer.strip("/").split("/")
    for key in path:
        parent = parent[key]
    parent[last] = None
    found = problems(doc)
    assert list(found) == [pointer]


@pytest.mark.parametrize("where, key", [
    ((), "extra"), (("authorizer",), "name"), (("beneficiary",), "age"), (("authorization",), "amount"),
    (("expense",), "hospital"), (("expense", "pooling_ytd"), "paid"),
])
def test_unknown_fields_are_refused_everywhere(where: tuple[str, ...], key: str) -> None:
    doc = payment()
    target = doc
    for part in where:
        target = target[part]
    target[key] = "x"
    pointer = "".join(f"/{p}" for p in where) + f"/{key}"
    assert problems(doc) == {pointer: "unknown_field"}


def test_last_unbound_only_for_the_beneficiary() -> None:
    doc = with_party(binding(), "authorizer", last_unbound="2024-01-01")
    assert problems(doc) == {"/authorizer/last_unbound": "unknown_field"}


def test_unknown_field_suggests_the_right_name() -> None:
    doc = with_party(binding(), "beneficiary", acount_balance="0.00")
    doc = without(doc, "beneficiary", "account_balance")
    hints = {i.location.pointer: i.hint for i in issues(doc)}
    assert hints["/beneficiary/acount_balance"] == "did you mean 'account_balance'?"


@pytest.mark.parametrize("field", ["authorization", "expense"])
def test_a_binding_document_with_payment_fields_is_refused(field: str) -> None:
    doc = binding(**{field: payment()[field]})
    assert len(issues(doc)) == 1


@pytest.mark.parametrize("field", ["authorization", "expense"])
def test_a_binding_document_with_payment_fields_names_the_field(field: str) -> None:
    (issue,) = issues(binding(**{field: payment()[field]}))
    assert issue.location.pointer == f"/{field}" and issue.found == field


@pytest.mark.parametrize("value, code", [
    (-1, "invalid_value"), (1001, "invalid_value"), (True, "wrong_type"), ("2", "wrong_type"), (None, "wrong_type"),
])
def test_bound_members(value: Any, code: str) -> None:
    assert problems(binding(bound_members=value)) == {"/bound_members": code}


def test_a_whole_float_count_is_an_integer_as_in_json_schema() -> None:
    # JSON Schema counts 2.0 as an integer; the normalizer agrees (exactly: 2.5 is refused)
    assert normalize(binding(bound_members=2.0)).base["bound"] == 2
    assert list(problems(binding(bound_members=2.5))) == ["/bound_members"]


@pytest.mark.parametrize("switches", [["a"], "a", {"a": 1}, {"a": None}])
def test_switches_must_map_names_to_option_names(switches: Any) -> None:
    assert list(problems(binding(switches=switches)))[0].startswith("/switches")


def test_switches_are_passed_on() -> None:
    assert normalize(binding(switches={"near_relative_reading": "in_law_snippet"})).switches == {
        "near_relative_reading": "in_law_snippet"}


@pytest.mark.parametrize("value", ["", "x" * 65, 12, ["A-001"]])
def test_party_id_must_be_1_to_64_characters_of_text(value: Any) -> None:
    assert list(problems(with_party(binding(), "authorizer", id=value))) == ["/authorizer/id"]


@pytest.mark.parametrize("value", [341102198001011234, "341102198001011234" * 4])
def test_an_invalid_id_is_not_echoed_in_the_error(value: Any) -> None:
    text = str(FactError(issues(with_party(binding(), "authorizer", id=value))))
    assert "198001011234" not in text


def test_region_given_as_an_id_card_number() -> None:
    (issue,) = issues(with_party(binding(), "beneficiary", region="341122198001011234"))
    assert (issue.location.pointer, issue.code) == ("/beneficiary/region", "invalid_region_code")


@pytest.mark.parametrize("region", ["341102", 341102])
def test_region_must_be_quoted_text(region: Any) -> None:
    doc = with_party(binding(), "authorizer", region=region)
    if isinstance(region, str):
        normalize(doc)
    else:
        assert problems(doc) == {"/authorizer/region": "invalid_region_code"}


@pytest.mark.parametrize("region", ["990000", "340012", "34110"])
def test_region_codes_that_do_not_exist(region: str) -> None:
    assert problems(payment(city=region)) == {"/city": "invalid_region_code"}


def test_enum_problems_suggest_the_value() -> None:
    hints = {i.location.pointer: i.hint for i in issues(binding(relationship="Spouse", request="payments"))}
    assert hints == {"/relationship": "did you mean 'spouse'?", "/request": "did you mean 'payment'?"}


def test_a_hint_never_repeats_the_wrong_value() -> None:
    doc = payment()
    doc["expense"]["hospital_level"] = "1"
    (issue,) = issues(doc)
    assert issue.hint != "did you mean '1'?"


def test_the_authorization_may_end_on_its_first_day_but_not_before() -> None:
    normalize(payment(authorization={"start": "2025-01-01", "end": "2025-01-01"}))
    (issue,) = issues(payment(authorization={"start": "2025-01-01", "end": "2024-12-31"}))
    assert (issue.location.pointer, issue.code, issue.found) == ("/authorization/end", "invalid_period", "2024-12-31")


def test_expense_amount_must_be_positive() -> None:
    doc = payment()
    doc["expense"]["amount"] = 0
    (issue,) = issues(doc)
    assert (issue.location.pointer, issue.code) == ("/expense/amount", "invalid_money")


def test_a_malformed_as_of_says_what_a_date_looks_like() -> None:
    (issue,) = issues(binding(as_of="2025/03/01"))
    assert "YYYY-MM-DD" in issue.format()


def test_locate_adds_line_and_col_from_the_yaml_document() -> None:
    text = ("request: binding\nas_of: '2025-02-30'\nauthorizer:\n  id: A\n  insurance: employee\n"
            "  status: normal\n  region: '341102'\n  retired: false\n  account_balance: '1.234'\n"
            "beneficiary:\n  id: B\n  insurance: resident\n  status: normal\n  region: '341122'\n"
            "  retired: no\n  account_balance: '0.00'\nrelationship: spouse\nbound_members: 2\n")
    loaded = load_yaml_text(text, "doc.yaml")
    normalize(dict(loaded.data, as_of="2025-03-01", authorizer=dict(loaded.data["authorizer"],
                                                                    account_balance="1.23")))
    with pytest.raises(FactError) as info:
        normalize(loaded.data)
    located = locate(info.value, "doc.yaml", loaded.source)
    assert [str(i.location) for i in located] == ["doc.yaml:2:8", "doc.yaml:9:20"]
    assert [i.code for i in located] == ["invalid_date", "invalid_money"]
