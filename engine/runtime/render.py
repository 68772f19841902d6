"""Fast rendering of the decision: reasons, messages, derived facts — as dicts and as JSON.

Everything that does not depend on the decision (rule name, code, citation, effective period,
parameter values) is prepared once per compiled rule branch; per decision only the facts a
rule looked at, the message placeholders and the derived values are read.  Two functions are
generated from the same parts for each reason branch: one builds the dict, the other the
canonical JSON text directly, so a decision is never serialized twice (explanations and batch
rows use these).  ``to_dict`` and ``to_json`` go through two functions generated per compiled
segment from the same expressions (:meth:`SegmentRenderer.reasons_and_derived`): one branch test
per rule, every amount or date formatted once per decision.  The test suite checks that all of
them give the same bytes as ``json.dumps(to_dict(), ensure_ascii=False, separators=(",", ":"))``.
"""

from __future__ import annotations

import functools
import itertools
import json
from json.encoder import encode_basestring as _esc  # the escaping json.dumps(ensure_ascii=False) uses
from typing import Any
from collections.abc import Callable

from ..core import catalog, citations, values
from ..core.catalog import VType
from ..core.compile import CompiledRule, ParamUse, Segment, generated_code
from ..core.model import PLACEHOLDER, Text

SEPARATORS = (",", ":")


def dumps(value: Any) -> str:
    """The canonical JSON text of the engine: UTF-8 characters as is, no spaces."""
    return json.dumps(value, ensure_ascii=False, separators=SEPARATORS)


class FrozenDict(dict):  # type: ignore[type-arg]
    """A dict that refuses changes; copies of it are ordinary dicts."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("this part of a decision is shared between decisions and read-only; copy it first")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        import copy

        return {k: copy.deepcopy(v, memo) for k, v in self.items()}

    def __reduce__(self) -> Any:
        return (dict, (dict(self),))


class FrozenList(list):  # type: ignore[type-arg]
    """A list that refuses changes (equal to, and copied as, an ordinary list)."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("this part of a decision is shared between decisions and read-only; copy it first")

    __setitem__ = __delitem__ = __iadd__ = __imul__ = append = extend = insert = pop = remove = clear = \
        sort = reverse = _refuse  # type: ignore[assignment]

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        import copy

        return [copy.deepcopy(v, memo) for v in self]

    def __reduce__(self) -> Any:
        return (list, (list(self),))


def freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return FrozenList(freeze(v) for v in value)
    return value


# ------------------------------------------------------------------ value converters


def json_fn(vtype: VType | None) -> Callable[[Any], Any]:
    """engine value -> JSON value (None stays None)."""
    if vtype is None:
        return lambda v: v
    kind = vtype.kind
    if kind == "money":
        return lambda v: None if v is None else values.format_money(v)
    if kind == "date":
        return lambda v: None if v is None else values.format_date(v)
    if kind in ("percent", "set", "table"):
        return lambda v: None if v is None else catalog.to_json_value(vtype, v)
    return lambda v: v


def label_fn(vtype: VType | None, lang: str) -> Callable[[Any], str]:
    """engine value -> text in ``lang``."""
    none = "无" if lang == "zh" else "none"
    if vtype is None:
        return lambda v: none if v is None else str(v)
    if vtype.kind == "enum":
        names = {k: pair[0 if lang == "zh" else 1] for k, pair in catalog.LABELS.get(vtype.name, {}).items()}
        return lambda v: none if v is None else names.get(v, str(v))
    if vtype.kind == "money":
        unit = " 元" if lang == "zh" else " yuan"
        return lambda v: none if v is None else values.format_money(v) + unit
    if vtype.kind == "date":
        return lambda v: none if v is None else values.format_date(v)
    return lambda v: none if v is None else catalog.label(vtype, v, lang)


_token = values.json_token
# decision dates, authorization windows: a few thousand days recur across all decisions
_format_date = functools.lru_cache(maxsize=8192)(values.format_date)
format_date = _format_date


def derived_type(rule: CompiledRule, name: str) -> VType | None:
    for action in rule.version.actions:
        for derivation in (action.derive if action is not None else ()):
            if derivation.name == name:
                return derivation.vtype
    return None


_FORMATTERS = {"money": "_fm", "date": "_fd", "percent": "_fp"}  # generated-code names of the text formatters


