"""engine.core.catalog: the one declaration of every fact field, and what is derived from it."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from conftest import ROOT, binding
from engine.core import catalog
from engine.core.errors import FactError
from engine.core.load import SourceMap
from engine.core.validate import validate
from engine.runtime import facts


def test_the_committed_facts_schema_is_generated_from_the_catalog() -> None:
    committed = (ROOT / "schemas" / "facts.schema.json").read_text(encoding="utf-8")
    assert committed == catalog.schema_text(), "schemas/facts.schema.json is out of date: run `make facts-schema`"


def test_the_schema_command_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "facts.schema.json"
    assert catalog.main(["--check", str(target)]) == 1
    assert "make facts-schema" in capsys.readouterr().err
    assert catalog.main([str(target)]) == 0
    assert catalog.main(["--check", str(target)]) == 0
    assert json.loads(target.read_text(encoding="utf-8"))["properties"]["bound_members"]["maximum"] == 1000


def test_every_document_field_is_in_the_schema_with_its_requiredness() -> None:
    schema = catalog.facts_schema()
    for spec in catalog.DOCUMENT:
        node = schema
        for part in spec.parent.split(".") if spec.parent else []:
            node = node["properties"][part]
        assert spec.name in node["properties"], spec.path
        if spec.requests == catalog.BOTH or spec.parent:
            assert (spec.name in node.get("required", [])) == spec.required, spec.path
    assert schema["allOf"][0]["then"]["required"] == ["authorization", "expense"]


def test_rule_fields_and_document_fields() -> None:
    assert "authorizer.id" in catalog.DOC_BY_PATH and "authorizer.id" not in catalog.BY_PATH  # rules never see ids
    assert "authorizer.pool_code" in catalog.BY_PATH and "authorizer.pool_code" not in catalog.DOC_BY_PATH
    assert {f.path for f in catalog.CATALOG if f.pii} == {"authorizer.id", "beneficiary.id"}
    assert all(f.key for f in catalog.FIELDS) and len({f.key for f in catalog.FIELDS}) == len(catalog.FIELDS)


@pytest.mark.parametrize("request_type", ["binding", "payment"])
def test_generated_documents_are_valid(request_type: str) -> None:
    for seed in range(200):
        doc = catalog.generate(random.Random(seed), request_type)
        assert validate("facts", doc, SourceMap("")) == [], doc
        facts.normalize(doc)


def test_the_example_document_is_valid() -> None:
    for request_type in ("binding", "payment"):
        facts.normalize(catalog.example_document(request_type))


def test_a_new_field_is_one_catalog_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """An extra optional count, declared once, is in the schema, both normalizers and the generator."""
    visits = catalog.Field("expense.visits", "x_vis", catalog.INT, "就诊次数", "visits", catalog.PAYMENT,
                           nullable=True, required=False, low=1, high=9, gen=catalog.Gen(present=1.0))
    extended = (*catalog.CATALOG, visits)
    document = tuple(f for f in extended if not f.computed)
    for module in (catalog, facts):
        monkeypatch.setattr(module, "CATALOG", extended)
        monkeypatch.setattr(module, "DOCUMENT", document)
    monkeypatch.setattr(catalog, "DOC_BY_PATH", {f.path: f for f in document})
    monkeypatch.setattr(facts, "_ALLOWED", {p: facts._children(p) for p in [""] + [g.path for g in catalog.GROUPS]})
    monkeypatch.setattr(facts, "_FAST", facts._build_fast())

    assert catalog.facts_schema()["properties"]["expense"]["properties"]["visits"]["maximum"] == 9
    doc = catalog.generate(random.Random(1), "payment")
    assert doc["expense"]["visits"] in range(1, 10)
    assert facts.normalize(doc).base["x_vis"] == doc["expense"]["visits"]  # the fast path
    doc["expense"]["visits"] = 9.0  # a float count: the careful path
    assert facts.normalize(doc).base["x_vis_set"] is True
    doc["expense"]["visits"] = 10
    with pytest.raises(FactError):
        facts.normalize(doc)


def test_facts_of_a_binding_leave_out_payment_keys() -> None:
    base = facts.normalize(binding()).base
    assert set(base) == {f.key for f in catalog.FIELDS if "binding" in f.requests} | {
        f.set_key for f in catalog.FIELDS if f.nullable and "binding" in f.requests}
