"""Issue 8: incomplete plans are flagged, citations belong to the decision, inferences are not citations."""

from __future__ import annotations

import json

import jsonschema

import pytest

from engine import Engine
from engine.core.validate import schema
from tests.conftest import payment

DECISION_SCHEMA = jsonschema.Draft202012Validator(schema("decision"))


@pytest.fixture(scope="module")
def engine(shipped_engine: Engine) -> Engine:
    """These are policy tests: the shipped rulesets, not the engine tests' frozen snapshot."""
    return shipped_engine

JURISDICTION_OF = {"000_b1a913a873027671.txt": "341100", "001_b7f52e36b1dd2f22.txt": "140100",
                   "003_9012a3a345cdc650.txt": "360900", "004_3d15a66d0f3012b2.txt": "130600"}


def _taiyuan_employee(**expense: object) -> dict:
    doc = payment(as_of="2025-03-01")
    doc["authorizer"] = dict(doc["authorizer"], id="A-1", region="140105", account_balance="3000.00")
    doc["beneficiary"] = dict(doc["beneficiary"], region="140105", insurance="employee", account_balance="0.00")
    doc["expense"] = dict(doc["expense"], amount="500.00", institution_region="140105", **expense)
    return doc


def _baoding_employee() -> dict:
    doc = _taiyuan_employee()
    doc["authorizer"] = dict(doc["authorizer"], region="130602")
    doc["beneficiary"] = dict(doc["beneficiary"], region="130602")
    doc["expense"] = dict(doc["expense"], institution_region="130602")
    return doc


def test_unmodelled_pooling_makes_the_plan_incomplete(engine: Engine) -> None:
    for doc in (_taiyuan_employee(), _baoding_employee()):
        decision = engine.decide(doc)
        pay = decision.to_dict()["payment"]
        assert pay["complete"] is False and pay["incomplete"] == ["employee_pooling_not_computed"]
        assert json.loads(decision.to_json())["payment"] == pay
        DECISION_SCHEMA.validate(decision.to_dict())
        assert "INCOMPLETE plan" in decision.explain("en") and "方案不完整" in decision.explain("zh")
    pay = engine.decide(payment()).to_dict()["payment"]  # Chuzhou employee pooling is computed
    assert pay["complete"] is True and pay["incomplete"] == []
    assert "INCOMPLETE" not in engine.decide(payment()).explain("en")
    broken = dict(engine.decide(payment()).to_dict())
    broken["payment"] = dict(broken["payment"], complete=False)  # false without a reason code
    assert not DECISION_SCHEMA.is_valid(broken)


def test_every_reason_cites_its_own_jurisdiction(engine: Engine) -> None:
    docs = {"341100": payment(), "140100": _taiyuan_employee(), "130600": _baoding_employee()}
    for city, doc in docs.items():
        decision = engine.decide(doc)
        own = {"national", city[:2] + "0000", city}
        data = decision.to_dict()
        cited = [r["source"] for r in data["reasons"] if r["source"]]
        cited += [p["source"] for p in data["parameters"].values() if "source" in p]
        for source in cited:
            assert JURISDICTION_OF.get(source["document"], "national") in own, (city, source)
        for lang in ("zh", "en"):
            for line in decision.explain(lang).splitlines():
                if line.strip().startswith(("依据：", "source:")):
                    document = line.split()[1] if lang == "en" else line.strip()[3:].split("「")[0]
                    assert JURISDICTION_OF.get(document, "national") in own, (city, line)
    assert "参加太原市" not in engine.decide(payment()).explain("zh")


