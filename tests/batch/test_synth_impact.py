"""gongji synth (valid, reproducible, realistic mixes) and gongji impact (changes, money, HTML)."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from engine import Engine
from engine.batch.impact import flows
from engine.batch.synth import CITY_COUNTIES, OTHER_PROVINCES, SAME_PROVINCE, population
from engine.core.regions import region_problem

from .support import RULESETS



def test_synth_is_valid_reproducible_and_covers_the_timeline(plain_engine: Engine) -> None:
    documents = list(population(plain_engine, 1500, seed=11))
    assert documents == list(population(plain_engine, 1500, seed=11))
    assert documents != list(population(plain_engine, 1500, seed=12))
    for document in documents:
        plain_engine.normalize(document)  # raises FactError on an invalid document
    known = {code for codes in (*CITY_COUNTIES.values(), *SAME_PROVINCE.values(), OTHER_PROVINCES) for code in codes}
    for document in documents:
        for role in ("authorizer", "beneficiary"):
            assert region_problem(document[role]["region"]) is None and document[role]["region"] in known
    cities = Counter(plain_engine.normalize(d).city for d in documents)
    assert set(cities) == set(plain_engine.cities) and cities["130600"] > cities["341100"]  # weighted by population
    mix = Counter(d["relationship"] for d in documents)
    assert mix["spouse"] > mix["sibling"] > 0 and len(mix) == 9
    assert len(Counter(d["expense"]["category"] for d in documents if "expense" in d)) == 11
    assert {d["beneficiary"]["insurance"] for d in documents} == {"employee", "resident", "none"}
    for code, city in plain_engine.cities.items():  # every effective period of every city is drawn from
        starts, periods = city.periods(city.switch_assignment())
        days = [plain_engine.normalize(d).as_of for d in documents if plain_engine.normalize(d).city == code]
        hit = {i for i, period in enumerate(periods) for day in days if period.contains(day)}
        assert len(hit) == len(periods), (code, len(hit), len(periods))


def test_synth_cli(batch_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = batch_cli("synth", "--n", 50, "--out", tmp_path / "p.csv", "--seed", 3)
    assert code == 0 and "50 synthetic fact documents" in out
    header = (tmp_path / "p.csv").read_text().splitlines()[0]
    assert header.startswith("request,as_of,city,relationship,bound_members,authorizer.id")


def test_flows_balance() -> None:
    before = [Decimal("10.00"), Decimal("5.00"), Decimal("20.00"), Decimal("0.00")]
    after = [Decimal("10.00"), Decimal("0.00"), Decimal("12.00"), Decimal("13.00")]
    assert flows(before, after) == [("beneficiary_account", "cash", Decimal("5.00")),
                                    ("authorizer_account", "cash", Decimal("8.00"))]


@pytest.fixture(scope="module")
def old_rulesets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped rulesets before two edits: Chuzhou allowed 4 members, Taiyuan's reserve was 500.00."""
    old = tmp_path_factory.mktemp("old") / "rulesets"
    shutil.copytree(RULESETS, old)
    for name, before, after in (("341100-chuzhou", "overrides: national\n    value: 6", "overrides: national\n    value: 4"),
                                ("140100-taiyuan", 'value: "1000.00"', 'value: "500.00"')):
        path = old / "cities" / f"{name}.yaml"
        text = path.read_text(encoding="utf-8")
        assert text.count(before) == 1, name
        path.write_text(text.replace(before, after), encoding="utf-8")
    return old


def test_impact_report(batch_cli, old_rulesets: Path, population_dir: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                       plain_engine: Engine) -> None:
    html, report_json = tmp_path / "impact.html", tmp_path / "impact.json"
    pop = population_dir / "pop.jsonl"
    code, out, err = batch_cli("impact", old_rulesets, RULESETS, "--population", pop, "--html", html,
                               "--json", report_json, "--workers", 2, "--chunk-size", 64, "--progress", "none")
    assert code == 0, err
    report = json.loads(report_json.read_text(encoding="utf-8"))
    by_city = {row["key"]: row for row in report["by_city"]}
    assert by_city["341100"]["became eligible"] > 0 and by_city["130600"]["changed"] == 0
    assert by_city["140100"]["payment plan changed"] > 0
    assert {"reason": "member_limit_reached no longer fails", "rows": by_city["341100"]["changed"]} in report["by_reason"]
    # Money is exact: the new totals are the sums of the new decisions' plans, computed independently.
    old_engine = Engine.load(old_rulesets)
    for name, engine in (("old", old_engine), ("new", plain_engine)):
        sums: Counter[str] = Counter()
        for line in pop.read_text(encoding="utf-8").splitlines():
            decision = engine.decide(json.loads(line))
            for item in (decision.payment or {"plan": []})["plan"]:
                sums[item["source"]] += Decimal(item["amount"])
        assert {s: Decimal(v[name]) for s, v in report["money_yuan"].items()} == {
            s: sums[s] for s in report["money_yuan"]}
    changes = [Decimal(v["change"]) for v in report["money_yuan"].values()]
    assert sum(changes) == 0 and changes != [0, 0, 0, 0]  # money moved between sources, none appeared
    moved = sum(Decimal(m["amount"]) for m in report["money_moved_yuan"])
    assert moved == sum(c for c in changes if c > 0)
    page = html.read_text(encoding="utf-8")
    assert page.count("<svg") >= 5 and "<script" not in page
    assert not re.search(r"(src|href)=\"https?:", page)  # self-contained
    assert "滁州市" in page and "¥" in page and "member_limit_reached no longer fails" in page
    assert "changed" in out
