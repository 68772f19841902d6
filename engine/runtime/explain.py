"""Why a decision came out as it did: reasons, condition-level detail, text in zh/en.

durable_rules only tells which rules fired.  To say which conditions of a rule failed, and
with which values, this module evaluates the *same* typed condition IR the compiler lowered
(with the segment's parameter values) against the decision's final working memory: the
base facts plus every derived fact, with the one Python evaluator (:mod:`engine.core.conditions`).
No rule is written twice; and because both evaluations come from one IR, :func:`verify_run` can
check that they agree (the tests do, for every case).
"""

from __future__ import annotations

from typing import Any

from ..core import catalog, citations, values
from ..core.compile import CompiledRule, Segment
from ..core.conditions import ABSENT, Memory, Observation, evaluate, first_case
from ..core.errors import EvaluationError, Issue, SourceLocation
from .evaluate import Run
from ..core.model import Text
from .render import derived_json as _derived_json_all, parameters_used, renderer
from ..core.operators import OPERATORS
from ..core.semantics import Operand


def describe_atom(result: Observation, lang: str) -> str:
    """One atom of a condition with its values: ``✗ expense.amount ≥ 300.00 — actual: 120.00``."""
    atom = result.atom
    left = render_operand(atom.left, result.left, lang)
    right = render_operand(atom.right, result.right, lang)
    mark = "✓" if result.holds else "✗"
    name = operand_name(atom.left)
    rname = operand_name(atom.right)
    if atom.op == "present":
        want = "有值" if result.right else "无值"
        if lang != "zh":
            want = "given" if result.right else "absent"
        return f"{mark} {name} {('应' if lang == 'zh' else 'must be ')}{want} ({left})"
    right_text = f"{rname} ({right})" if rname else right
    return (f"{mark} {name} {OPERATORS[atom.op].symbol} {right_text} — {('实际' if lang == 'zh' else 'actual')}: "
            f"{left}")


def atom_json(result: Observation) -> dict[str, Any]:
    atom = result.atom
    return {"test": f"{operand_name(atom.left)} {atom.op} "
                    f"{operand_name(atom.right) or json_value(atom.right, result.right)}",
            "value": json_value(atom.left, result.left),
            "against": json_value(atom.right, result.right), "holds": result.holds}


def operand_name(operand: Operand) -> str:
    if operand.kind == "fact":
        return operand.name
    if operand.kind in ("derived", "param"):
        return f"{operand.kind}.{operand.name}"
    return ""


def render_operand(operand: Operand, value: Any, lang: str) -> str:
    if value is ABSENT or value is None:
        return "无" if lang == "zh" else "none"
    if operand.vtype is None:
        return str(value)
    return catalog.label(operand.vtype, value, lang)


def json_value(operand: Operand, value: Any) -> Any:
    if value is ABSENT or value is None or operand.vtype is None:
        return None
    return catalog.to_json_value(operand.vtype, value)


def memory_for(rule: CompiledRule, run: Run) -> Memory:
    return Memory(run.base, run.derived, {name: use.value for name, use in rule.params.items()})


def branch_by_python(rule: CompiledRule, run: Run) -> int:
    """Which branch the typed IR selects, evaluated in Python."""
    return first_case([cond for cond, _ in rule.version.cases], memory_for(rule, run))


def verify_run(run: Run) -> None:
    """Raise if durable_rules and the Python reading of the same IR disagree on any rule (or the
    decision date is outside the segment's period, which the compiled tests of it assume)."""
    problems = []
    day = run.base.get(catalog.BY_PATH["as_of"].key)
    if day is None or not run.segment.period.contains(day):
        problems.append(Issue("oracle_disagreement", f"the decision date {day} is outside the period of the "
                              f"segment that decided it ({run.segment.period.describe()})", SourceLocation()))
    for rule in run.segment.rules:
        expected = branch_by_python(rule, run)
        actual = run.branch_of.get(rule.slot)
        if expected != actual:
            problems.append(Issue("oracle_disagreement", f"rule {rule.rule_id!r}: durable_rules took branch {actual}, "
                                  f"the condition IR evaluates to branch {expected}", SourceLocation()))
    for firing in run.firings:  # the decision log's record reads "fired" off the branch: they must agree
        inferred = run.segment.rules[firing.slot].inferred == firing.branch
        if inferred != firing.inferred:
            problems.append(Issue("oracle_disagreement", f"rule {run.segment.rules[firing.slot].rule_id!r}: branch "
                                  f"{firing.branch} was {'inferred' if firing.inferred else 'fired'}, but it is "
                                  f"{'' if inferred else 'not '}the rule's inferred branch", SourceLocation()))
    if problems:
        raise EvaluationError(problems)


def case_trails(rule: CompiledRule, run: Run) -> list[tuple[bool, list[Observation]]]:
    """For each case: did its condition hold, and the value of every atom in it."""
    memory = memory_for(rule, run)
    out = []
    for cond, _ in rule.version.cases:
        trail: list[Observation] = []
        holds = evaluate(cond, memory, trail)
        out.append((holds, trail))
    return out


