"""The JSON the console pages read besides /v1/decisions and /v1/explanations.

Every function here is a pure view of the engine's loaded rulesets (or of the decision log):
the rules browser's layers, dated versions and switches; what changes between two days (the
same snapshots ``gongji diff`` compares); the matrix (``gongji matrix``'s cells); the cited
source documents; why-not suggestions as ready-to-decide fact documents; and one decision-log
line for the audit report.  Nothing is computed twice in another way: values are labelled by
the catalog, in-force versions come from the layering's own lookup, changes from diff.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from ..core import catalog, citations, values
from ..core.errors import EngineError, FactError, Issue, SourceLocation, UsageError
from ..core.layering import ParamReference, TypedParamVersion, resolve, variant_matches
from ..core.load import load_json_text, load_yaml_text
from ..core.privacy import mask_load_issue
from ..core.model import Period, RuleVersion, Source, Text
from ..runtime.api import City, Engine
from ..runtime.auditlog import record_of
from ..runtime.decision import Decision
from ..tools.counterfactual import apply_change, why_not
from ..tools.diff import _snapshot_changes, snapshot
from ..tools.matrix import Matrix, build_matrix, describe_period

LANGS = ("zh", "en")
PASTED = "<pasted>"  # the "file" of issues about a pasted document
REPOSITORY = Path(__file__).resolve().parents[2]
SCHEMA_FILE = REPOSITORY / "schemas" / "facts.schema.json"


def _text(text: Text | None) -> dict[str, str] | None:
    return None if text is None else {"zh": text.zh, "en": text.en}


def _sources(sources: tuple[Source, ...]) -> list[dict[str, str]]:
    return [{"document": s.document, "quote": s.quote, "note": " ".join(s.note.split())} for s in sources]


def _period(period: Period) -> dict[str, str | None]:
    return period.to_json()


def _variant(variant: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return dict(variant)


def parse_day(text: str | None, name: str) -> int:
    """A query parameter date (YYYY-MM-DD) as YYYYMMDD; a bad one is a 422 with its name."""
    try:
        return values.parse_date(text or "")
    except values.ValueProblem as problem:
        raise UsageError([Issue("invalid_date", f"{name}: {problem}", SourceLocation(pointer=f"/{name}"),
                                expected=problem.expected, found=text)]) from None


def city_switches(engine: Engine, city: City, chosen: Mapping[str, str] | None) -> dict[str, str]:
    """The defaults, then the engine's, then the page's choices (unknown ones are a 422)."""
    base = {k: v for k, v in engine.switches.items() if k in city.view.switches}
    return city.switch_assignment(base, chosen, pointer="/switches", error=UsageError)


# ----------------------------------------------------------------------------- decide page


def _examples(engine: Engine) -> list[dict[str, Any]]:
    """The example documents beside the rulesets directory, else the repository's ``examples/``."""
    folders = [Path(engine.path).resolve().parent / "examples", REPOSITORY / "examples"]
    folder = next((f for f in folders if f.is_dir()), None)
    out: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.yaml")) if folder else ():
        text = path.read_text(encoding="utf-8")
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError:
            continue
        if not isinstance(document, dict):
            continue
        first = text.splitlines()[0] if text else ""
        title = first[1:].strip() if first.startswith("#") else path.stem
        out.append({"name": path.stem, "title": title, "document": document})
    return out


def meta(engine: Engine) -> dict[str, Any]:
    """What the decide form is generated from: the fact schema, the cities, labels, examples."""
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    fields = {f.path: {"zh": f.title_zh, "en": f.title_en, "requests": sorted(f.requests)}
              for f in catalog.FIELDS if not f.computed}
    labels = {name: {str(value): {"zh": zh, "en": en} for value, (zh, en) in entries.items()}
              for name, entries in catalog.LABELS.items()}
    sources = {name: {"zh": zh, "en": en} for name, (zh, en) in catalog.SOURCE_LABELS.items()}
    cities = []
    for cid in sorted(engine.cities):
        city = engine.cities[cid]
        switches = [{"id": sid, "title": _text(sw.title), "default": sw.default,
                     "options": [{"name": o.name, "description": _text(o.description)} for o in sw.options]}
                    for sid, sw in sorted(city.view.switches.items())]
        cities.append({"id": cid, "name": _text(city.name), "version": city.version, "sha256": city.sha256,
                       "switches": switches})
    # personal fields: the page keeps them out of its URLs (permalinks) unless the user opts in
    pii = sorted(f.path for f in catalog.DOCUMENT if f.pii)
    return {"schema": schema, "fields": fields, "labels": labels, "plan_sources": sources, "cities": cities,
            "examples": _examples(engine), "pii_fields": pii}


