"""``gongji diff``: structural diff of two rulesets directories and replay of requests under both."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main as cli_main
from engine.tools.diff import Outcome, pair_versions, render_text, transitions
from engine.core.model import Period
from engine.tools.samples import documents

from conftest import RULESETS, binding, payment

CHUZHOU = "cities/341100-chuzhou.yaml"
NATIONAL = "national.yaml"
ANHUI = "provinces/340000-anhui.yaml"
LIMIT_6 = "  - id: max_beneficiaries\n    overrides: national\n    value: 6\n"


# ----------------------------------------------------------------------------- helpers


def copy_rulesets(where: Path, name: str = "new") -> Path:
    target = where / name
    shutil.copytree(RULESETS, target)
    return target


def edit(root: Path, rel: str, old: str, new: str) -> None:
    """Replace ``old`` (which must occur exactly once) by ``new`` in ``root/rel``."""
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {rel}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def run(*args: Any) -> tuple[int, str, str]:
    """``gongji ARGS`` in-process (usable from module-scoped fixtures, unlike ``run_cli``)."""
    out, err = io.StringIO(), io.StringIO()
    code = cli_main([str(a) for a in args], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def diff_json(*args: Any) -> dict[str, Any]:
    code, out, err = run("diff", *args, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def city(report: dict[str, Any], code: str) -> dict[str, Any]:
    return next(c for c in report["cities"] if c["city"] == code)


def changed_cities(report: dict[str, Any]) -> list[str]:
    return [c["city"] for c in report["cities"] if c["status"] != "unchanged"]


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    """One line per item: dicts as JSON, strings written as they are (for corrupt lines)."""
    path.write_text("".join((item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)) + "\n"
                            for item in lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def limit5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Chuzhou's max_beneficiaries 6 -> 5, nothing else."""
    root = copy_rulesets(tmp_path_factory.mktemp("limit5"))
    edit(root, CHUZHOU, LIMIT_6, LIMIT_6.replace("value: 6", "value: 5"))
    return root


@pytest.fixture(scope="module")
def limit5_report(limit5: Path) -> dict[str, Any]:
    return diff_json(RULESETS, limit5)


# ----------------------------------------------------------------------------- structural diff


def test_identical_copy_reports_no_change(tmp_path: Path) -> None:
    copy = copy_rulesets(tmp_path)
    report = diff_json(RULESETS, copy)
    assert report["format"] == "gongji.diff/1"
    assert report["files"] == {"added": [], "removed": [], "text_changed": []}
    assert changed_cities(report) == []
    assert report["summary"]["semantic_change"] is False
    assert "replay" not in report
    out = render_text(report)
    assert "files: none added, removed or edited" in out
    assert "summary: no change in what applies to any of the 4 cities" in out
    assert out.count(": no change\n") == 4


def test_moving_and_reformatting_is_no_semantic_change(tmp_path: Path) -> None:
    root = copy_rulesets(tmp_path)
    path = root / NATIONAL
    text = path.read_text(encoding="utf-8")
    start = text.index("  - id: member_limit\n")
    end = text.index("\n  - id: ", start + 1) + 1
    block = text[start:end]
    text = text[:start] + text[end:]  # move the rule to the end of the rules list ...
    block = block.replace("when: {fact: bound_members, lt: {param: max_beneficiaries}}",  # ... in block style
                          "when:\n      fact: bound_members\n      lt:\n        param: max_beneficiaries")
    path.write_text(text.rstrip("\n") + "\n\n" + block, encoding="utf-8")
    edit(root, CHUZHOU, LIMIT_6, "  - id: max_beneficiaries\n    value: 6\n    overrides: national\n")
    report = diff_json(RULESETS, root)
    assert report["files"]["text_changed"] == [CHUZHOU, NATIONAL]
    assert changed_cities(report) == []
    assert report["summary"]["semantic_change"] is False


