"""engine.core.regions: 6-digit codes of the insured place, their pooling region and province."""

from __future__ import annotations

import pytest

from engine.core.regions import MUNICIPALITIES, PROVINCES, pool_code, province_code, region_name, region_problem


@pytest.mark.parametrize("code", [
    "341102", "341100", "340000", "110000", "110105", "310115", "500101", "120101",
    "429004", "419001", "469001", "659001", "140105", "130682", "710000", "810000", "820000",
])
def test_valid_codes(code: str) -> None:
    assert region_problem(code) is None
    assert region_problem(code) is None  # and again, from the cache


@pytest.mark.parametrize("code, words", [
    ("34110", "not 6 digits"), ("3411020", "not 6 digits"), ("", "not 6 digits"), ("34110a", "not 6 digits"),
    (" 341102", "not 6 digits"), ("341102 ", "not 6 digits"), ("34-110", "not 6 digits"),
    ("990000", "province prefix 99 does not exist"), ("001100", "province prefix 00 does not exist"),
    ("191100", "province prefix 19 does not exist"),
    ("340012", "prefecture digits 00"), ("110001", "prefecture digits 00"),
    ("341102198001011234", "ID-card number"), ("341102800101123", "ID-card number"),
])
def test_invalid_codes(code: str, words: str) -> None:
    problem = region_problem(code)
    assert problem is not None and words in problem
    assert region_problem(code) == problem  # an invalid code is never cached as valid


@pytest.mark.parametrize("value", [341102, 341102.0, None, True, b"341102"])
def test_non_text_codes_are_refused(value: object) -> None:
    problem = region_problem(value)
    assert problem is not None and "quoted string" in problem


@pytest.mark.parametrize("value", [["341102"], {"code": "341102"}])
def test_unhashable_codes_are_refused_not_raised(value: object) -> None:
    assert "quoted string" in (region_problem(value) or "")


def test_an_id_card_number_ending_in_x_is_recognised() -> None:
    assert "ID-card" in (region_problem("34110219800101123X") or "")


def test_a_trailing_newline_is_refused() -> None:
    assert region_problem("341102\n") is not None


@pytest.mark.parametrize("code, pool", [
    ("341102", "341100"), ("341122", "341100"), ("341100", "341100"), ("340000", "340000"),
    ("140105", "140100"), ("360983", "360900"),
    # the four municipalities pool at province level
    ("110105", "110000"), ("110000", "110000"), ("120101", "120000"), ("310115", "310000"),
    ("500101", "500000"), ("500235", "500000"),
    # county-level units directly under a province pool on their own
    ("429004", "429004"), ("429005", "429005"), ("419001", "419001"), ("469001", "469001"),
    ("659001", "659001"),
])
def test_pool_code(code: str, pool: str) -> None:
    assert pool_code(code) == pool
    assert region_problem(pool) is None


@pytest.mark.parametrize("code, province", [
    ("341102", "340000"), ("429004", "420000"), ("110105", "110000"), ("500101", "500000"), ("340000", "340000"),
])
def test_province_code(code: str, province: str) -> None:
    assert province_code(code) == province


def test_every_pool_lies_in_its_province() -> None:
    for prefix in PROVINCES:
        for code in (f"{prefix}0101", f"{prefix}9001", f"{prefix}0000"):
            assert province_code(pool_code(code)) == province_code(code)


def test_municipalities_are_provinces() -> None:
    assert set(PROVINCES) >= MUNICIPALITIES
    assert {PROVINCES[m] for m in MUNICIPALITIES} == {"北京市", "天津市", "上海市", "重庆市"}


def test_region_name() -> None:
    assert region_name("341100") == "滁州市"
    assert region_name("341102") == "琅琊区"
    assert region_name("420000") == "湖北省"
    assert region_name("110000") == "北京市"
    assert region_name("429004") == ""
    assert region_name("990000") == ""