def parse_document(body: bytes, content_type: str) -> dict[str, Any]:
    """A pasted fact document, JSON or YAML, read by the CLI's own readers (their depth and
    number guards, their error codes with line and column); it must be a mapping."""
    text = body.decode("utf-8", errors="replace")
    loaded = load_json_text(text, PASTED) if "json" in content_type else load_yaml_text(text, PASTED)
    if loaded.issues:
        raise FactError([mask_load_issue(issue) for issue in loaded.issues])  # as the CLI prints them
    if not isinstance(loaded.data, dict):
        raise FactError([Issue("invalid_document", "the fact document must be a mapping",
                               SourceLocation(PASTED, pointer="/"), expected="a mapping",
                               found=type(loaded.data).__name__)])
    return loaded.data


def json_default(value: Any) -> Any:
    """Exact decimals and dates of a parsed document, as the strings the fact schema takes."""
    if isinstance(value, (Decimal, _dt.date)):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def suggestions(engine: Engine, document: Mapping[str, Any]) -> dict[str, Any]:
    """Why-not repairs, each as the changed fact document and the decision it gets.

    ``counterfactual.why_not`` finds the repairs; each option of each failing check is written
    into a copy of the document with ``apply_change`` and decided again (never logged), so a
    link the page offers is one the engine has verified."""
    decision = engine.decide_facts(engine.normalize(document))
    found = why_not(decision, engine)
    base = copy.deepcopy(dict(document))
    base["as_of"] = values.format_date(decision.as_of)
    base["city"] = decision.city
    items: list[dict[str, Any]] = []

    def add(kind: str, changed: dict[str, Any], text: dict[str, str], check: str = "") -> None:
        try:
            again = engine.decide_facts(engine.normalize(changed))
        except EngineError:
            return
        items.append({"kind": kind, "check": check, "text": text, "document": changed,
                      "eligible": again.eligible, "fail_codes": again.fail_codes})

    for repair in found.repairs:
        for option in repair.options:
            changed = copy.deepcopy(base)
            if all([apply_change(changed, change) for change in option]):
                text = {lang: ("；" if lang == "zh" else "; ").join(c.text(lang) for c in option) for lang in LANGS}
                add("facts", changed, text, repair.code)
    if len(found.repairs) > 1 and found.changed_document is not None:
        add("all", found.changed_document, {"zh": "同时采用每项检查的第一种修改",
                                             "en": "apply the first change of every check together"})
    if found.later_date:
        add("date", dict(copy.deepcopy(base), as_of=found.later_date),
            {"zh": f"事实不变，改为 {found.later_date} 决定", "en": f"same facts, decided on {found.later_date}"})
    for name, option in found.switch_options:
        changed = copy.deepcopy(base)
        changed["switches"] = {**decision.switches, name: option}
        add("switch", changed, {"zh": f"开关 {name} 取 {option}", "en": f"switch {name} = {option}"})
    unrepairable = [{"check": r.code, "rule": r.rule, "note": r.note} for r in found.repairs if not r.options]
    return {"eligible": decision.eligible, "suggestions": items, "unrepairable": unrepairable}


# ----------------------------------------------------------------------------- rules browser


def _value_text(typed: TypedParamVersion, vtype: catalog.VType) -> dict[str, str]:
    if isinstance(typed.value, ParamReference):
        return {"zh": f"取参数 {typed.value.name} 当日的值", "en": f"the value of {typed.value.name} that day"}
    return {lang: catalog.label(vtype, typed.value, lang) for lang in LANGS}


def _value_json(typed: TypedParamVersion, vtype: catalog.VType) -> Any:
    if isinstance(typed.value, ParamReference):
        return {"param": typed.value.name}
    return catalog.to_json_value(vtype, typed.value)


