"""The decision log's compact line in C (``engine/runtime/_logline.c``), against the Python it
replaces: the same pseudonyms (HMAC-SHA-256), the same facts JSON as orjson and json write, UTC
timestamps, and every value it does not take handed back to the Python path (None) rather than
written differently.  Its ids are tested with Python's in test_log_compact."""

from __future__ import annotations

import datetime as _dt
import re
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core.privacy import Pseudonyms
from engine.runtime import auditlog

_logline = auditlog._logline
SALT = b"test-salt"
MARKERS = dict(head=b"<", timestamp=b"|", ineligible=b"N", eligible=b"Y", payment=b"P", end=b"$")
LINE = re.compile(rb"<([0-9a-f-]{36})\|(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00)MDF(.*)RDE([NY])(\[.*?\])"
                  rb"(?:P(.*))?\$", re.S)
NONE: tuple[Any, ...] = ()  # no reasons: an empty branch_of and table
PARTS = (b"M", b"F", b"R", b"E", NONE)  # to the date, to the facts, to the record's date, to eligible; reasons


def writer(salt: bytes = SALT) -> Any:
    assert _logline is not None, "the C extension is built by pip install (setup.py): it must be the one tested"
    return _logline.LineWriter(salt, **MARKERS)


def facts_of(made: tuple[str, bytes] | None) -> bytes | None:
    if made is None:
        return None
    match = LINE.fullmatch(made[1])
    assert match is not None, made[1][:200]
    assert match.group(1).decode() == made[0]
    return match.group(3)


def python_facts(document: Any, salt: bytes = SALT) -> bytes:
    return orjson.dumps(auditlog.masked_facts(document, Pseudonyms(salt)), default=auditlog._json_default)


@pytest.fixture(params=["cpu", "portable"])
def sha(request: pytest.FixtureRequest) -> Any:
    """Both SHA-256 compressions: the CPU's SHA extensions where it has them, and portable C."""
    assert _logline is not None
    was_portable = not _logline.use_portable(request.param == "portable")
    yield request.param
    _logline.use_portable(was_portable)


@pytest.mark.parametrize("salt", [b"x", b"s" * 63, b"s" * 64, b"s" * 65, b"long" * 40, "盐".encode(), bytes(range(256))])
def test_pseudonyms_are_pythons(salt: bytes, sha: str) -> None:
    hide, native = Pseudonyms(salt), writer(salt)
    for length in [*range(0, 130), 1000]:  # messages across SHA-256's block boundaries
        for value in ("a" * length, "中" * length, ("é\u2028-9" * length)[:length]):
            assert native.pseudonym(value) == hide(value)
    assert native.pseudonym("\ud800") is None  # not UTF-8: Python's path replaces it first


TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12) | st.sampled_from(
    ['"', "\\", "\x00", "\x1f", "\x7f", "\b\f\n\r\t", "\u2028\u2029", "😀", "中文", "</script>", ""])
LEAF = (TEXT | st.none() | st.booleans() | st.integers(min_value=-2**63, max_value=2**63 - 1)
        | st.decimals(allow_nan=False, allow_infinity=False, places=2))
VALUE = st.recursive(LEAF, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                     max_leaves=20)
PARTY = st.dictionaries(TEXT, VALUE, max_size=4).flatmap(
    lambda party: st.sampled_from([party, {**party, "id": "A-1"}, {"id": "341102198001011234", **party},
                                   {**party, "id": 7}, {**party, "id": None}]))
DOCUMENT = st.dictionaries(TEXT | st.sampled_from(["authorizer", "beneficiary"]), VALUE, max_size=6).flatmap(
    lambda doc: st.tuples(PARTY, PARTY).map(lambda parties: {**doc, "authorizer": parties[0],
                                                             "beneficiary": parties[1]}))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENT, st.booleans())
def test_the_facts_are_the_json_orjson_writes_with_ids_masked(document: dict[str, Any], eligible: bool) -> None:
    made = writer().line(document, PARTS, b"D", eligible, {}, None)
    assert facts_of(made) == python_facts(document)
    assert made is not None and made[1].endswith(b"Y[]$" if eligible else b"N[]$")


