"""``gongji diff OLD_DIR NEW_DIR``: what a ruleset edit changes, in the rules and on real requests.

Structural diff: both directories are loaded and compiled, and each city's merged view
(national -> province -> city: what actually applies to the city) is compared item by item —
switches, parameters, rules — and version by version.  The comparison is by content (the
model's frozen dataclasses compare without their source locations; parameter values compare
as typed values, sets without regard to order), so moving a rule within a file or reformatting
it is no change.  Versions are paired by identical content, then by the same period and switch
variant, then by the same variant and overlapping dates; the rest were added or removed.  For
the default switch options each city also lists the effective periods in which what is in force
differs, with old -> new parameter values resolved on those days.

Replay (``--replay FILE``): every line of a JSON Lines corpus of fact documents, or of a decision
log written by ``gongji decide --log``, is decided under both versions.  Decisions whose outcome
changed (eligibility, the set of failing reason codes, the payment plan) are grouped by city and
by what changed, with counts and the first examples.  Corrupt lines and invalid documents are
counted and listed with their line numbers; they never stop the run.

Exit codes: 0 the diff ran (changes or not, bad replay lines included), 1 invalid input (a
rulesets directory that does not load, a replay file that cannot be read), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO, TypeVar
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from ..core import catalog, values
from ..runtime.auditlog import LOG_FORMAT, document_from_entry
from ..core.catalog import VType
from ..core.compile import boundaries, periods_between, representative_day
from ..core.errors import EngineError, FactError, InputError, Issue, SourceLocation
from .cliargs import whole_number
from ..core.layering import (ParamReference, ResolvedParameter, TypedParamVersion, View, resolve, ruleset_files,
                       variant_matches)
from ..core.operators import OPERATORS
from ..core.model import (Action, Atom, Call, Condition, Group, Lit, Negation, Period, Ref, Rule, RuleVersion, Source,
                    Switch, Text, Truth)

REPORT_FORMAT = "gongji.diff/1"
DEFAULT_EXAMPLES = 3
PROGRESS_EVERY = 10_000
MAX_PROBLEMS = 100
EXIT_OK, EXIT_INVALID = 0, 1

V = TypeVar("V")


# ----------------------------------------------------------------------------- small formatters


def period_text(period: Period) -> str:
    """``2024-12-09 – open-ended``; ``all dates`` when neither end is stated."""
    if period.start is None and period.end is None:
        return "all dates"
    return period.describe("en")


def variant_text(variant: Mapping[str, str]) -> str:
    """``switch=option, ...``: the switch options a version applies under."""
    return "all switch options" if not variant else ", ".join(f"{k}={v}" for k, v in sorted(variant.items()))


def show(value: Any) -> str:
    """A JSON value in one short line (strings unquoted)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def text_json(text: Text | None) -> dict[str, str] | None:
    return None if text is None else {"zh": text.zh, "en": text.en}


def source_text(source: Source) -> str:
    return f"{source.document} «{source.quote}»"


def operand_text(operand: Ref | Lit) -> str:
    """A reference as ``fact.path`` / ``param.name``; a literal as JSON (``"cosmetic"``, ``["a", "b"]``)."""
    if isinstance(operand, Lit):
        value = list(operand.value) if isinstance(operand.value, tuple) else operand.value
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(operand)


def condition_text(cond: Condition) -> str:
    """A condition in one line: ``all(a, any(b, c))``, ``not(...)``, atoms as ``fact op operand``."""
    if isinstance(cond, Atom):
        op = OPERATORS[cond.op].inline if cond.op in OPERATORS else cond.op
        return f"{cond.left} {op} {operand_text(cond.right)}"
    if isinstance(cond, Group):
        return f"{cond.kind}(" + ", ".join(condition_text(item) for item in cond.items) + ")"
    if isinstance(cond, Negation):
        return f"not({condition_text(cond.item)})"
    if isinstance(cond, Truth):
        return "true" if cond.value else "false"
    return str(cond)  # pragma: no cover - Condition is closed


def expression_text(expr: Ref | Lit | Call) -> str:
    if isinstance(expr, Call):
        return f"{expr.func}(" + ", ".join(expression_text(arg) for arg in expr.args) + ")"
    return operand_text(expr)


def action_brief(action: Action | None) -> str:
    """``fail member_limit_reached; derives pay.cash`` — what a branch concludes."""
    if action is None:
        return "nothing"
    parts = []
    if action.outcome or action.code:
        parts.append(" ".join(p for p in (action.outcome, action.code) if p))
    if action.derive:
        parts.append("derives " + ", ".join(action.derived_names))
    return "; ".join(parts) or "nothing"


def sources_details(label: str, old: Sequence[Source], new: Sequence[Source]) -> list[str]:
    """``sources: - doc «quote»`` / ``+ ...`` lines for citations removed and added."""
    removed = [s for s in old if s not in new]
    added = [s for s in new if s not in old]
    lines = [f"{label}: - {source_text(s)}" for s in removed] + [f"{label}: + {source_text(s)}" for s in added]
    return lines or [f"{label}: reordered"]


# ----------------------------------------------------------------------------- version pairing


def pair_versions(old: Sequence[V], new: Sequence[V], period: Callable[[V], Period],
                  variant: Callable[[V], tuple[tuple[str, str], ...]],
                  same: Callable[[V, V], bool]) -> list[tuple[V | None, V | None]]:
    """Pair old and new versions: identical ones, then same period and variant, then same variant
    and overlapping dates; unpaired ones are (old, None) removed or (None, new) added."""
    left = list(range(len(old)))
    right = list(range(len(new)))
    pairs: list[tuple[V | None, V | None]] = []
    matchers: list[Callable[[V, V], bool]] = [
        lambda a, b: period(a) == period(b) and variant(a) == variant(b) and same(a, b),
        lambda a, b: period(a) == period(b) and variant(a) == variant(b),
        lambda a, b: variant(a) == variant(b) and period(a).overlaps(period(b)),
    ]
    for match in matchers:
        for i in list(left):
            for j in right:
                if match(old[i], new[j]):
                    pairs.append((old[i], new[j]))
                    left.remove(i)
                    right.remove(j)
                    break
    pairs.extend((old[i], None) for i in left)
    pairs.extend((None, new[j]) for j in right)

    def order(pair: tuple[V | None, V | None]) -> tuple[int, int, tuple[tuple[str, str], ...]]:
        item = pair[1] if pair[1] is not None else pair[0]
        assert item is not None
        return version_order(period(item), variant(item))

    return sorted(pairs, key=order)


