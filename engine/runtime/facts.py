"""Fact document -> normalized facts (integer fen, YYYYMMDD dates, pooling codes).

Both normalizers are derived from the fact catalog (:data:`engine.core.catalog.CATALOG`):

* the fast path is Python source generated from the catalog, one straight-line function per
  request type, that validates while it converts and gives up (``_Bad``) at the first doubt;
* the careful path walks the catalog, collects every semantic problem (calendar dates, region
  prefixes, decimals, periods) and re-checks the document with ``jsonschema`` against the
  generated ``schemas/facts.schema.json`` (the reference): every problem is raised together as
  one :class:`FactError`, personal data masked by field (:mod:`engine.privacy`).

A property test keeps the two in agreement with the schema, in both directions.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from collections.abc import Mapping

from ..core import catalog, values
from ..core.catalog import CATALOG, DOCUMENT, GROUPS, Field
from ..core.errors import FactError, Issue, SourceLocation
from ..core.load import SourceMap
from ..core.privacy import mask_issue
from ..core.regions import pool_code, province_code, region_problem
from ..core.validate import validate

ENUMS = catalog.ENUMS
MAX_DEPTH = 16  # the catalog nests 3 deep; anything deeper is refused without being walked


@dataclass(slots=True)
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
    """The fast path's doubt: hand the document to the careful path."""


# ----------------------------------------------------------------------------- shared value rules


def _integral(value: Any) -> Any:
    """JSON Schema counts 2.0 as an integer; so does the normalizer (exactly, never rounding).

    A Decimal is converted only when it is finite and small: ``int(Decimal("1e999999999"))``
    would build a billion-digit integer (issue 14)."""
    if type(value) is float and value.is_integer() and abs(value) < 1e18:
        return int(value)
    if type(value) is Decimal and value.is_finite() and value.adjusted() < 18 and value == value.to_integral_value():
        return int(value)
    return value


def _show(value: Any) -> Any:
    return str(value) if type(value) is Decimal else value


def _as_region(code: Any) -> tuple[str, str]:
    """(pool, province) of a valid region code; raises _Bad otherwise.  Cached: a service sees few codes."""
    known = _REGIONS.get(code)
    if known is not None:
        return known
    if type(code) is not str or region_problem(code) is not None:
        raise _Bad
    known = (pool_code(code), province_code(code))
    if len(_REGIONS) < 100_000:
        _REGIONS[code] = known
    return known


_REGIONS: dict[str, tuple[str, str]] = {}


def _as_date(text: Any) -> int:
    if type(text) is not str:
        raise _Bad
    return values.parse_date(text)


# ----------------------------------------------------------------------------- the careful path


class _Normalizer:
    """Walks the catalog over any input; records whether anything is wrong and the semantic issues."""

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

    def value(self, spec: Field, value: Any, pointer: str, base: dict[str, Any]) -> Any:
        kind = spec.type.kind
        if kind == "enum":
            value = _integral(value)
            if isinstance(value, bool) or not _hashable(value) or value not in spec.type.domain:
                self.fail(pointer)
                return spec.type.domain[0]
            return value
        if kind == "bool":
            if type(value) is not bool:
                self.fail(pointer)
                return False
            return value
        if kind == "int":
            value = _integral(value)
            if type(value) is not int or not spec.low <= value <= spec.high:  # type: ignore[operator]
                self.fail(pointer)
                return spec.low
            return value
        if kind == "text":
            if not isinstance(value, str) or not spec.low <= len(value) <= spec.high:  # type: ignore[operator]
                self.fail(pointer)
                return ""
            return value
        if kind == "map":
            if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                      for k, v in value.items()):
                self.fail(pointer)
                return {}
            return dict(value)
        if kind == "money":
            return self.money(spec, value, pointer)
        if kind == "date":
            return self.date(spec, value, pointer, base)
        if kind == "region":
            return self.region(value, pointer)
        raise AssertionError(f"no normalizer for {kind!r}")  # pragma: no cover - a new kind needs one

    def money(self, spec: Field, value: Any, pointer: str) -> int:
        try:
            fen = values.parse_money(value)
        except values.ValueProblem as exc:
            self.fail(pointer, "invalid_money", str(exc), exc.expected, _show(value))
            return 0
        if spec.low is not None and fen < spec.low:
            self.fail(pointer, "invalid_money", f"the amount must be at least {values.format_money(spec.low)}",
                      f"an amount >= {values.format_money(spec.low)}", _show(value))
        return fen

    def date(self, spec: Field, value: Any, pointer: str, base: dict[str, Any]) -> int:
        if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
            day = values.int_of(value)
        elif not isinstance(value, str):
            self.fail(pointer)
            return 0
        else:
            try:
                day = values.parse_date(value)
            except values.ValueProblem as exc:
                self.fail(pointer, "invalid_date", str(exc), exc.expected, value)
                return 0
        floor = base.get(catalog.DOC_BY_PATH[spec.after].key) if spec.after else None
        if floor and day < floor:
            self.fail(pointer, "invalid_period", f"the {spec.title_en} is before the "
                      f"{catalog.DOC_BY_PATH[spec.after].title_en}", f"a date on or after {values.format_date(floor)}",
                      _show(value) if isinstance(value, str) else values.format_date(day))
        return day

    def region(self, value: Any, pointer: str) -> str:
        if not isinstance(value, str):
            self.fail(pointer)
            return "000000"
        problem = region_problem(value)
        if problem:
            self.fail(pointer, "invalid_region_code", f"{value!r} {problem}", catalog.EXPECTED["region"], value)
            return "000000"
        return value