def test_parameter_value_change(limit5_report: dict[str, Any]) -> None:
    report = limit5_report
    assert report["files"] == {"added": [], "removed": [], "text_changed": [CHUZHOU]}
    assert changed_cities(report) == ["341100"]
    chuzhou = city(report, "341100")
    assert chuzhou["switches"] == [] and chuzhou["rules"] == [] and chuzhou["fields"] == {}
    assert chuzhou["parameters"] == [{
        "id": "max_beneficiaries", "change": "changed", "fields": {},
        "versions": [{"change": "changed", "period": {"from": None, "to": None}, "variant": {},
                      "fields": ["value"], "old": 6, "new": 5, "details": []}]}]
    assert chuzhou["periods"] == [{"period": {"from": None, "to": None}, "changes": [
        {"kind": "parameter", "id": "max_beneficiaries", "change": "value", "old": 6, "new": 5}]}]
    assert report["summary"]["items"]["parameters"] == {"added": 0, "removed": 0, "changed": 1}
    assert report["summary"]["changed"] == ["341100"]


def test_parameter_value_change_text(limit5: Path, run_cli: Any) -> None:
    code, out, _ = run_cli("diff", RULESETS, limit5)
    assert code == 0
    assert "files edited: cities/341100-chuzhou.yaml" in out
    assert "341100 滁州市 Chuzhou: changed" in out
    assert "  parameter max_beneficiaries: changed\n    ~ all dates [all switch options]: value 6 -> 5\n" in out
    assert "      parameter max_beneficiaries 6 -> 5" in out
    assert "130600 保定市 Baoding: no change" in out
    assert "summary: 1 changed of 4 cities" in out


def test_added_rule_and_dated_parameter_versions(tmp_path: Path) -> None:
    root = copy_rulesets(tmp_path)
    (root / CHUZHOU).write_text((root / CHUZHOU).read_text(encoding="utf-8") + """
rules:
  - id: chuzhou_no_cosmetic
    title: {zh: 美容不共济, en: No cosmetic sharing}
    applies_to: [payment]
    from: "2025-06-01"
    source: {document: 000_b1a913a873027671.txt, quote: "共济对象:职工及其配偶、父母、子女"}
    when: {fact: expense.category, ne: cosmetic}
    then: {outcome: pass, code: not_cosmetic, message: {zh: 非美容, en: not cosmetic}}
    else: {outcome: fail, code: cosmetic_refused, message: {zh: 美容不可共济, en: cosmetic may not be shared}}
""", encoding="utf-8")
    edit(root, ANHUI, '      - to: "2024-12-08"\n        variant: {scope_widening: official}',
         '      - to: "2024-12-31"\n        variant: {scope_widening: official}')
    edit(root, ANHUI, '      - from: "2024-12-09"\n        variant: {scope_widening: official}',
         '      - from: "2025-01-01"\n        variant: {scope_widening: official}')
    report = diff_json(RULESETS, root)
    assert changed_cities(report) == ["341100"]
    chuzhou = city(report, "341100")
    [rule] = chuzhou["rules"]
    assert rule["id"] == "chuzhou_no_cosmetic" and rule["change"] == "added" and rule["origin"] == "341100"
    assert rule["applies_to"] == ["payment"]
    assert rule["versions"] == [{"change": "added", "period": {"from": "2025-06-01", "to": None}, "variant": {},
                                 "details": ['case 1: when expense.category ≠ "cosmetic" -> pass not_cosmetic',
                                             "else -> fail cosmetic_refused"]}]
    [param] = chuzhou["parameters"]
    assert param["id"] == "relationship_scope"
    assert [(v["change"], v["old_period"], v["period"], v["fields"]) for v in param["versions"]] == [
        ("changed", {"from": None, "to": "2024-12-08"}, {"from": None, "to": "2024-12-31"}, ["dates"]),
        ("changed", {"from": "2024-12-09", "to": None}, {"from": "2025-01-01", "to": None}, ["dates"])]
    assert all(v["variant"] == {"scope_widening": "official"} for v in param["versions"])
    near = ["spouse", "parent", "child", "sibling", "grandparent", "grandchild"]
    assert chuzhou["periods"] == [
        {"period": {"from": "2024-12-09", "to": "2024-12-31"}, "changes": [
            {"kind": "parameter", "id": "relationship_scope", "change": "value", "old": near,
             "new": ["spouse", "parent", "child"]}]},
        {"period": {"from": "2025-06-01", "to": None}, "changes": [
            {"kind": "rule", "id": "chuzhou_no_cosmetic", "change": "added"}]}]
    assert report["summary"]["items"]["rules"] == {"added": 1, "removed": 0, "changed": 0}