def version_order(period: Period, variant: tuple[tuple[str, str], ...]) -> tuple[Any, ...]:
    """Versions are listed by start, then end (open-ended last), then switch options."""
    return (period.start or 0, period.end or 99991231, variant)


def version_entry(change: str, old_period: Period | None, new_period: Period | None,
                  variant: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """The common head of a version change: its change kind, period (the new one if any) and variant."""
    current = new_period if new_period is not None else old_period
    assert current is not None
    entry: dict[str, Any] = {"change": change, "period": current.to_json(), "variant": dict(variant)}
    if old_period is not None and new_period is not None and old_period != new_period:
        entry["old_period"] = old_period.to_json()
    return entry


def field_change(old: Any, new: Any) -> dict[str, Any]:
    return {"old": old, "new": new}


# ----------------------------------------------------------------------------- switches


def diff_switches(old: Mapping[str, Switch], new: Mapping[str, Switch]) -> list[dict[str, Any]]:
    """Switches added, removed, or changed (default, options, title, description, origin)."""
    out: list[dict[str, Any]] = []
    for sid in sorted(set(old) | set(new)):
        a, b = old.get(sid), new.get(sid)
        if b is not None and a is None:
            out.append({"id": sid, "change": "added", "default": b.default, "options": list(b.option_names),
                        "origin": b.origin})
            continue
        if a is not None and b is None:
            out.append({"id": sid, "change": "removed", "default": a.default, "options": list(a.option_names),
                        "origin": a.origin})
            continue
        assert a is not None and b is not None
        fields: dict[str, Any] = {}
        if a.default != b.default:
            fields["default"] = field_change(a.default, b.default)
        old_options = {o.name: o for o in a.options}
        new_options = {o.name: o for o in b.options}
        options = {"added": sorted(set(new_options) - set(old_options)),
                   "removed": sorted(set(old_options) - set(new_options)),
                   "changed": sorted(n for n in set(old_options) & set(new_options)
                                     if old_options[n] != new_options[n])}
        if any(options.values()):
            fields["options"] = options
        if a.title != b.title:
            fields["title"] = field_change(text_json(a.title), text_json(b.title))
        if a.description != b.description:
            fields["description"] = field_change(a.description, b.description)
        if a.origin != b.origin:
            fields["origin"] = field_change(a.origin, b.origin)
        if fields:
            out.append({"id": sid, "change": "changed", "fields": fields})
    return out


# ----------------------------------------------------------------------------- parameters


def value_json(vtype: VType, value: Any) -> Any:
    """A typed parameter value as JSON (money "800.00", percent "60%", sets as lists, {param: x})."""
    if isinstance(value, ParamReference):
        return {"param": value.name}
    return catalog.to_json_value(vtype, value)


def value_key(vtype: VType, value: Any) -> str:
    """What makes two values equal: the JSON form, with sets in sorted order."""
    data = value_json(vtype, value)
    if vtype.kind == "set" and isinstance(data, list):
        data = sorted(data, key=lambda item: json.dumps(item, sort_keys=True))
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def _param_fields(a: ResolvedParameter, b: ResolvedParameter) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if a.type != b.type:
        fields["type"] = field_change(a.type.describe(), b.type.describe())
    if a.nullable != b.nullable:
        fields["nullable"] = field_change(a.nullable, b.nullable)
    if a.title != b.title:
        fields["title"] = field_change(text_json(a.title), text_json(b.title))
    old_description = a.definition.description or a.base.description
    new_description = b.definition.description or b.base.description
    if old_description != new_description:
        fields["description"] = field_change(old_description, new_description)
    if a.definition.origin != b.definition.origin:
        fields["origin"] = field_change(a.definition.origin, b.definition.origin)
    return fields


def _param_version_change(a: ResolvedParameter, old: TypedParamVersion | None, b: ResolvedParameter,
                          new: TypedParamVersion | None) -> dict[str, Any] | None:
    """One version's change, or None when the pair is identical."""
    if old is None:
        assert new is not None
        entry = version_entry("added", None, new.period, new.version.variant)
        entry["new"] = value_json(b.type, new.value)
        return entry
    if new is None:
        entry = version_entry("removed", old.period, None, old.version.variant)
        entry["old"] = value_json(a.type, old.value)
        return entry
    fields: list[str] = []
    details: list[str] = []
    if old.period != new.period:
        fields.append("dates")
        details.append(f"dates: {period_text(old.period)} -> {period_text(new.period)}")
    value_changed = value_key(a.type, old.value) != value_key(b.type, new.value)
    if value_changed:
        fields.append("value")
    if old.version.sources != new.version.sources:
        fields.append("sources")
        details.extend(sources_details("sources", old.version.sources, new.version.sources))
    if old.version.note != new.version.note:
        fields.append("note")
        details.append(f"note: {old.version.note or '(none)'} -> {new.version.note or '(none)'}")
    if not fields:
        return None
    entry = version_entry("changed", old.period, new.period, new.version.variant)
    entry["fields"] = fields
    if value_changed:
        entry["old"] = value_json(a.type, old.value)
        entry["new"] = value_json(b.type, new.value)
    entry["details"] = details
    return entry


def _param_added(change: str, param: ResolvedParameter) -> dict[str, Any]:
    ordered = sorted(param.versions, key=lambda t: version_order(t.period, t.version.variant))
    versions = [_param_version_change(param, None, param, t) if change == "added" else
                _param_version_change(param, t, param, None) for t in ordered]
    return {"id": param.id, "change": change, "type": param.type.describe(), "origin": param.definition.origin,
            "versions": versions}


def diff_parameters(old: Mapping[str, ResolvedParameter],
                    new: Mapping[str, ResolvedParameter]) -> list[dict[str, Any]]:
    """Parameters added, removed, or changed (fields and versions: dates, value, sources, note)."""
    out: list[dict[str, Any]] = []
    for pid in sorted(set(old) | set(new)):
        a, b = old.get(pid), new.get(pid)
        if a is None or b is None:
            out.append(_param_added("added", b) if a is None else _param_added("removed", a))  # type: ignore[arg-type]
            continue
        fields = _param_fields(a, b)

        def same(x: TypedParamVersion, y: TypedParamVersion, a: ResolvedParameter = a,
                 b: ResolvedParameter = b) -> bool:
            return (value_key(a.type, x.value) == value_key(b.type, y.value) and x.version.sources == y.version.sources
                    and x.version.note == y.version.note)

        versions = []
        for x, y in pair_versions(a.versions, b.versions, lambda t: t.period, lambda t: t.version.variant, same):
            entry = _param_version_change(a, x, b, y)
            if entry is not None:
                versions.append(entry)
        if fields or versions:
            out.append({"id": pid, "change": "changed", "fields": fields, "versions": versions})
    return out


# ----------------------------------------------------------------------------- rules


def rule_outline(version: RuleVersion) -> list[str]:
    """What a version does, one line per branch."""
    if not version.enabled:
        return ["disabled (enabled: false)"]
    lines = [f"case {i}: when {condition_text(case.when)} -> {action_brief(case.then)}"
             for i, case in enumerate(version.cases, 1)]
    if version.otherwise is not None:
        lines.append(f"else -> {action_brief(version.otherwise)}")
    return lines


def action_details(label: str, old: Action | None, new: Action | None) -> list[str]:
    """Differences between two branch actions: outcome, code, message, derivations, own sources."""
    if old == new:
        return []
    if old is None or new is None:
        return [f"{label}: {action_brief(old)} -> {action_brief(new)}"]
    details = []
    if old.outcome != new.outcome:
        details.append(f"{label}.outcome: {old.outcome} -> {new.outcome}")
    if old.code != new.code:
        details.append(f"{label}.code: {old.code} -> {new.code}")
    if old.message != new.message:
        for lang in ("en", "zh"):
            before = old.message.get(lang) if old.message else None
            after = new.message.get(lang) if new.message else None
            if before != after:
                details.append(f"{label}.message.{lang}: {before!r} -> {after!r}")
    if old.derive != new.derive:
        before_map = {d.name: d.expr for d in old.derive}
        after_map = {d.name: d.expr for d in new.derive}
        for name in sorted(set(before_map) | set(after_map)):
            if name not in before_map:
                details.append(f"{label}.derive {name}: added = {expression_text(after_map[name])}")
            elif name not in after_map:
                details.append(f"{label}.derive {name}: removed (was {expression_text(before_map[name])})")
            elif before_map[name] != after_map[name]:
                details.append(f"{label}.derive {name}: {expression_text(before_map[name])} -> "
                               f"{expression_text(after_map[name])}")
        if before_map == after_map:
            details.append(f"{label}.derive: order changed")
    if old.sources != new.sources:
        details.extend(sources_details(f"{label}.sources", old.sources, new.sources))
    return details


def _rule_version_change(old: RuleVersion | None, new: RuleVersion | None) -> dict[str, Any] | None:
    if old is None:
        assert new is not None
        entry = version_entry("added", None, new.period, new.variant)
        entry["details"] = rule_outline(new)
        return entry
    if new is None:
        entry = version_entry("removed", old.period, None, old.variant)
        entry["details"] = rule_outline(old)
        return entry
    if old == new:
        return None
    fields: list[str] = []
    details: list[str] = []
    if old.period != new.period:
        fields.append("dates")
        details.append(f"dates: {period_text(old.period)} -> {period_text(new.period)}")
    if old.enabled != new.enabled:
        fields.append("enabled")
        details.append(f"enabled: {str(old.enabled).lower()} -> {str(new.enabled).lower()}")
    if old.sources != new.sources:
        fields.append("sources")
        details.extend(sources_details("sources", old.sources, new.sources))
    conditions: list[str] = []
    actions: list[str] = []
    for index in range(max(len(old.cases), len(new.cases))):
        label = f"case {index + 1}"
        if index >= len(old.cases):
            case = new.cases[index]
            conditions.append(f"{label}: added: when {condition_text(case.when)} -> {action_brief(case.then)}")
            continue
        if index >= len(new.cases):
            case = old.cases[index]
            conditions.append(f"{label}: removed (was when {condition_text(case.when)} -> {action_brief(case.then)})")
            continue
        before, after = old.cases[index], new.cases[index]
        if before.when != after.when:
            conditions.append(f"{label}.when: {condition_text(before.when)} -> {condition_text(after.when)}")
        actions.extend(action_details(f"{label}.then", before.then, after.then))
    actions.extend(action_details("else", old.otherwise, new.otherwise))
    if conditions:
        fields.append("conditions")
        details.extend(conditions)
    if actions:
        fields.append("actions")
        details.extend(actions)
    if old.note != new.note:
        fields.append("note")
        details.append(f"note: {old.note or '(none)'} -> {new.note or '(none)'}")
    entry = version_entry("changed", old.period, new.period, new.variant)
    entry["fields"] = fields
    entry["details"] = details
    return entry


def _rule_added(change: str, rule: Rule) -> dict[str, Any]:
    versions = sorted(rule.versions, key=lambda v: version_order(v.period, v.variant))
    entries = [_rule_version_change(None, v) if change == "added" else _rule_version_change(v, None)
               for v in versions]
    return {"id": rule.id, "change": change, "origin": rule.origin, "applies_to": sorted(rule.applies_to),
            "title": text_json(rule.title), "versions": entries}


def diff_rules(old: Sequence[Rule], new: Sequence[Rule]) -> list[dict[str, Any]]:
    """Rules added, removed, or changed (fields and versions: conditions, actions, dates, sources)."""
    before = {r.id: r for r in old}
    after = {r.id: r for r in new}
    out: list[dict[str, Any]] = []
    for rid in sorted(set(before) | set(after)):
        a, b = before.get(rid), after.get(rid)
        if a is None or b is None:
            out.append(_rule_added("added", b) if a is None else _rule_added("removed", a))  # type: ignore[arg-type]
            continue
        fields: dict[str, Any] = {}
        if a.title != b.title:
            fields["title"] = field_change(text_json(a.title), text_json(b.title))
        if a.description != b.description:
            fields["description"] = field_change(a.description, b.description)
        if a.applies_to != b.applies_to:
            fields["applies_to"] = field_change(sorted(a.applies_to), sorted(b.applies_to))
        if a.origin != b.origin:
            fields["origin"] = field_change(a.origin, b.origin)
        versions = []
        for x, y in pair_versions(a.versions, b.versions, lambda v: v.period, lambda v: v.variant,
                                  lambda x, y: x == y):
            entry = _rule_version_change(x, y)
            if entry is not None:
                versions.append(entry)
        if fields or versions:
            out.append({"id": rid, "change": "changed", "fields": fields, "versions": versions})
    return out


# ----------------------------------------------------------------------------- effective periods


def snapshot(view: View, switches: Mapping[str, str], day: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(rules, parameters) in force on ``day``: rule content without dates/notes; parameter values."""
    rules: dict[str, Any] = {}
    for rule in view.rules:
        active = tuple(replace(v, period=Period(), variant=(), note="") for v in rule.versions
                       if v.enabled and variant_matches(v.variant, switches) and v.period.contains(day))
        if active:
            rules[rule.id] = (rule.applies_to, active)
    params: dict[str, Any] = {}
    for pid, param in view.parameters.items():
        typed = param.in_force(day, switches)
        if typed is None:
            continue
        chain = resolve(view, pid, day, switches).complete  # follows {param: other} on the same day
        vtype, value = (chain[-1][0].type, chain[-1][1].value) if chain else (param.type, None)
        params[pid] = (value_key(vtype, value), value_json(vtype, value), typed.version.sources)
    return rules, params


def _boundaries(views: Iterable[View]) -> list[int]:
    return sorted({day for view in views for day in boundaries(view, None)})


def _segments(days: list[int]) -> list[tuple[Period, int]]:
    """Consecutive periods between the boundary days, each with a day inside it."""
    return [(period, representative_day(period)) for period in periods_between(days)]


def _snapshot_changes(old: tuple[dict[str, Any], dict[str, Any]],
                      new: tuple[dict[str, Any], dict[str, Any]]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    old_params, new_params = old[1], new[1]
    for pid in sorted(set(old_params) | set(new_params)):
        a, b = old_params.get(pid), new_params.get(pid)
        if a == b:
            continue
        if a is None or b is None:
            change = "added" if a is None else "removed"
        else:
            change = "value" if a[0] != b[0] else "sources"
            if change == "sources" and a[2] == b[2]:
                continue  # only a set's order differs
        entries.append({"kind": "parameter", "id": pid, "change": change, "old": a[1] if a else None,
                        "new": b[1] if b else None})
    old_rules, new_rules = old[0], new[0]
    for rid in sorted(set(old_rules) | set(new_rules)):
        a, b = old_rules.get(rid), new_rules.get(rid)
        if a == b:
            continue
        change = "added" if a is None else "removed" if b is None else "changed"
        entries.append({"kind": "rule", "id": rid, "change": change})
    return entries


def diff_periods(old: View, new: View) -> list[dict[str, Any]]:
    """Effective periods (default switch options of each side) in which what is in force differs;
    adjacent periods with the same differences are merged."""
    old_switches, new_switches = old.switch_defaults(), new.switch_defaults()
    out: list[dict[str, Any]] = []
    current: tuple[Period, list[dict[str, Any]]] | None = None
    for period, day in _segments(_boundaries((old, new))):
        entries = _snapshot_changes(snapshot(old, old_switches, day), snapshot(new, new_switches, day))
        if current is not None and current[1] == entries:
            current = (Period(current[0].start, period.end), entries)
            continue
        if current is not None and current[1]:
            out.append({"period": current[0].to_json(), "changes": current[1]})
        current = (period, entries)
    if current is not None and current[1]:
        out.append({"period": current[0].to_json(), "changes": current[1]})
    return out


# ----------------------------------------------------------------------------- cities and files


def _counts(view: View) -> dict[str, int]:
    return {"switches": len(view.switches), "parameters": len(view.parameters), "rules": len(view.rules)}


def diff_city(city_id: str, old: View | None, new: View | None) -> dict[str, Any]:
    """One city's merged view, old vs new."""
    view = new if new is not None else old
    assert view is not None
    out: dict[str, Any] = {"city": city_id, "name": text_json(view.ruleset.name)}
    if old is None or new is None:
        out["status"] = "added" if old is None else "removed"
        out["counts"] = _counts(view)
        return out
    fields: dict[str, Any] = {}
    if old.ruleset.name != new.ruleset.name:
        fields["name"] = field_change(text_json(old.ruleset.name), text_json(new.ruleset.name))
    if old.ruleset.version != new.ruleset.version:
        fields["version"] = field_change(old.ruleset.version, new.ruleset.version)
    parts = {"fields": fields, "switches": diff_switches(old.switches, new.switches),
             "parameters": diff_parameters(old.parameters, new.parameters), "rules": diff_rules(old.rules, new.rules),
             "periods": diff_periods(old, new)}
    out["status"] = "changed" if any(parts.values()) else "unchanged"
    out.update(parts)
    return out


def _listing(root: Path) -> dict[str, Path]:
    """Ruleset files and cited source documents, by path relative to ``root``."""
    paths = {p.relative_to(root).as_posix(): p for p in ruleset_files(root)}
    sources = root / "sources"
    if sources.is_dir():
        for path in sorted(sources.iterdir()):
            if path.is_file():
                paths[path.relative_to(root).as_posix()] = path
    return paths


def diff_files(old_root: Path, new_root: Path) -> dict[str, list[str]]:
    """Ruleset files and source documents added, removed, or with edited text."""
    before, after = _listing(old_root), _listing(new_root)
    common = sorted(set(before) & set(after))
    return {"added": sorted(set(after) - set(before)), "removed": sorted(set(before) - set(after)),
            "text_changed": [name for name in common if before[name].read_bytes() != after[name].read_bytes()]}


def structural_diff(old: Any, new: Any) -> dict[str, Any]:
    """The structural part of the report for two loaded :class:`engine.api.Engine` objects."""
    cities = [diff_city(cid, old.cities[cid].view if cid in old.cities else None,
                        new.cities[cid].view if cid in new.cities else None)
              for cid in sorted(set(old.cities) | set(new.cities))]
    files = diff_files(old.path, new.path)
    totals: dict[str, dict[str, int]] = {}
    for kind in ("switches", "parameters", "rules"):
        counts = {"added": 0, "removed": 0, "changed": 0}
        for city in cities:
            for item in city.get(kind, []):
                counts[item["change"]] += 1
        totals[kind] = counts
    summary = {
        "cities": len(cities),
        "changed": [c["city"] for c in cities if c["status"] == "changed"],
        "added": [c["city"] for c in cities if c["status"] == "added"],
        "removed": [c["city"] for c in cities if c["status"] == "removed"],
        "items": totals,
        "semantic_change": any(c["status"] != "unchanged" for c in cities),
    }
    return {"files": files, "cities": cities, "summary": summary}


# ----------------------------------------------------------------------------- replay


@dataclass(frozen=True)
class Outcome:
    """What a replay compares: eligibility, failing (rule, code) pairs, and the payment plan."""

    city: str
    eligible: bool
    fails: tuple[tuple[str, str], ...]
    plan: tuple[tuple[str, str], ...] | None
    reasons: Any

    @classmethod
    def of(cls, decision: Mapping[str, Any]) -> Outcome:
        fails = tuple(sorted((str(r.get("rule")), str(r.get("code"))) for r in decision.get("reasons", ())
                             if r.get("outcome") == "fail"))
        payment = decision.get("payment")
        plan = tuple((p["source"], p["amount"]) for p in payment["plan"]) if payment else None
        return cls(str(decision.get("city")), bool(decision.get("eligible")), fails, plan, decision.get("reasons"))

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(code for _, code in self.fails)

    def same(self, other: Outcome) -> bool:
        return self.eligible == other.eligible and self.codes == other.codes and self.plan == other.plan

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"eligible": self.eligible, "fail": sorted(self.codes)}
        if self.plan is not None:
            out["plan"] = dict(self.plan)
        return out


@dataclass(frozen=True)
class Failure:
    """A document one ruleset version could not decide (usually an invalid fact document)."""

    invalid: bool  # the document is invalid (FactError); otherwise the engine failed on it
    codes: tuple[str, ...]
    message: str

    @classmethod
    def of(cls, error: EngineError) -> Failure:
        issues = error.issues
        parts = [f"{i.location.pointer}: {i.message}" if i.location.pointer else i.message for i in issues[:3]]
        more = f" (+{len(issues) - 3} more)" if len(issues) > 3 else ""
        invalid = isinstance(error, FactError)
        kind = "invalid fact document" if invalid else error.kind
        return cls(invalid, tuple(sorted({i.code for i in issues})), f"{kind}: " + "; ".join(parts) + more)

    @property
    def label(self) -> str:
        return f"{'invalid' if self.invalid else 'error'} ({', '.join(self.codes)})"

    def summary(self) -> dict[str, Any]:
        return {"invalid" if self.invalid else "error": list(self.codes)}


def transitions(old: Outcome, new: Outcome) -> list[str]:
    """Failing-code changes per rule: ``code -> passes``, ``passes -> code``, ``a -> b``."""
    removed = {(rule, code) for rule, code in old.fails if code not in new.codes}
    added = {(rule, code) for rule, code in new.fails if code not in old.codes}
    out = []
    for rule, code in sorted(removed):
        partner = sorted(c for r, c in added if r == rule)
        if partner:
            added.discard((rule, partner[0]))
            out.append(f"{code} -> {partner[0]}")
        else:
            out.append(f"{code} -> passes")
    out.extend(f"passes -> {code}" for _, code in sorted(added))
    return sorted(set(out))


def change_of(old: Outcome | Failure, new: Outcome | Failure) -> dict[str, Any]:
    """What changed between two results of one document, as a group description."""
    if isinstance(old, Failure) or isinstance(new, Failure):
        before = old.label if isinstance(old, Failure) else "decided"
        after = new.label if isinstance(new, Failure) else "decided"
        return {"key": f"{before} -> {after}", "eligible": None, "reasons": [], "plan": []}
    parts = []
    eligible = None
    if old.eligible != new.eligible:
        eligible = f"{_eligibility(old.eligible)} -> {_eligibility(new.eligible)}"
        parts.append(eligible)
    reasons = transitions(old, new)
    parts.extend(reasons)
    plan: list[str] = []
    if old.plan != new.plan:
        before, after = dict(old.plan or ()), dict(new.plan or ())
        plan = [source for source in catalog.PLAN_SOURCES if before.get(source) != after.get(source)]
        parts.extend(f"plan.{source} changed" for source in plan)
    return {"key": "; ".join(parts), "eligible": eligible, "reasons": reasons, "plan": plan}


def _eligibility(eligible: bool) -> str:
    return "eligible" if eligible else "not eligible"


@dataclass
class ChangeGroup:
    """Decisions of one city that changed the same way: their count and first examples."""

    city: str
    description: dict[str, Any]
    count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Replay:
    """Re-decides a corpus under two engines and tallies the outcome changes."""

    old: Any
    new: Any
    path: str
    examples: int = DEFAULT_EXAMPLES
    progress_every: int = PROGRESS_EVERY
    progress: TextIO | None = None
    lines: int = 0
    documents: int = 0
    log_lines: int = 0
    replayed: int = 0
    changed: int = 0
    unchanged: int = 0
    details_changed: int = 0
    invalid: int = 0
    unreadable: int = 0
    log_differs: int = 0
    log_differs_lines: list[int] = field(default_factory=list)
    cities: dict[str, dict[str, int]] = field(default_factory=dict)
    groups: dict[tuple[str, str], ChangeGroup] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)
    problems_total: int = 0
    # Decides the lines in parallel: runner(load, dirs, work, path, state) yields, in file order, ``work``'s
    # results for each chunk of lines (engine.batch plugs in every core or Spark); None: one by one here.
    runner: Callable[..., Iterator[list[Any]]] | None = None

    def run(self) -> Replay:
        """Replay every non-blank line of the file; progress on ``self.progress`` every N lines.
        With ``runner`` the lines are decided in parallel (every core, or Spark: engine/batch) and
        tallied here in file order, exactly as one by one."""
        try:
            handle = open(self.path, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed by the with below
        except OSError as exc:
            code = "file_not_found" if isinstance(exc, FileNotFoundError) else "file_unreadable"
            raise InputError([Issue(code, f"cannot read the replay file: {exc.strerror or exc}",
                                          SourceLocation(self.path))], "replay file unreadable") from exc
        with handle:
            try:
                for number, result in self._results(handle):
                    self.lines += 1
                    self.record(number, result)
                    if self.progress is not None and self.progress_every and self.lines % self.progress_every == 0:
                        print(f"gongji diff: replayed {self.lines} lines ({self.changed} changed)", file=self.progress)
            except OSError as exc:  # e.g. a FIFO or a file on a failing disk
                raise InputError([Issue("file_unreadable", f"reading the replay file failed: "
                                              f"{exc.strerror or exc}", SourceLocation(self.path))]) from exc
        if self.progress is not None and self.progress_every and self.lines >= self.progress_every:
            print(f"gongji diff: replay done, {self.lines} lines ({self.changed} changed)", file=self.progress)
        return self

    def _results(self, handle: Iterable[str]) -> Iterator[tuple[int, LineResult]]:
        """(line number, result) of every non-blank line, in file order."""
        if self.runner is None:
            for number, text in enumerate(handle, 1):
                if text.strip():
                    yield number, decide_line(self.old, self.new, text)
            return
        dirs = (str(self.old.path), str(self.new.path))
        for chunk in self.runner(_load_pair, dirs, _replay_chunk, self.path, (self.old, self.new)):
            for number, result in chunk:
                if result is not None:
                    yield number, result

    def problem(self, number: int, code: str, message: str) -> None:
        self.problems_total += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append({"line": number, "code": code, "message": message})

    def line(self, number: int, text: str) -> None:
        """Decide one line (fact document or decision-log entry) under both engines and tally it."""
        self.record(number, decide_line(self.old, self.new, text))

    def record(self, number: int, result: LineResult) -> None:
        """Tally one line's result (see :func:`decide_line`)."""
        if result[0] == "unreadable":
            self.log_lines += result[3]
            self.unreadable += 1
            self.problem(number, result[1], result[2])
            return
        _, is_log, logged, old, new = result
        if is_log:
            self.log_lines += 1
        else:
            self.documents += 1
        if isinstance(old, Failure) and isinstance(new, Failure) and old.label == new.label:
            self.invalid += 1
            self.problem(number, "invalid_document" if old.invalid else "decision_failed", old.message)
            return
        if logged is not None and isinstance(old, Outcome) and not logged.same(old):
            self.log_differs += 1
            if len(self.log_differs_lines) < max(self.examples, 1):
                self.log_differs_lines.append(number)
        self.replayed += 1
        city = (new.city if isinstance(new, Outcome) else old.city if isinstance(old, Outcome) else "?")
        tally = self.cities.setdefault(city, {"replayed": 0, "changed": 0, "unchanged_with_other_differences": 0})
        tally["replayed"] += 1
        if isinstance(old, Outcome) and isinstance(new, Outcome) and old.same(new):
            self.unchanged += 1
            if old.reasons != new.reasons:
                self.details_changed += 1
                tally["unchanged_with_other_differences"] += 1
            return
        self.changed += 1
        tally["changed"] += 1
        description = change_of(old, new)
        group = self.groups.get((city, description["key"]))
        if group is None:
            group = self.groups[(city, description["key"])] = ChangeGroup(city, description)
        group.count += 1
        if len(group.examples) < self.examples:
            group.examples.append({"line": number, "old": old.summary(), "new": new.summary()})

    def report(self, names: Mapping[str, dict[str, str] | None]) -> dict[str, Any]:
        """The replay section of the report; groups by city, then largest first."""
        groups = sorted(self.groups.values(), key=lambda g: (g.city, -g.count, g.description["key"]))
        return {
            "file": self.path,
            "lines": self.lines,
            "fact_documents": self.documents,
            "log_lines": self.log_lines,
            "replayed": self.replayed,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "unchanged_with_other_differences": self.details_changed,
            "invalid": self.invalid,
            "unreadable": self.unreadable,
            "log_lines_differing_from_old": {"count": self.log_differs, "first_lines": self.log_differs_lines},
            "cities": [{"city": cid, "name": names.get(cid), **self.cities[cid]} for cid in sorted(self.cities)],
            "groups": [{"city": g.city, "name": names.get(g.city), "change": g.description["key"],
                        "eligible": g.description["eligible"], "reasons": g.description["reasons"],
                        "plan": g.description["plan"], "count": g.count, "examples": g.examples} for g in groups],
            "problems": self.problems,
            "problems_not_listed": self.problems_total - len(self.problems),
        }


LineResult = tuple[Any, ...]


def decide_line(old_engine: Any, new_engine: Any, text: str) -> LineResult:
    """One replay line decided under both versions: ``("unreadable", code, message, is_log_line)`` or
    ``("decided", is_log_line, logged outcome or None, old result, new result)``.  Pure, so that
    the runner can compute it in any worker."""
    try:
        entry = json.loads(text, parse_float=Decimal)
    except (ValueError, RecursionError) as exc:
        detail = f"{exc.msg} (column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else str(exc)
        return ("unreadable", "corrupt_line", f"not JSON: {detail}", False)
    logged: Outcome | None = None
    is_log = _is_log_entry(entry)
    if is_log:
        # a compact line (gongji.decision-log/2) keeps a record with the same eligible/reasons/payment
        facts, decision = entry.get("facts"), entry.get("decision", entry.get("record"))
        if not isinstance(facts, dict) or not isinstance(decision, dict):
            return ("unreadable", "corrupt_log_line", "a decision-log line needs 'facts' and 'decision' (or "
                    "'record') objects", True)
        document = document_from_entry(entry)
        try:
            logged = Outcome.of(decision)
        except (KeyError, TypeError, AttributeError):
            logged = None
    else:
        document = entry
    old, new = _decide_both(old_engine, new_engine, document)
    return ("decided", is_log, logged, old, new)


def _load_pair(old_dir: str, new_dir: str) -> tuple[Any, Any]:
    """Worker state for a parallel replay: both versions, loaded once per worker."""
    from ..runtime.api import Engine

    return Engine.load(old_dir), Engine.load(new_dir)


def _replay_chunk(engines: tuple[Any, Any], lines: Sequence[str], first: int, mark: Any) -> list[tuple[int, Any]]:
    """(line number, result or None for a blank line) for consecutive lines starting at index ``first``."""
    out = []
    for offset, text in enumerate(lines):
        mark(first + offset)
        out.append((first + offset + 1, decide_line(engines[0], engines[1], text) if text.strip() else None))
    return out


def _is_log_entry(entry: Any) -> bool:
    """A decision-log line (``gongji decide --log``) rather than a fact document."""
    if not isinstance(entry, dict):
        return False
    fmt = entry.get("format")
    if isinstance(fmt, str) and fmt.startswith(LOG_FORMAT.rsplit("/", 1)[0] + "/"):
        return True
    return "facts" in entry and ("decision" in entry or "record" in entry)


def _decide_both(old: Any, new: Any, document: Any) -> tuple[Outcome | Failure, Outcome | Failure]:
    """Each version's outcome, or what kept it from deciding.  The document is normalized once:
    both versions decide the very same facts (the same ``as_of``, even when it defaults to today
    and the replay runs past midnight)."""
    try:
        facts = old.normalize(document)
    except EngineError as error:
        failure = Failure.of(error)
        return failure, failure
    return _decide(old, facts), _decide(new, facts)


def _decide(engine: Any, facts: Any) -> Outcome | Failure:
    try:
        return Outcome.of(engine.decide_facts(facts).to_dict())
    except EngineError as error:
        return Failure.of(error)


# ----------------------------------------------------------------------------- text output


def _name(name: dict[str, str] | None) -> str:
    if not name:
        return ""
    return f" {name['zh']} {name['en']}" if name["zh"] != name["en"] else f" {name['zh']}"


def _fields_text(fields: Mapping[str, Any]) -> list[str]:
    lines = []
    for key, change in fields.items():
        if key == "options":
            parts = [f"{label} {', '.join(change[label])}" for label in ("added", "removed", "changed")
                     if change[label]]
            lines.append("options: " + "; ".join(parts))
        else:
            lines.append(f"{key}: {show(change['old'])} -> {show(change['new'])}")
    return lines


def _version_head(entry: Mapping[str, Any]) -> str:
    mark = {"added": "+", "removed": "-", "changed": "~"}[entry["change"]]
    return f"{mark} {period_text(_period_from_json(entry['period']))} [{variant_text(entry['variant'])}]"


def _period_from_json(data: Mapping[str, str | None]) -> Period:
    return Period(values.parse_date(data["from"]) if data["from"] else None,
                  values.parse_date(data["to"]) if data["to"] else None)


def _item_lines(kind: str, item: Mapping[str, Any]) -> list[str]:
    """Text lines for one switch, parameter or rule change."""
    head = f"{kind} {item['id']}: {item['change']}"
    if kind == "switch" and item["change"] != "changed":
        return [f"{head} (default {item['default']}, options {', '.join(item['options'])}; from {item['origin']})"]
    if item["change"] != "changed":
        extra = f"type {item['type']}, " if kind == "parameter" else f"for {', '.join(item['applies_to'])}, "
        head += f" ({extra}from {item['origin']})"
    lines = [head]
    lines.extend(f"  {line}" for line in _fields_text(item.get("fields", {})))
    for version in item.get("versions", []):
        text = f"  {_version_head(version)}"
        if kind == "parameter" and version["change"] == "added":
            text += f": value {show(version['new'])}"
        elif kind == "parameter" and version["change"] == "removed":
            text += f": value was {show(version['old'])}"
        elif version["change"] == "changed":
            parts = [f"value {show(version['old'])} -> {show(version['new'])}"] if "new" in version else []
            others = [name for name in version["fields"] if name != "value"]
            if others:
                parts.append(", ".join(others) + " changed")
            text += ": " + "; ".join(parts)
        lines.append(text)
        lines.extend(f"    {detail}" for detail in version.get("details", []))
    return lines


def _period_change_text(change: Mapping[str, Any]) -> str:
    if change["kind"] == "rule":
        return f"rule {change['id']} {change['change']}"
    if change["change"] == "added":
        return f"parameter {change['id']} added = {show(change['new'])}"
    if change["change"] == "removed":
        return f"parameter {change['id']} removed (was {show(change['old'])})"
    if change["change"] == "sources":
        return f"parameter {change['id']} sources changed"
    return f"parameter {change['id']} {show(change['old'])} -> {show(change['new'])}"


def _outcome_text(summary: Mapping[str, Any]) -> str:
    for key in ("invalid", "error"):
        if key in summary:
            return f"{key} ({', '.join(summary[key])})"
    text = _eligibility(summary["eligible"])
    return text + (f" [{', '.join(summary['fail'])}]" if summary["fail"] else "")


def _example_text(example: Mapping[str, Any]) -> str:
    old, new = example["old"], example["new"]
    text = f"line {example['line']}: {_outcome_text(old)} -> {_outcome_text(new)}"
    if "plan" in old and "plan" in new and old["plan"] != new["plan"]:
        moved = [f"{s} {old['plan'].get(s)} -> {new['plan'].get(s)}" for s in catalog.PLAN_SOURCES
                 if old["plan"].get(s) != new["plan"].get(s)]
        text += "; plan " + ", ".join(moved)
    return text


def render_text(report: Mapping[str, Any]) -> str:
    """The report for a reader: files, then each city, then the summary and the replay."""
    lines = [f"gongji diff {report['old']} -> {report['new']}"]
    files = report["files"]
    if any(files.values()):
        for label, key in (("added", "added"), ("removed", "removed"), ("edited", "text_changed")):
            if files[key]:
                lines.append(f"files {label}: {', '.join(files[key])}")
    else:
        lines.append("files: none added, removed or edited")
    for city in report["cities"]:
        head = f"{city['city']}{_name(city['name'])}"
        if city["status"] in ("added", "removed"):
            counts = city["counts"]
            lines.append(f"{head}: city {city['status']} ({counts['rules']} rules, {counts['parameters']} parameters, "
                         f"{counts['switches']} switches)")
            continue
        if city["status"] == "unchanged":
            lines.append(f"{head}: no change")
            continue
        lines.append(f"{head}: changed")
        lines.extend(f"  {line}" for line in _fields_text(city["fields"]))
        for kind, key in (("switch", "switches"), ("parameter", "parameters"), ("rule", "rules")):
            for item in city[key]:
                lines.extend(f"  {line}" for line in _item_lines(kind, item))
        if city["periods"]:
            lines.append("  in force under the default switch options:")
            for entry in city["periods"]:
                lines.append(f"    {period_text(_period_from_json(entry['period']))}:")
                lines.extend(f"      {_period_change_text(change)}" for change in entry["changes"])
    summary = report["summary"]
    items = summary["items"]
    counted = [f"{kind} {', '.join(f'{n} {what}' for what, n in counts.items() if n)}"
               for kind, counts in items.items() if any(counts.values())]
    if summary["semantic_change"]:
        status = [f"{len(summary[k])} {k}" for k in ("changed", "added", "removed") if summary[k]]
        lines.append(f"summary: {', '.join(status)} of {summary['cities']} cities"
                     + (f" (item changes summed over cities: {'; '.join(counted)})" if counted else ""))
    else:
        lines.append(f"summary: no change in what applies to any of the {summary['cities']} cities")
    if "replay" in report:
        lines.extend(_replay_text(report["replay"]))
    return "\n".join(lines) + "\n"


def _replay_text(replay: Mapping[str, Any]) -> list[str]:
    lines = [f"replay of {replay['file']}: {replay['lines']} line(s) ({replay['fact_documents']} fact documents, "
             f"{replay['log_lines']} decision-log lines)",
             f"  {replay['replayed']} replayed: {replay['changed']} changed, {replay['unchanged']} unchanged"
             + (f" ({replay['unchanged_with_other_differences']} with other differences in their reasons)"
                if replay["unchanged_with_other_differences"] else "")
             + f"; {replay['invalid']} invalid, {replay['unreadable']} unreadable"]
    differs = replay["log_lines_differing_from_old"]
    if differs["count"]:
        lines.append(f"  note: {differs['count']} logged decision(s) differ from OLD's own decision (first on lines "
                     f"{', '.join(str(n) for n in differs['first_lines'])}): the log was not written by OLD")
    if replay["cities"]:
        lines.append("  by city:")
        lines.extend(f"    {c['city']}{_name(c['name'])}: {c['changed']} of {c['replayed']} changed"
                     + (f" ({c['unchanged_with_other_differences']} unchanged with other differences)"
                        if c["unchanged_with_other_differences"] else "") for c in replay["cities"])
    if replay["groups"]:
        lines.append("  changes:")
        for group in replay["groups"]:
            lines.append(f"    {group['city']}{_name(group['name'])}: {group['change']}: {group['count']}")
            lines.extend(f"      {_example_text(example)}" for example in group["examples"])
    if replay["problems"]:
        lines.append("  problems:")
        lines.extend(f"    {replay['file']}:{p['line']}: {p['code']}: {p['message']}" for p in replay["problems"])
        if replay["problems_not_listed"]:
            lines.append(f"    ... and {replay['problems_not_listed']} more")
    return lines


# ----------------------------------------------------------------------------- CLI




def register_cli(sub: Any, common: Any) -> None:
    """Add ``gongji diff`` (called by :func:`engine.cli.build_parser`)."""
    p = sub.add_parser("diff", help="what a ruleset edit changes: per city, per version, and on replayed requests")
    p.add_argument("old", metavar="OLD_DIR", help="rulesets directory before the edit")
    p.add_argument("new", metavar="NEW_DIR", help="rulesets directory after the edit")
    p.add_argument("--replay", metavar="FILE", help="re-decide every line (fact documents as JSON Lines, or a "
                   "decision log) under both and report changed outcomes")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--examples", type=whole_number(0), default=DEFAULT_EXAMPLES, metavar="N",
                   help=f"examples listed per group of changed decisions (default {DEFAULT_EXAMPLES})")
    p.add_argument("--progress-every", type=whole_number(0), default=PROGRESS_EVERY, metavar="N",
                   help=f"report replay progress on stderr every N lines (default {PROGRESS_EVERY}; 0: never)")
    p.set_defaults(func=cmd_diff)  # engine.batch adds --workers/--engine/--master and the parallel runner


