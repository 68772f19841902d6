"""engine.core.model: one ruleset file -> frozen dataclasses, with the checks one file can make on its own."""

from __future__ import annotations

from typing import Any

import pytest

from engine.core.load import load_yaml_text
from engine.core.model import (Action, Atom, Call, Group, Lit, Negation, Period, Ref, RulesetFile, Source, Truth,
                          build_file, iter_conditions, message_refs, Text)

DOCS = {"policy.txt": "同一个职工参保人最多可授权省内6位参保人与其绑定。"}
SRC = "{document: policy.txt, quote: 最多可授权省内6位参保人与其绑定}"
HEAD = 'ruleset: national\nkind: national\nname: {zh: 全国, en: National}\nversion: "1"\n'  # 4 lines
PASS = "{outcome: pass, code: ok, message: {zh: 通过, en: passed}}"
FAIL = "{outcome: fail, code: failed, message: {zh: 未通过, en: failed}}"


def build(body: str = "", head: str = HEAD, file: str = "rulesets/national.yaml") -> tuple[RulesetFile | None, list]:
    return build_file(load_yaml_text(head + body, file), DOCS)


def rule(when: str, then: str = PASS, other: str | None = FAIL, extra: str = "", rid: str = "check") -> str:
    text = (f"rules:\n  - id: {rid}\n    title: {{zh: 检查, en: Check}}\n    applies_to: [binding]\n"
            f"    source: {SRC}\n{extra}    when: {when}\n    then: {then}\n")  # when: line 10
    return text + (f"    else: {other}\n" if other is not None else "")


def derive(expr: str) -> str:
    return rule("true", then=f"{{derive: {{x: {expr}}}}}", other=f"{{derive: {{x: {expr}}}}}")


def only(issues: list, code: str) -> list:
    return [i for i in issues if i.code == code]


def pos(issue: Any) -> tuple[int, int]:
    return issue.location.line, issue.location.col


def condition(when: str) -> tuple[Any, list]:
    built, issues = build(rule(when))
    assert built is not None
    return built.rules[0].versions[0].cases[0].when, issues


# ------------------------------------------------------------------ a valid file

def test_a_valid_file_builds_without_issues() -> None:
    built, issues = build(f"""parameters:
  - id: max_beneficiaries
    type: int
    title: {{zh: 人数, en: Members}}
    value: 6
    source: {SRC}
""" + rule("{fact: bound_members, lt: {param: max_beneficiaries}}").replace("rules:\n", "rules:\n", 1))
    assert issues == []
    assert built is not None
    assert (built.id, built.kind, built.parent, built.name) == ("national", "national", None, Text("全国", "National"))
    (param,) = built.parameters
    assert (param.id, param.type_spec.type, param.versions[0].value) == ("max_beneficiaries", "int", 6)  # type: ignore[union-attr]
    (rule_,) = built.rules
    assert rule_.applies_to == frozenset({"binding"}) and rule_.origin == "national"
    (version,) = rule_.versions
    assert version.sources == (Source("policy.txt", "最多可授权省内6位参保人与其绑定"),)
    assert version.period == Period(None, None)
    assert version.otherwise == Action(outcome="fail", code="failed", message=Text("未通过", "failed"))
    assert len(built.sha256) == 64


# ------------------------------------------------------------------ conditions

def test_atom_with_a_literal_and_with_a_parameter() -> None:
    cond, issues = condition("{fact: bound_members, lt: 6}")
    assert issues == []
    assert cond == Atom(Ref("fact", "bound_members"), "lt", Lit(6))
    assert (cond.loc.line, cond.loc.col) == (10, 11)
    cond, _ = condition("{fact: relationship, in: {param: scope}}")
    assert cond == Atom(Ref("fact", "relationship"), "in", Ref("param", "scope"))
    assert (cond.right.loc.line, cond.right.loc.col) == (10, 44)


def test_groups_negation_truth_and_lists() -> None:
    cond, issues = condition("{all: [{fact: authorizer.retired, eq: true}, "
                             "{not: {any: [{fact: relationship, in: [spouse, child]}, false]}}]}")
    assert issues == []
    assert cond == Group("all", (
        Atom(Ref("fact", "authorizer.retired"), "eq", Lit(True)),
        Negation(Group("any", (Atom(Ref("fact", "relationship"), "in", Lit(("spouse", "child"))), Truth(False))))))
    assert [str(a) for a in iter_conditions(cond)] == ["authorizer.retired = True",
                                                       "relationship in ('spouse', 'child')"]