def _resolved_text(city: City, param_id: str, day: int, switches: Mapping[str, str]) -> dict[str, str] | None:
    """The value in force on ``day``, through any ``{param: other}`` reference (None: none in force)."""
    chain = resolve(city.view, param_id, day, switches).complete
    if not chain:
        return None
    param, typed = chain[-1]
    return _value_text(typed, param.type)


def _rule_version(version: RuleVersion, day: int, switches: Mapping[str, str]) -> dict[str, Any]:
    branches = []
    for action in version.branches:
        if action is None:
            continue
        branches.append({"outcome": action.outcome, "code": action.code, "message": _text(action.message),
                         "derive": list(action.derived_names), "sources": _sources(action.sources)})
    return {"period": _period(version.period), "variant": _variant(version.variant), "enabled": version.enabled,
            "in_force": version.enabled and version.period.contains(day) and variant_matches(version.variant,
                                                                                              switches),
            "reading": variant_matches(version.variant, switches),
            "sources": _sources(version.sources), "note": " ".join(version.note.split()), "branches": branches}


def rules_browser(engine: Engine, city_id: str, day: int, chosen: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One city: its layers, switches, parameters and rules with every dated version, and which
    version is in force on ``day`` under the switch options."""
    city = engine.city(city_id)
    view = city.view
    switches = city_switches(engine, city, chosen)
    kinds = {r.id: r.kind for r in view.chain}
    layers = [{"id": r.id, "kind": r.kind, "name": _text(r.name), "version": r.version, "path": r.path,
               "notes": [{"id": n.id, "topic": n.topic, "text": " ".join(n.text.split())} for n in r.notes]}
              for r in view.chain]
    params = []
    for pid in sorted(view.parameters):
        param = view.parameters[pid]
        current = param.in_force(day, switches)
        versions = [{"period": _period(t.period), "variant": _variant(t.version.variant),
                     "value": _value_json(t, param.type), "text": _value_text(t, param.type),
                     "in_force": t is current, "reading": variant_matches(t.version.variant, switches),
                     "sources": _sources(t.version.sources),
                     "note": " ".join(t.version.note.split())} for t in param.versions]
        origin = param.definition.origin
        params.append({"id": pid, "title": _text(param.title), "type": param.type.kind, "origin": origin,
                       "in_force_text": _resolved_text(city, pid, day, switches),
                       "layer": kinds.get(origin, ""), "overrides": param.definition.overrides,
                       "description": " ".join(param.definition.description.split()), "versions": versions})
    rules = []
    for rule in view.rules:
        rules.append({"id": rule.id, "title": _text(rule.title), "origin": rule.origin,
                      "layer": kinds.get(rule.origin, ""), "overrides": rule.overrides,
                      "applies_to": sorted(rule.applies_to), "description": " ".join(rule.description.split()),
                      "versions": [_rule_version(v, day, switches) for v in rule.versions]})
    switch_list = [{"id": sid, "title": _text(sw.title), "default": sw.default, "option": switches[sid],
                    "origin": sw.origin, "layer": kinds.get(sw.origin, ""),
                    "options": [{"name": o.name, "description": _text(o.description), "sources": _sources(o.sources)}
                                for o in sw.options]}
                   for sid, sw in sorted(view.switches.items())]
    order = {"national": 0, "province": 1, "city": 2}
    params.sort(key=lambda p: (order.get(p["layer"], 3), p["id"]))
    rules.sort(key=lambda r: order.get(r["layer"], 3))
    return {"city": city_id, "name": _text(city.name), "as_of": values.format_date(day), "sha256": city.sha256,
            "version": city.version, "layers": layers, "switches": switch_list, "parameters": params,
            "rules": rules}


def changes_between(engine: Engine, city_id: str, day_a: int, day_b: int,
                    chosen: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What is in force on ``day_b`` but not on ``day_a`` (and back): ``gongji diff``'s snapshots
    of the same city on two days."""
    city = engine.city(city_id)
    switches = city_switches(engine, city, chosen)
    entries = _snapshot_changes(snapshot(city.view, switches, day_a), snapshot(city.view, switches, day_b))
    for entry in entries:
        source = city.view.parameters.get(entry["id"]) if entry["kind"] == "parameter" else None
        rule = next((r for r in city.view.rules if r.id == entry["id"]), None) if entry["kind"] == "rule" else None
        title = source.title if source is not None else rule.title if rule is not None else None
        entry["title"] = _text(title)
        if source is not None:
            for side, day in (("old", day_a), ("new", day_b)):
                entry[f"{side}_text"] = _resolved_text(city, entry["id"], day, switches)
    return {"city": city_id, "from": values.format_date(day_a), "to": values.format_date(day_b),
            "switches": switches, "changes": entries}


def source_document(engine: Engine, name: str) -> str:
    documents = engine.collection.documents
    if name not in documents:
        raise UsageError([Issue("unknown_document", f"no source document {name!r}", SourceLocation(pointer="/name"),
                                expected=f"one of {sorted(documents)}", found=name)])
    return documents[name]


# ----------------------------------------------------------------------------- matrix


def matrix_json(engine: Engine, day: int, lang: str, chosen: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``gongji matrix`` as JSON for the page: cells in ``lang``, and which rows differ."""
    matrix: Matrix = build_matrix(engine, day, chosen, lang)
    groups = []
    for group in matrix.groups:
        rows = []
        for row in group.rows:
            cells = [{"text": c.text, "stated": c.stated, "in_force": c.in_force, "used": c.used,
                      "period": describe_period(c.period, lang) if c.in_force else "",
                      "layer": c.layer, "origin": c.origin, "footnotes": list(c.footnotes),
                      "switches": [f"{k}={v}" for k, v in c.switches], "via": list(c.via)} for c in row.cells]
            differs = len({c.text for c in row.cells if c.in_force}) > 1
            rows.append({"param": row.param, "title": row.title.get(lang), "differs": differs, "cells": cells})
        groups.append({"id": group.id, "title": group.title.get(lang), "rows": rows})
    footnotes = [{"number": n, "document": f.document, "quote": f.quote, "note": f.note}
                 for n, f in enumerate(matrix.footnotes, 1)]
    cities = [{"id": c.id, "name": c.name.get(lang), "version": c.version, "sha256": c.sha256,
               "layers": [{"id": rid, "name": name.get(lang), "version": version} for rid, name, version in c.layers],
               "switches": [{"id": s.id, "title": s.title.get(lang), "option": s.option, "default": s.default,
                             "chosen": s.chosen, "options": [{"name": n, "description": d.get(lang)}
                                                             for n, d in s.options]}
                            for s in c.switches]} for c in matrix.cities]
    return {"as_of": values.format_date(day), "lang": lang, "cities": cities, "groups": groups,
            "footnotes": footnotes}


# ----------------------------------------------------------------------------- audit report


# a decision id as the decision log writes it (engine/runtime/auditlog.py: a lowercase UUID4)
DECISION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
LOG_BLOCK = 1 << 16  # bytes read at a time when a log is searched from its end


def is_decision_id(text: str) -> bool:
    """Whether ``text`` can be a decision id at all (anything else needs no search)."""
    return DECISION_ID.fullmatch(text) is not None


def _lines_backwards(handle: Any, block: int = LOG_BLOCK) -> Iterator[bytes]:
    """The lines of a binary file, last first, reading ``block`` bytes at a time from its end."""
    position = handle.seek(0, os.SEEK_END)
    tail = b""
    while position > 0:
        size = min(block, position)
        position -= size
        handle.seek(position)
        lines = (handle.read(size) + tail).split(b"\n")
        tail = lines[0]  # maybe the end of a line that starts in an earlier block
        for line in reversed(lines[1:]):
            if line:
                yield line
    if tail:
        yield tail


def find_logged(log_path: Path | None, decision_id: str) -> dict[str, Any] | None:
    """The decision-log line with this decision id (None when there is no log or no such line).

    The log is read from its end and the search stops at the first match: the newest lines are
    the ones audited most, and a long log is never read whole for them.  It is plain file reading
    (no engine), so the service runs it off its event loop."""
    if not is_decision_id(decision_id) or log_path is None or not Path(log_path).is_file():
        return None
    needle = f'"decision_id":"{decision_id}"'.encode("ascii")
    with open(log_path, "rb") as handle:
        for line in _lines_backwards(handle):
            if needle not in line:
                continue
            try:
                entry = json.loads(line.decode("utf-8", "replace"))
            except json.JSONDecodeError:
                continue  # a line cut short by a failed write: an earlier, whole copy may follow
            if isinstance(entry, dict) and entry.get("decision_id") == decision_id:
                return entry
    return None


def audit_parts(engine: Engine, decision: Decision) -> dict[str, Any]:
    """The explanation (zh, en) and the citations of one decision: those of its own jurisdiction
    (the nation, its province, its city: ``core.citations``), the inferences (a quote that backs a
    value only through its note), and, counted apart, the other jurisdictions' citations the
    rules carry, which the decision does not show."""
    segment = decision.run.segment
    documents = dict(segment.documents)
    kept: list[dict[str, Any]] = []
    inferred: list[dict[str, Any]] = []
    omitted: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()

    def consider(sources: Iterable[Source], cited_by: str) -> None:
        cited, inferences = citations.select(sources, decision.city, documents)
        for source in sources:
            key = (source.document, source.quote)
            if key in seen:
                continue
            seen.add(key)
            entry = {"document": source.document, "quote": source.quote, "cited_by": cited_by,
                     "jurisdiction": citations.jurisdiction(source, documents)}
            if source in cited:
                kept.append(entry)
            elif source in inferences:
                inferred.append({**entry, "note": source.note})
            else:
                omitted.append(entry)

    fired = {firing.slot for firing in decision.run.firings} | set(decision.run.failed)
    for rule in segment.rules:
        if rule.slot not in fired:
            continue
        name = f"{rule.version.rule.origin}.{rule.rule_id}"
        consider(rule.version.version.sources, name)
        for branch in rule.branches:
            if branch.action is not None:
                consider(branch.action.source.sources, name)
        for use in rule.params.values():
            if use.version is not None:
                consider(use.version.version.sources, f"param.{use.param.id}")
    explanation = {lang: decision.explain(lang) for lang in LANGS}
    return {"explanation": explanation, "citations": kept, "inferences": inferred, "omitted": omitted}


def audit_document(engine: Engine, document: Mapping[str, Any]) -> dict[str, Any]:
    """``audit_parts`` of a fact document decided again, without writing to the decision log."""
    return audit_parts(engine, engine.decide_facts(engine.normalize(document)))


def audit_entry(engine: Engine, entry: Mapping[str, Any]) -> dict[str, Any]:
    """A logged decision with its explanation and citations, decided again (not logged) from the
    logged facts; ``same_ruleset`` says whether the rulesets loaded now are the ones that decided."""
    record = entry.get("record") if "decision" not in entry else None  # a compact line
    logged = entry.get("decision") or record or {}
    document = dict(entry.get("facts") or {})
    document["as_of"] = entry.get("as_of") or logged.get("as_of")
    document["city"] = logged.get("city") or document.get("city")
    if entry.get("switches"):
        document["switches"] = dict(entry["switches"])
    out: dict[str, Any] = {"decision_id": entry.get("decision_id"), "timestamp": entry.get("timestamp"),
                           "ruleset": entry.get("ruleset"), "decision": logged, "explanation": None,
                           "citations": [], "omitted": [], "same_ruleset": False, "same_decision": False}
    city = engine.cities.get(str(document.get("city")))
    if city is None:
        return out
    out["same_ruleset"] = city.sha256 == (entry.get("ruleset") or {}).get("sha256")
    try:
        again = engine.decide_facts(engine.normalize(document))
    except EngineError:
        return out
    out.update(audit_parts(engine, again))
    if isinstance(record, dict):
        # the line keeps the record; the decision it stands for is the one rebuilt, when it matches
        out["same_decision"] = record_of(again.to_dict()) == record
        if out["same_decision"]:
            out["decision"] = again.to_dict()
        else:
            out["decision"] = {**record, "switches": dict(entry.get("switches") or {})}
        return out
    out["same_decision"] = json.loads(again.to_json()) == logged
    return out
