"""engine.core.layering: national -> province -> city merging, overrides, dated versions, parameter typing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.core import catalog
from engine.core.errors import CompileError, RuleFileError, sort_issues
from engine.core.layering import (Collection, ParamReference, View, build_view, check_overlaps, load_collection,
                             load_views, param_type, parse_value)
from engine.core.model import ParamVersion, Period, TypeSpec
from engine.core.values import ValueProblem

SRC = "{document: policy.txt, quote: 最多可授权省内6位参保人与其绑定}"
SRC2 = "{document: other.txt, quote: 另一份文件}"
NATIONAL = 'ruleset: national\nkind: national\nname: {zh: 全国, en: National}\nversion: "1"\n'
PROVINCE = 'ruleset: "340000"\nkind: province\nparent: national\nname: {zh: 安徽省, en: Anhui}\nversion: "1"\n'
CITY = 'ruleset: "341100"\nkind: city\nparent: "340000"\nname: {zh: 滁州市, en: Chuzhou}\nversion: "1"\n'
PARAM = f"""parameters:
  - id: max_beneficiaries
    type: int
    value: 6
    source: {SRC}
"""
RULE = f"""rules:
  - id: member_limit
    title: {{zh: 人数, en: Members}}
    applies_to: [binding]
    source: {SRC}
    when: {{fact: bound_members, lt: {{param: max_beneficiaries}}}}
    then: {{outcome: pass, code: ok, message: {{zh: 可以, en: ok}}}}
    else: {{outcome: fail, code: too_many, message: {{zh: 太多, en: too many}}}}
"""
SWITCH = f"""switches:
  - id: reading
    title: {{zh: 说法, en: Reading}}
    default: strict
    options:
      strict: {{description: {{zh: 严, en: strict}}, source: {SRC}}}
      lenient: {{description: {{zh: 宽, en: lenient}}, source: {SRC}}}
"""


def make(root: Path, national: str = NATIONAL + PARAM + RULE, province: str = PROVINCE, city: str = CITY,
         **extra: str) -> Path:
    files = {"national.yaml": national, "provinces/340000-anhui.yaml": province, "cities/341100-chuzhou.yaml": city,
             "sources/policy.txt": "同一个职工参保人最多可授权省内6位参保人与其绑定。\n",
             "sources/other.txt": "另一份文件。\n", **extra}
    for rel, text in files.items():
        if text is None:
            continue
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def views(root: Path) -> tuple[Collection, dict[str, View], list]:
    collection = load_collection(root)
    assert collection.issues == [], [i.format() for i in collection.issues]
    built = {rid: build_view(collection, rid) for rid in sorted(collection.files)}
    # a national problem shows in every chain's view; the CLI prints it once (sort_issues drops repeats)
    return collection, built, sort_issues(i for v in built.values() for i in v.issues)


def codes(issues: list) -> list[str]:
    return sorted(i.code for i in issues)


def where(issue: Any) -> tuple[str, int]:
    return Path(issue.location.file).name, issue.location.line


def params(*items: str) -> str:
    return "parameters:\n" + "".join(items)


def param(pid: str, body: str) -> str:
    return f"  - id: {pid}\n" + "".join(f"    {line}\n" for line in body.strip("\n").split("\n"))


# ------------------------------------------------------------------ inheritance

def test_a_city_inherits_everything_from_its_province_and_the_nation(tmp_path: Path) -> None:
    _, built, issues = views(make(tmp_path))
    assert issues == []
    city = built["341100"]
    assert [f.id for f in city.chain] == ["national", "340000", "341100"]
    assert list(city.parameters) == ["max_beneficiaries"] and [r.id for r in city.rules] == ["member_limit"]
    assert city.parameters["max_beneficiaries"].versions[0].value == 6
    assert [f.id for f in built["340000"].chain] == ["national", "340000"]


def test_an_override_replaces_every_version(tmp_path: Path) -> None:
    national = NATIONAL + params(param("max_beneficiaries", f"""type: int