def test_the_parts_are_joined_in_the_lines_order() -> None:
    made = writer().line({"request": "payment"}, PARTS, b"D", 1, {}, b'{"total":"1.00"}')
    assert made is not None
    assert LINE.fullmatch(made[1]).group(6) == b'{"total":"1.00"}'  # type: ignore[union-attr]
    with pytest.raises(TypeError):
        writer().line({}, ("M", b"F", b"R", b"E", NONE), b"D", True, {}, None)  # text where bytes are due: a bug


TABLE = ((None, (True, b"f0")), ((False, b"p1"), (True, b"f1")), ((False, b"p2"), None), ((True, b"f3"),))


@pytest.mark.parametrize("branch_of, reasons", [
    ({1: 0, 0: 1, 3: 0, 2: 0}, b"[f0,f3,p1,p2]"),  # failing first, then the others, each in slot order
    ({3: 0, 2: 1, 1: 1, 0: 0}, b"[f1,f3]"),  # branches that make no reason are left out
    ({2: 0}, b"[p2]"), ({}, b"[]"), ({0: 0}, b"[]"),
])
def test_the_reasons_are_pythons_record_reasons(branch_of: dict[int, int], reasons: bytes) -> None:
    from types import SimpleNamespace

    from engine.runtime import render

    made = writer().line({}, (*PARTS[:4], TABLE), b"D", True, branch_of, None)
    assert made is not None and LINE.fullmatch(made[1]).group(5) == reasons  # type: ignore[union-attr]
    segment = SimpleNamespace(_renderer=SimpleNamespace(record_table=lambda: TABLE))
    assert render.record_reasons(SimpleNamespace(segment=segment, branch_of=branch_of)) == reasons


@pytest.mark.parametrize("branch_of", [{4: 0}, {0: 2}, {-1: 0}, {0: -1}, {True: 0}, {0: 2**70}, {"0": 0}])
def test_a_branch_the_table_does_not_know_goes_to_the_python_path(branch_of: dict[Any, Any]) -> None:
    assert writer().line({}, (*PARTS[:4], TABLE), b"D", True, branch_of, None) is None


class Sub(dict):  # type: ignore[type-arg]
    pass


class Text(str):
    pass


@pytest.mark.parametrize("document", [
    {"amount": 78.9},  # floats: the Python path (json's and orjson's repr)
    {"as_of": _dt.date(2025, 1, 2)},
    {"n": 2**63}, {"n": -2**63 - 1}, {"n": 2**70},
    {"s": "\ud800"}, {"\udfff": 1}, {1: "key not text"},
    {"authorizer": {"id": "A-\ud800"}},
    {"authorizer": {"id": Text("A-1")}},
    {"x": Sub(a=1)}, {"x": (1, 2)}, {"x": {1, 2}}, {"x": Text("t")},
], ids=repr)
def test_what_c_does_not_write_goes_to_the_python_path(document: dict[Any, Any]) -> None:
    assert writer().line(document, PARTS, b"D", True, {}, None) is None
    assert writer().line(Sub(document), PARTS, b"D", True, {}, None) is None


def test_the_widest_integers_c_writes() -> None:
    document = {"n": [2**63 - 1, -2**63, 0, -1]}
    assert facts_of(writer().line(document, PARTS, b"D", True, {}, None)) == python_facts(document)


def test_decimals_are_written_as_their_text() -> None:
    document = {"a": Decimal("1.20"), "b": Decimal("-0"), "c": Decimal("1E+3")}
    assert facts_of(writer().line(document, PARTS, b"D", True, {}, None)) == b'{"a":"1.20","b":"-0","c":"1E+3"}'
    assert python_facts(document) == b'{"a":"1.20","b":"-0","c":"1E+3"}'


def test_timestamps_are_iso_utc_with_microseconds() -> None:
    before = _dt.datetime.now(_dt.UTC)
    made = writer().line({}, PARTS, b"D", True, {}, None)
    after = _dt.datetime.now(_dt.UTC)
    assert made is not None
    stamp = LINE.fullmatch(made[1]).group(2).decode()  # type: ignore[union-attr]
    assert before <= _dt.datetime.fromisoformat(stamp) <= after