def test_national_rule_change_reaches_every_city(tmp_path: Path) -> None:
    root = copy_rulesets(tmp_path)
    edit(root, NATIONAL, "when: {fact: bound_members, lt: {param: max_beneficiaries}}",
         "when: {fact: bound_members, le: {param: max_beneficiaries}}")
    edit(root, NATIONAL, "      code: member_limit_reached\n", "      code: member_limit_exceeded\n")
    report = diff_json(RULESETS, root)
    assert changed_cities(report) == ["130600", "140100", "341100", "360900"]
    for code in changed_cities(report):
        [rule] = city(report, code)["rules"]
        assert rule["id"] == "member_limit" and rule["fields"] == {}
        [version] = rule["versions"]
        assert version["fields"] == ["conditions", "actions"]
        assert version["details"] == [
            "case 1.when: bound_members < param.max_beneficiaries -> bound_members ≤ param.max_beneficiaries",
            "else.code: member_limit_reached -> member_limit_exceeded"]
        assert city(report, code)["periods"] == [{"period": {"from": None, "to": None}, "changes": [
            {"kind": "rule", "id": "member_limit", "change": "changed"}]}]
    out = render_text(report)
    assert "  rule member_limit: changed\n    ~ all dates [all switch options]: conditions, actions changed\n" in out
    assert "      else.code: member_limit_reached -> member_limit_exceeded\n" in out


def test_switches_origin_and_sources(tmp_path: Path) -> None:
    root = copy_rulesets(tmp_path)
    edit(root, NATIONAL, "    default: civil_code\n", "    default: in_law_snippet\n")
    edit(root, CHUZHOU, "switches:\n", """switches:
  - id: chuzhou_reading
    title: {zh: 测试开关, en: Test switch}
    default: a
    options:
      a:
        description: {zh: 甲, en: A}
        source: {document: 000_b1a913a873027671.txt, quote: "共济对象:职工及其配偶、父母、子女"}
      b:
        description: {zh: 乙, en: B}
        source: {document: 000_b1a913a873027671.txt, quote: "共济对象:职工及其配偶、父母、子女"}
""")
    source = '    source: {document: 000_b1a913a873027671.txt, quote: "同一个家庭账户最多能绑定7人,包括授权人本人"}\n'
    edit(root, CHUZHOU, LIMIT_6 + source, "")  # Chuzhou now inherits the national 6
    report = diff_json(RULESETS, root)
    assert changed_cities(report) == ["130600", "140100", "341100", "360900"]
    chuzhou = city(report, "341100")
    assert chuzhou["switches"] == [
        {"id": "chuzhou_reading", "change": "added", "default": "a", "options": ["a", "b"], "origin": "341100"},
        {"id": "near_relative_reading", "change": "changed",
         "fields": {"default": {"old": "civil_code", "new": "in_law_snippet"}}}]
    [limit] = [p for p in chuzhou["parameters"] if p["id"] == "max_beneficiaries"]
    assert limit["fields"] == {"origin": {"old": "341100", "new": "national"}}
    [version] = limit["versions"]
    assert version["fields"] == ["sources"] and "old" not in version  # the value stays 6
    assert version["details"][0] == "sources: - 000_b1a913a873027671.txt «同一个家庭账户最多能绑定7人,包括授权人本人»"
    assert version["details"][1].startswith("sources: + 002_1979e341b644880d.txt")
    # under the new default the near-relative scope is the in-law snippet's, from the widening on
    changes = [c for period in chuzhou["periods"] for c in period["changes"]]
    assert {"kind": "parameter", "id": "near_relatives", "change": "value",
            "old": ["spouse", "parent", "child", "sibling", "grandparent", "grandchild"],
            "new": ["spouse", "child", "parent", "parent_in_law"]} in changes
    assert {"kind": "parameter", "id": "max_beneficiaries", "change": "sources", "old": 6, "new": 6} in changes
    assert [s["id"] for s in city(report, "130600")["switches"]] == ["near_relative_reading"]