class _Source:
    """Generated-code helper: constants and the expressions reading values."""

    def __init__(self) -> None:
        self.consts: dict[str, Any] = {"_esc": _esc, "_tok": _token, "_fm": values.format_money,
                                       "_fd": _format_date, "_fp": values.format_percent}
        self.reads: list[str] = []  # every raw read of the working memory, for the cache key
        self.recurring = True  # no read is an amount or a date: the same values recur across decisions

    def const(self, value: Any) -> str:
        name = f"_k{len(self.consts)}"
        self.consts[name] = value
        return name

    def raw(self, kind: str, name: str, rule: CompiledRule, types: dict[str, VType]) -> tuple[str, VType | None]:
        """Expression of the engine value (None when absent) and its type."""
        if kind == "fact":
            spec = catalog.BY_PATH[name]
            if spec.nullable:
                expr = f"(b[{spec.key!r}] if b[{spec.set_key!r}] else None)"
            else:
                expr = f"b[{spec.key!r}]"
            if expr not in self.reads:
                self.reads.append(expr)
                self.recurring = self.recurring and _recurs(spec.type)
            return expr, spec.type
        if kind == "param":
            use = rule.params.get(name)
            return self.const(use.value if use is not None else None), (use.param.type if use is not None else None)
        vtype = catalog.RESERVED_DERIVED.get(name) or derived_type(rule, name) or types.get(name)
        expr = f"d.get({name!r})"
        if expr not in self.reads:
            self.reads.append(expr)
            self.recurring = self.recurring and _recurs(vtype)
        return expr, vtype

    def value(self, raw: str, vtype: VType | None) -> str:
        """Expression of the JSON value."""
        kind = vtype.kind if vtype is not None else ""
        fn = _FORMATTERS.get(kind)
        if fn:
            return f"(None if {raw} is None else {fn}({raw}))"
        if kind in ("set", "table"):
            return f"(None if {raw} is None else {self.const(json_fn(vtype))}({raw}))"
        return raw

    def token(self, raw: str, vtype: VType | None) -> str:
        """Expression of the JSON text of the value."""
        kind = vtype.kind if vtype is not None else ""
        fn = _FORMATTERS.get(kind)
        if fn:
            return f"('null' if {raw} is None else '\"' + {fn}({raw}) + '\"')"
        if kind in ("set", "table"):
            return f"('null' if {raw} is None else {self.const(_json_text(json_fn(vtype)))}({raw}))"
        return f"_tok({raw})"

    def label(self, raw: str, vtype: VType | None, lang: str) -> str:
        """Expression of the text of the value in ``lang``."""
        none = "无" if lang == "zh" else "none"
        if vtype is not None and vtype.kind == "enum":
            names = {k: pair[0 if lang == "zh" else 1] for k, pair in catalog.LABELS.get(vtype.name, {}).items()}
            table = self.const(names)
            return f"({none!r} if {raw} is None else {table}.get({raw}, str({raw})))"
        if vtype is not None and vtype.kind in ("int", "region", "text"):
            return f"({none!r} if {raw} is None else str({raw}))"
        return f"{self.const(label_fn(vtype, lang))}({raw})"


class _SharedSource(_Source):
    """:class:`_Source` for one function rendering every reason of a segment: each read of the
    working memory, and each amount or date formatted, is computed once per decision into a
    local variable (the prologue), however many reasons show it."""

    def __init__(self) -> None:
        super().__init__()
        self.prologue: list[str] = []
        self.locals: dict[str, str] = {}  # expression -> local variable holding it
        self.reads_held: set[str] = set()  # the local variables holding a read of the working memory

    def local(self, expr: str) -> str:
        name = self.locals.get(expr)
        if name is None:
            name = f"_v{len(self.locals)}"
            self.locals[expr] = name
            self.reads_held.add(name)
            self.prologue.append(f"    {name} = {expr}")
        return name

    def raw(self, kind: str, name: str, rule: CompiledRule, types: dict[str, VType]) -> tuple[str, VType | None]:
        expr, vtype = super().raw(kind, name, rule, types)
        return (expr if kind == "param" else self.local(expr)), vtype

    def value(self, raw: str, vtype: VType | None) -> str:
        """A formatted amount, date or percentage: computed at its first use in the decision
        (most are shown only by some branches), then read from its local variable."""
        if vtype is not None and vtype.kind in _FORMATTERS and raw in self.reads_held:
            key = f"format {raw} {vtype.kind}"
            name = self.locals.get(key)
            if name is None:
                name = self.locals[key] = f"_v{len(self.locals)}"
                self.prologue.append(f"    {name} = _U")
            return f"({name} if {name} is not _U else ({name} := {_FORMATTERS[vtype.kind]}n({raw})))"
        return super().value(raw, vtype)

    def token(self, raw: str, vtype: VType | None) -> str:
        if vtype is not None and vtype.kind in _FORMATTERS and raw in self.reads_held:
            return f"('null' if {raw} is None else '\"' + {self.value(raw, vtype)} + '\"')"  # no escapes needed
        return super().token(raw, vtype)

    def label(self, raw: str, vtype: VType | None, lang: str) -> str:
        kind = vtype.kind if vtype is not None else ""
        if kind in _FORMATTERS and raw in self.reads_held:  # the text is the JSON value's (plus a unit)
            none = "无" if lang == "zh" else "none"
            unit = (" 元" if lang == "zh" else " yuan") if kind == "money" else ""
            shown = self.value(raw, vtype)
            return f"({none!r} if {raw} is None else {shown + ' + ' + repr(unit) if unit else shown})"
        return super().label(raw, vtype, lang)