# Stand-ins for missing required values, so the walk goes on and finds every other problem.
_PLACEHOLDER: dict[str, Any] = {"bool": False, "text": "", "map": {}, "money": 0, "date": 0, "region": "000000"}


def _hashable(value: Any) -> bool:
    return isinstance(value, (str, int, float, Decimal, bool))


def _children(prefix: str) -> frozenset[str]:
    names = {f.name for f in DOCUMENT if f.parent == prefix}
    names |= {g.path.rsplit(".", 1)[-1] for g in GROUPS if g.path.rpartition(".")[0] == prefix}
    return frozenset(names)


_ALLOWED = {prefix: _children(prefix) for prefix in [""] + [g.path for g in GROUPS]}


def _careful(doc: Any, as_of: int | None, default_as_of: int | None) -> Facts:
    norm = _Normalizer()
    containers: dict[str, dict[str, Any]] = {"": norm.mapping(doc, _ALLOWED[""], "")}
    request = norm.value(catalog.DOC_BY_PATH["request"], containers[""].get("request"), "/request", {})
    if "request" not in containers[""]:
        norm.fail("")
    for group in GROUPS:  # parents come before their children in GROUPS
        parent = containers.get(group.path.rpartition(".")[0], {})
        name = group.path.rsplit(".", 1)[-1]
        pointer = "/" + group.path.replace(".", "/")
        if request not in group.requests:
            if name in parent:
                norm.fail(pointer)
            containers[group.path] = {}
        elif name not in parent:
            if group.required:
                norm.fail(pointer.rpartition("/")[0])
            containers[group.path] = {}
        else:
            containers[group.path] = norm.mapping(parent[name], _ALLOWED[group.path], pointer)
    base: dict[str, Any] = {}
    ids: dict[str, str] = {}
    switches: dict[str, str] = {}
    late: list[Field] = []
    for spec in CATALOG:
        container = containers.get(spec.parent, {})
        pointer = "/" + spec.path.replace(".", "/")
        if request not in spec.requests:
            if spec.name in container and not spec.computed:
                norm.fail(pointer)
            continue
        if spec.computed or (spec.fallback and spec.name not in container):
            late.append(spec)
            continue
        if spec.path == "request":
            base[spec.key] = request
            continue
        if spec.default == "today":  # the decision date: an override wins over the document
            if as_of is None:
                raw = container.get(spec.name)
                as_of = (default_as_of if default_as_of is not None else values.today()) if raw is None \
                    else norm.value(spec, raw, pointer, base)
            base[spec.key] = as_of
            continue
        if spec.name not in container:
            if spec.required:
                norm.fail(pointer.rpartition("/")[0])
                value = _PLACEHOLDER.get(spec.type.kind, spec.type.domain[:1] or (spec.low,))
                value = value[0] if isinstance(value, tuple) else value
            elif spec.default is not None:
                value = norm.value(spec, spec.default, pointer, base)
            else:
                value = None
        else:
            value = norm.value(spec, container[spec.name], pointer, base)
        if spec.nullable:
            base[spec.set_key] = value is not None
            value = 0 if value is None else value
        if spec.pii:
            ids[spec.parent] = value or ""
        elif spec.type.kind == "map":
            switches = value or {}
        elif spec.key:
            base[spec.key] = value
    for spec in sorted(late, key=lambda f: not f.computed):
        source = base[catalog.DOC_BY_PATH[spec.fallback].key if spec.fallback in catalog.DOC_BY_PATH
                      else catalog.BY_PATH[spec.fallback].key]
        if spec.derive:
            base[spec.key] = pool_code(source) if spec.derive == "pool" else province_code(source)
        else:
            base[spec.key] = source
    if norm.bad:
        raise _fact_error(doc, norm.semantic)
    return Facts(request, as_of, base["city"], switches, base, ids, doc)  # type: ignore[arg-type]