def test_derived_and_param_on_the_left() -> None:
    cond, issues = condition("{derived: same_pool, eq: true}")
    assert cond == Atom(Ref("derived", "same_pool"), "eq", Lit(True)) and issues == []
    cond, issues = condition("{param: scope, present: true}")
    assert cond == Atom(Ref("param", "scope"), "present", Lit(True)) and issues == []


@pytest.mark.parametrize("typo, suggestion", [
    ("lte", "le"), ("gte", "ge"), ("neq", "ne"), ("equals", "eq"), ("'>='", "ge"), ("'<'", "lt"), ("'!='", "ne"),
    ("'=='", "eq"), ("$in", "in"), ("$nin", "not_in"), ("nin", "not_in"), ("exists", "present"),
    ("not_inn", "not_in"), ("prsent", "present"),
])
def test_an_unknown_operator_is_refused_with_a_suggestion(typo: str, suggestion: str) -> None:
    cond, issues = condition(f"{{fact: bound_members, {typo}: 6}}")
    assert cond == Truth(False)  # never silently accepted as the alias
    (issue,) = only(issues, "unknown_operator")
    assert issue.hint == f"did you mean {suggestion!r}?"
    assert issue.found == typo.strip("'")
    assert pos(issue) == (10, 33)  # at the operator key
    assert "not_in" in issue.expected


def test_an_unknown_operator_without_a_close_match() -> None:
    _, issues = condition("{fact: bound_members, between: [1, 2]}")
    (issue,) = only(issues, "unknown_operator")
    assert issue.hint == ""


@pytest.mark.parametrize("when, found", [
    ("{lt: 6}", None),                                                  # no left side
    ("{fact: bound_members, param: max, eq: 1}", ["fact", "param"]),    # two left sides
    ("{fact: bound_members}", None),                                    # no operator
    ("{fact: bound_members, lt: 6, gt: 1}", ["lt", "gt"]),              # two operators
    ("{all: [true], fact: bound_members}", ["all", "fact"]),            # all must stand alone
    ("{not: true, eq: 1}", ["eq", "not"]),                               # not must stand alone
])
def test_invalid_conditions(when: str, found: Any) -> None:
    _, issues = condition(when)
    (issue,) = only(issues, "invalid_condition")
    assert issue.found == found
    assert pos(issue) == (10, 11)


def test_present_takes_a_boolean() -> None:
    _, issues = condition("{fact: beneficiary.last_unbound, present: yes}")
    assert issues == []  # YAML 1.1: yes is true
    _, issues = condition('{fact: beneficiary.last_unbound, present: "yes"}')
    (issue,) = issues
    assert (issue.code, issue.found, pos(issue)) == ("wrong_type", "yes", (10, 53))


def test_a_missing_condition() -> None:
    _, issues = condition("null")
    assert [pos(i) for i in only(issues, "missing_field")] == [(10, 11)]


def test_unknown_fact_fields_are_reported_with_a_suggestion() -> None:
    cond, issues = condition("{fact: beneficiary.regoin, eq: {fact: authorizer.regio}}")
    found = only(issues, "unknown_fact_field")
    assert [(i.found, i.hint) for i in found] == [("beneficiary.regoin", "did you mean 'beneficiary.region'?"),
                                                  ("authorizer.regio", "did you mean 'authorizer.region'?")]
    assert [pos(i) for i in found] == [(10, 18), (10, 49)]
    assert isinstance(cond, Atom)  # still built, so later checks can run


# ------------------------------------------------------------------ expressions and actions

def test_function_calls_and_references() -> None:
    built, issues = build(derive("{percent_of: [{min: [{fact: expense.amount}, \"100.00\"]}, {param: ratio}]}")
                          .replace("applies_to: [binding]", "applies_to: [payment]"))
    assert issues == []
    (derivation,) = built.rules[0].versions[0].cases[0].then.derive  # type: ignore[union-attr]
    assert derivation.name == "x"
    assert derivation.expr == Call("percent_of", (Call("min", (Ref("fact", "expense.amount"), Lit("100.00"))),
                                                  Ref("param", "ratio")))