versions:
  - to: "2024-12-31"
    value: 4
    source: {SRC}
  - from: "2025-01-01"
    value: 6
    source: {SRC}""")) + RULE
    city = CITY + params(param("max_beneficiaries", f"overrides: national\nvalue: 7\nsource: {SRC}"))
    _, built, issues = views(make(tmp_path, national=national, city=city))
    assert issues == []
    resolved = built["341100"].parameters["max_beneficiaries"]
    assert [t.value for t in resolved.versions] == [7]
    assert resolved.definition.origin == "341100" and resolved.base.origin == "national"
    assert resolved.type == catalog.INT
    assert [t.value for t in built["340000"].parameters["max_beneficiaries"].versions] == [4, 6]


def test_overrides_along_the_chain(tmp_path: Path) -> None:
    province = PROVINCE + params(param("max_beneficiaries", f"overrides: national\nvalue: 7\nsource: {SRC}"))
    city = CITY + params(param("max_beneficiaries", f'overrides: "340000"\nvalue: 8\nsource: {SRC}'))
    _, built, issues = views(make(tmp_path, province=province, city=city))
    assert issues == []
    assert built["341100"].parameters["max_beneficiaries"].versions[0].value == 8
    assert built["340000"].parameters["max_beneficiaries"].versions[0].value == 7


def test_a_rule_override_keeps_the_rules_place(tmp_path: Path) -> None:
    second = RULE.replace("rules:\n", "").replace("member_limit", "second_rule")
    city = CITY + RULE.replace("  - id: member_limit\n", "  - id: member_limit\n    overrides: national\n").replace(
        "lt: {param: max_beneficiaries}", "le: 5")
    _, built, issues = views(make(tmp_path, national=NATIONAL + PARAM + RULE + second, city=city))
    assert issues == []
    rules = built["341100"].rules
    assert [(r.id, r.origin) for r in rules] == [("member_limit", "341100"), ("second_rule", "national")]


# ------------------------------------------------------------------ override problems

def test_a_silent_same_id_clash_is_refused(tmp_path: Path) -> None:
    city = CITY + params(param("max_beneficiaries", f"type: int\nvalue: 7\nsource: {SRC}"))
    _, built, issues = views(make(tmp_path, city=city))
    (issue,) = issues
    assert issue.code == "override_not_declared"
    assert where(issue) == ("341100-chuzhou.yaml", 7)
    assert "overrides: \"national\"" in issue.message
    assert built["341100"].parameters["max_beneficiaries"].versions[0].value == 6  # the clash changes nothing


def test_a_silent_rule_clash_is_refused(tmp_path: Path) -> None:
    _, _, issues = views(make(tmp_path, province=PROVINCE + RULE))
    assert {(i.code, where(i)) for i in issues} == {("override_not_declared", ("340000-anhui.yaml", 7))}


def test_an_override_of_a_missing_id(tmp_path: Path) -> None:
    city = CITY + params(param("max_members", f"overrides: national\nvalue: 7\nsource: {SRC}"))
    _, _, issues = views(make(tmp_path, city=city))
    found = [i for i in issues if i.code == "override_target_missing"]
    assert [(where(i), i.found) for i in found] == [(("341100-chuzhou.yaml", 7), "max_members")]


def test_an_override_of_a_missing_id_is_one_error(tmp_path: Path) -> None:
    city = CITY + params(param("max_members", f"overrides: national\nvalue: 7\nsource: {SRC}"))
    assert codes(views(make(tmp_path, city=city))[2]) == ["override_target_missing"]


def test_a_conflicting_override_names_the_real_owner(tmp_path: Path) -> None:
    province = PROVINCE + params(param("max_beneficiaries", f"overrides: national\nvalue: 7\nsource: {SRC}"))
    city = CITY + params(param("max_beneficiaries", f"overrides: national\nvalue: 8\nsource: {SRC}"))
    _, built, issues = views(make(tmp_path, province=province, city=city))
    (issue,) = issues
    assert (issue.code, issue.expected, issue.found, where(issue)) == (
        "conflicting_override", "340000", "national", ("341100-chuzhou.yaml", 7))
    assert built["341100"].parameters["max_beneficiaries"].versions[0].value == 8


@pytest.mark.parametrize("target, hint", [('"350000"', "did you mean '340000'?"), ('"341100"', "did you mean '340000'?"),
                                          ("nation", "did you mean 'national'?")])
def test_an_override_must_name_an_ancestor(tmp_path: Path, target: str, hint: str) -> None:
    city = CITY + params(param("max_beneficiaries", f"overrides: {target}\nvalue: 8\nsource: {SRC}"))
    _, _, issues = views(make(tmp_path, city=city))
    (issue,) = issues
    assert (issue.code, issue.hint, issue.expected) == (
        "unknown_override_target", hint, "one of ['national', '340000']")


def test_the_national_ruleset_overrides_nothing(tmp_path: Path) -> None:
    national = NATIONAL + params(param("max_beneficiaries", f"type: int\noverrides: national\nvalue: 6\n"
                                                            f"source: {SRC}")) + RULE
    _, _, issues = views(make(tmp_path, national=national))
    assert {(i.code, i.expected) for i in issues} == {
        ("unknown_override_target", "no overrides in a national ruleset")}


def test_an_override_may_not_change_a_parameters_type(tmp_path: Path) -> None:
    city = CITY + params(param("max_beneficiaries", f"overrides: national\ntype: money\nvalue: 7\nsource: {SRC}"))
    _, _, issues = views(make(tmp_path, city=city))
    (issue,) = issues
    assert (issue.code, issue.expected, issue.found) == ("override_type_mismatch", "int", "money")
    same = CITY + params(param("max_beneficiaries", f"overrides: national\ntype: int\nvalue: 7\nsource: {SRC}"))
    assert views(make(tmp_path / "same", city=same))[2] == []


def test_an_override_may_not_change_the_element_type_of_a_set(tmp_path: Path) -> None:
    national = NATIONAL + params(param("scope", f"type: set\nof: relationship\nvalue: [spouse]\nsource: {SRC}"))
    city = CITY + params(param("scope", f"overrides: national\ntype: set\nof: insurance\nvalue: [employee]\n"
                                        f"source: {SRC}"))
    _, _, issues = views(make(tmp_path, national=national, city=city))
    assert codes(issues) == ["invalid_parameter_value", "override_type_mismatch"]  # the value is typed as the base


def test_an_override_value_is_typed_with_the_base_type(tmp_path: Path) -> None:
    city = CITY + params(param("max_beneficiaries", f'overrides: national\nvalue: "seven"\nsource: {SRC}'))
    _, _, issues = views(make(tmp_path, city=city))
    (issue,) = issues
    assert (issue.code, where(issue), issue.found) == ("invalid_parameter_value", ("341100-chuzhou.yaml", 9),
                                                       "seven")


def test_a_switch_override_must_keep_the_options(tmp_path: Path) -> None:
    national = NATIONAL + SWITCH + PARAM + RULE
    override = SWITCH.replace("  - id: reading\n", "  - id: reading\n    overrides: national\n")
    _, _, issues = views(make(tmp_path / "ok", national=national,
                              city=CITY + override.replace("default: strict", "default: lenient")))
    assert issues == []
    _, _, issues = views(make(tmp_path / "bad", national=national,
                              city=CITY + override.replace("lenient:", "loose:")))
    (issue,) = issues
    assert (issue.code, issue.found) == ("override_type_mismatch", ["strict", "loose"])


# ------------------------------------------------------------------ dated versions and overlaps

def dated(*versions: tuple[str | None, str | None, str]) -> str:
    body = "type: int\nversions:\n"
    for start, end, variant in versions:
        body += "  - value: 1\n"
        body += f"    from: '{start}'\n" if start else ""
        body += f"    to: '{end}'\n" if end else ""
        body += f"    variant: {variant}\n" if variant else ""
        body += f"    source: {SRC}\n"
    return NATIONAL + SWITCH.replace("  - id: reading", "  - id: other\n    title: {zh: 另, en: Other}\n"
                                     "    default: a\n    options:\n"
                                     f"      a: {{description: {{zh: 甲, en: a}}, source: {SRC}}}\n"
                                     f"      b: {{description: {{zh: 乙, en: b}}, source: {SRC}}}\n"
                                     "  - id: reading") + params(param("p", body))


@pytest.mark.parametrize("versions, overlap", [
    ([(None, "2024-12-31", ""), ("2025-01-01", None, "")], False),          # adjacent
    ([(None, "2025-01-01", ""), ("2025-01-01", None, "")], True),           # share one day
    ([(None, None, ""), ("2025-01-01", "2025-01-31", "")], True),           # inside an open version
    ([("2024-01-01", "2024-12-31", ""), ("2025-01-01", "2025-12-31", ""), ("2026-01-01", None, "")], False),
    ([(None, None, "{reading: strict}"), (None, None, "{reading: lenient}")], False),  # exclusive options
    ([(None, None, "{reading: strict}"), ("2025-01-01", None, "")], True),  # overlap under reading=strict
    ([(None, None, "{reading: strict}"), (None, None, "{other: b}")], True),  # under reading=strict, other=b
    ([("2025-01-01", None, "{reading: strict}"), (None, "2024-12-31", "{reading: strict}"),
      (None, None, "{reading: lenient}")], False),
])
def test_overlapping_effective_periods(tmp_path: Path, versions: list, overlap: bool) -> None:
    _, _, issues = views(make(tmp_path, national=dated(*versions)))
    found = [i for i in issues if i.code == "overlapping_effective_periods"]
    assert bool(found) == overlap, [i.format() for i in issues]
    assert len({i.message for i in found}) == len(found)


def test_an_overlap_names_the_switches_under_which_it_happens(tmp_path: Path) -> None:
    _, _, issues = views(make(tmp_path, national=dated((None, None, "{reading: strict}"), ("2025-01-01", None, ""))))
    (issue,) = issues
    assert "under switches {'reading': 'strict'}" in issue.message
    assert issue.found == {"from": "2025-01-01", "to": None}


def test_overlapping_rule_versions(tmp_path: Path) -> None:
    rule = RULE.replace("    source:", "    versions:\n      - source:").replace(
        "\n    when:", "\n        when:").replace("\n    then:", "\n        then:").replace("\n    else:", "\n        else:")
    rule += rule[rule.index("      - source:"):].replace("      - source:", "      - from: '2025-01-01'\n        source:")
    _, _, issues = views(make(tmp_path, national=NATIONAL + PARAM + rule))
    (issue,) = issues
    assert issue.code == "overlapping_effective_periods" and issue.message.startswith("rule 'member_limit'")


def test_check_overlaps_reports_each_pair_once() -> None:
    def version(start: int | None, end: int | None, variant: tuple = ()) -> ParamVersion:
        return ParamVersion(Period(start, end), variant, (), 1)

    issues: list = []
    check_overlaps("parameter", "p", [version(None, None), version(20250101, None, (("s", "a"),)),
                                      version(None, None, (("t", "b"),))], issues)
    assert len(issues) == 3  # (0,1), (0,2), (1,2): each once although several assignments show it


# ------------------------------------------------------------------ switches used by versions

def test_a_version_may_depend_only_on_declared_switches_and_options(tmp_path: Path) -> None:
    national = NATIONAL + SWITCH + params(param("p", f"type: int\nversions:\n  - variant: {{readng: strict}}\n"
                                                     f"    to: '2024-12-31'\n    value: 1\n    source: {SRC}\n"
                                                     f"  - variant: {{reading: strikt}}\n    from: '2025-01-01'\n"
                                                     f"    value: 2\n    source: {SRC}"))
    _, _, issues = views(make(tmp_path, national=national))
    assert sorted((i.code, i.hint) for i in issues) == [("unknown_switch", "did you mean 'reading'?"),
                                                        ("unknown_switch_option", "did you mean 'strict'?")]


# ------------------------------------------------------------------ parameter values and references

@pytest.mark.parametrize("body, value", [
    ('type: money\nvalue: "800.00"', 80000), ("type: money\nvalue: 800", 80000), ("type: percent\nvalue: 60", 6000),
    ('type: percent\nvalue: "82.5%"', 8250), ('type: date\nvalue: "2024-02-29"', 20240229),
    ("type: date\nvalue: 2024-02-29", 20240229), ("type: bool\nvalue: true", True), ('type: text\nvalue: "x"', "x"),
    ("type: set\nof: relationship\nvalue: [spouse, child]", ("spouse", "child")),
    ("type: choice\noptions: [same_pool, same_province, national]\nvalue: same_pool", "same_pool"),
    ("type: table\nkey: hospital_level\nof: percent\nvalue: {1: 60, 2: 55, 3: 50}", ((1, 6000), (2, 5500), (3, 5000))),
    ("type: table\nkey: hospital_level\nof: money\nvalue: {'1': '1.00', '2': '2.00', '3': '3.00'}",
     ((1, 100), (2, 200), (3, 300))),
])
def test_parameter_values_are_typed(tmp_path: Path, body: str, value: Any) -> None:
    national = NATIONAL + params(param("p", f"{body}\nsource: {SRC}"))
    _, built, issues = views(make(tmp_path, national=national))
    assert issues == []
    assert built["341100"].parameters["p"].versions[0].value == value


@pytest.mark.parametrize("body, words", [
    ("type: int\nvalue: 6.5", "not a whole number"), ("type: int\nvalue: true", "not a whole number"),
    ('type: int\nvalue: "6"', "not a whole number"), ('type: money\nvalue: "1.234"', "at most 2 decimals"),
    ("type: money\nvalue: -1", "negative"), ("type: percent\nvalue: 101", "more than 100%"),
    ('type: date\nvalue: "2023-02-29"', "calendar date"), ('type: bool\nvalue: "yes"', "true/false"),
    ("type: text\nvalue: 5", "not text"), ("type: set\nof: relationship\nvalue: [spouse, spouse]", "repeats"),
    ("type: set\nof: relationship\nvalue: [spose]", "did you mean 'spouse'?"),
    ("type: set\nof: relationship\nvalue: spouse", "not a list"),
    ("type: choice\noptions: [a, b]\nvalue: c", "not one of ['a', 'b']"),
    ("type: table\nkey: hospital_level\nof: percent\nvalue: {1: 60, 2: 55}", "no entry for [3]"),
    ("type: table\nkey: hospital_level\nof: percent\nvalue: {1: 60, 2: 55, 3: 50, 4: 45}", "not one of [1, 2, 3]"),
    ("type: table\nkey: hospital_level\nof: percent\nvalue: [60, 55, 50]", "not a mapping"),
    ("type: int\nvalue: null\nnote: not stated", "not nullable"),
])
def test_bad_parameter_values(tmp_path: Path, body: str, words: str) -> None:
    national = NATIONAL + params(param("p", f"{body}\nsource: {SRC}" if "null" not in body else body))
    _, _, issues = views(make(tmp_path, national=national))
    (issue,) = issues
    assert issue.code == "invalid_parameter_value"
    assert words in issue.message, issue.message
    value_line = 7 + [line.startswith("value:") for line in body.split("\n")].index(True)
    assert where(issue) == ("national.yaml", value_line)


def test_nullable_parameters_and_inherited_nullability(tmp_path: Path) -> None:
    national = NATIONAL + params(param("reserve", "type: money\nnullable: true\nvalue: null\nnote: not stated"))
    city = CITY + params(param("reserve", "overrides: national\nvalue: null\nnote: still not stated"))
    _, built, issues = views(make(tmp_path, national=national, city=city))
    assert issues == []
    resolved = built["341100"].parameters["reserve"]
    assert resolved.nullable and resolved.versions[0].value is None


def test_a_parameter_needs_a_type_where_it_is_first_defined(tmp_path: Path) -> None:
    national = NATIONAL + params(param("p", f"value: 1\nsource: {SRC}"))
    _, built, issues = views(make(tmp_path, national=national))
    assert [(i.code, i.expected, where(i)) for i in issues] == [("missing_field", "type", ("national.yaml", 6))]
    assert "p" not in built["341100"].parameters


def test_a_parameter_may_take_another_parameters_value(tmp_path: Path) -> None:
    national = NATIONAL + params(
        param("narrow", f"type: set\nof: relationship\nvalue: [spouse]\nsource: {SRC}"),
        param("scope", f"type: set\nof: relationship\nvalue: {{param: narrow}}\nsource: {SRC}"),
        param("alias", f"type: set\nof: relationship\nvalue: {{param: scope}}\nsource: {SRC}"))
    _, built, issues = views(make(tmp_path, national=national))
    assert issues == []
    assert built["341100"].parameters["alias"].versions[0].value == ParamReference("scope")


@pytest.mark.parametrize("target, code, hint", [
    ("narow", "unknown_parameter", "did you mean 'narrow'?"),
    ("count", "type_mismatch", ""),
    ("insured", "type_mismatch", ""),
])
def test_bad_parameter_references(tmp_path: Path, target: str, code: str, hint: str) -> None:
    national = NATIONAL + params(
        param("narrow", f"type: set\nof: relationship\nvalue: [spouse]\nsource: {SRC}"),
        param("count", f"type: int\nvalue: 1\nsource: {SRC}"),
        param("insured", f"type: set\nof: insurance\nvalue: [employee]\nsource: {SRC}"),
        param("scope", f"type: set\nof: relationship\nvalue: {{param: {target}}}\nsource: {SRC}"))
    _, _, issues = views(make(tmp_path, national=national))
    (issue,) = issues
    assert (issue.code, issue.hint, where(issue)) == (code, hint, ("national.yaml", 23))


@pytest.mark.parametrize("edges", [
    {"a": "a"}, {"a": "b", "b": "a"}, {"a": "b", "b": "c", "c": "a"},
])
def test_parameter_reference_cycles(tmp_path: Path, edges: dict[str, str]) -> None:
    national = NATIONAL + params(*(param(pid, f"type: int\nvalue: {{param: {target}}}\nsource: {SRC}")
                                   for pid, target in edges.items()))
    _, _, issues = views(make(tmp_path, national=national))
    assert issues and {i.code for i in issues} == {"parameter_reference_cycle"}
    cycle = issues[0].found
    assert cycle[0] == cycle[-1] and set(cycle) == set(edges)


def test_a_reference_cycle_is_reported_once(tmp_path: Path) -> None:
    national = NATIONAL + params(param("a", f"type: int\nvalue: {{param: b}}\nsource: {SRC}"),
                                 param("b", f"type: int\nvalue: {{param: a}}\nsource: {SRC}"))
    assert codes(views(make(tmp_path, national=national))[2]) == ["parameter_reference_cycle"]


def test_a_reference_chain_is_not_a_cycle(tmp_path: Path) -> None:
    national = NATIONAL + params(param("a", f"type: int\nvalue: {{param: b}}\nsource: {SRC}"),
                                 param("b", f"type: int\nvalue: {{param: c}}\nsource: {SRC}"),
                                 param("c", f"type: int\nvalue: 3\nsource: {SRC}"),
                                 param("d", f"type: int\nvalue: {{param: b}}\nsource: {SRC}"))
    assert views(make(tmp_path, national=national))[2] == []


def test_parse_value_directly() -> None:
    assert parse_value(catalog.REGION, "429004") == "429004"
    with pytest.raises(ValueProblem, match="ID-card"):
        parse_value(catalog.REGION, "341102198001011234")
    assert parse_value(catalog.enum("hospital_level"), 2) == 2
    with pytest.raises(ValueProblem):
        parse_value(catalog.enum("hospital_level"), True)
    assert param_type(TypeSpec("choice", options=("same_pool", "same_province", "national"))) == catalog.enum(
        "region_scope")
    assert param_type(TypeSpec("choice", options=("a", "b"))).domain == ("a", "b")


# ------------------------------------------------------------------ the directory

def test_directory_problems(tmp_path: Path) -> None:
    assert [i.code for i in load_collection(tmp_path / "missing").issues] == ["file_not_found"]
    (tmp_path / "file.yaml").write_text("x: 1\n", encoding="utf-8")
    assert [i.code for i in load_collection(tmp_path / "file.yaml").issues] == ["not_a_directory"]
    (tmp_path / "empty" / "sources").mkdir(parents=True)
    assert [i.code for i in load_collection(tmp_path / "empty").issues] == ["empty_ruleset_dir"]


def test_sources_and_policy_tests_are_not_rulesets(tmp_path: Path) -> None:
    root = make(tmp_path, **{"sources/notes.yaml": "not: a ruleset\n", "cities/341100-chuzhou.test.yaml": "x: 1\n"})
    collection = load_collection(root)
    assert collection.issues == []
    assert sorted(collection.files) == ["340000", "341100", "national"]
    assert sorted(collection.documents) == ["notes.yaml", "other.txt", "policy.txt"]
    assert collection.cities == ["341100"]


def test_collection_level_problems(tmp_path: Path) -> None:
    root = make(tmp_path, national=None, province=PROVINCE.replace("parent: national", 'parent: "national"'),
                **{"cities/341100-copy.yaml": CITY})
    (tmp_path / "national.yaml").unlink(missing_ok=True)
    issues = load_collection(root).issues
    # the province's parent is the missing national ruleset: reported once, as missing_national
    assert codes(issues) == ["duplicate_ruleset_id", "missing_national"]


def test_load_views_raises_rule_file_errors_before_merging(tmp_path: Path) -> None:
    root = make(tmp_path, city=CITY + "descripton: x\n" + params(param("max_beneficiaries", f"type: int\nvalue: 7\n"
                                                                                            f"source: {SRC}")))
    with pytest.raises(RuleFileError) as info:
        load_views(root)
    assert [i.code for i in info.value.issues] == ["unknown_field"]  # the clash waits for a valid file


def test_load_views_raises_compile_errors_for_merge_problems(tmp_path: Path) -> None:
    root = make(tmp_path, city=CITY + params(param("max_beneficiaries", f"type: int\nvalue: 7\nsource: {SRC}")))
    with pytest.raises(CompileError) as info:
        load_views(root)
    assert [i.code for i in info.value.issues] == ["override_not_declared"]


# ------------------------------------------------------------------ content hash

def test_the_hash_follows_the_rules_and_the_cited_documents_only(tmp_path: Path) -> None:
    def sha(root: Path) -> str:
        return views(root)[1]["341100"].sha256

    base = sha(make(tmp_path / "a"))
    assert sha(make(tmp_path / "b")) == base
    assert sha(make(tmp_path / "c", **{"sources/other.txt": "changed, but nobody cites it\n"})) == base
    assert sha(make(tmp_path / "d", **{"sources/policy.txt": "a cited document changed\n"})) != base
    assert sha(make(tmp_path / "e", city=CITY + "description: one more line\n")) != base
    province_changed = make(tmp_path / "f", province=PROVINCE + "description: x\n")
    assert sha(province_changed) != base
    assert views(make(tmp_path / "g"))[1]["340000"].sha256 != base