def _fact_error(doc: Any, semantic: list[Issue]) -> FactError:
    smap = SourceMap(file="")
    jsonable, too_deep = _jsonable(doc, "", 0)
    structural = validate("facts", jsonable, smap)
    seen = {i.location.pointer for i in structural}
    issues = structural + [i for i in semantic if i.location.pointer not in seen]
    issues += [Issue("nesting_too_deep", f"the document nests deeper than {MAX_DEPTH} levels",
                     SourceLocation(pointer=pointer)) for pointer in too_deep]
    if not issues:  # pragma: no cover - the test suite keeps the normalizer and the schema in agreement
        issues = [Issue("invalid_document", "the fact document is invalid", SourceLocation(pointer=""))]
    return FactError([_clipped(mask_issue(i, doc)) for i in issues], f"invalid fact document: {len(issues)} problem(s)")


_LONG_NUMBER = re.compile(r"[0-9]{40,}")


def _clipped(item: Issue) -> Issue:
    """A 5,000-digit number is shown by its first digits and its length, never in full."""

    def clip(text: str) -> str:
        return _LONG_NUMBER.sub(lambda m: f"{m.group(0)[:12]}…({len(m.group(0))} digits)", text)

    message = clip(item.message)
    found = item.found
    if type(found) is int and found.bit_length() > 256:  # str() refuses ints past 4,300 digits
        found = str(Decimal(found))
    found = clip(found) if isinstance(found, str) else found
    if message == item.message and found == item.found:
        return item
    return Issue(item.code, message, item.location, item.expected, found, item.severity, item.hint)


_CUT = "…"


def _jsonable(value: Any, pointer: str, depth: int) -> tuple[Any, list[str]]:
    """The document as JSON Schema sees it: dates as text, integral Decimals as ints, and nothing
    deeper than MAX_DEPTH (walked without recursion limits: a 100,000-deep list is cut, not followed)."""
    if depth > MAX_DEPTH:
        return _CUT, [pointer]
    if isinstance(value, dict):
        out, deep = {}, []
        for key, item in value.items():
            out[key], inner = _jsonable(item, f"{pointer}/{key}", depth + 1)
            deep += inner
        return out, deep
    if isinstance(value, (list, tuple)):
        items, deep = [], []
        for index, item in enumerate(value):
            converted, inner = _jsonable(item, f"{pointer}/{index}", depth + 1)
            items.append(converted)
            deep += inner
        return items, deep
    if isinstance(value, _dt.date):
        return value.isoformat(), []
    if type(value) is int and value.bit_length() > 256:
        return Decimal(value), []  # jsonschema's messages repr() it: refused past 4,300 digits as an int
    if type(value) is Decimal:
        if value.is_nan():
            return str(value), []  # jsonschema compares numbers; a NaN, signalling or not, is no number
        return _integral(value), []
    return value, []


# ----------------------------------------------------------------------------- the fast path (generated)


