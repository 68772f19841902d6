"""``gongji explain --why-not``: the smallest changes to the facts that would make it eligible.

Computed from the compiled rules, never written per rule: for each failing check, every
way its pass branches can hold is a conjunction of tests (the branch condition in disjunctive
normal form, with the parameters of the period already folded in).  The tests that are false
now are the changes needed; a test on a derived fact is traced back to the facts that would
make the producing rule derive the needed value.  The cheapest ways are kept, a concrete
changed document is built from them and decided again to verify it.  Besides changes to the
facts, it reports the first later date on which the same facts would be eligible and the
switch options under which they would be.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from ..core import catalog, values
from ..core.compile import CompiledRule
from ..core.conditions import ABSENT, Const, DerivedRef, FactRef, FieldRef, Memory, Test, Tests, dnf, evaluate, holds
from ..core.errors import EngineError
from ..core.operators import OPERATORS

MAX_OPTIONS = 64  # alternatives kept per failing check (all the cheapest ones, in practice)
MAX_SHOWN = 8  # alternatives the text lists before "…and N more"
MAX_DEPTH = 3


@dataclass(frozen=True)
class Change:
    """One fact that must change: the test it must pass, and its value now."""

    path: str
    test: Test
    current: Any
    other_path: str = ""  # for field-to-field tests
    other_value: Any = None

    def text(self, lang: str) -> str:
        return describe(self, lang)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"fact": self.path, "must": self.test.op, "now": _json(self.path, self.current)}
        wanted = _constant(self.test)
        if not isinstance(self.test.right, Const):
            out["than"] = self.other_path
            out["other_now"] = _json(self.other_path, self.other_value)
        else:
            out["value"] = _json(self.path, wanted) if not self.path.endswith(" present") else wanted
        out["zh"] = self.text("zh")
        out["en"] = self.text("en")
        return out


@dataclass
class CheckRepair:
    rule: str
    code: str
    options: list[list[Change]]  # each option: changes that together make the check pass
    note: str = ""


_UNVERIFIED = {
    "not_applicable": ("有的检查无法通过修改事实满足，或修改无法写入事实文档，因此以上建议未重新决定",
                       "a check has no change of the facts that satisfies it, or a change cannot be written into "
                       "the fact document, so these suggestions were not decided again"),
    "invalid_document": ("修改后的事实文档无效，无法重新决定", "the changed fact document is invalid, so it could not "
                         "be decided again"),
}


@dataclass
class WhyNot:
    eligible: bool
    repairs: list[CheckRepair] = field(default_factory=list)
    verified: bool | None = None  # the cheapest combined change, decided again
    unverified: str = ""  # why the suggestions were not decided again: a key of _UNVERIFIED
    still_failing: list[str] = field(default_factory=list)
    changed_document: dict[str, Any] | None = None
    later_date: str | None = None
    switch_options: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "eligible": self.eligible,
            "checks": [{"rule": r.rule, "code": r.code, "note": r.note,
                        "options": [[c.to_json() for c in option] for option in r.options]} for r in self.repairs],
            "verified": self.verified,
            "unverified_reason": self.unverified or None,
            "still_failing": self.still_failing,
            "eligible_from": self.later_date,
            "eligible_under_switches": [{"switch": s, "option": o} for s, o in self.switch_options],
        }

    def text(self, lang: str = "zh") -> str:
        zh = lang == "zh"
        title = "如何才能符合条件（由规则推导）：" if zh else "What would make it eligible (derived from the rules):"
        lines = ["", title]
        if self.eligible:
            lines.append("  已经符合条件。" if zh else "  It is eligible already.")
            return "\n".join(lines) + "\n"
        for repair in self.repairs:
            lines.append(f"  ✗ {repair.rule} ({repair.code})")
            if not repair.options:
                none = "无法通过修改事实满足" if zh else "no change of the facts satisfies it"
                lines.append("      " + (repair.note or none))
            for index, option in enumerate(repair.options[:MAX_SHOWN], 1):
                prefix = f"      {'或' if zh and index > 1 else ('or' if index > 1 else '-')} "
                lines.append(prefix + ("；并且 " if zh else "; and ").join(c.text(lang) for c in option))
            more = len(repair.options) - MAX_SHOWN
            if more > 0:
                lines.append(f"      …另有 {more} 种（见 JSON 输出）" if zh else
                             f"      …and {more} more (see the JSON output)")
        alternatives = any(len(r.options) > 1 for r in self.repairs)
        if self.verified:
            lines.append("  ✓ 已验证：按每项检查的第一种修改重新决定，结果为符合条件" if zh else
                         "  ✓ verified: deciding again with the first change of each check gives eligible")
            if alternatives:
                lines.append("    （其余可选修改未逐一重新决定，未经验证）" if zh else
                             "    (the other alternatives were not decided again: not verified)")
        elif self.verified is False and self.still_failing:
            lines.append(("  ! 按每项检查的第一种修改重新决定仍不符合：" if zh else
                          "  ! deciding again with the first change of each check is still not eligible: ")
                         + ", ".join(self.still_failing))
        elif self.repairs:
            why = _UNVERIFIED.get(self.unverified, _UNVERIFIED["not_applicable"])
            lines.append(("  ! 未经验证：" if zh else "  ! not verified: ") + why[0 if zh else 1])
        if self.later_date:
            lines.append(f"  ⏱ 事实不变，自 {self.later_date} 起符合条件（规则或参数在该日变化）。" if zh else
                         f"  ⏱ with the same facts it is eligible from {self.later_date} (the rules change that day).")
        for switch, option in self.switch_options:
            lines.append(f"  ⇄ 若开关 {switch} 取 {option}，则符合条件。" if zh else
                         f"  ⇄ under switch {switch} = {option} it would be eligible.")
        return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ describing changes


def _path_of(ref: FieldRef) -> str:
    """How a why-not names a field: ``expense.amount``, ``authorization.end present``, ``derived.x``."""
    if isinstance(ref, FactRef):
        return ref.path
    if isinstance(ref, DerivedRef):
        return "derived." + ref.name
    return ref.path + " present"


def _constant(test: Test) -> Any:
    """The constant a test compares with (None for a field-to-field test)."""
    return test.right.value if isinstance(test.right, Const) else None


def _now(ref: FieldRef | Const, memory: Memory) -> Any:
    """A value as the decision saw it, None when it had none."""
    value = memory.value(ref)
    return None if value is ABSENT else value


def _vtype(path: str) -> Any:
    spec = catalog.BY_PATH.get(path)
    return spec.type if spec is not None else None


def _label(path: str, value: Any, lang: str) -> str:
    vtype = _vtype(path)
    if vtype is None:
        return str(value)
    return catalog.label(vtype, value, lang)


def _json(path: str, value: Any) -> Any:
    vtype = _vtype(path)
    return catalog.to_json_value(vtype, value) if vtype is not None and value is not None else value


def _region_field(path: str) -> str:
    """The fact a derived pool/province code comes from: ``expense.institution_pool_code`` ->
    ``expense.institution_region``, ``beneficiary.pool_code`` -> ``beneficiary.region``."""
    party = path.rsplit(".", 1)[0]
    return f"{party}.{'institution_region' if party == 'expense' else 'region'}"


def _region_text(path: str, target: Any, current: Any, zh: bool) -> str:
    """"<region field> must lie in pool/province <target>"."""
    field_path = _region_field(path)
    if path.endswith("pool_code"):
        return (f"{field_path} 须在统筹区 {target} 内（现为 {current}）" if zh else
                f"{field_path} would need to be in pool {target} (now {current})")
    return (f"{field_path} 须在省份 {target} 内（现为 {current}）" if zh else
            f"{field_path} would need to be in province {target} (now {current})")


def describe(change: Change, lang: str) -> str:
    zh = lang == "zh"
    test = change.test
    path = change.path
    if path.endswith(" present"):
        base = path[: -len(" present")]
        wanted = _constant(test) is True
        return (f"{base} {'必须提供' if wanted else '不应提供'}" if zh else
                f"{base} must be {'given' if wanted else 'absent'}")
    if not isinstance(test.right, Const):
        other = change.other_path
        if path.endswith(("pool_code", "province_code")) and test.op == "eq":
            return _region_text(path, change.other_value, change.current, zh)
        words = OPERATORS[test.op].must[0 if zh else 1]
        return (f"{path} {words} {other}（现为 {_label(path, change.current, lang)}，{other} 为 "
                f"{_label(other, change.other_value, lang)}）" if zh else
                f"{path} {words} {other} (now {_label(path, change.current, lang)}; {other} is "
                f"{_label(other, change.other_value, lang)})")
    wanted = _constant(test)
    if path.endswith(("pool_code", "province_code")) and test.op == "eq":
        return _region_text(path, wanted, change.current, zh)
    words = OPERATORS[test.op].must[0 if zh else 1]
    text = f"{path} {words} {_label(path, wanted, lang)}"
    vtype = _vtype(path)
    gap = ""
    if vtype is not None and vtype.kind == "money" and isinstance(change.current, int) and test.op in ("gt", "ge"):
        short = wanted - change.current + (1 if test.op == "gt" else 0)
        amount = values.format_money(short)
        gap = f"，至少还差 {amount} 元" if zh else f", short by at least {amount}"
    now = _label(path, change.current, lang) if change.current is not None else ("无" if zh else "none")
    return text + (f"（现为 {now}{gap}）" if zh else f" (now {now}{gap})")


# ------------------------------------------------------------------ finding repairs


def _requirements(test: Test, run: Any, memory: Memory, depth: int) -> list[list[Change]] | None:
    """Ways (lists of base-fact changes) to make ``test`` hold; None when none can be found."""
    if not isinstance(test.left, DerivedRef):
        change = Change(_path_of(test.left), test, _now(test.left, memory))
        if not isinstance(test.right, Const):
            change = Change(change.path, test, change.current, _path_of(test.right), _now(test.right, memory))
        return [[change]]
    if depth >= MAX_DEPTH or test.left.slot is None:  # eligible: the engine derives it
        return None
    producer: CompiledRule = run.segment.rules[test.left.slot]
    index = test.left.index
    wanted = memory.value(test.right)
    ways: list[list[Change]] = []
    for branch in producer.branches:
        action = branch.action
        if action is None or index >= len(action.derive):
            continue
        expr = action.derive[index].expr
        literal = getattr(expr, "kind", None) == "lit"
        if not literal or not holds(test.op, expr.value, wanted):
            continue
        ways.extend(_options(branch.condition, run, memory, depth + 1))
    return ways or None


def _options(condition: Tests, run: Any, memory: Memory, depth: int) -> list[list[Change]]:
    """Cheapest ways to make ``condition`` hold, as lists of base-fact changes."""
    try:
        terms = dnf(condition)
    except OverflowError:
        return []
    found: list[list[Change]] = []
    for term in terms:
        ways: list[list[Change]] = [[]]
        for test in term:
            if evaluate(test, memory):
                continue
            needed = _requirements(test, run, memory, depth)
            if needed is None:
                ways = []
                break
            ways = [a + b for a in ways for b in needed][:16]
        found.extend(w for w in ways if w)
    unique: list[list[Change]] = []
    seen: set[tuple[Any, ...]] = set()
    for way in sorted(found, key=len):
        key = tuple(sorted((c.path, c.test.op, str(_constant(c.test))) for c in way))
        if key not in seen and not _contradictory(way):
            seen.add(key)
            unique.append(way)
    return _cheapest(unique)


def _cheapest(ways: list[list[Change]]) -> list[list[Change]]:
    """The ways with the fewest changes (``ways`` sorted by length), at most MAX_OPTIONS."""
    return [w for w in ways if len(w) == len(ways[0])][:MAX_OPTIONS] if ways else []


def _contradictory(way: list[Change]) -> bool:
    wanted: dict[str, set[Any]] = {}
    for change in way:
        if change.test.op == "eq" and isinstance(change.test.right, Const):
            wanted.setdefault(change.path, set()).add(change.test.right.value)
    return any(len(v) > 1 for v in wanted.values())


def repairs(run: Any) -> list[CheckRepair]:
    from ..runtime.explain import rule_name

    memory = Memory(run.base, run.derived)
    out = []
    for slot in run.failed:
        rule = run.segment.rules[slot]
        code = rule.branches[run.branch_of[slot]].action.code
        options: list[list[Change]] = []
        for branch in rule.branches:
            if branch.action is not None and branch.action.outcome == "pass":
                options.extend(_options(branch.condition, run, memory, 0))
        options = _cheapest(sorted(options, key=len))
        note = "" if options else "no change of the facts alone satisfies this check in this period"
        out.append(CheckRepair(rule_name(rule), code, options, note))
    return out


# ------------------------------------------------------------------ applying and verifying


def _set(document: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    target = document
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value


def apply_change(document: dict[str, Any], change: Change) -> bool:
    """Write a value satisfying ``change`` into ``document``; False when none can be built."""
    test = change.test
    path = change.path
    if path.endswith(" present"):
        return False
    if path.endswith(("pool_code", "province_code")):
        target = change.other_value if not isinstance(test.right, Const) else test.right.value
        if test.op != "eq" or target is None:
            return False
        _set(document, _region_field(path), target)
        return True
    spec = catalog.BY_PATH.get(path)
    if spec is None or spec.computed or path == "city":
        return False
    vtype = spec.type
    wanted = change.other_value if not isinstance(test.right, Const) else test.right.value
    op = test.op
    if op == "ne":
        candidates = [v for v in vtype.domain if v != wanted] if vtype.kind == "enum" else (
            [not wanted] if vtype.kind == "bool" else [])
        if not candidates:
            return False
        wanted = candidates[0]
    elif op in ("gt", "lt"):
        step = 1 if op == "gt" else -1
        if vtype.kind == "date":
            wanted = values.next_day(wanted) if step > 0 else values.previous_day(wanted)
        elif isinstance(wanted, int):
            wanted = wanted + step
    if vtype.kind == "money":
        value: Any = values.format_money(wanted)
    elif vtype.kind == "date":
        value = values.format_date(wanted)
    else:
        value = wanted
    _set(document, path, value)
    return True


def _hypothetical(engine: Any, document: dict[str, Any]) -> Any:
    """Decide an imagined variant of the facts: never written to the engine's decision log,
    which records only the decisions actually asked for."""
    return engine.decide_facts(engine.normalize(document))


def why_not(decision: Any, engine: Any) -> WhyNot:
    """Repairs for every failing check, verified; the first later eligible date; switch options."""
    run = decision.run
    result = WhyNot(decision.eligible)
    if decision.eligible:
        return result
    result.repairs = repairs(run)
    document = copy.deepcopy(dict(decision.facts.document))
    document["as_of"] = values.format_date(decision.as_of)
    document["city"] = decision.city
    changed = copy.deepcopy(document)
    buildable = True
    for repair in result.repairs:
        if not repair.options:
            buildable = False
            continue
        for change in repair.options[0]:
            buildable = apply_change(changed, change) and buildable
    if result.repairs and not buildable:
        result.unverified = "not_applicable"
    if result.repairs and buildable:
        try:
            again = _hypothetical(engine, changed)
            result.verified = again.eligible
            result.still_failing = again.fail_codes
            result.changed_document = changed
        except EngineError:
            result.verified = False
            result.unverified = "invalid_document"
    city = engine.cities[decision.city]
    _, periods = city.periods(decision.switches)
    for period in periods:
        if period.start and period.start > decision.as_of:
            try:
                later = _hypothetical(engine, dict(document, as_of=values.format_date(period.start),
                                                   switches=dict(decision.switches)))
            except EngineError:
                continue
            if later.eligible:
                result.later_date = values.format_date(period.start)
                break
    for name, switch in sorted(city.view.switches.items()):
        for option in switch.option_names:
            if option == decision.switches.get(name):
                continue
            try:
                other = _hypothetical(engine, dict(document, switches={**decision.switches, name: option}))
            except EngineError:
                continue
            if other.eligible:
                result.switch_options.append((name, option))
    return result