# ---------------------------------------------------------------------------- reasons


def rule_name(rule: CompiledRule) -> str:
    return f"{rule.version.rule.origin}.{rule.rule_id}"


def render_message(text: Text | None, lang: str, rule: CompiledRule, run: Run) -> str:
    """The message of the branch ``rule`` took in ``run`` (the same text as in the reasons)."""
    branch = run.branch_of.get(rule.slot)
    template = renderer(run.segment).template(rule.slot, branch) if branch is not None else None
    if text is None or template is None:
        return ""
    return str(template.values(run.base, run.derived)[0 if lang == "zh" else 1])


def derived_json(run: Run) -> dict[str, Any]:
    return _derived_json_all(run)


# ---------------------------------------------------------------------------- text


def _t(lang: str, zh: str, en: str) -> str:
    return zh if lang == "zh" else en


def explain_text(decision: Any, lang: str = "zh", only_failures: bool = False) -> str:
    """The auditor's explanation of one decision, in Chinese (default) or English."""
    run: Run = decision.run
    seg: Segment = run.segment
    lines: list[str] = []
    verdict = _t(lang, "可以", "ELIGIBLE") if decision.eligible else _t(lang, "不可以", "NOT ELIGIBLE")
    what = _t(lang, "绑定" if seg.request == "binding" else "使用共济账户支付",
              "binding" if seg.request == "binding" else "payment from the shared account")
    lines.append(_t(lang, f"决定：{verdict}{what}", f"Decision: {verdict} — {what}"))
    lines.append(_t(lang, f"  城市：{decision.city_name} ({seg.city})  依据日期：{values.format_date(decision.as_of)}",
                    f"  City: {decision.city_name} ({seg.city})  as of: {values.format_date(decision.as_of)}"))
    digest = f"{decision.ruleset_version}  sha256 {decision.sha256[:16]}…"
    lines.append(_t(lang, f"  规则集：{digest}  适用期间：{seg.period.describe('zh')}",
                    f"  Ruleset: {digest}  period in force: {seg.period.describe('en')}"))
    if decision.switches:
        lines.append(_t(lang, "  开关：", "  Switches: ") + ", ".join(f"{k}={v}" for k, v in decision.switches.items()))
    if decision.payment is not None:
        plan = decision.payment["plan"]
        which = 0 if lang == "zh" else 1
        arrow = " → ".join(f"{catalog.SOURCE_LABELS[p['source']][which]} {p['amount']}" for p in plan)
        lines.append(_t(lang, f"  支付方案：{arrow}（合计 {decision.payment['total']}）",
                        f"  Payment plan: {arrow} (total {decision.payment['total']})"))
        if not decision.payment["complete"]:
            codes = ", ".join(decision.payment["incomplete"])
            lines.append(_t(lang, f"  ⚠ 方案不完整：有一部分来源未给出、未计算（{codes}），以上金额不是确定数",
                            f"  ⚠ INCOMPLETE plan: a share the sources do not let us compute is missing ({codes}); "
                            "the amounts above are not definite"))
    lines.extend(_rule_section(seg, run, lang, "fail"))
    if only_failures:
        return "\n".join(lines) + "\n"
    lines.append("")
    lines.append(_t(lang, "规则链（按触发顺序）：", "Rule chain (in firing order):"))
    for number, firing in enumerate(run.firings, 1):
        rule = seg.rules[firing.slot]
        action = rule.branches[firing.branch].action
        how = _t(lang, "触发", "fired") if not firing.inferred else _t(lang, "其余分支均未触发而成立",
                                                                       "holds: no other branch fired")
        head = f"  {number:>2}. {rule_name(rule)} [{_branch_label(rule, firing.branch, lang)}] ({how})"
        lines.append(head)
        if action is not None and action.outcome:
            lines.append(f"      {_outcome_mark(action.outcome)} {render_message(action.message, lang, rule, run)}"
                         f" ({action.code})")
        if firing.values and action is not None:
            derived = ", ".join(f"{d.name} = {_derived_label(d.name, run, lang)}" for d in action.derive)
            lines.append(_t(lang, f"      推导：{derived}", f"      derived: {derived}"))
        lines.extend(_citation(rule, seg, lang))
    lines.extend(_rule_section(seg, run, lang, "pass"))
    derived = derived_json(run)
    if derived:
        lines.append("")
        lines.append(_t(lang, "推导事实：", "Derived facts:"))
        for name in derived:
            lines.append(f"  {name} = {_derived_label(name, run, lang)}")
    return "\n".join(lines) + "\n"


def _outcome(rule: CompiledRule, run: Run) -> str | None:
    branch = run.branch_of.get(rule.slot)
    if branch is None:
        return None
    action = rule.branches[branch].action
    return action.outcome if action is not None else None


def _outcome_mark(outcome: str) -> str:
    return {"pass": "✓", "fail": "✗", "info": "ℹ"}.get(outcome, "·")