def _fast_source(request: str) -> str:
    """Python source of the fast normalizer of one request type, straight from the catalog.

    No key set is compared up front: every known key is read once, and at the end each object
    must hold exactly as many keys as were read (so an unknown key, or an explicit null read as
    "absent", sends the document to the careful path)."""
    lines = [f"def _fast_{request}(doc, as_of, default_as_of):", "    try:"]
    emit = lines.append
    containers = {"": "doc"}
    counted: dict[str, int] = {"doc": 0}  # container variable -> keys read for sure
    optional_count: set[str] = set()  # containers whose count also has a running part

    def read(container: str, name: str, required: bool, var: str, indent: str) -> None:
        if required:
            counted[container] += 1
            emit(f"{indent}{var} = {container}[{name!r}]")
        else:
            emit(f"{indent}{var} = {container}.get({name!r})")
            if container not in optional_count:
                optional_count.add(container)
                lines.insert(2, f"        n_{container} = 0")

    emit("        if type(doc) is not dict:")
    emit("            raise _Bad")
    for index, group in enumerate(GROUPS):
        if request not in group.requests:
            continue
        var = f"c{index}"
        parent = containers[group.path.rpartition(".")[0]]
        name = group.path.rsplit(".", 1)[-1]
        containers[group.path] = var
        counted[var] = 0
        read(parent, name, group.required, var, "        ")
        if group.required:
            emit(f"        if type({var}) is not dict:")
            emit("            raise _Bad")
        else:
            emit(f"        if {var} is None:")
            emit(f"            {var} = _EMPTY")
            emit(f"        elif type({var}) is not dict:")
            emit("            raise _Bad")
            emit("        else:")
            emit(f"            n_{parent} += 1")
    out: dict[str, str] = {}  # base key -> expression
    ids: dict[str, str] = {}
    regions: dict[str, str] = {}  # path -> variable holding (pool, province)
    switches = "{}"
    late = []
    for spec in CATALOG:
        if request not in spec.requests:
            continue
        if spec.computed or spec.fallback:
            late.append(spec)
            continue
        container = containers[spec.parent]
        var = "v_" + (spec.key or spec.path.replace(".", "_"))
        kind = spec.type.kind
        indent = "        "
        if spec.path == "request":
            counted[container] += 1
            out[spec.key] = repr(request)
            continue
        read(container, spec.name, spec.required, var, indent)
        if spec.default == "today":  # the decision date: an override wins over the document
            emit(f"{indent}if {var} is not None:")
            emit(f"{indent}    n_{container} += 1")
            emit(f"{indent}if as_of is None:")
            emit(f"{indent}    as_of = (default_as_of if default_as_of is not None else _today()) if {var} is None "
                 f"else (_DATES.get({var}) or _as_date({var}))")
            out[spec.key] = "as_of"
            continue
        if not spec.required:
            emit(f"{indent}if {var} is None:")
            if spec.nullable:
                emit(f"{indent}    {var}_set = False")
                emit(f"{indent}    {var} = 0")
            elif spec.default is not None:
                emit(f"{indent}    {var} = {_convert_constant(spec)!r}")
            else:
                emit(f"{indent}    {var} = {{}}")
            emit(f"{indent}else:")
            indent += "    "
            emit(f"{indent}n_{container} += 1")
            if spec.nullable:
                emit(f"{indent}{var}_set = True")
        if kind == "enum":
            elem = type(spec.type.domain[0]).__name__
            emit(f"{indent}if type({var}) is not {elem} or {var} not in _D_{spec.type.name}:")
            emit(f"{indent}    raise _Bad")
        elif kind == "bool":
            emit(f"{indent}if type({var}) is not bool:")
            emit(f"{indent}    raise _Bad")
        elif kind == "int":
            emit(f"{indent}if type({var}) is not int or not {spec.low} <= {var} <= {spec.high}:")
            emit(f"{indent}    raise _Bad")
        elif kind == "text":
            emit(f"{indent}if type({var}) is not str or not {spec.low} <= len({var}) <= {spec.high}:")
            emit(f"{indent}    raise _Bad")
        elif kind == "map":
            emit(f"{indent}if type({var}) is not dict or not all(type(k) is str and type(o) is str "
                 f"for k, o in {var}.items()):")
            emit(f"{indent}    raise _Bad")
            emit(f"{indent}{var} = dict({var})")
        elif kind == "region":
            emit(f"{indent}{var}_r = _REGIONS.get({var}) or _as_region({var})")
            regions[spec.path] = f"{var}_r"
        elif kind == "money":  # "1234.50" inline; other forms (or junk) through _money
            emit(f"{indent}{var} = int({var}.replace('.', '')) if type({var}) is str and _CENTS({var}) "
                 f"else _money({var})")
            if spec.low is not None:
                emit(f"{indent}if {var} < {spec.low}:")
                emit(f"{indent}    raise _Bad")
        elif kind == "date":
            emit(f"{indent}{var} = _DATES.get({var}) or _as_date({var})")
            if spec.after:
                emit(f"{indent}if {var} < v_{catalog.DOC_BY_PATH[spec.after].key}:")
                emit(f"{indent}    raise _Bad")
        else:  # pragma: no cover - a new kind needs its fast form here
            raise AssertionError(f"no fast normalizer for {kind!r}")
        if spec.pii:
            ids[spec.parent] = var
        elif kind == "map":
            switches = var
        else:
            out[spec.key] = var
            if spec.nullable:
                out[spec.set_key] = f"{var}_set"
    for spec in sorted(late, key=lambda f: not f.computed):
        if spec.derive:
            out[spec.key] = f"{regions[spec.fallback]}[{0 if spec.derive == 'pool' else 1}]"
        else:  # absent: another field's value (the city defaults to the authorizer's pool)
            var = "v_" + spec.key
            container = containers[spec.parent]
            read(container, spec.name, False, var, "        ")
            emit(f"        if {var} is None:")
            emit(f"            {var} = {out[catalog.BY_PATH[spec.fallback].key]}")
            emit("        else:")
            emit(f"            n_{container} += 1")
            emit(f"            _as_region({var})")
            out[spec.key] = var
    for container, count in counted.items():
        total = f"{count} + n_{container}" if container in optional_count else str(count)
        emit(f"        if len({container}) != {total}:")
        emit("            raise _Bad")
    emit("    except (KeyError, TypeError, ValueError, AttributeError, IndexError):")
    emit("        raise _Bad from None")
    base = ", ".join(f"{key!r}: {expr}" for key, expr in out.items())
    id_map = ", ".join(f"{role!r}: {var}" for role, var in ids.items())
    emit(f"    return Facts({request!r}, as_of, {out['city']}, {switches}, {{{base}}}, {{{id_map}}}, doc)")
    return "\n".join(lines) + "\n"


