"""Fast rendering of the decision JSON: reasons, messages and derived facts.

Everything that does not depend on the decision (rule name, code, sources, effective period,
parameter values and citations) is prepared once per compiled rule branch and shared between
decisions as read-only values (:class:`FrozenDict`, tuples).  Per decision only the facts a
rule looked at, the message placeholders and the derived values are read.
"""

from __future__ import annotations

from typing import Any, Callable

from . import catalog, values
from .catalog import VType
from .compile import CompiledRule, Segment
from .model import PLACEHOLDER, Text


class FrozenDict(dict):  # type: ignore[type-arg]
    """A dict that refuses changes; copies of it are ordinary dicts."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("this part of a decision is shared between decisions and read-only; copy it first")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        import copy

        return {k: copy.deepcopy(v, memo) for k, v in self.items()}

    def __reduce__(self) -> Any:
        return (dict, (dict(self),))


def freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
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
        return lambda v: catalog.to_json_value(vtype, v)
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


Reader = Callable[[dict[str, Any], dict[str, Any]], Any]


def reader(kind: str, name: str, rule: CompiledRule) -> tuple[Reader, VType | None]:
    """A function (base, derived) -> engine value (None when absent), and the value's type."""
    if kind == "fact":
        spec = catalog.BY_PATH[name]
        key = spec.key
        if spec.nullable:
            set_key = spec.set_key
            return (lambda b, d: b[key] if b.get(set_key) else None), spec.type
        return (lambda b, d: b.get(key)), spec.type
    if kind == "param":
        use = rule.params.get(name)
        value = use.value if use is not None else None
        return (lambda b, d: value), (use.param.type if use is not None else None)
    vtype = catalog.RESERVED_DERIVED.get(name) or derived_type(rule, name)
    return (lambda b, d: d.get(name)), vtype


def derived_type(rule: CompiledRule, name: str) -> VType | None:
    for action in rule.version.actions:
        for derivation in (action.derive if action is not None else ()):
            if derivation.name == name:
                return derivation.vtype
    return None


class Message:
    """A message template compiled to literal parts and value readers."""

    def __init__(self, text: Text | None, rule: CompiledRule, segment_types: dict[str, VType]):
        self.parts: dict[str, list[Any]] = {}
        for lang in ("zh", "en"):
            parts: list[Any] = []
            template = text.get(lang) if text is not None else ""
            position = 0
            for match in PLACEHOLDER.finditer(template):
                parts.append(template[position:match.start()])
                ref = match.group(1)
                kind, _, name = ref.partition(":") if ":" in ref else ("fact", "", ref)
                read, vtype = reader(kind, name, rule)
                if kind == "derived" and vtype is None:
                    vtype = segment_types.get(name)
                parts.append((read, label_fn(vtype, lang)))
                position = match.end()
            parts.append(template[position:])
            self.parts[lang] = [p for p in parts if p != ""]

    def render(self, lang: str, base: dict[str, Any], derived: dict[str, Any]) -> str:
        return "".join(p if isinstance(p, str) else p[1](p[0](base, derived)) for p in self.parts[lang])


class ReasonTemplate:
    """Everything needed to write one reason for one branch of one compiled rule.

    ``render(base, derived, fired)`` is generated Python: one dict display with the values a
    rule looked at read straight from the working memory, the static parts shared."""

    def __init__(self, rule: CompiledRule, branch: int, segment_types: dict[str, VType]):
        action = rule.branches[branch].action
        assert action is not None and action.outcome is not None
        version = rule.version.version
        self.rule = rule
        consts: dict[str, Any] = {}

        def const(value: Any) -> str:
            name = f"_k{len(consts)}"
            consts[name] = value
            return name

        def read(kind: str, name: str, convert: str) -> str:
            """Source of an expression giving the value (converted) or None when absent."""
            if kind == "fact":
                spec = catalog.BY_PATH[name]
                raw = f"b[{spec.key!r}]"
                value = _converted(raw, spec.type, convert, const)
                return f"({value} if b[{spec.set_key!r}] else None)" if spec.nullable else value
            if kind == "param":
                use = rule.params.get(name)
                vtype = use.param.type if use is not None else None
                value = use.value if use is not None else None
                if value is None:
                    return "None"
                return const(freeze(catalog.to_json_value(vtype, value)) if convert == "json" else
                             label_fn(vtype, convert)(value))
            vtype = catalog.RESERVED_DERIVED.get(name) or derived_type(rule, name) or segment_types.get(name)
            raw = f"d.get({name!r})"
            return f"(None if d.get({name!r}) is None else {_converted(raw, vtype, convert, const)})"

        def message(lang: str) -> str:
            text = action.message.get(lang) if action.message is not None else ""
            pieces = []
            position = 0
            for match in PLACEHOLDER.finditer(text):
                if match.start() > position:
                    pieces.append(repr(text[position:match.start()]))
                ref = match.group(1)
                kind, _, name = ref.partition(":") if ":" in ref else ("fact", "", ref)
                expr = read(kind, name, lang)
                pieces.append(f"({expr} if {expr} is not None else {('无' if lang == 'zh' else 'none')!r})"
                              if "None" in expr else expr)
                position = match.end()
            if position < len(text) or not pieces:
                pieces.append(repr(text[position:]))
            return " + ".join(pieces)

        facts = [f"{path!r}: {read('fact', path, 'json')}" for path in sorted(rule.version.facts)]
        facts += [f"{('derived.' + name)!r}: {read('derived', name, 'json')}" for name in sorted(rule.version.inputs)]
        facts += [f"{('param.' + name)!r}: {read('param', name, 'json')}" for name in sorted(rule.params)]
        tail: dict[str, Any] = {
            "source": version.sources[0].to_json() if version.sources else None,
            "effective": version.period.to_json(),
        }
        if len(version.sources) > 1:
            tail["sources"] = [s.to_json() for s in version.sources]
        if version.variant:
            tail["variant"] = dict(version.variant)
        parameters = parameters_used(rule)
        if parameters:
            tail["parameters"] = parameters
        items = [f"'rule': {f'{rule.version.rule.origin}.{rule.rule_id}'!r}", f"'outcome': {action.outcome!r}",
                 f"'code': {action.code!r}",
                 f"'message': {{'zh': {message('zh')}, 'en': {message('en')}}}",
                 f"'facts': {{{', '.join(facts)}}}"]
        items += [f"{key!r}: {const(freeze(value))}" for key, value in tail.items()]
        if rule.version.derived:
            derived = ", ".join(f"{name!r}: {read('derived', name, 'json')}" for name in rule.version.derived)
            items.append(f"'derived': {{{derived}}}")
        items.append("'established': 'fired' if fired else 'no_other_branch_fired'")
        source = "def render(b, d, fired):\n    return {" + ", ".join(items) + "}\n"
        namespace: dict[str, Any] = dict(consts)
        exec(compile(source, f"<reason {rule.rule_id} branch {branch}>", "exec"), namespace)  # noqa: S102
        self.render = namespace["render"]