def build_report(old_dir: str, new_dir: str, old: Any, new: Any, replay: Replay | None = None) -> dict[str, Any]:
    """The whole report as one JSON-ready object with stable keys."""
    report: dict[str, Any] = {"format": REPORT_FORMAT, "old": old_dir, "new": new_dir}
    report.update(structural_diff(old, new))
    if replay is not None:
        names = {c["city"]: c["name"] for c in report["cities"]}
        report["replay"] = replay.report(names)
    return report


def cmd_diff(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Load both directories (reporting every issue of either), diff, replay, print; the exit code."""
    from ..runtime.api import Engine
    from ..core.errors import Printer

    engines: dict[str, Any] = {}
    failed = False
    for role, directory in (("OLD", args.old), ("NEW", args.new)):
        try:
            engines[role] = Engine.load(directory)
        except EngineError as error:
            Printer(err).issues(error.issues)
            errors = sum(1 for i in error.issues if i.severity == "error")
            print(f"{role} {directory}: does not load ({errors} error(s))", file=err)
            failed = True
    if failed:
        return EXIT_INVALID
    replay = None
    if args.replay is not None:
        replay = Replay(engines["OLD"], engines["NEW"], args.replay, args.examples, args.progress_every, err,
                        runner=getattr(args, "runner", None)).run()
    report = build_report(args.old, args.new, engines["OLD"], engines["NEW"], replay)
    if args.format == "json":
        print(json.dumps(report, ensure_ascii=False, indent=2), file=out)
    else:
        print(render_text(report), file=out, end="")
    return EXIT_OK