@pytest.mark.parametrize("expr, want, found", [
    ("{sub: [1]}", "2", 1), ("{sub: [1, 2, 3]}", "2", 3), ("{percent_of: [1]}", "2", 1),
    ("{lookup: [{param: t}, 1, 2]}", "2", 3), ("{add: [1]}", "at least 2", 1), ("{min: [1]}", "at least 2", 1),
    ("{max: []}", "at least 2", 0),
])
def test_wrong_arity(expr: str, want: str, found: int) -> None:
    _, issues = build(derive(expr))
    arity = only(issues, "wrong_arity")
    assert [(i.expected, i.found) for i in arity] == [(want, found)] * 2  # then and else
    func = expr[1:expr.index(":")]
    assert arity[0].location.pointer == f"/rules/0/then/derive/x/{func}"
    assert arity[0].message.startswith(f"{func} takes ")


def test_right_arity_is_fine() -> None:
    for expr in ("{add: [1, 2, 3]}", "{min: [1, 2, 3, 4]}", "{sub: [1, 2]}", "{lookup: [{param: t}, 1]}"):
        assert build(derive(expr))[1] == []


# ------------------------------------------------------------------ message placeholders

@pytest.mark.parametrize("text", [
    "{bound_members} of {param:max_beneficiaries}", "{derived:same_pool}", "{expense.category}", "no placeholder",
])
def test_good_placeholders(text: str) -> None:
    then = f'{{outcome: pass, code: ok, message: {{zh: 通过, en: "{text}"}}}}'
    _, issues = build(rule("true", then=then))
    assert issues == []


@pytest.mark.parametrize("text, found", [
    ("{parm:max}", "parm:max"), ("{}", ""), ("{param:}", "param:"), ("{Derived:x}", "Derived:x"),
])
def test_bad_placeholders(text: str, found: str) -> None:
    then = f'{{outcome: pass, code: ok, message: {{zh: "{text}", en: "{text}"}}}}'
    _, issues = build(rule("true", then=then))
    bad = only(issues, "unknown_placeholder")
    assert [i.found for i in bad] == [found, found]
    assert [i.location.pointer for i in bad] == ["/rules/0/then/message/zh", "/rules/0/then/message/en"]


def test_a_placeholder_naming_an_unknown_fact() -> None:
    then = '{outcome: pass, code: ok, message: {zh: "{bound_member}", en: "ok"}}'
    _, issues = build(rule("true", then=then))
    (issue,) = issues
    assert (issue.code, issue.hint) == ("unknown_fact_field", "did you mean 'bound_members'?")


def test_message_refs() -> None:
    refs = list(message_refs(Text("{a.b} {param:p}", "{derived:d} {bogus:x}")))
    assert [(r.kind, r.name) for r in refs] == [("fact", "a.b"), ("param", "p"), ("derived", "d")]


# ------------------------------------------------------------------ rule structure

def test_cases_and_else() -> None:
    body = (f"rules:\n  - id: r\n    title: {{zh: 规则, en: Rule}}\n    applies_to: [binding]\n    source: {SRC}\n"
            f"    cases:\n      - when: {{fact: bound_members, eq: 0}}\n        then: {PASS}\n"
            f"      - when: {{fact: bound_members, lt: 6}}\n        then: {PASS}\n    else: {FAIL}\n")
    built, issues = build(body)
    assert issues == []
    version = built.rules[0].versions[0]  # type: ignore[union-attr]
    assert len(version.cases) == 2 and version.otherwise is not None and len(version.branches) == 3


@pytest.mark.parametrize("body, code, where", [
    ("    when: true\n", "missing_field", "'when' needs a 'then'"),
    (f"    then: {PASS}\n", "missing_field", "'then' needs a 'when'"),
    (f"    else: {FAIL}\n", "missing_field", "'else' without"),
    ("    note: nothing\n", "missing_field", "a rule version needs"),
    (f"    when: true\n    then: {PASS}\n    cases:\n      - {{when: true, then: {PASS}}}\n", "mixed_when_and_cases",
     "either when/then or cases"),
    (f"    enabled: false\n    when: true\n    then: {PASS}\n", "disabled_with_body", "enabled: false"),
])
def test_rule_body_problems(body: str, code: str, where: str) -> None:
    text = f"rules:\n  - id: r\n    title: {{zh: 规则, en: Rule}}\n    applies_to: [binding]\n    source: {SRC}\n" + body
    _, issues = build(text)
    assert any(i.code == code and where in i.message for i in issues), [i.format() for i in issues]