def _converted(raw: str, vtype: VType | None, convert: str, const: Callable[[Any], str]) -> str:
    """Source converting engine value ``raw`` to JSON (convert='json') or to text in a language."""
    if vtype is None:
        return raw if convert == "json" else f"str({raw})"
    if convert == "json":
        if vtype.kind in ("enum", "bool", "int", "region", "text"):
            return raw
        return f"{const(json_fn(vtype))}({raw})"
    if vtype.kind == "enum":
        names = {k: pair[0 if convert == "zh" else 1] for k, pair in catalog.LABELS.get(vtype.name, {}).items()}
        return f"{const(names)}.get({raw}, {raw})" if names else f"str({raw})"
    if vtype.kind in ("int", "region", "text"):
        return f"str({raw})"
    return f"{const(label_fn(vtype, convert))}({raw})"


def parameters_used(rule: CompiledRule) -> list[dict[str, Any]]:
    """The parameter versions a rule used in this period, with value, dates and citation."""
    out = []
    for name in sorted(rule.params):
        use = rule.params[name]
        version = use.version
        entry: dict[str, Any] = {"id": name, "origin": use.param.definition.origin,
                                 "value": catalog.to_json_value(use.param.type, use.value)}
        if version is not None:
            entry["effective"] = version.period.to_json()
            if version.version.variant:
                entry["variant"] = dict(version.version.variant)
            source = version.version.sources[0] if version.version.sources else (
                use.via.version.version.sources[0] if use.via is not None and use.via.version is not None
                and use.via.version.version.sources else None)
            if source is not None:
                entry["source"] = source.to_json()
        out.append(entry)
    return out


class SegmentRenderer:
    """Per compiled segment: reason templates by (slot, branch) and derived-fact converters."""

    def __init__(self, segment: Segment):
        self.types: dict[str, VType] = dict(catalog.RESERVED_DERIVED)
        for rule in segment.rules:
            for action in rule.version.actions:
                for derivation in (action.derive if action is not None else ()):
                    if derivation.vtype is not None:
                        self.types.setdefault(derivation.name, derivation.vtype)
        self.templates: dict[tuple[int, int], ReasonTemplate | None] = {}
        self.derived_order = tuple((name, json_fn(self.types.get(name)))
                                   for rule in segment.rules for name in rule.version.derived)
        self.segment = segment

    def template(self, slot: int, branch: int) -> ReasonTemplate | None:
        key = (slot, branch)
        if key not in self.templates:
            rule = self.segment.rules[slot]
            action = rule.branches[branch].action
            self.templates[key] = (ReasonTemplate(rule, branch, self.types)
                                   if action is not None and action.outcome is not None else None)
        return self.templates[key]


def renderer(segment: Segment) -> SegmentRenderer:
    cached = getattr(segment, "_renderer", None)
    if cached is None:
        cached = SegmentRenderer(segment)
        segment._renderer = cached  # type: ignore[attr-defined]
    return cached


def reasons(run: Any) -> list[dict[str, Any]]:
    """Every rule that decided something: failing ones first, then in rule order."""
    segment_renderer = renderer(run.segment)
    fired = {f.slot for f in run.firings if f.rule_name}
    failing: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    base, derived = run.base, run.derived
    for slot, branch in sorted(run.branch_of.items()):
        template = segment_renderer.template(slot, branch)
        if template is None:
            continue
        entry = template.render(base, derived, slot in fired)
        (failing if entry["outcome"] == "fail" else others).append(entry)
    return failing + others


def derived_json(run: Any) -> dict[str, Any]:
    derived = run.derived
    out = {name: convert(derived[name]) for name, convert in renderer(run.segment).derived_order if name in derived}
    if "eligible" in derived:
        out["eligible"] = derived["eligible"]
    return out