def _branch_label(rule: CompiledRule, branch: int, lang: str) -> str:
    cases = len(rule.version.cases)
    if branch == cases:
        return _t(lang, "否则", "else")
    if cases == 1:
        return _t(lang, "条件成立", "when")
    return _t(lang, f"情形 {branch + 1}", f"case {branch + 1}")


def _derived_label(name: str, run: Run, lang: str) -> str:
    vtype = renderer(run.segment).types.get(name)
    value = run.derived.get(name)
    return catalog.label(vtype, value, lang) if vtype is not None else str(value)


def _inference_line(source: Any, lang: str, indent: str) -> str:
    return _t(lang, f"{indent}推断（非引文）：{source.note}（根据 {source.document}「{source.quote}」）",
              f"{indent}inference (not a citation): {source.note} (from {source.document} 「{source.quote}」)")


def _citation(rule: CompiledRule, seg: Segment, lang: str) -> list[str]:
    """The rule's citations of this decision's jurisdiction, its inferences, and its parameters'."""
    version = rule.version.version
    documents = dict(seg.documents)
    out = []
    cited, inferred = citations.select(version.sources, seg.city, documents)
    for source in cited:
        out.append(_t(lang, f"      依据：{source.document}「{source.quote}」", f"      source: {source.document} "
                        f"「{source.quote}」"))
    out.extend(_inference_line(source, lang, "      ") for source in inferred)
    out.append(_t(lang, f"      生效：{version.period.describe('zh')}",
                  f"      in force: {version.period.describe('en')}"))
    for param in parameters_used(rule, seg):
        use = rule.params[param["id"]]
        value = catalog.label(use.param.type, use.value, lang)
        period = use.version.period.describe(lang) if use.version is not None else ""
        cite, inferences = "", []
        if use.version is not None:
            cited, inferences = citations.select(use.version.version.sources, seg.city, documents)
            if cited:
                cite = f"; {cited[0].document}「{cited[0].quote}」"
        out.append(_t(lang, f"      参数 {param['id']} = {value}（{period}{cite}）",
                      f"      parameter {param['id']} = {value} ({period}{cite})"))
        out.extend(_inference_line(source, lang, "        ") for source in inferences)
        if use.version is not None and use.version.version.note and use.value is not None:
            note = " ".join(use.version.version.note.split())  # why a stated value reads as it does
            out.append(_t(lang, f"        说明：{note}", f"        note: {note}"))
    return out


_SECTION_TITLES = {"fail": ("未通过的检查：", "Checks that failed:"), "pass": ("通过的检查：", "Checks that passed:")}


def _rule_section(seg: Segment, run: Run, lang: str, outcome: str) -> list[str]:
    """The checks of one outcome under their heading; failures are shown with their conditions in detail."""
    rules = [r for r in seg.rules if _outcome(r, run) == outcome]
    if not rules:
        return []
    lines = ["", _t(lang, *_SECTION_TITLES[outcome])]
    for rule in rules:
        lines.extend(_rule_block(rule, run, lang, detail=outcome == "fail"))
    return lines


def _rule_block(rule: CompiledRule, run: Run, lang: str, detail: bool) -> list[str]:
    branch = run.branch_of[rule.slot]
    action = rule.branches[branch].action
    assert action is not None
    lines = [f"  {_outcome_mark(action.outcome or '')} [{rule_name(rule)}] "
             f"{render_message(action.message, lang, rule, run)} ({action.code})"]
    trails = case_trails(rule, run)
    for index, (holds, trail) in enumerate(trails):
        if not trail:
            continue
        if detail or index == branch:
            label = _branch_label(rule, index, lang)
            state = _t(lang, "成立", "holds") if holds else _t(lang, "不成立", "does not hold")
            lines.append(f"      {label}: {state}")
            for atom in trail:
                lines.append(f"        {describe_atom(atom, lang)}")
    if detail:
        lines.extend(_citation(rule, run.segment, lang))
    return lines


def explanation_json(decision: Any) -> dict[str, Any]:
    """Machine-readable explanation: the decision plus the trace and every condition's values."""
    run: Run = decision.run
    trace = []
    for firing in run.firings:
        rule = run.segment.rules[firing.slot]
        action = rule.branches[firing.branch].action
        entry: dict[str, Any] = {"rule": rule_name(rule), "branch": firing.branch,
                                 "established": "no_other_branch_fired" if firing.inferred else "fired"}
        if action is not None and action.outcome:
            entry["outcome"] = action.outcome
            entry["code"] = action.code
        if firing.values and action is not None:
            derived = derived_json(run)
            entry["derived"] = {d.name: derived.get(d.name) for d in action.derive}
        trace.append(entry)
    conditions = []
    for rule in run.segment.rules:
        for index, (holds, trail) in enumerate(case_trails(rule, run)):
            conditions.append({"rule": rule_name(rule), "case": index, "holds": holds,
                               "atoms": [atom_json(a) for a in trail]})
    return {"decision": decision.to_dict(), "trace": trace, "conditions": conditions}