def test_a_rule_without_any_body() -> None:
    _, issues = build("rules:\n  - id: r\n    title: {zh: 规则, en: Rule}\n    applies_to: [binding]\n")
    assert [(i.code, pos(i)) for i in issues] == [("missing_field", (6, 5))]
    assert "has no body" in issues[0].message


def test_a_disabled_version_needs_no_body() -> None:
    text = (f"rules:\n  - id: r\n    title: {{zh: 规则, en: Rule}}\n    applies_to: [binding]\n    versions:\n"
            f"      - to: '2024-12-31'\n        source: {SRC}\n        when: true\n        then: {PASS}\n"
            f"        else: {FAIL}\n      - from: '2025-01-01'\n        source: {SRC}\n        enabled: false\n")
    built, issues = build(text)
    assert issues == []
    first, second = built.rules[0].versions  # type: ignore[union-attr]
    assert (first.period, first.enabled) == (Period(None, 20241231), True)
    assert (second.period, second.enabled, second.cases) == (Period(20250101, None), False, ())


# ------------------------------------------------------------------ dates, periods, versions

def test_periods_and_variants() -> None:
    built, issues = build(rule("true", extra="    from: '2024-02-29'\n    to: 2025-12-31\n"
                                             "    variant: {b: y, a: x}\n"))
    assert issues == []
    version = built.rules[0].versions[0]  # type: ignore[union-attr]
    assert version.period == Period(20240229, 20251231)
    assert version.variant == (("a", "x"), ("b", "y"))


def test_a_bad_date_and_a_backwards_period() -> None:
    _, issues = build(rule("true", extra="    from: '2023-02-29'\n"))
    assert [(i.code, pos(i)) for i in issues] == [("invalid_date", (10, 11))]
    _, issues = build(rule("true", extra="    from: '2025-01-01'\n    to: '2024-12-31'\n"))
    (issue,) = issues
    assert (issue.code, pos(issue), issue.found) == ("invalid_effective_period", (11, 9), "2024-12-31")


def test_a_one_day_period_is_fine() -> None:
    assert build(rule("true", extra="    from: '2025-01-01'\n    to: '2025-01-01'\n"))[1] == []


def test_period_overlaps_and_contains() -> None:
    assert Period(20250101, 20250101).overlaps(Period(20250101, None))
    assert not Period(None, 20241231).overlaps(Period(20250101, None))
    assert Period(None, None).contains(19000101) and not Period(20250101, None).contains(20241231)
    assert Period(20250101, None).to_json() == {"from": "2025-01-01", "to": None}


def test_inline_value_and_versions_are_exclusive() -> None:
    body = f"""parameters:
  - id: p
    type: int
    value: 6
    versions:
      - value: 7
        source: {SRC}
"""
    _, issues = build(body)
    (issue,) = only(issues, "mixed_inline_and_versions")
    assert (pos(issue), issue.found) == ((9, 5), ["value"])


# ------------------------------------------------------------------ ids, identity, citations, types

@pytest.mark.parametrize("section, item", [
    ("notes", "  - id: n\n    text: a note\n"),
    ("parameters", f"  - id: p\n    type: int\n    value: 1\n    source: {SRC}\n"),
    ("switches", f"  - id: s\n    title: {{zh: 开关, en: Switch}}\n    default: a\n    options:\n"
                 f"      a: {{description: {{zh: 甲, en: a}}, source: {SRC}}}\n"
                 f"      b: {{description: {{zh: 乙, en: b}}, source: {SRC}}}\n"),
])
def test_duplicate_ids(section: str, item: str) -> None:
    _, issues = build(f"{section}:\n" + item + item)
    what = {"notes": "note", "parameters": "parameter", "switches": "switch"}[section]
    (issue,) = issues
    assert issue.code == f"duplicate_{what}_id"
    assert "(first at line 6)" in issue.message
    assert issue.location.line == 6 + item.count("\n")


