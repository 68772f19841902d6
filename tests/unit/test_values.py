"""engine.core.values: money in fen, percentages in basis points, dates as YYYYMMDD; one rounding rule."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest

from engine.core import values
from engine.core.values import (ValueProblem, date_of, format_date, format_money, format_percent, int_of, next_day,
                           parse_date, parse_money, parse_percent, percent_of, previous_day)

# ------------------------------------------------------------------ money


@pytest.mark.parametrize("raw, fen", [
    ("300.00", 30000), ("300", 30000), ("300.5", 30050), ("0.01", 1), ("0", 0), ("0.00", 0),
    ("0012.30", 1230), (300, 30000), (0, 0), (Decimal("10.50"), 1050), (Decimal("1E+2"), 10000),
    (0.1, 10), (300.1, 30010), (19.99, 1999), (-0.0, 0), (Decimal("0.10"), 10),
    ("9999999999999.99", 999999999999999),
])
def test_parse_money(raw: object, fen: int) -> None:
    assert parse_money(raw) == fen
    assert type(parse_money(raw)) is int


@pytest.mark.parametrize("raw, words", [
    (0.1 + 0.2, "more than 2 decimals"),  # 0.30000000000000004: never silently rounded
    (1.005, "more than 2 decimals"),
    ("1.234", "at most 2 decimals"),
    (Decimal("0.001"), "more than 2 decimals"),
    ("-1.00", "non-negative"),
    (-1, "negative"),
    (Decimal("-0.01"), "negative"),
    (-0.5, "negative"),
    ("1.", "at most 2 decimals"),
    (".5", "at most 2 decimals"),
    (" 1.00", "at most 2 decimals"),
    ("1,000.00", "at most 2 decimals"),
    ("1e3", "at most 2 decimals"),
    ("¥300", "at most 2 decimals"),
    ("３００", "at most 2 decimals"),  # full-width digits
    ("", "at most 2 decimals"),
    (10**13, "implausibly large"),
    (1e20, "implausibly large"),
    (Decimal("1E+15"), "implausibly large"),
    (float("inf"), "finite"),
    (float("nan"), "finite"),
    (Decimal("NaN"), "finite"),
    (True, "boolean"),
    (None, "not an amount"),
    ([1], "not an amount"),
])
def test_parse_money_refuses(raw: object, words: str) -> None:
    with pytest.raises(ValueProblem) as info:
        parse_money(raw)
    assert words in str(info.value)
    assert info.value.expected


def test_parse_money_largest_and_first_refused_amount() -> None:
    assert parse_money(Decimal("9999999999999.99")) == values.MAX_FEN - 1
    with pytest.raises(ValueProblem):
        parse_money(Decimal("10000000000000.00"))


def test_parse_money_says_too_large_for_a_long_text_amount() -> None:
    with pytest.raises(ValueProblem, match="large"):
        parse_money("10000000000000")


def test_parse_money_refuses_a_trailing_newline() -> None:
    with pytest.raises(ValueProblem):
        parse_money("300.00\n")


def test_format_money() -> None:
    assert [format_money(f) for f in (0, 5, 50, 100, 123450, 999999999999999)] == [
        "0.00", "0.05", "0.50", "1.00", "1234.50", "9999999999999.99"]
    assert format_money(-5) == "-0.05"
    assert format_money(-12345) == "-123.45"


@pytest.mark.parametrize("text", ["0.00", "0.01", "12.30", "300.00", "9999999999999.99"])
def test_money_round_trips(text: str) -> None:
    assert format_money(parse_money(text)) == text


# ------------------------------------------------------------------ percentages


@pytest.mark.parametrize("raw, points", [
    (60, 6000), ("60", 6000), ("60%", 6000), (" 60 % ", 6000), ("82.5", 8250), ("82.5%", 8250),
    (Decimal("55"), 5500), (Decimal("55.05"), 5505), (0, 0), ("0.01", 1), (100, 10000), ("100%", 10000),
    (82.5, 8250), (0.5, 50), ("100.00", 10000),
])
def test_parse_percent(raw: object, points: int) -> None:
    assert parse_percent(raw) == points


@pytest.mark.parametrize("raw, words", [
    ("100.01", "more than 100%"), (101, "more than 100%"), ("1000", "between 0 and 100"),
    (-5, "between 0 and 100"), ("-5%", "between 0 and 100"), (0.1 + 0.2, "<= 2 decimals"),
    ("55.555", "<= 2 decimals"), ("60%%", "between 0 and 100"), ("sixty", "between 0 and 100"),
    ("", "between 0 and 100"), (True, "not a percentage"), (None, "not a percentage"), ([60], "not a percentage"),
    (float("nan"), "between 0 and 100"), (float("inf"), "between 0 and 100"),
])
def test_parse_percent_refuses(raw: object, words: str) -> None:
    with pytest.raises(ValueProblem) as info:
        parse_percent(raw)
    assert words in str(info.value)


def test_format_percent() -> None:
    assert [format_percent(p) for p in (0, 5, 10, 5505, 6000, 8250, 10000)] == [
        "0%", "0.05%", "0.1%", "55.05%", "60%", "82.5%", "100%"]
    for points in range(0, 10001, 37):
        assert parse_percent(format_percent(points)) == points


# ------------------------------------------------------------------ percent_of: half up to the fen


@pytest.mark.parametrize("fen, points, expected", [
    (1, 5000, 1),          # 0.5 fen -> 1
    (3, 5000, 2),          # 1.5 -> 2
    (5, 5000, 3),          # 2.5 -> 3 (half up, not half even)
    (1, 4999, 0),          # 0.4999 -> 0
    (1001, 5000, 501),     # 10.01 yuan x 50% = 5.005 yuan -> 5.01
    (2001, 2500, 500),     # 20.01 x 25% = 5.0025 -> 5.00
    (2003, 2500, 501),     # 20.03 x 25% = 5.0075 -> 5.01
    (333, 5500, 183),      # 3.33 x 55% = 1.8315 -> 1.83
    (12345, 5500, 6790),   # 123.45 x 55% = 67.8975 -> 67.90
    (12345, 6000, 7407),   # exact
    (100000, 8250, 82500),
    (0, 6000, 0), (12345, 0, 0), (12345, 10000, 12345),
    (999999999999999, 10000, 999999999999999),
    (999999999999999, 1, 100000000000),  # 9999999999999.99 x 0.01% = 1000000000.0000 -> exact
])
def test_percent_of_rounds_half_up(fen: int, points: int, expected: int) -> None:
    assert percent_of(fen, points) == expected


def test_percent_of_agrees_with_decimal_half_up() -> None:
    for fen in list(range(0, 400)) + [10005, 99995, 123456789]:
        for points in (1, 5, 50, 1250, 3333, 5000, 5500, 6000, 8250, 9999, 10000):
            exact = Decimal(fen) * Decimal(points) / Decimal(10000)
            assert percent_of(fen, points) == int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP)), (fen, points)


def test_percent_of_never_exceeds_the_amount() -> None:
    for fen in range(0, 1000, 7):
        for points in range(0, 10001, 499):
            assert 0 <= percent_of(fen, points) <= fen


# ------------------------------------------------------------------ dates


@pytest.mark.parametrize("raw, value", [
    ("2025-03-01", 20250301), ("2024-02-29", 20240229), ("2000-02-29", 20000229), ("1999-12-31", 19991231),
    ("0001-01-01", 10101), ("9999-12-31", 99991231), (dt.date(2025, 3, 1), 20250301),
    (dt.date(2024, 2, 29), 20240229),
])
def test_parse_date(raw: object, value: int) -> None:
    assert parse_date(raw) == value


@pytest.mark.parametrize("raw, words", [
    ("2023-02-29", "not a calendar date"), ("2100-02-29", "not a calendar date"),
    ("2025-04-31", "not a calendar date"), ("2025-02-30", "not a calendar date"),
    ("2025-13-01", "not a calendar date"), ("2025-00-10", "not a calendar date"),
    ("2025-01-00", "not a calendar date"), ("0000-01-01", "not a calendar date"),
    ("2025-1-1", "not an ISO date"), ("20250301", "not an ISO date"), ("2025/03/01", "not an ISO date"),
    (" 2025-03-01", "not an ISO date"), ("2025-03-01T00:00:00", "not an ISO date"),
    ("2025-03-01 ", "not an ISO date"), ("２０２５-０３-０１", "not an ISO date"), ("", "not an ISO date"),
    (dt.datetime(2025, 3, 1, 10, 0), "time of day"), (20250301, "not a date"), (None, "not a date"),
    (True, "not a date"),
])
def test_parse_date_refuses(raw: object, words: str) -> None:
    with pytest.raises(ValueProblem) as info:
        parse_date(raw)
    assert words in str(info.value)


def test_a_refused_date_is_refused_every_time() -> None:
    """The cache of parsed dates keeps only good ones."""
    for _ in range(3):
        with pytest.raises(ValueProblem):
            parse_date("2023-02-29")
    assert parse_date("2024-02-29") == parse_date("2024-02-29") == 20240229


def test_parse_date_refuses_a_trailing_newline() -> None:
    with pytest.raises(ValueProblem):
        parse_date("2025-03-01\n")


def test_day_arithmetic_across_months_years_and_leap_days() -> None:
    assert next_day(20240228) == 20240229
    assert next_day(20240229) == 20240301
    assert next_day(20230228) == 20230301
    assert next_day(20241231) == 20250101
    assert previous_day(20250101) == 20241231
    assert previous_day(20240301) == 20240229
    assert previous_day(20230301) == 20230228


def test_date_conversions() -> None:
    assert format_date(20250301) == "2025-03-01"
    assert format_date(10101) == "0001-01-01"
    assert date_of(20240229) == dt.date(2024, 2, 29)
    assert int_of(dt.date(2024, 2, 29)) == 20240229
    assert parse_date(format_date(20241231)) == 20241231
    assert isinstance(values.today(), int) and values.today() > 20250000
