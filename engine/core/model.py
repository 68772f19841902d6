"""The rule language as frozen dataclasses, and the builder from loaded YAML.

A ruleset file holds switches, parameters (dated values) and rules (dated versions of
``cases``/``when`` -> ``then``/``else`` actions).  This module checks what one file can check on
its own: structure beyond the schema, operators, fact paths, dates and periods, duplicate ids,
cited documents.  Cross-file checks (parents, overrides, parameter and derived-fact references,
types) live in :mod:`engine.layering`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterable

from . import catalog, values
from .errors import Issue, SourceLocation, sort_issues
from .load import Loaded, SourceMap, join_pointer
from .operators import NAMES as OPERATORS
from .validate import OPERATOR_ALIASES, did_you_mean, validate

OPERAND_KINDS = ("fact", "derived", "param")
FUNCTIONS = {"add": (2, None), "sub": (2, 2), "min": (2, None), "max": (2, None),
             "percent_of": (2, 2), "lookup": (2, 2)}
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class Text:
    zh: str
    en: str

    def get(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class Source:
    document: str
    quote: str
    note: str = ""  # non-empty: the citation backs the value by the inference stated here
    loc: SourceLocation = field(default_factory=SourceLocation, compare=False)
    jurisdiction: str = ""  # whom the quote speaks for, when not its document's (national.yaml documents:)

    def to_json(self) -> dict[str, str]:
        if self.note:
            return {"document": self.document, "quote": self.quote, "note": self.note}
        return {"document": self.document, "quote": self.quote}


@dataclass(frozen=True)
class Period:
    """Days in force, both ends inclusive; None = not stated (open)."""

    start: int | None = None
    end: int | None = None

    def contains(self, day: int) -> bool:
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)

    def overlaps(self, other: Period) -> bool:
        low = max(self.start or 0, other.start or 0)
        high = min(self.end or 99991231, other.end or 99991231)
        return low <= high

    def to_json(self) -> dict[str, str | None]:
        return {"from": values.format_date(self.start) if self.start else None,
                "to": values.format_date(self.end) if self.end else None}

    def describe(self, lang: str = "en") -> str:
        unstated = "起始日未规定" if lang == "zh" else "start not stated"
        start = values.format_date(self.start) if self.start else unstated
        end = values.format_date(self.end) if self.end else ("至今" if lang == "zh" else "open-ended")
        return f"{start} – {end}" if lang == "en" else f"{start} 至 {end}"


# ------------------------------------------------------------------ conditions & expressions


@dataclass(frozen=True)
class Ref:
    """``{fact: path}``, ``{derived: name}`` or ``{param: name}``."""

    kind: str
    name: str
    loc: SourceLocation = field(default_factory=SourceLocation, compare=False)

    def __str__(self) -> str:
        return self.name if self.kind == "fact" else f"{self.kind}.{self.name}"


@dataclass(frozen=True)
class Lit:
    value: Any
    loc: SourceLocation = field(default_factory=SourceLocation, compare=False)

    def __str__(self) -> str:
        return repr(self.value) if isinstance(self.value, str) else str(self.value)


@dataclass(frozen=True)
class Atom:
    left: Ref
    op: str
    right: Ref | Lit
    loc: SourceLocation = field(default_factory=SourceLocation, compare=False)

    def __str__(self) -> str:
        symbol = {"eq": "=", "ne": "≠", "lt": "<", "le": "≤", "gt": ">", "ge": "≥", "in": "in",
                  "not_in": "not in", "present": "present ="}[self.op]
        return f"{self.left} {symbol} {self.right}"


@dataclass(frozen=True)
class Group:
    kind: str  # all | any
    items: tuple[Condition, ...]
    loc: SourceLocation = field(default_factory=SourceLocation, compare=False)


@dataclass(frozen=True)
class Negation:
    item: Condition
    loc: SourceLocation = field(default_factory=SourceLocation, compare=False)


@dataclass(frozen=True)
class Truth:
    value: bool
    loc: SourceLocation = field(default_factory=SourceLocation, compare=False)


Condition = Atom | Group | Negation | Truth


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Expression, ...]
    loc: SourceLocation = field(default_factory=SourceLocation, compare=False)


Expression = Ref | Lit | Call


@dataclass(frozen=True)
class Derivation:
    name: str
    expr: Expression
    loc: SourceLocation = field(default_factory=SourceLocation, compare=False)


@dataclass(frozen=True)
class Action:
    derive: tuple[Derivation, ...] = ()
    outcome: str | None = None  # pass | fail | info
    code: str | None = None
    message: Text | None = None
    loc: SourceLocation = field(default_factory=SourceLocation, compare=False)
    sources: tuple[Source, ...] = ()  # this branch's own citation, when it differs from the version's
    incomplete: bool = False  # the reason says a share of the payment plan is not computed

    @property
    def derived_names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.derive)


@dataclass(frozen=True)
class Case:
    when: Condition
    then: Action


@dataclass(frozen=True)
class RuleVersion:
    period: Period
    variant: tuple[tuple[str, str], ...]
    sources: tuple[Source, ...]
    cases: tuple[Case, ...]
    otherwise: Action | None
    enabled: bool = True
    note: str = ""
    loc: SourceLocation = field(default_factory=SourceLocation, compare=False)

    @property
    def branches(self) -> tuple[Action | None, ...]:
        """Actions in branch order: each case's ``then``, then ``else`` (None when omitted)."""
        return tuple(c.then for c in self.cases) + (self.otherwise,)