def test_an_inference_is_shown_as_such_never_as_a_citation(engine: Engine) -> None:
    doc = _taiyuan_employee(category="resident_contribution")
    del doc["expense"]["hospital_level"]
    decision = engine.decide(doc)
    assert decision.eligible
    entry = decision.to_dict()["parameters"]["shareable_categories"]
    assert "resident_contribution" in entry["value"]
    (inference,) = entry["inferences"]
    assert "national 2021 rule" in inference["note"] and inference["document"] == "OFFICIAL_SOURCES.md"
    assert entry["source"]["document"] == "001_b7f52e36b1dd2f22.txt" and "note" not in entry["source"]
    text = decision.explain("en")
    assert "inference (not a citation): 001's list does not name contributions" in text
    assert "推断（非引文）" in decision.explain("zh")
    # A reason whose only backing is an inference has no source, only inferences.
    reason = next(r for r in decision.to_dict()["reasons"] if r["code"] == "authorizer_insured_here")
    assert reason["source"] is None and reason["inferences"][0]["document"] == "002_1979e341b644880d.txt"


def _citations(node: object) -> list[dict]:
    """Every citation mapping (document + quote) in a parsed ruleset file."""
    if isinstance(node, dict):
        found = [node] if "document" in node and "quote" in node else []
        return found + [c for value in node.values() for c in _citations(value)]
    if isinstance(node, list):
        return [c for value in node for c in _citations(value)]
    return []


def test_official_sources_summaries_are_never_cited_as_quotes() -> None:
    """OFFICIAL_SOURCES.md quotes official texts in Chinese and summarizes them in English: its
    English prose paraphrases a source, so citing it is an inference and must carry a note."""
    import re

    import yaml

    from tests.conftest import SHIPPED

    offenders = []
    for path in sorted(SHIPPED.rglob("*.yaml")):
        if path.name.endswith(".test.yaml"):
            continue
        for citation in _citations(yaml.safe_load(path.read_text(encoding="utf-8"))):
            if citation["document"] == "OFFICIAL_SOURCES.md" and not citation.get("note") \
                    and re.search(r"[A-Za-z]{3,} [A-Za-z]{2,}", citation["quote"]):
                offenders.append(f"{path.relative_to(SHIPPED)}: {citation['quote']}")
    assert offenders == []


@pytest.mark.parametrize(("authorizer", "beneficiary"), [("341102", "340102"), ("360902", "360102")])  # Anhui, Jiangxi
def test_in_province_sharing_cites_verbatim_and_marks_the_date_as_inferred(engine: Engine, authorizer: str,
                                                                          beneficiary: str) -> None:
    from tests.conftest import binding

    doc = binding(as_of="2024-11-01", relationship="child")
    doc["authorizer"] = dict(doc["authorizer"], region=authorizer)
    doc["beneficiary"] = dict(doc["beneficiary"], region=beneficiary)
    entry = engine.decide(doc).to_dict()["parameters"]["region_scope"]
    assert entry["value"] == "same_province"
    assert "The same release" not in entry["source"]["quote"]  # a verbatim sentence is the citation
    notes = [i["note"] for i in entry["inferences"]]
    assert any("OFFICIAL_SOURCES.md's own summary" in note for note in notes)
    assert any("as-of day" in note for note in notes)


def test_inferred_defaults_say_why_citing_the_seed() -> None:
    import yaml

    from tests.conftest import SHIPPED

    taiyuan = yaml.safe_load((SHIPPED / "cities" / "140100-taiyuan.yaml").read_text(encoding="utf-8"))
    switch = next(s for s in taiyuan["switches"] if s["id"] == "contribution_reading")
    note = switch["options"][switch["default"]]["source"]["note"]
    seed = (SHIPPED / "sources" / "001_b7f52e36b1dd2f22.txt").read_text(encoding="utf-8")
    cited = note.split("「", 1)[1].split("」", 1)[0]
    assert cited in seed and "default" in note  # 001's own sentence, verbatim, behind the default
    national = yaml.safe_load((SHIPPED / "national.yaml").read_text(encoding="utf-8"))
    scope = next(p for p in national["parameters"] if p["id"] == "relationship_scope")
    first = scope["versions"][0]["source"]
    assert "2021" in first["quote"] and "not who may be bound" in " ".join(first["note"].split())