_UNSET = object()  # generated code: a value not formatted yet in this decision


def _or_none(format_value: Callable[[Any], str]) -> Callable[[Any], str | None]:
    return lambda value: None if value is None else format_value(value)

CACHE_LIMIT = 30_000  # rendered reason parts, dicts and JSON kept by the whole process
_CACHE: dict[Any, Any] = {}
_TEMPLATE_IDS = itertools.count()


def _recurs(vtype: VType | None) -> bool:
    """Values of this type recur across a population (enums, flags, regions, small counts);
    amounts and dates rarely do, and caching them would only churn the cache."""
    return vtype is not None and vtype.kind not in ("money", "date", "percent", "text", "set", "table")


def remember(key: Any, value: Any) -> None:
    """Keep a rendering in the shared cache; when it is full it starts again (a bound, not a
    policy: the recurring combinations come back within a few decisions)."""
    if len(_CACHE) >= CACHE_LIMIT:
        _CACHE.clear()
    _CACHE[key] = value


def cache_size() -> int:
    return len(_CACHE)


def _json_text(convert: Callable[[Any], Any]) -> Callable[[Any], str]:
    return lambda value: dumps(convert(value))


def _message_expr(src: _Source, text: Text | None, lang: str, rule: CompiledRule, types: dict[str, VType]) -> str:
    template = text.get(lang) if text is not None else ""
    pieces: list[tuple[bool, str]] = []  # (is literal text, text or expression)
    position = 0
    for match in PLACEHOLDER.finditer(template):
        if match.start() > position:
            pieces.append((True, template[position:match.start()]))
        ref = match.group(1)
        kind, _, name = ref.partition(":") if ":" in ref else ("fact", "", ref)
        if kind == "param":  # constant in this period: its text is written once, here
            use = rule.params.get(name)
            pieces.append((True, label_fn(use.param.type if use else None, lang)(use.value if use else None)))
        else:
            raw, vtype = src.raw(kind, name, rule, types)
            pieces.append((False, src.label(raw, vtype, lang)))
        position = match.end()
    if position < len(template):
        pieces.append((True, template[position:]))
    merged: list[str] = []
    literal = ""
    for is_literal, text in pieces:
        if is_literal:
            literal += text
            continue
        if literal:
            merged.append(repr(literal))
            literal = ""
        merged.append(text)
    if literal or not merged:
        merged.append(repr(literal))
    return " + ".join(merged)


def _reason_exprs(src: _Source, rule: CompiledRule, branch: int, types: dict[str, VType],
                  tokens: bool = False) -> tuple[list[str], list[str], dict[int, Any]]:
    """The expressions of one reason's values (zh and en messages, then one per fact key: the
    JSON value, or with ``tokens`` its JSON text), the fact keys, and the constant (parameter)
    values by key index as (frozen value, JSON text)."""
    action = rule.branches[branch].action
    assert action is not None
    exprs = [_message_expr(src, action.message, "zh", rule, types),
             _message_expr(src, action.message, "en", rule, types)]
    keys: list[str] = []
    static: dict[int, Any] = {}
    for kind, names, prefix in (("fact", sorted(rule.version.facts), ""),
                                ("derived", sorted(rule.version.inputs), "derived."),
                                ("param", sorted(rule.params), "param.")):
        for name in names:
            keys.append(prefix + name)
            if kind == "param":
                use = rule.params[name]
                value = catalog.to_json_value(use.param.type, use.value) if use.value is not None else None
                static[len(keys) - 1] = (freeze(value), dumps(value))
                exprs.append("None")
            else:
                raw, vtype = src.raw(kind, name, rule, types)
                exprs.append(src.token(raw, vtype) if tokens else src.value(raw, vtype))
    return exprs, keys, static