@dataclass(frozen=True)
class Rule:
    id: str
    title: Text
    description: str
    applies_to: frozenset[str]
    overrides: str | None
    versions: tuple[RuleVersion, ...]
    origin: str
    loc: SourceLocation = field(default_factory=SourceLocation, compare=False)


@dataclass(frozen=True)
class ParamVersion:
    period: Period
    variant: tuple[tuple[str, str], ...]
    sources: tuple[Source, ...]
    value: Any
    note: str = ""
    loc: SourceLocation = field(default_factory=SourceLocation, compare=False)
    value_loc: SourceLocation = field(default_factory=SourceLocation, compare=False)


@dataclass(frozen=True)
class TypeSpec:
    type: str
    of: str | None = None
    key: str | None = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Parameter:
    id: str
    title: Text | None
    description: str
    type_spec: TypeSpec | None
    nullable: bool | None
    overrides: str | None
    versions: tuple[ParamVersion, ...]
    origin: str
    loc: SourceLocation = field(default_factory=SourceLocation, compare=False)


@dataclass(frozen=True)
class SwitchOption:
    name: str
    description: Text
    sources: tuple[Source, ...]
    loc: SourceLocation = field(default_factory=SourceLocation, compare=False)


@dataclass(frozen=True)
class Switch:
    id: str
    title: Text
    description: str
    default: str
    options: tuple[SwitchOption, ...]
    overrides: str | None
    origin: str
    loc: SourceLocation = field(default_factory=SourceLocation, compare=False)

    @property
    def option_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.options)


@dataclass(frozen=True)
class Note:
    id: str
    topic: str
    text: str
    loc: SourceLocation = field(default_factory=SourceLocation, compare=False)


@dataclass(frozen=True)
class RulesetFile:
    id: str
    kind: str
    parent: str | None
    name: Text
    version: str
    description: str
    notes: tuple[Note, ...]
    switches: tuple[Switch, ...]
    parameters: tuple[Parameter, ...]
    rules: tuple[Rule, ...]
    path: str
    sha256: str
    text: str = field(default="", compare=False, repr=False)
    loc: SourceLocation = field(default_factory=SourceLocation, compare=False)
    parent_loc: SourceLocation = field(default_factory=SourceLocation, compare=False)
    well_formed: bool = field(default=True, compare=False)  # no schema errors: safe to merge and type
    documents: tuple[tuple[str, str], ...] = ()  # cited document -> the jurisdiction it speaks for (national.yaml)