def test_duplicate_rule_id_keeps_the_first() -> None:
    built, issues = build(rule("true") + rule("false").replace("rules:\n", ""))
    assert [i.code for i in issues] == ["duplicate_rule_id"]
    assert len(built.rules) == 1  # type: ignore[union-attr]


@pytest.mark.parametrize("head, file, expected", [
    ('ruleset: "341100"\nkind: city\nparent: "340000"\nname: {zh: 滁州, en: Chuzhou}\nversion: "1"\n',
     "cities/341200-x.yaml", [("ruleset_id_mismatch", (1, 10))]),
    ('ruleset: "341100"\nkind: city\nparent: national\nname: {zh: 滁州, en: Chuzhou}\nversion: "1"\n',
     "cities/341100-x.yaml", [("kind_mismatch", (3, 9))]),
    ('ruleset: "341100"\nkind: province\nparent: national\nname: {zh: 滁州, en: Chuzhou}\nversion: "1"\n',
     "341100.yaml", [("kind_mismatch", (1, 10))]),
    ('ruleset: "340000"\nkind: city\nparent: "340000"\nname: {zh: 安徽, en: Anhui}\nversion: "1"\n',
     "340000.yaml", [("kind_mismatch", (1, 10))]),
    ('ruleset: "340000"\nkind: province\nparent: "110000"\nname: {zh: 安徽, en: Anhui}\nversion: "1"\n',
     "340000.yaml", [("kind_mismatch", (3, 9))]),
    ('ruleset: "341100"\nkind: national\nname: {zh: 滁州, en: Chuzhou}\nversion: "1"\n',
     "n.yaml", [("kind_mismatch", (1, 10))]),
    ('ruleset: national\nkind: national\nparent: "340000"\nname: {zh: 全国, en: National}\nversion: "1"\n',
     "national.yaml", [("unexpected_parent", (3, 9))]),
    ('ruleset: "341100"\nkind: city\nname: {zh: 滁州, en: Chuzhou}\nversion: "1"\n',
     "341100.yaml", [("missing_field", (1, 1))]),
    ('ruleset: "991100"\nkind: city\nparent: "990000"\nname: {zh: 无, en: None}\nversion: "1"\n',
     "991100.yaml", [("invalid_region_code", (1, 10))]),
])
def test_identity_checks(head: str, file: str, expected: list) -> None:
    _, issues = build("", head=head, file=file)
    assert [(i.code, pos(i)) for i in issues] == expected


def test_unknown_document_with_suggestion() -> None:
    _, issues = build(rule("true", extra="").replace("document: policy.txt", "document: Policy.txt"))
    (issue,) = issues
    assert (issue.code, issue.hint, pos(issue)) == ("unknown_document", "did you mean 'policy.txt'?", (9, 24))


def test_switch_default_must_be_an_option() -> None:
    _, issues = build(f"switches:\n  - id: s\n    title: {{zh: 开关, en: Switch}}\n    default: c\n    options:\n"
                      f"      a: {{description: {{zh: 甲, en: a}}, source: {SRC}}}\n"
                      f"      b: {{description: {{zh: 乙, en: b}}, source: {SRC}}}\n")
    (issue,) = issues
    assert (issue.code, pos(issue), issue.expected) == ("unknown_switch_option", (8, 14), "one of ['a', 'b']")


@pytest.mark.parametrize("spec, where", [
    ("type: set\n    of: relation", "/parameters/0/of"),
    ("type: set", "/parameters/0/of"),
    ("type: table\n    key: hospital\n    of: percent", "/parameters/0/key"),
    ("type: table\n    key: hospital_level\n    of: date", "/parameters/0/of"),
    ("type: choice", "/parameters/0"),
])
def test_type_specs(spec: str, where: str) -> None:
    _, issues = build(f"parameters:\n  - id: p\n    {spec}\n    value: null\n    note: not stated\n")
    (issue,) = issues
    assert (issue.code, issue.location.pointer) == ("invalid_type", where)


def test_an_empty_file_and_a_broken_file() -> None:
    built, issues = build_file(load_yaml_text("", "e.yaml"), DOCS)
    assert built is None and [i.code for i in issues] == ["empty_file"]
    built, issues = build_file(load_yaml_text("a: [", "b.yaml"), DOCS)
    assert built is None and [i.code for i in issues] == ["yaml_syntax_error"]