class ReasonTemplate:
    """One reason for one branch of one compiled rule.

    ``values(b, d)`` (generated) reads the messages and the values the rule looked at, once;
    ``as_dict(values, fired)`` and ``as_json(values, fired)`` assemble the two forms from them."""

    def __init__(self, rule: CompiledRule, branch: int, types: dict[str, VType], segment: Segment):
        action = rule.branches[branch].action
        assert action is not None and action.outcome is not None
        version = rule.version.version
        src = _Source()
        exprs, keys, static = _reason_exprs(src, rule, branch, types)
        # The rendered values depend on nothing but the reads.  When no read is an amount or a
        # date, the same combinations recur across a population (statuses, relationships,
        # regions): they are kept, with their reason dict and JSON, in one cache shared by every
        # template of the process and bounded as a whole (CACHE_LIMIT), so memory stays flat
        # whatever the population and the number of compiled segments (issue 14).
        self.tid = next(_TEMPLATE_IDS)
        self.cached = src.recurring
        if self.cached:
            key = "(" + ", ".join(["_tid"] + src.reads) + ",)"  # the id from the namespace: the text recurs
            code = ("def values(b, d):\n"
                    f"    key = {key}\n"
                    "    hit = _cache.get(key)\n"
                    "    if hit is not None:\n"
                    "        return hit\n"
                    "    parts = (" + ", ".join(exprs) + ")\n"
                    "    _remember(key, parts)\n"
                    "    return parts\n")
        else:
            code = "def values(b, d):\n    return (" + ", ".join(exprs) + ",)\n"
        namespace: dict[str, Any] = dict(src.consts)
        namespace["_cache"] = _CACHE
        namespace["_remember"] = remember
        namespace["_tid"] = self.tid
        exec(generated_code(code, f"<reason {rule.rule_id} branch {branch}>"), namespace)
        self.values: Callable[[dict[str, Any], dict[str, Any]], tuple[Any, ...]] = namespace["values"]
        # values without the cache, for the segment renderer's misses (compiled on first use)
        self._compute = None if self.cached else self.values
        self._compute_source = ("def compute(b, d):\n    return (" + ", ".join(exprs) + ",)\n", namespace)
        self.rule, self.branch, self.types = rule, branch, types  # for the segment renderer's generated code
        self.reads = tuple(src.reads)
        self.keys = tuple(keys)
        self.key_json = tuple(_esc(k) + ":" for k in keys)
        self.static = static
        head = {"rule": f"{rule.version.rule.origin}.{rule.rule_id}", "outcome": action.outcome, "code": action.code}
        cited, inferred = citations.select(action.source.sources or version.sources, segment.city,
                                           dict(segment.documents))
        tail: dict[str, Any] = {"source": cited[0].to_json() if cited else None}
        if inferred:
            tail["inferences"] = [citations.inference_json(s) for s in inferred]
        tail["effective"] = version.period.to_json()
        if version.variant:
            tail["variant"] = dict(version.variant)
        if rule.params:
            tail["parameters"] = sorted(rule.params)
        self.head = head
        self.tail = tuple((k, freeze(v)) for k, v in tail.items())
        self.head_json = dumps(head)[:-1] + ',"message":{"zh":'
        # the decision log's compact record of this reason (not fired, fired): what the Rete chose
        self.record_json = (dumps(head)[:-1] + ',"established":"no_other_branch_fired"}',
                            dumps(head)[:-1] + ',"established":"fired"}')
        self.tail_json = ("," + dumps(tail)[1:-1]) if tail else ""
        self.fails = action.outcome == "fail"
        self._generate_as_dict()

    def compute(self, base: dict[str, Any], derived: dict[str, Any]) -> tuple[Any, ...]:
        """``values`` without the cache."""
        fn = self._compute
        if fn is None:
            source, namespace = self._compute_source
            namespace = dict(namespace)
            exec(generated_code(source, "<reason values>"), namespace)
            fn = self._compute = namespace["compute"]
        return fn(base, derived)  # type: ignore[no-any-return]

    def as_dict(self, parts: tuple[Any, ...], fired: bool) -> dict[str, Any]:
        """The reason dict: read-only, and shared between decisions that show the same values."""
        if not self.cached:
            return self._as_dict(parts, fired)  # type: ignore[no-any-return]
        key = ("d", self.tid, parts, fired)
        found = _CACHE.get(key)
        if found is None:
            found = self._as_dict(parts, fired)
            remember(key, found)
        return found  # type: ignore[no-any-return]

    def dict_display(self, part: Callable[[int], str], const: Callable[[Any], str], fired: str) -> str:
        """Source of the expression building this reason's dict: ``part(i)`` is the expression of
        value ``i`` (0, 1: the messages; 2 on: the facts), ``const(value)`` names a constant."""
        items = [f"{key!r}: {value!r}" for key, value in self.head.items()]
        items.append(f"'message': _F({{'zh': {part(0)}, 'en': {part(1)}}})")
        facts = [f"{key!r}: {const(self.static[index][0]) if index in self.static else part(index + 2)}"
                 for index, key in enumerate(self.keys)]
        items.append("'facts': _F({" + ", ".join(facts) + "})")
        items.extend(f"{key!r}: {const(value)}" for key, value in self.tail)
        if fired in ("True", "False"):  # known when the function is generated
            items.append(f"'established': {'fired' if fired == 'True' else 'no_other_branch_fired'!r}")
        else:
            items.append(f"'established': 'fired' if {fired} else 'no_other_branch_fired'")
        return "_F({" + ", ".join(items) + "})"

    def _generate_as_dict(self) -> None:
        """One dict display per template: the static parts are constants, the rest indexes."""
        namespace: dict[str, Any] = {"_F": FrozenDict}  # read-only: shared when cached

        def const(value: Any) -> str:
            name = f"_t{len(namespace)}"
            namespace[name] = value
            return name

        display = self.dict_display(lambda i: f"p[{i}]", const, "fired")
        exec(generated_code(f"def as_dict(p, fired):\n    return {display}\n", "<reason dict>"), namespace)
        self._as_dict = namespace["as_dict"]

    def as_json(self, parts: tuple[Any, ...], fired: bool) -> str:
        if not self.cached:
            return self._as_json(parts, fired)
        key = ("j", self.tid, parts, fired)
        text = _CACHE.get(key)
        if text is None:
            text = self._as_json(parts, fired)
            remember(key, text)
        return text  # type: ignore[no-any-return]

    def json_display(self, tokens: list[str], fired: bool) -> str:
        """Source of the expression building this reason's JSON text: ``tokens`` are the
        expressions of the two messages (text) and of the facts' JSON texts."""
        pieces = [repr(self.head_json), f"_esc({tokens[0]})", repr(',"en":'), f"_esc({tokens[1]})"]
        literal = '},"facts":{'
        for index, key in enumerate(self.key_json):
            literal += ("," if index else "") + key
            if index in self.static:
                literal += self.static[index][1]
            else:
                pieces.append(repr(literal))
                pieces.append(tokens[index + 2])
                literal = ""
        literal += "}" + self.tail_json + (',"established":"fired"}' if fired else
                                           ',"established":"no_other_branch_fired"}')
        pieces.append(repr(literal))
        return " + ".join(pieces)

    def _as_json(self, parts: tuple[Any, ...], fired: bool) -> str:
        static = self.static
        facts = ",".join(self.key_json[i] + (static[i][1] if i in static else _token(parts[i + 2]))
                         for i in range(len(self.keys)))
        return (self.head_json + _esc(parts[0]) + ',"en":' + _esc(parts[1]) + '},"facts":{' + facts + "}"
                + self.tail_json + (',"established":"fired"}' if fired else ',"established":"no_other_branch_fired"}'))