def _convert_constant(spec: Field) -> Any:
    if spec.type.kind == "money":
        return values.parse_money(spec.default)
    if spec.type.kind == "date":
        return values.parse_date(spec.default)
    return spec.default


def _money(text: Any) -> int:
    """Fen of an amount given as text in the plain form; anything else is the careful path's."""
    if type(text) is not str:
        raise _Bad
    match = _MONEY_FAST(text)
    if match is None:
        raise _Bad
    whole, cents = match.groups()
    if cents is None:
        return int(whole) * 100
    return int(whole) * 100 + int(cents) * (10 if len(cents) == 1 else 1)


def _build_fast() -> dict[str, Any]:
    namespace: dict[str, Any] = {"_Bad": _Bad, "Facts": Facts, "_EMPTY": {}, "_REGIONS": _REGIONS,
                                 "_as_region": _as_region, "_as_date": _as_date, "_DATES": values._DATES,
                                 "_money": _money, "_today": values.today,
                                 "_CENTS": re.compile(r"[0-9]{1,13}\.[0-9]{2}\Z").match}
    namespace.update({f"_D_{name}": frozenset(domain) for name, domain in ENUMS.items()})
    functions = {}
    for request in ENUMS["request"]:
        source = _fast_source(request)
        exec(compile(source, f"<fast normalizer: {request}>", "exec"), namespace)  # the catalog is the only source
        functions[request] = namespace[f"_fast_{request}"]
    return functions


_MONEY_FAST = values._MONEY_FAST.match
_FAST = _build_fast()


def normalize(doc: Any, as_of: int | None = None, default_as_of: int | None = None) -> Facts:
    """Validate and convert one fact document; raises :class:`FactError` listing every problem.

    ``as_of`` (e.g. from ``--as-of``) overrides the document's; ``default_as_of`` is used when
    neither gives one (the API passes today).
    """
    if type(doc) is dict:
        request = doc.get("request")
        fast = _FAST.get(request) if type(request) is str else None
        if fast is not None:
            try:
                return fast(doc, as_of, default_as_of)  # type: ignore[no-any-return]
            except _Bad:
                pass
    return _careful(doc, as_of, default_as_of)
