"""The README's analyst guide, done as a user would, on a copy of the shipped rulesets.

Chuzhou announces that from 2026-07-01 an authorizer may bind at most 4 relatives.  The analyst
gives ``max_beneficiaries`` a dated version citing the notice, puts the notice in
``rulesets/sources/``, adds the two test cases the README shows, and runs the gates.  Every gate
must pass on the edited copy — the gates are what ``make test`` runs over ``rulesets/`` — and the
edit must really change decisions from that day on, and only from that day.
"""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine import Engine
from engine.cli import main as cli_main

from tests.conftest import ROOT, SHIPPED, binding

CHUZHOU = Path("cities/341100-chuzhou.yaml")
CHUZHOU_TESTS = Path("cities/341100-chuzhou.test.yaml")
NOTICE = "notice-2026.txt"
NOTICE_TEXT = "自2026年7月1日起，每名授权人最多可绑定4名家庭成员。\n"
NEW_LIMIT, FROM, DAY_BEFORE = 4, "2026-07-01", "2026-06-30"


def gongji(*args: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli_main([str(a) for a in args], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def date_limit(version: dict[str, Any]) -> dict[str, Any]:
    """The version closed the day before the change (a version still open-ended gets ``to``)."""
    return dict(version, to=DAY_BEFORE) if version.get("to") is None else version


def edit_max_beneficiaries(ruleset: dict[str, Any]) -> None:
    """README step 1: the parameter's versions end the day before; a new one starts on the day."""
    parameter = next(p for p in ruleset["parameters"] if p["id"] == "max_beneficiaries")
    if "versions" not in parameter:  # a single undated value becomes one version, as the README shows
        single = {key: parameter.pop(key) for key in ("value", "source", "note") if key in parameter}
        parameter["versions"] = [single]
    parameter["versions"] = [date_limit(v) for v in parameter["versions"]]
    parameter["versions"].append({"from": FROM, "value": NEW_LIMIT,
                                  "source": {"document": NOTICE, "quote": NOTICE_TEXT.strip().rstrip("。")}})


@pytest.fixture(scope="module")
def edited(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("analyst") / "rulesets"
    shutil.copytree(SHIPPED, root)
    path = root / CHUZHOU
    ruleset = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit_max_beneficiaries(ruleset)
    path.write_text(yaml.safe_dump(ruleset, allow_unicode=True, sort_keys=False), encoding="utf-8")
    (root / "sources" / NOTICE).write_text(NOTICE_TEXT, encoding="utf-8")
    tests_path = root / CHUZHOU_TESTS  # README step 3: the day before and the first day
    cases = yaml.safe_load(tests_path.read_text(encoding="utf-8"))
    cases["cases"] += [
        {"name": "four already bound the day before the new limit", "facts": {"as_of": DAY_BEFORE, "bound_members": 4},
         "expect": {"eligible": True, "codes": ["member_limit_ok"]}},
        {"name": "four already bound on the first day of the new limit", "facts": {"as_of": FROM, "bound_members": 4},
         "expect": {"eligible": False, "fail_codes": ["member_limit_reached"]}},
    ]
    tests_path.write_text(yaml.safe_dump(cases, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return root


def test_the_readme_shows_this_edit() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for needle in ("- id: max_beneficiaries", f'- from: "{FROM}"', f"value: {NEW_LIMIT}", NOTICE,
                   "gongji check rulesets/", "gongji test rulesets/", "gongji lint rulesets/ --strict"):
        assert needle in readme, needle


def test_check_passes(edited: Path) -> None:
    code, out, err = gongji("check", edited)
    assert code == 0, err
    assert out.startswith("ok:")


def test_policy_tests_pass_with_full_coverage(edited: Path) -> None:
    code, out, err = gongji("test", edited, "--min-coverage", "100")
    assert code == 0, out + err


def test_lint_is_clean(edited: Path) -> None:
    code, out, err = gongji("lint", edited, "--strict")
    assert code == 0, out + err


def test_the_edit_changes_decisions_from_its_day_only(edited: Path) -> None:
    before, after = Engine.load(SHIPPED), Engine.load(edited)
    for as_of, members, changed in ((DAY_BEFORE, 4, False), (FROM, 4, True), (FROM, 3, False)):
        document = binding(as_of=as_of, bound_members=members)
        old, new = before.decide(document), after.decide(document)
        assert (old.eligible != new.eligible) is changed, (as_of, members)
    assert "member_limit_reached" in after.decide(binding(as_of=FROM, bound_members=4)).fail_codes


def test_the_engine_tests_do_not_read_the_shipped_rulesets() -> None:
    """Engine unit tests use tests/fixtures/rulesets, so this edit in rulesets/ cannot break them."""
    shipped = re.compile(r'SHIPPED|ROOT\s*/\s*"rulesets"|parents\[\d\]\s*/\s*"rulesets"')
    offenders = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "tests" / "unit").glob("*.py"))
                 if shipped.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
