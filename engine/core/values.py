"""Exact value types: money in integer fen, percentages in basis points, dates as YYYYMMDD ints.

Inside the engine money is an ``int`` of fen (1 yuan = 100 fen) and a percentage is an ``int``
of hundredths of a percent (60% = 6000).  Outside it is a string with exactly two decimals.
Rounding is one rule everywhere: ratio x amount is rounded **half up to the fen**.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from json.encoder import encode_basestring as _esc
from decimal import Decimal, InvalidOperation
from typing import Any

_MONEY_TEXT = re.compile(r"[0-9]{1,13}(\.[0-9]{1,2})?\Z")
_PERCENT_TEXT = re.compile(r"[0-9]{1,3}(\.[0-9]{1,2})?\Z")
_DATE_TEXT = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})\Z")
_DIGITS = re.compile(r"[0-9]+(\.[0-9]+)?\Z")

MAX_FEN = 10**15  # 10 trillion yuan: far above any account, far below float trouble


class ValueProblem(ValueError):
    """A value is malformed; ``expected`` says what would have been accepted."""

    def __init__(self, message: str, expected: str):
        super().__init__(message)
        self.expected = expected


def _decimal_of(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueProblem("a boolean is not an amount", "an amount like \"300.00\"")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # repr() is the shortest text that round-trips: 0.1 -> "0.1", 0.1+0.2 -> "0.30000000000000004"
        return Decimal(repr(value))
    if isinstance(value, str):
        text = value
        if not _MONEY_TEXT.match(text):
            digits = _DIGITS.match(text)
            if digits and len(text.split(".")[0]) > 13:
                raise ValueProblem(f"{value!r} is implausibly large", "less than 10,000,000,000,000.00")
            if digits:
                raise ValueProblem(f"{value!r} has more than 2 decimals (amounts are exact to the fen: at most 2 "
                                   "decimals)", "at most 2 decimals (fen)")
            raise ValueProblem(f"{value!r} is not a non-negative amount with at most 2 decimals",
                               "an amount like \"300.00\"")
        return Decimal(text)
    raise ValueProblem(f"{type(value).__name__} is not an amount", "an amount like \"300.00\"")


_MONEY_FAST = re.compile(r"([0-9]{1,13})(?:\.([0-9]{1,2}))?\Z")


def parse_money(value: Any) -> int:
    """Yuan (string/number, <= 2 decimals, >= 0) -> integer fen."""
    if type(value) is str:  # the common case, without Decimal
        match = _MONEY_FAST.match(value)
        if match:
            whole, cents = match.groups()
            return int(whole) * 100 + (int(cents) * (10 if len(cents) == 1 else 1) if cents else 0)
    try:
        amount = _decimal_of(value)
    except InvalidOperation as exc:  # pragma: no cover - guarded by the regex
        raise ValueProblem(str(exc), "an amount like \"300.00\"") from exc
    if not amount.is_finite():  # before any comparison: a signalling NaN raises on one
        raise ValueProblem(f"{_short(value)} is not a finite amount", "an amount like \"300.00\"")
    if amount.is_signed() and amount:
        raise ValueProblem(f"{_short(value)} is negative", "an amount >= 0")
    # Bound the size before any arithmetic: int(Decimal("1e999999999") * 100) would build a
    # billion-digit integer (minutes, gigabytes), and 1e999999 * 100 overflows the context.
    if amount and amount.adjusted() >= 13:  # i.e. fen >= MAX_FEN
        raise ValueProblem(f"{_short(value)} is implausibly large", "less than 10,000,000,000,000.00")
    if amount and amount.as_tuple().exponent < -2 and amount.adjusted() < -2:
        raise ValueProblem(f"{_short(value)} has more than 2 decimals", "at most 2 decimals (fen)")
    fen = amount.scaleb(2)
    if fen != fen.to_integral_value():
        raise ValueProblem(f"{_short(value)} has more than 2 decimals", "at most 2 decimals (fen)")
    return int(fen)


def _short(value: Any) -> str:
    """``repr`` of a value as messages quote it, never thousands of characters long."""
    if type(value) is int and value.bit_length() > 256:  # repr() refuses ints over 4,300 digits
        return f"a {'negative ' if value < 0 else ''}number of about {int(value.bit_length() * 0.30103)} digits"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def format_money(fen: int) -> str:
    """Integer fen -> ``"1234.50"``."""
    if fen >= 0:
        return "%d.%02d" % divmod(fen, 100)  # noqa: UP031 - the fastest form on the hot path
    return "-%d.%02d" % divmod(-fen, 100)  # noqa: UP031


def parse_percent(value: Any) -> int:
    """``60`` / ``"82.5"`` / ``Decimal("55")`` -> basis points (6000, 8250, 5500)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueProblem(f"{value!r} is not a percentage", "a percentage like 60 or 82.5")
    text = value.strip().removesuffix("%").strip() if isinstance(value, str) else str(_decimal_of(value))
    if not _PERCENT_TEXT.match(text):
        raise ValueProblem(f"{value!r} is not a percentage between 0 and 100 with <= 2 decimals",
                           "a percentage like 60 or 82.5")
    points = int(Decimal(text) * 100)
    if points > 10000:
        raise ValueProblem(f"{value!r} is more than 100%", "a percentage between 0 and 100")
    return points


def format_percent(points: int) -> str:
    whole, frac = divmod(points, 100)
    return f"{whole}%" if frac == 0 else f"{whole}.{frac:02d}".rstrip("0") + "%"


def percent_of(fen: int, points: int) -> int:
    """``fen x points / 10000`` rounded half up to the fen (both non-negative)."""
    return (fen * points * 2 + 10000) // 20000


_DATES: dict[str, int] = {}


def parse_date(value: Any) -> int:
    """ISO ``YYYY-MM-DD`` (or a ``datetime.date``) -> ``YYYYMMDD`` int, calendar-checked."""
    if type(value) is str:
        known = _DATES.get(value)
        if known is not None:
            return known
        result = _parse_date(value)
        if len(_DATES) < 100_000:
            _DATES[value] = result
        return result
    return _parse_date(value)


def _parse_date(value: Any) -> int:
    if isinstance(value, _dt.datetime):
        raise ValueProblem(f"{value!r} has a time of day", "a date YYYY-MM-DD")
    if isinstance(value, _dt.date):
        return value.year * 10000 + value.month * 100 + value.day
    if not isinstance(value, str):
        raise ValueProblem(f"{value!r} is not a date", "a date YYYY-MM-DD")
    match = _DATE_TEXT.match(value)
    if not match:
        raise ValueProblem(f"{value!r} is not an ISO date", "a date YYYY-MM-DD")
    year, month, day = (int(g) for g in match.groups())
    try:
        _dt.date(year, month, day)
    except ValueError as exc:
        raise ValueProblem(f"{value!r} is not a calendar date ({exc})", "a real date YYYY-MM-DD") from exc
    return year * 10000 + month * 100 + day


def format_date(value: int) -> str:
    return f"{value // 10000:04d}-{value // 100 % 100:02d}-{value % 100:02d}"


def date_of(value: int) -> _dt.date:
    return _dt.date(value // 10000, value // 100 % 100, value % 100)


def int_of(day: _dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def next_day(value: int) -> int:
    return int_of(date_of(value) + _dt.timedelta(days=1))


def previous_day(value: int) -> int:
    return int_of(date_of(value) - _dt.timedelta(days=1))


def today() -> int:
    return int_of(_dt.date.today())


def json_token(value: Any) -> str:
    """The JSON text of a scalar exactly as ``json.dumps(..., ensure_ascii=False)`` writes it."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _esc(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