# ------------------------------------------------------------------------------ builder


class FileBuilder:
    """Builds one :class:`RulesetFile`; collects issues instead of raising."""

    def __init__(self, loaded: Loaded, documents: dict[str, str]):
        self.data = loaded.data
        self.smap: SourceMap = loaded.source
        self.documents = documents
        self.issues: list[Issue] = list(loaded.issues)
        self.load_issues = list(loaded.issues)
        self.ruleset_id = "?"

    # -- helpers
    def loc(self, pointer: str, at_key: bool = False) -> SourceLocation:
        return self.smap.location(pointer, at_key)

    def err(self, code: str, message: str, pointer: str, at_key: bool = False, **kw: Any) -> None:
        self.issues.append(Issue(code, message, self.loc(pointer, at_key), **kw))

    def text(self, raw: Any) -> Text | None:
        if isinstance(raw, dict) and isinstance(raw.get("zh"), str) and isinstance(raw.get("en"), str):
            return Text(raw["zh"], raw["en"])
        return None

    # -- entry
    def build(self) -> RulesetFile | None:
        data = self.data
        if data is None:
            if not self.issues:
                self.err("empty_file", "the file is empty: a ruleset needs ruleset, kind, name and version", "")
            return None
        schema_issues = validate("ruleset", data, self.smap)
        self.issues.extend(schema_issues)
        if not isinstance(data, dict):
            return None
        rid = data.get("ruleset")
        self.ruleset_id = rid if isinstance(rid, str) else "?"
        kind = data.get("kind") if isinstance(data.get("kind"), str) else "?"
        parent = data.get("parent") if isinstance(data.get("parent"), str) else None
        self._check_identity(rid, kind, parent)
        notes = self._unique(self._list(data, "notes"), "/notes", "note", self._note)
        switches = self._unique(self._list(data, "switches"), "/switches", "switch", self._switch)
        params = self._unique(self._list(data, "parameters"), "/parameters", "parameter", self._parameter)
        rules = self._unique(self._list(data, "rules"), "/rules", "rule", self._rule)
        name = self.text(data.get("name")) or Text("?", "?")
        documents = self._documents(data.get("documents"))
        digest = hashlib.sha256(self.smap.text.encode("utf-8")).hexdigest()
        return RulesetFile(id=self.ruleset_id, kind=kind, parent=parent, name=name,
                           version=str(data.get("version", "")), description=str(data.get("description", "")),
                           notes=tuple(notes), documents=documents, switches=tuple(switches), parameters=tuple(params),
                           rules=tuple(rules), path=self.smap.file, sha256=digest, text=self.smap.text,
                           loc=self.loc(""), parent_loc=self.loc("/parent"),
                           well_formed=not schema_issues and not self.load_issues)

    def _documents(self, raw: Any) -> tuple[tuple[str, str], ...]:
        if not isinstance(raw, dict):
            return ()
        for doc in raw:
            if isinstance(doc, str) and doc not in self.documents:
                self.err("unknown_document", f"no source document {doc!r}", join_pointer("/documents", doc),
                         at_key=True, expected=f"one of {sorted(self.documents)}", found=doc,
                         hint=did_you_mean(doc, self.documents))
        return tuple(sorted((str(k), str(v)) for k, v in raw.items() if isinstance(v, str)))

    def _list(self, data: dict[str, Any], key: str) -> list[tuple[str, Any]]:
        raw = data.get(key)
        if not isinstance(raw, list):
            return []
        return [(f"/{key}/{i}", item) for i, item in enumerate(raw)]

    def _unique(self, items: list[tuple[str, Any]], where: str, what: str, build: Any) -> list[Any]:
        built = []
        first: dict[str, str] = {}
        for pointer, raw in items:
            if not isinstance(raw, dict):
                continue
            obj = build(pointer, raw)
            if obj is None:
                continue
            if obj.id in first:
                line = self.loc(first[obj.id]).line
                self.err(f"duplicate_{what}_id", f"{what} id {obj.id!r} is defined twice in this file "
                         f"(first at line {line})", pointer + "/id", found=obj.id)
                continue
            first[obj.id] = pointer
            built.append(obj)
        return built

    def _check_identity(self, rid: Any, kind: str, parent: str | None) -> None:
        if not isinstance(rid, str):
            return
        stem = Path(self.smap.file).name
        match = re.match(r"^([0-9]{6})", stem)
        if match and match.group(1) != rid:
            self.err("ruleset_id_mismatch", f"file name says {match.group(1)} but the file declares ruleset {rid!r}",
                     "/ruleset", expected=match.group(1), found=rid)
        if kind == "national":
            if rid != "national":
                self.err("kind_mismatch", "a national ruleset must have id 'national'", "/ruleset",
                         expected="national", found=rid)
            if parent is not None:
                self.err("unexpected_parent", "the national ruleset has no parent", "/parent", found=parent)
            return
        if kind not in ("province", "city"):
            return
        if parent is None:
            self.err("missing_field", f"a {kind} ruleset needs a parent", "", expected="parent")
        if rid == "national" or not re.match(r"^[0-9]{6}$", rid):
            return
        from .regions import region_problem

        problem = region_problem(rid)
        if problem:
            self.err("invalid_region_code", f"ruleset id {rid!r} {problem}", "/ruleset", found=rid)
            return
        if kind == "province":
            if rid[2:] != "0000":
                self.err("kind_mismatch", f"a province code ends in 0000; {rid} is not one", "/ruleset",
                         expected=rid[:2] + "0000", found=rid)
            if parent is not None and parent != "national":
                self.err("kind_mismatch", "a province's parent is 'national'", "/parent",
                         expected="national", found=parent)
        else:
            if rid[2:] == "0000":
                self.err("kind_mismatch", f"{rid} is a province code, not a city", "/ruleset", found=rid)
            if parent is not None and parent != rid[:2] + "0000":
                self.err("kind_mismatch", f"city {rid} belongs to province {rid[:2]}0000", "/parent",
                         expected=rid[:2] + "0000", found=parent)

    # -- shared pieces
    def _sources(self, raw: Any, pointer: str) -> tuple[Source, ...]:
        items = raw if isinstance(raw, list) else [raw] if raw is not None else []
        result = []
        for i, item in enumerate(items):
            where = f"{pointer}/{i}" if isinstance(raw, list) else pointer
            if not isinstance(item, dict):
                continue
            doc, quote = item.get("document"), item.get("quote")
            if not isinstance(doc, str) or not isinstance(quote, str):
                continue
            if doc not in self.documents:
                self.err("unknown_document", f"no source document {doc!r}", where + "/document",
                         expected=f"one of {sorted(self.documents)}", found=doc,
                         hint=did_you_mean(doc, self.documents))
            note = " ".join(str(item.get("note", "")).split())  # folded YAML text: one line
            result.append(Source(doc, quote, note, self.loc(where),
                                 str(item.get("jurisdiction", ""))))
        return tuple(result)

    def _period(self, raw: dict[str, Any], pointer: str) -> Period:
        bounds = []
        for key in ("from", "to"):
            value = raw.get(key)
            if value is None:
                bounds.append(None)
                continue
            try:
                bounds.append(values.parse_date(value))
            except values.ValueProblem as exc:
                if isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
                    # the shape is right (the schema accepts it) but the day does not exist
                    self.err("invalid_date", str(exc), f"{pointer}/{key}", expected=exc.expected, found=value)
                bounds.append(None)
        period = Period(bounds[0], bounds[1])
        if period.start and period.end and period.end < period.start:
            self.err("invalid_effective_period", "the period ends before it starts", f"{pointer}/to",
                     expected=f"a date on or after {values.format_date(period.start)}",
                     found=values.format_date(period.end))
        return period

    def _variant(self, raw: Any) -> tuple[tuple[str, str], ...]:
        if not isinstance(raw, dict):
            return ()
        return tuple(sorted((str(k), str(v)) for k, v in raw.items()))

    # -- notes & switches
    def _note(self, pointer: str, raw: dict[str, Any]) -> Note | None:
        if not isinstance(raw.get("id"), str):
            return None
        return Note(raw["id"], str(raw.get("topic", "")), str(raw.get("text", "")), self.loc(pointer))

    def _switch(self, pointer: str, raw: dict[str, Any]) -> Switch | None:
        if not isinstance(raw.get("id"), str):
            return None
        options = []
        raw_options = raw.get("options") if isinstance(raw.get("options"), dict) else {}
        for name, option in raw_options.items():
            where = join_pointer(pointer + "/options", name)
            if not isinstance(option, dict):
                continue
            options.append(SwitchOption(str(name), self.text(option.get("description")) or Text("", ""),
                                        self._sources(option.get("source"), where + "/source"), self.loc(where)))
        default = raw.get("default")
        if isinstance(default, str) and raw_options and default not in raw_options:
            self.err("unknown_switch_option", f"default {default!r} is not an option of switch {raw['id']!r}",
                     pointer + "/default", expected=f"one of {list(raw_options)}", found=default,
                     hint=did_you_mean(default, raw_options))
        return Switch(raw["id"], self.text(raw.get("title")) or Text("", ""), str(raw.get("description", "")),
                      str(default), tuple(options),
                      raw.get("overrides") if isinstance(raw.get("overrides"), str) else None,
                      self.ruleset_id, self.loc(pointer))

    # -- parameters
    def _parameter(self, pointer: str, raw: dict[str, Any]) -> Parameter | None:
        if not isinstance(raw.get("id"), str):
            return None
        spec = None
        if isinstance(raw.get("type"), str):
            options = raw.get("options") if isinstance(raw.get("options"), list) else []
            spec = TypeSpec(raw["type"], raw.get("of") if isinstance(raw.get("of"), str) else None,
                            raw.get("key") if isinstance(raw.get("key"), str) else None,
                            tuple(str(o) for o in options))
            self._check_type_spec(spec, pointer)
        inline_keys = {"value", "from", "to", "variant", "source", "note"}
        versions_raw = self._version_items(raw, pointer, inline_keys, required="value")
        versions = []
        for where, item in versions_raw:
            if "value" not in item:
                continue
            versions.append(ParamVersion(self._period(item, where), self._variant(item.get("variant")),
                                         self._sources(item.get("source"), where + "/source"), item["value"],
                                         str(item.get("note", "")), self.loc(where), self.loc(where + "/value")))
        nullable = raw.get("nullable") if isinstance(raw.get("nullable"), bool) else None
        return Parameter(raw["id"], self.text(raw.get("title")), str(raw.get("description", "")), spec, nullable,
                         raw.get("overrides") if isinstance(raw.get("overrides"), str) else None,
                         tuple(versions), self.ruleset_id, self.loc(pointer))

    def _check_type_spec(self, spec: TypeSpec, pointer: str) -> None:
        if spec.type == "set":
            if spec.of not in catalog.ENUMS:
                self.err("invalid_type", "a set parameter needs 'of' naming an enum", pointer + "/of",
                         expected=f"one of {list(catalog.ENUMS)}", found=spec.of,
                         hint=did_you_mean(spec.of or "", catalog.ENUMS))
        elif spec.type == "table":
            if spec.key not in catalog.ENUMS:
                self.err("invalid_type", "a table parameter needs 'key' naming an enum", pointer + "/key",
                         expected=f"one of {list(catalog.ENUMS)}", found=spec.key)
            if spec.of not in ("money", "percent", "int"):
                self.err("invalid_type", "a table parameter needs 'of': money, percent or int", pointer + "/of",
                         expected="money, percent or int", found=spec.of)
        elif spec.type == "choice" and not spec.options:
            self.err("invalid_type", "a choice parameter needs 'options'", pointer, expected="options")

    def _version_items(self, raw: dict[str, Any], pointer: str, inline_keys: set[str],
                       required: str) -> list[tuple[str, dict[str, Any]]]:
        has_inline = any(k in raw for k in inline_keys)
        if "versions" in raw:
            if has_inline:
                present = sorted(k for k in inline_keys if k in raw)
                self.err("mixed_inline_and_versions",
                         f"give either 'versions' or inline {present}, not both", pointer + "/versions",
                         at_key=True, found=present)
            items = raw.get("versions") if isinstance(raw.get("versions"), list) else []
            return [(f"{pointer}/versions/{i}", v) for i, v in enumerate(items) if isinstance(v, dict)]
        if not has_inline:
            return []
        return [(pointer, raw)]

    # -- rules
    def _rule(self, pointer: str, raw: dict[str, Any]) -> Rule | None:
        if not isinstance(raw.get("id"), str):
            return None
        inline_keys = {"from", "to", "variant", "source", "note", "when", "then", "else", "cases", "enabled"}
        version_items = self._version_items(raw, pointer, inline_keys, required="when")
        if not version_items and "versions" not in raw:
            self.err("missing_field", f"rule {raw['id']!r} has no body: give when/then/else, cases, or versions",
                     pointer, expected="when, cases or versions")
        versions = [v for v in (self._rule_version(w, item) for w, item in version_items) if v is not None]
        applies = raw.get("applies_to") if isinstance(raw.get("applies_to"), list) else []
        return Rule(raw["id"], self.text(raw.get("title")) or Text(raw["id"], raw["id"]),
                    str(raw.get("description", "")), frozenset(a for a in applies if a in ("binding", "payment")),
                    raw.get("overrides") if isinstance(raw.get("overrides"), str) else None,
                    tuple(versions), self.ruleset_id, self.loc(pointer))

    def _rule_version(self, pointer: str, raw: dict[str, Any]) -> RuleVersion | None:
        enabled = raw.get("enabled", True) is not False
        cases: list[Case] = []
        if "when" in raw and "cases" in raw:
            self.err("mixed_when_and_cases", "give either when/then or cases, not both", pointer + "/cases",
                     at_key=True)
        if "when" in raw:
            if "then" not in raw:
                self.err("missing_field", "'when' needs a 'then'", pointer, expected="then")
            cond = self._condition(raw["when"], pointer + "/when")
            action = self._action(raw.get("then"), pointer + "/then")
            cases.append(Case(cond, action))
        elif "then" in raw:
            self.err("missing_field", "'then' needs a 'when'", pointer, expected="when")
        elif isinstance(raw.get("cases"), list):
            for i, item in enumerate(raw["cases"]):
                where = f"{pointer}/cases/{i}"
                if isinstance(item, dict):
                    cases.append(Case(self._condition(item.get("when"), where + "/when"),
                                      self._action(item.get("then"), where + "/then")))
        elif enabled:
            self.err("missing_field", "a rule version needs when/then or cases (or enabled: false)", pointer,
                     expected="when or cases")
        otherwise = self._action(raw["else"], pointer + "/else") if "else" in raw else None
        if "else" in raw and not cases:
            self.err("missing_field", "'else' without 'when' or 'cases'", pointer + "/else", at_key=True)
        if not enabled and (cases or otherwise):
            self.err("disabled_with_body", "a version with enabled: false must not have conditions or actions",
                     pointer + "/enabled", at_key=True)
        return RuleVersion(self._period(raw, pointer), self._variant(raw.get("variant")),
                           self._sources(raw.get("source"), pointer + "/source"), tuple(cases), otherwise,
                           enabled, str(raw.get("note", "")), self.loc(pointer))

    def _action(self, raw: Any, pointer: str) -> Action:
        if not isinstance(raw, dict):
            return Action(loc=self.loc(pointer))
        derivations = []
        derive = raw.get("derive")
        if isinstance(derive, dict):
            for name, expr in derive.items():
                where = join_pointer(pointer + "/derive", name)
                if not isinstance(name, str):
                    continue
                derivations.append(Derivation(name, self._expression(expr, where), self.loc(where, at_key=True)))
        message = self.text(raw.get("message"))
        if message is not None:
            for lang in ("zh", "en"):
                self._check_placeholders(message.get(lang), f"{pointer}/message/{lang}")
        outcome = raw.get("outcome") if raw.get("outcome") in ("pass", "fail", "info") else None
        return Action(tuple(derivations), outcome, raw.get("code") if isinstance(raw.get("code"), str) else None,
                      message, self.loc(pointer), self._sources(raw.get("source"), pointer + "/source"),
                      raw.get("incomplete") is True)

    def _check_placeholders(self, text: str, pointer: str) -> None:
        for match in PLACEHOLDER.finditer(text):
            ref = match.group(1)
            kind, _, name = ref.partition(":") if ":" in ref else ("fact", "", ref)
            if kind not in OPERAND_KINDS or not name:
                self.err("unknown_placeholder", f"placeholder {{{ref}}} is not {{fact.path}}, {{derived:name}} "
                         "or {param:name}", pointer, found=ref)
            elif kind == "fact":
                self._check_fact(name, pointer)

    def _check_fact(self, path: str, pointer: str) -> None:
        if path not in catalog.BY_PATH:
            self.err("unknown_fact_field", f"{path!r} is not a fact field", pointer,
                     expected="a field of the fact catalog", found=path,
                     hint=did_you_mean(path, catalog.BY_PATH))

    def _ref(self, raw: dict[str, Any], pointer: str) -> Ref | None:
        kinds = [k for k in OPERAND_KINDS if k in raw]
        if len(kinds) != 1 or not isinstance(raw[kinds[0]], str):
            return None
        kind = kinds[0]
        where = f"{pointer}/{kind}"
        name = raw[kind]
        if kind == "fact":
            self._check_fact(name, where)
        return Ref(kind, name, self.loc(where))

    def _operand(self, raw: Any, pointer: str) -> Ref | Lit:
        if isinstance(raw, dict):
            ref = self._ref(raw, pointer)
            if ref is not None:
                return ref
            return Lit(None, self.loc(pointer))
        if isinstance(raw, list):
            return Lit(tuple(raw), self.loc(pointer))
        return Lit(raw, self.loc(pointer))

    def _condition(self, raw: Any, pointer: str) -> Condition:
        loc = self.loc(pointer)
        if isinstance(raw, bool):
            return Truth(raw, loc)
        if not isinstance(raw, dict):
            if raw is None:
                self.err("missing_field", "a condition is required here", pointer, expected="a condition")
            return Truth(False, loc)
        for key in ("all", "any"):
            if key in raw:
                if len(raw) > 1:
                    self.err("invalid_condition", f"'{key}' must stand alone in its mapping", pointer,
                             found=sorted(str(k) for k in raw))
                items = raw[key] if isinstance(raw[key], list) else []
                return Group(key, tuple(self._condition(item, f"{pointer}/{key}/{i}")
                                        for i, item in enumerate(items)), loc)
        if "not" in raw:
            if len(raw) > 1:
                self.err("invalid_condition", "'not' must stand alone in its mapping", pointer,
                         found=sorted(str(k) for k in raw))
            return Negation(self._condition(raw["not"], pointer + "/not"), loc)
        lefts = [k for k in OPERAND_KINDS if k in raw]
        ops = [k for k in raw if k not in OPERAND_KINDS]
        for key in ops:
            if key not in OPERATORS and key not in ("all", "any", "not"):
                alias = OPERATOR_ALIASES.get(str(key))
                hint = f"did you mean {alias!r}?" if alias else did_you_mean(key, OPERATORS)
                self.err("unknown_operator", f"{key!r} is not an operator", join_pointer(pointer, key),
                         at_key=True, expected=f"one of {list(OPERATORS)}", found=key, hint=hint)
        known_ops = [k for k in ops if k in OPERATORS]
        if len(lefts) != 1:
            self.err("invalid_condition", "a comparison needs exactly one of fact/derived/param on its left",
                     pointer, expected="one of fact, derived, param", found=lefts or None)
            return Truth(False, loc)
        if len(known_ops) != 1:
            if not [k for k in ops if k not in OPERATORS]:
                self.err("invalid_condition", "a comparison needs exactly one operator", pointer,
                         expected=f"one of {list(OPERATORS)}", found=known_ops or None)
            return Truth(False, loc)
        left = self._ref(raw, pointer)
        if left is None:
            self.err("invalid_condition", f"{lefts[0]!r} must name a field, derived fact or parameter", pointer)
            return Truth(False, loc)
        op = known_ops[0]
        right = self._operand(raw[op], join_pointer(pointer, op))
        if op == "present" and not (isinstance(right, Lit) and isinstance(right.value, bool)):
            self.err("wrong_type", "'present' takes true or false", join_pointer(pointer, op),
                     expected="true or false", found=raw[op])
        return Atom(left, op, right, loc)

    def _expression(self, raw: Any, pointer: str) -> Expression:
        loc = self.loc(pointer)
        if isinstance(raw, dict):
            ref = self._ref(raw, pointer)
            if ref is not None:
                return ref
            if len(raw) == 1:
                (func, args), = raw.items()
                if func in FUNCTIONS:
                    low, high = FUNCTIONS[func]
                    items = args if isinstance(args, list) else []
                    if len(items) < low or (high is not None and len(items) > high):
                        want = f"{low}" if high == low else f"at least {low}"
                        self.err("wrong_arity", f"{func} takes {want} arguments", join_pointer(pointer, func),
                                 expected=want, found=len(items))
                    return Call(func, tuple(self._expression(a, f"{pointer}/{func}/{i}")
                                            for i, a in enumerate(items)), loc)
            return Lit(None, loc)
        return Lit(raw, loc)