def parameter_entry(use: ParamUse, segment: Segment) -> dict[str, Any]:
    version = use.version
    entry: dict[str, Any] = {"origin": use.param.definition.origin,
                             "value": catalog.to_json_value(use.param.type, use.value)}
    if version is not None:
        entry["effective"] = version.period.to_json()
        if version.version.variant:
            entry["variant"] = dict(version.version.variant)
        cited, inferred = citations.select(version.version.sources, segment.city, dict(segment.documents))
        if cited:
            entry["source"] = cited[0].to_json()
        if inferred:
            entry["inferences"] = [citations.inference_json(s) for s in inferred]
        if version.version.note:
            entry["note"] = version.version.note
    if use.via is not None:
        entry["via"] = use.via.param.id
    return entry


def parameters_used(rule: CompiledRule, segment: Segment) -> list[dict[str, Any]]:
    """The parameter versions one rule used in this period (for explanations)."""
    return [{"id": name, **parameter_entry(use, segment)} for name, use in sorted(rule.params.items())]


class SegmentRenderer:
    """Per compiled segment: reason templates by (slot, branch), and the constant parts."""

    def __init__(self, segment: Segment):
        self.segment = segment
        self.types: dict[str, VType] = dict(catalog.RESERVED_DERIVED)
        for rule in segment.rules:
            for action in rule.version.actions:
                for derivation in (action.derive if action is not None else ()):
                    if derivation.vtype is not None:
                        self.types.setdefault(derivation.name, derivation.vtype)
        self.templates: dict[tuple[int, int], ReasonTemplate | None] = {}
        self._by_slot: tuple[tuple[ReasonTemplate | None, ...], ...] | None = None
        self._reasons: Callable[..., tuple[list[dict[str, Any]], dict[str, Any]]] | None = None
        self._reasons_json: Callable[..., tuple[str, str]] | None = None
        self._warm = self._warm_json = False  # rendered a decision already (through the templates)
        self._ruleset_json: dict[tuple[str, str, str], str] = {}
        self._switches_json: dict[tuple[tuple[str, str], ...], str] = {}
        self._record_table: tuple[tuple[tuple[bool, bytes] | None, ...], ...] | None = None
        self.log_parts: tuple[Any, ...] | None = None  # auditlog._line_parts: the compact line's own
        self._ruleset_dict: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._switches_dict: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
        uses: dict[str, ParamUse] = {}
        for rule in segment.rules:
            for use in rule.params.values():
                chain: ParamUse | None = use
                while chain is not None:
                    uses.setdefault(chain.param.id, chain)
                    chain = chain.via
        self.parameters = freeze({name: parameter_entry(uses[name], segment) for name in sorted(uses)})
        self.parameters_json = dumps(self.parameters)
        names = [name for rule in segment.rules for name in rule.version.derived]
        self.derived_names = tuple(names + ["eligible"])
        src = _Source()
        dict_items, json_items = [], []
        for name in names + ["eligible"]:
            raw = f"d.get({name!r})"
            vtype = self.types.get(name)
            dict_items.append(f"    if {name!r} in d: out[{name!r}] = {src.value(raw, vtype)}")
            json_items.append(f"    if {name!r} in d: parts.append({_esc(name) + ':'!r} + {src.token(raw, vtype)})")
        code = ("def derived_dict(d):\n    out = {}\n" + "\n".join(dict_items) + "\n    return out\n\n"
                "def derived_json(d):\n    parts = []\n" + "\n".join(json_items) +
                "\n    return '{' + ','.join(parts) + '}'\n")
        namespace: dict[str, Any] = dict(src.consts)
        exec(generated_code(code, f"<derived {segment.city}>"), namespace)
        self.derived_dict = namespace["derived_dict"]
        self.derived_json = namespace["derived_json"]

    def ruleset_json(self, ruleset_id: str, version: str, sha256: str) -> str:
        key = (ruleset_id, version, sha256)
        cached = self._ruleset_json.get(key)
        if cached is None:
            cached = dumps({"id": ruleset_id, "version": version, "sha256": sha256,
                            "period": self.segment.period.to_json()})
            self._ruleset_json[key] = cached
        return cached

    def ruleset_dict(self, ruleset_id: str, version: str, sha256: str) -> dict[str, Any]:
        """The decision's ``ruleset`` part: read-only, shared by the segment's decisions."""
        key = (ruleset_id, version, sha256)
        cached = self._ruleset_dict.get(key)
        if cached is None:
            cached = freeze({"id": ruleset_id, "version": version, "sha256": sha256,
                             "period": self.segment.period.to_json()})
            self._ruleset_dict[key] = cached
        return cached  # type: ignore[no-any-return]

    def switches_dict(self, switches: dict[str, str]) -> dict[str, str]:
        """The decision's ``switches`` part: read-only, shared by decisions with the same assignment."""
        key = tuple(switches.items())
        cached = self._switches_dict.get(key)
        if cached is None:
            cached = FrozenDict(switches)
            if len(self._switches_dict) >= CACHE_LIMIT:
                self._switches_dict.clear()
            self._switches_dict[key] = cached
        return cached

    def switches_json(self, switches: dict[str, str]) -> str:
        key = tuple(switches.items())
        cached = self._switches_json.get(key)
        if cached is None:
            cached = dumps(switches)
            if len(self._switches_json) >= CACHE_LIMIT:
                self._switches_json.clear()
            self._switches_json[key] = cached
        return cached

    def record_table(self) -> tuple[tuple[tuple[bool, bytes] | None, ...], ...]:
        """Per slot and branch, the decision log's record of that reason: None (the branch makes
        no reason) or (fails, its JSON in UTF-8).  Whether it says ``fired`` is a function of the
        branch: a branch is established by firing exactly when it is not its rule's inferred
        branch (the compiler compiles every branch but that one; ``verify_run`` checks it)."""
        table = self._record_table
        if table is None:
            rules = self.segment.rules
            table = self._record_table = tuple(
                tuple(None if t is None else (t.fails, t.record_json[branch != rules[slot].inferred].encode("utf-8"))
                      for branch, t in enumerate(templates))
                for slot, templates in enumerate(self.by_slot()))
        return table

    def by_slot(self) -> tuple[tuple[ReasonTemplate | None, ...], ...]:
        """Every branch's template (None: the branch makes no reason), by slot and branch."""
        table = self._by_slot
        if table is None:
            table = tuple(tuple(self.template(rule.slot, branch.branch) for branch in rule.branches)
                          for rule in self.segment.rules)
            self._by_slot = table
        return table

    def reasons_and_derived(self, run: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The decision's reason dicts (as :func:`reasons`) and its derived facts (as
        ``derived_dict``), by one function generated for the segment."""
        fn = self._reasons
        if fn is None:
            if not self._warm:  # a segment's first decision: not worth generating for (a cold CLI run)
                self._warm = True
                return reasons(run), self.derived_dict(run.derived)
            fn = self._reasons = self._generate_reasons(False)
        return fn(run.base, run.derived, run.branch_of)  # type: ignore[no-any-return]

    def reasons_and_derived_json(self, run: Any) -> tuple[str, str]:
        """The JSON texts of the reasons (as :func:`reasons_json`) and of the derived facts (as
        ``derived_json``), by one function generated for the segment."""
        fn = self._reasons_json
        if fn is None:
            if not self._warm_json:  # as in reasons_and_derived
                self._warm_json = True
                return reasons_json(run), self.derived_json(run.derived)
            fn = self._reasons_json = self._generate_reasons(True)
        return fn(run.base, run.derived, run.branch_of)  # type: ignore[no-any-return]

    def _generate_reasons(self, as_json: bool) -> Callable[..., Any]:
        """One function for every reason of the segment, building the dicts or (``as_json``)
        the JSON text: a branch test per rule, each amount or date formatted once per decision
        whatever the number of reasons showing it, and the reasons that show only recurring
        values (statuses, regions, flags) taken whole from the shared cache."""
        src = _SharedSource()
        namespace: dict[str, Any] = {"_F": FrozenDict, "_cache": _CACHE, "_remember": remember, "_U": _UNSET,
                                     "_fmn": _or_none(values.format_money), "_fdn": _or_none(_format_date),
                                     "_fpn": _or_none(values.format_percent)}

        def const(value: Any) -> str:
            name = f"_c{len(namespace)}"
            namespace[name] = value
            return name

        body: list[str] = []
        for slot, templates in enumerate(self.by_slot()):
            live = [(branch, t) for branch, t in enumerate(templates) if t is not None]
            if not live:
                continue
            body.append(f"    x = g({slot})")
            for position, (branch, template) in enumerate(live):
                body.append(f"    {'if' if position == 0 else 'elif'} x == {branch}:")
                out = "fa" if template.fails else "oa"  # the bound append of F or O
                # A compiled branch holds only by firing in durable_rules; the driver establishes
                # only the inferred one (never compiled): whether it fired is known here.
                fired = self.segment.rules[slot].branches[branch].compiled
                if template.cached:
                    reads = [src.local(expr) for expr in template.reads]
                    tid = ~template.tid - (1 << 40 if as_json else 0)  # negative: not a values() key
                    body.append(f"        k = ({', '.join([const(tid)] + reads)},)")
                    body.append("        r = cg(k)")
                    body.append("        if r is None:")
                    t = const(template)
                    body.append(f"            r = {t}._as_{'json' if as_json else 'dict'}({t}.compute(b, d), {fired})")
                    body.append("            _remember(k, r)")
                    body.append(f"        {out}(r)")
                else:
                    exprs, _, _ = _reason_exprs(src, template.rule, branch, template.types, tokens=as_json)
                    display = (template.json_display(exprs, fired) if as_json else
                               template.dict_display(lambda i, e=exprs: e[i], const, repr(fired)))
                    body.append(f"        {out}({display})")
        body.append("    F += O")
        body.append("    out = []" if as_json else "    out = {}")  # the derived facts, sharing the formatted values
        for name in self.derived_names:
            raw = src.local(f"d.get({name!r})")
            vtype = self.types.get(name)
            if as_json:
                body.append(f"    if {name!r} in d: out.append({_esc(name) + ':'!r} + {src.token(raw, vtype)})")
            else:
                body.append(f"    if {name!r} in d: out[{name!r}] = {src.value(raw, vtype)}")
        body.append("    return '[' + ','.join(F) + ']', '{' + ','.join(out) + '}'" if as_json else "    return F, out")
        namespace.update(src.consts)
        code = ("def reasons(b, d, branch_of):\n"
                "    g = branch_of.get\n"
                "    F = []\n    O = []\n    fa = F.append\n    oa = O.append\n    cg = _cache.get\n"
                + "\n".join(src.prologue + body) + "\n")
        exec(generated_code(code, f"<reasons {self.segment.city} {self.segment.request}{' json' if as_json else ''}>"),
             namespace)
        return namespace["reasons"]  # type: ignore[no-any-return]

    def template(self, slot: int, branch: int) -> ReasonTemplate | None:
        key = (slot, branch)
        if key not in self.templates:
            rule = self.segment.rules[slot]
            action = rule.branches[branch].action
            self.templates[key] = (ReasonTemplate(rule, branch, self.types, self.segment)
                                   if action is not None and action.outcome is not None else None)
        return self.templates[key]


def renderer(segment: Segment) -> SegmentRenderer:
    cached = segment._renderer
    if cached is None:
        cached = SegmentRenderer(segment)
        segment._renderer = cached
    return cached


def reason_parts(run: Any) -> list[tuple[ReasonTemplate, tuple[Any, ...], bool]]:
    """Each reason's template, the values it shows, and whether it fired: failing first, then
    in rule order.  Computed once per decision; the dict and the JSON are assembled from it."""
    by_slot = renderer(run.segment).by_slot()
    fired = {f.slot for f in run.firings if f.rule_name}
    base, derived = run.base, run.derived
    failing, others = [], []
    for slot, branch in sorted(run.branch_of.items()):
        template = by_slot[slot][branch]
        if template is not None:
            (failing if template.fails else others).append((template, template.values(base, derived), slot in fired))
    return failing + others


def reasons_record_json(run: Any) -> str:
    """The reasons of the decision log's compact record (``gongji.decision-log/2``): rule, outcome,
    code and ``established`` of each reason, in ``reason_parts`` order, with no value rendered."""
    return record_reasons(run).decode("utf-8")


def record_reasons(run: Any) -> bytes:
    """:func:`reasons_record_json` in UTF-8, from :meth:`SegmentRenderer.record_table` (the C
    line writer reads the same table)."""
    table = (run.segment._renderer or renderer(run.segment)).record_table()
    failing, others = [], []
    for slot, branch in sorted(run.branch_of.items()):
        entry = table[slot][branch]
        if entry is not None:
            (failing if entry[0] else others).append(entry[1])
    return b"[" + b",".join(failing + others) + b"]"


def reasons(run: Any, parts: list[tuple[ReasonTemplate, tuple[Any, ...], bool]] | None = None) -> list[dict[str, Any]]:
    return [t.as_dict(p, fired) for t, p, fired in (parts if parts is not None else reason_parts(run))]


def reasons_json(run: Any, parts: list[tuple[ReasonTemplate, tuple[Any, ...], bool]] | None = None) -> str:
    return "[" + ",".join(t.as_json(p, fired) for t, p, fired in (
        parts if parts is not None else reason_parts(run))) + "]"


def derived_json(run: Any) -> dict[str, Any]:
    return renderer(run.segment).derived_dict(run.derived)  # type: ignore[no-any-return]