def test_files_and_cities_added_and_removed(tmp_path: Path) -> None:
    root = copy_rulesets(tmp_path)
    (root / "cities/130600-baoding.yaml").unlink()
    (root / "sources/005_extra.txt").write_text("一个新的来源。\n", encoding="utf-8")
    report = diff_json(RULESETS, root)
    assert report["files"] == {"added": ["sources/005_extra.txt"], "removed": ["cities/130600-baoding.yaml"],
                               "text_changed": []}
    baoding = city(report, "130600")
    assert baoding["status"] == "removed" and set(baoding["counts"]) == {"rules", "parameters", "switches"}
    assert report["summary"]["removed"] == ["130600"] and report["summary"]["changed"] == []
    reverse = diff_json(root, RULESETS)
    assert city(reverse, "130600")["status"] == "added"
    assert reverse["files"]["added"] == ["cities/130600-baoding.yaml"]
    out = render_text(reverse)
    assert "130600 保定市 Baoding: city added (" in out
    assert "files removed: sources/005_extra.txt" in out


# ----------------------------------------------------------------------------- replay


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 Chuzhou bindings with 5 members bound, 3 with 2, 2 with 6, and 2 payments (10 lines + 1 blank)."""
    lines: list[Any] = [binding(bound_members=n) for n in (5, 2, 5, 2, 6, 5, 2, 6, 5)]
    lines += [payment(), payment(relationship="sibling", as_of="2023-05-01")]
    path = write_jsonl(tmp_path_factory.mktemp("corpus") / "corpus.jsonl", lines)
    path.write_text(path.read_text(encoding="utf-8").replace("\n", "\n\n", 1), encoding="utf-8")  # line 2 blank
    return path


FLIP = "eligible -> not eligible; passes -> member_limit_reached"


def test_replay_jsonl_counts_flips(limit5: Path, corpus: Path) -> None:
    replay = diff_json(RULESETS, limit5, "--replay", corpus)["replay"]
    assert replay["lines"] == 11 and replay["fact_documents"] == 11 and replay["log_lines"] == 0
    assert (replay["replayed"], replay["changed"], replay["unchanged"]) == (11, 4, 7)
    assert replay["invalid"] == 0 and replay["unreadable"] == 0 and replay["problems"] == []
    # the 5-member bindings flip; the 2- and 6-member ones only change the limit in their messages
    assert replay["unchanged_with_other_differences"] == 5
    assert replay["cities"] == [{"city": "341100", "name": {"zh": "滁州市", "en": "Chuzhou"}, "replayed": 11,
                                 "changed": 4, "unchanged_with_other_differences": 5}]
    [group] = replay["groups"]
    assert group["city"] == "341100" and group["change"] == FLIP and group["count"] == 4
    assert group["eligible"] == "eligible -> not eligible" and group["reasons"] == ["passes -> member_limit_reached"]
    assert group["plan"] == []
    assert [e["line"] for e in group["examples"]] == [1, 4, 7]  # line 2 is blank: numbers are file lines
    assert group["examples"][0]["old"] == {"eligible": True, "fail": []}
    assert group["examples"][0]["new"] == {"eligible": False, "fail": ["member_limit_reached"]}


def test_replay_text_and_examples_option(limit5: Path, corpus: Path, run_cli: Any) -> None:
    code, out, err = run_cli("diff", RULESETS, limit5, "--replay", corpus, "--examples", "1")
    assert code == 0 and err == ""  # a short run prints no progress
    assert f"replay of {corpus}: 11 line(s) (11 fact documents, 0 decision-log lines)" in out
    assert "  11 replayed: 4 changed, 7 unchanged (5 with other differences in their reasons); 0 invalid" in out
    assert (f"    341100 滁州市 Chuzhou: {FLIP}: 4\n"
            "      line 1: eligible -> not eligible [member_limit_reached]\n") in out
    assert "line 4:" not in out


def test_replay_decision_log(limit5: Path, corpus: Path, tmp_path: Path, run_cli: Any) -> None:
    log = tmp_path / "decisions.log"
    code, _, err = run_cli("decide", corpus, "--log", log, "--rulesets", RULESETS)
    assert code == 0, err
    replay = diff_json(RULESETS, limit5, "--replay", log)["replay"]
    assert replay["log_lines"] == 11 and replay["fact_documents"] == 0
    assert (replay["replayed"], replay["changed"]) == (11, 4)
    assert replay["log_lines_differing_from_old"] == {"count": 0, "first_lines": []}
    [group] = replay["groups"]
    assert group["change"] == FLIP and [e["line"] for e in group["examples"]] == [1, 3, 6]  # the log has no blank
    # replayed with the edited rules as OLD, the log (written by the original rules) disagrees on the flips
    again = diff_json(limit5, limit5, "--replay", log)
    assert again["replay"]["changed"] == 0
    assert again["replay"]["log_lines_differing_from_old"] == {"count": 4, "first_lines": [1, 3, 6]}
    out = render_text(again)
    assert "note: 4 logged decision(s) differ from OLD's own decision (first on lines 1, 3, 6)" in out


def test_replay_payment_plan_changes(tmp_path: Path) -> None:
    root = copy_rulesets(tmp_path)
    edit(root, CHUZHOU, "        value: {1: 60, 2: 55, 3: 50}", "        value: {1: 70, 2: 55, 3: 50}")
    level2 = payment()
    level2["expense"] = dict(level2["expense"], hospital_level=2)
    corpus = write_jsonl(tmp_path / "payments.jsonl", [payment(), level2, payment()])
    report = diff_json(RULESETS, root, "--replay", corpus)
    [param] = city(report, "341100")["parameters"]
    assert param["versions"][0]["old"] == {"1": "60%", "2": "55%", "3": "50%"}
    assert param["versions"][0]["new"] == {"1": "70%", "2": "55%", "3": "50%"}
    replay = report["replay"]
    assert (replay["changed"], replay["unchanged"]) == (2, 1)
    [group] = replay["groups"]
    assert group["change"] == "plan.pooling_fund changed; plan.authorizer_account changed"
    assert group["eligible"] is None and group["reasons"] == []
    assert group["plan"] == ["pooling_fund", "authorizer_account"]
    example = group["examples"][0]
    assert example["old"]["plan"]["pooling_fund"] == "120.00" and example["new"]["plan"]["pooling_fund"] == "140.00"
    assert example["old"]["plan"]["authorizer_account"] == "830.00"
    assert example["new"]["plan"]["authorizer_account"] == "810.00"
    text = render_text(report)
    assert ("line 1: eligible -> eligible; plan pooling_fund 120.00 -> 140.00, "
            "authorizer_account 830.00 -> 810.00") in text


def test_replay_code_renamed_and_city_removed(tmp_path: Path) -> None:
    root = copy_rulesets(tmp_path)
    edit(root, NATIONAL, "      code: member_limit_reached\n", "      code: member_limit_exceeded\n")
    (root / "cities/130600-baoding.yaml").unlink()
    baoding = list(documents(3, "binding", seed=7, city="130600"))
    corpus = write_jsonl(tmp_path / "mixed.jsonl", [binding(bound_members=6), *baoding, binding()])
    replay = diff_json(RULESETS, root, "--replay", corpus)["replay"]
    groups = {(g["city"], g["change"]): g["count"] for g in replay["groups"]}
    assert groups == {("130600", "decided -> invalid (unknown_city)"): 3,
                      ("341100", "member_limit_reached -> member_limit_exceeded"): 1}
    assert (replay["replayed"], replay["changed"], replay["unchanged"]) == (5, 4, 1)
    [removed] = [g for g in replay["groups"] if g["city"] == "130600"]
    assert removed["examples"][0]["new"] == {"invalid": ["unknown_city"]}


def test_replay_corrupt_and_invalid_lines_are_reported(limit5: Path, tmp_path: Path, run_cli: Any) -> None:
    lines: list[Any] = [binding(bound_members=5), "{not json", binding(relationship="cousin"),
                        '{"format": "gongji.decision-log/1", "decision_id": "x"}', "[1, 2", binding(bound_members=5)]
    corpus = write_jsonl(tmp_path / "bad.jsonl", lines)
    code, out, err = run_cli("diff", RULESETS, limit5, "--replay", corpus, "--format", "json")
    assert code == 0, err
    replay = json.loads(out)["replay"]
    assert (replay["lines"], replay["replayed"], replay["changed"]) == (6, 2, 2)
    assert (replay["invalid"], replay["unreadable"]) == (1, 3)
    assert [(p["line"], p["code"]) for p in replay["problems"]] == [
        (2, "corrupt_line"), (3, "invalid_document"), (4, "corrupt_log_line"), (5, "corrupt_line")]
    assert "/relationship" in replay["problems"][1]["message"]
    assert [e["line"] for e in replay["groups"][0]["examples"]] == [1, 6]
    text = render_text(json.loads(out))
    assert f"    {corpus}:2: corrupt_line: not JSON:" in text
    assert f"    {corpus}:3: invalid_document: invalid fact document: /relationship:" in text


def test_replay_progress_on_stderr(limit5: Path, corpus: Path, run_cli: Any) -> None:
    code, _, err = run_cli("diff", RULESETS, limit5, "--replay", corpus, "--progress-every", "4")
    assert code == 0
    assert err.splitlines() == ["gongji diff: replayed 4 lines (2 changed)",
                                "gongji diff: replayed 8 lines (3 changed)",
                                "gongji diff: replay done, 11 lines (4 changed)"]
    assert run_cli("diff", RULESETS, limit5, "--replay", corpus, "--progress-every", "0")[2] == ""


def test_json_output_is_deterministic(limit5: Path, corpus: Path) -> None:
    first = run("diff", RULESETS, limit5, "--replay", corpus, "--format", "json")
    second = run("diff", RULESETS, limit5, "--replay", corpus, "--format", "json")
    assert first == second
    report = json.loads(first[1])
    assert list(report) == ["format", "old", "new", "files", "cities", "summary", "replay"]


def test_larger_generated_corpus(limit5: Path, tmp_path: Path) -> None:
    docs = list(documents(400, "binding", seed=11, city="341100"))
    corpus = write_jsonl(tmp_path / "generated.jsonl", docs)
    replay = diff_json(RULESETS, limit5, "--replay", corpus)["replay"]
    # 5 members bound passed the limit of 6 and fail the limit of 5, whatever else fails
    expected = sum(1 for doc in docs if doc["bound_members"] == 5)
    assert replay["changed"] == expected > 0
    assert replay["replayed"] == len(docs) and replay["invalid"] == 0
    assert {g["reasons"][0] for g in replay["groups"]} == {"passes -> member_limit_reached"}
    assert sum(g["count"] for g in replay["groups"]) == expected
    assert all(len(g["examples"]) <= 3 for g in replay["groups"])


def test_removed_rule_and_changed_dates(tmp_path: Path) -> None:
    root = copy_rulesets(tmp_path)
    taiyuan = "cities/140100-taiyuan.yaml"
    text = (root / taiyuan).read_text(encoding="utf-8")
    start = text.index("  - id: beneficiary_payment_status\n")
    end = text.index("  - id: employee_pooling_not_computed\n")
    text = text[:start] + text[end:]
    cited = '    source: {document: 001_b7f52e36b1dd2f22.txt, quote: "在职职工'
    text = text.replace(f"    applies_to: [payment]\n{cited}", f'    applies_to: [payment]\n    to: "2024-12-31"\n{cited}')
    (root / taiyuan).write_text(text, encoding="utf-8")
    docs = list(documents(300, "payment", seed=5, city="140100"))
    corpus = write_jsonl(tmp_path / "taiyuan.jsonl", docs)
    report = diff_json(RULESETS, root, "--replay", corpus)
    assert changed_cities(report) == ["140100"]
    rules = {r["id"]: r for r in city(report, "140100")["rules"]}
    removed = rules["beneficiary_payment_status"]
    assert removed["change"] == "removed" and removed["origin"] == "140100"
    assert removed["versions"][0]["details"] == [
        'case 1: when beneficiary.status not in ["suspended", "arrears"] -> pass beneficiary_may_use_shared_account',
        "else -> fail beneficiary_suspended_or_in_arrears"]
    [dated] = rules["employee_pooling_not_computed"]["versions"]
    assert dated["fields"] == ["dates"] and dated["period"] == {"from": None, "to": "2024-12-31"}
    assert dated["old_period"] == {"from": None, "to": None}
    periods = city(report, "140100")["periods"]
    assert periods[0]["changes"] == [{"kind": "rule", "id": "beneficiary_payment_status", "change": "removed"}]
    assert periods[-1]["period"]["from"] == "2025-01-01"
    assert {"kind": "rule", "id": "employee_pooling_not_computed", "change": "removed"} in periods[-1]["changes"]
    replay = report["replay"]
    freed = sum(g["count"] for g in replay["groups"] if "beneficiary_suspended_or_in_arrears -> passes" in g["reasons"])
    assert freed == sum(1 for d in docs if d["beneficiary"]["status"] in ("suspended", "arrears")) > 0


# ----------------------------------------------------------------------------- failure paths


def test_missing_directory(tmp_path: Path, run_cli: Any) -> None:
    code, out, err = run_cli("diff", tmp_path / "nope", RULESETS)
    assert code == 1 and out == ""
    assert "file_not_found: no such rulesets directory" in err
    assert f"OLD {tmp_path / 'nope'}: does not load (1 error(s))" in err


def test_invalid_new_directory(tmp_path: Path, run_cli: Any) -> None:
    root = copy_rulesets(tmp_path)
    edit(root, CHUZHOU, LIMIT_6, LIMIT_6.replace("value: 6", "value: six"))
    code, out, err = run_cli("diff", RULESETS, root)
    assert code == 1 and out == ""
    assert "341100-chuzhou.yaml" in err and "invalid_parameter_value" in err
    assert f"NEW {root}: does not load" in err
    assert "OLD" not in err


def test_unreadable_replay_file(limit5: Path, tmp_path: Path, run_cli: Any) -> None:
    code, out, err = run_cli("diff", RULESETS, limit5, "--replay", tmp_path / "missing.jsonl")
    assert code == 1 and out == ""
    assert "file_not_found: cannot read the replay file" in err


@pytest.mark.parametrize("args", [("--format", "yaml"), ("--examples", "-1"), ("--progress-every", "x"), ()])
def test_usage_errors(args: tuple[str, ...], run_cli: Any) -> None:
    argv = ("diff", RULESETS, RULESETS, *args) if args else ("diff", RULESETS)
    code, out, err = run_cli(*argv)
    assert code == 2 and out == ""
    assert "usage:" in err


# ----------------------------------------------------------------------------- pure helpers


def test_transitions_pair_codes_by_rule() -> None:
    old = Outcome("341100", False, (("r.limit", "limit_reached"), ("r.scope", "out_of_scope")), None, [])
    new = Outcome("341100", False, (("r.limit", "limit_exceeded"), ("r.status", "suspended")), None, [])
    assert transitions(old, new) == ["limit_reached -> limit_exceeded", "out_of_scope -> passes",
                                     "passes -> suspended"]
    assert transitions(old, old) == []


def test_pair_versions_prefers_identical_then_dates() -> None:
    def version(start: int | None, end: int | None, value: str, variant: tuple[tuple[str, str], ...] = ()
                ) -> tuple[Period, tuple[tuple[str, str], ...], str]:
        return (Period(start, end), variant, value)

    old = [version(None, 20241208, "narrow"), version(20241209, None, "near"), version(None, None, "x", (("s", "a"),))]
    new = [version(20250101, None, "near"), version(None, 20241231, "narrow"), version(None, None, "y", (("s", "b"),))]
    pairs = pair_versions(old, new, lambda v: v[0], lambda v: v[1], lambda a, b: a[2] == b[2])
    assert pairs == [(old[0], new[1]), (old[2], None), (None, new[2]), (old[1], new[0])]


class _FakeDecision:
    def __init__(self, data: dict[str, Any]):
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        return self.data


class _FakeEngine:
    """Decides every document the same way, or fails the way an engine bug would."""

    def __init__(self, decision: dict[str, Any] | None, code: str = "action_failed"):
        self.decision = decision
        self.code = code

    def normalize(self, document: Any) -> Any:
        return document

    def decide_facts(self, facts: Any) -> _FakeDecision:
        from engine.core.errors import EvaluationError, Issue

        if self.decision is None:
            raise EvaluationError([Issue(self.code, "boom")])
        return _FakeDecision(self.decision)


def test_replay_reports_engine_failures_apart_from_invalid_documents(tmp_path: Path) -> None:
    from engine.tools.diff import Replay

    corpus = write_jsonl(tmp_path / "two.jsonl", [binding(), binding()])
    decided = {"city": "341100", "eligible": True, "reasons": []}
    replay = Replay(_FakeEngine(decided), _FakeEngine(None), str(corpus)).run()
    report = replay.report({})
    assert [(g["change"], g["count"]) for g in report["groups"]] == [("decided -> error (action_failed)", 2)]
    assert report["groups"][0]["examples"][0]["new"] == {"error": ["action_failed"]}
    both = Replay(_FakeEngine(None), _FakeEngine(None), str(corpus)).run().report({})
    assert both["invalid"] == 2 and both["changed"] == 0
    assert [(p["line"], p["code"], p["message"]) for p in both["problems"]] == [
        (1, "decision_failed", "evaluation_error: boom"), (2, "decision_failed", "evaluation_error: boom")]
    differently = Replay(_FakeEngine(None), _FakeEngine(None, "inputs_missing"), str(corpus)).run().report({})
    assert differently["invalid"] == 0 and differently["changed"] == 2  # a new way of failing is a change
    assert [g["change"] for g in differently["groups"]] == ["error (action_failed) -> error (inputs_missing)"]


def test_replay_normalizes_each_document_once_for_both_versions(tmp_path: Path) -> None:
    from engine.tools.diff import Replay

    class Counting(_FakeEngine):
        normalized = 0

        def normalize(self, document: Any) -> Any:
            Counting.normalized += 1
            return document

    corpus = write_jsonl(tmp_path / "two.jsonl", [binding(), binding()])
    decided = {"city": "341100", "eligible": True, "reasons": []}
    report = Replay(Counting(decided), Counting(decided), str(corpus)).run().report({})
    assert report["unchanged"] == 2 and Counting.normalized == 2