def build_file(loaded: Loaded, documents: dict[str, str]) -> tuple[RulesetFile | None, list[Issue]]:
    """Build the model of one loaded ruleset file; returns it (or None) and every issue found."""
    builder = FileBuilder(loaded, documents)
    result = builder.build()
    return result, sort_issues(builder.issues)


def iter_conditions(cond: Condition) -> Iterable[Atom]:
    """Every atom of a condition tree, left to right."""
    if isinstance(cond, Atom):
        yield cond
    elif isinstance(cond, Group):
        for item in cond.items:
            yield from iter_conditions(item)
    elif isinstance(cond, Negation):
        yield from iter_conditions(cond.item)


def iter_expression_refs(expr: Expression) -> Iterable[Ref]:
    if isinstance(expr, Ref):
        yield expr
    elif isinstance(expr, Call):
        for arg in expr.args:
            yield from iter_expression_refs(arg)


def message_refs(text: Text | None) -> Iterable[Ref]:
    if text is None:
        return
    for lang in ("zh", "en"):
        for match in PLACEHOLDER.finditer(text.get(lang)):
            ref = match.group(1)
            kind, _, name = ref.partition(":") if ":" in ref else ("fact", "", ref)
            if kind in OPERAND_KINDS and name:
                yield Ref(kind, name)
