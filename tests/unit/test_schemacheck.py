"""engine.core.schemacheck: the yes/no fast path of validation answers as jsonschema does.

A wrong "no" would only cost time (jsonschema then runs and finds nothing), but a wrong "yes"
would let an invalid file through, so every comparison here is with jsonschema, the reference:
keyword by keyword on small schemas, then on the rulesets (the engine tests' snapshot) and on a few hundred mutants of
them (the ruleset fuzzer's mutations) and of fact documents (the fact fuzzer's)."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from engine import Engine
from engine.core import validate as validation
from engine.core.load import SourceMap, load_file, load_yaml_text
from engine.core.schemacheck import Unsupported, compile_schema, same
from engine.runtime.facts import _jsonable
from tests.conftest import RULESETS

ROOT = Path(__file__).resolve().parents[2]
SEED = 20261201


def _reference(schema: dict[str, Any], data: Any) -> bool:
    return not any(True for _ in jsonschema.Draft202012Validator(schema).iter_errors(data))


SMALL: list[tuple[dict[str, Any], list[Any]]] = [
    ({"type": "integer"}, [1, True, 1.0, Decimal(1), "1", None, 2**70]),
    ({"type": "number"}, [1, True, Decimal("1.5"), 1.5, "1", None]),
    ({"type": ["string", "null"]}, ["", None, 0, False]),
    ({"enum": [1, "a", None]}, [1, True, Decimal(1), "a", None, False, "b"]),
    ({"enum": ["x", "y"]}, ["x", "z", 1, None]),
    ({"const": True}, [True, 1, 1.0, False]),
    ({"const": [1, {"a": False}]}, [[1, {"a": False}], [True, {"a": False}], [1, {"a": 0}], [1]]),
    ({"uniqueItems": True}, [[1, True], [1, 1.0], ["a", "a"], [[1], [True]], [{"a": 1}, {"a": 1}], "aa"]),
    ({"oneOf": [{"type": "integer"}, {"minimum": 0}]}, [-1, 1, Decimal("0.5"), "x"]),
    ({"anyOf": [{"type": "string"}, {"type": "null"}]}, ["", None, 0]),
    ({"allOf": [{"minLength": 2}, {"maxLength": 3}]}, ["a", "ab", "abcd", 5]),
    ({"not": {"type": "string"}}, ["a", 1]),
    ({"if": {"required": ["a"]}, "then": {"required": ["b"]}, "else": {"maxProperties": 0}},
     [{"a": 1}, {"a": 1, "b": 2}, {}, {"c": 1}, []]),
    ({"dependentRequired": {"a": ["b", "c"]}}, [{"a": 1, "b": 1}, {"a": 1, "b": 1, "c": 1}, {"b": 1}, "a"]),
    ({"propertyNames": {"pattern": "^[a-z]+$"}, "minProperties": 1}, [{"ab": 1}, {"Ab": 1}, {}, [1]]),
    ({"properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "integer"}, "required": ["a"]},
     [{"a": "x"}, {"a": 1}, {"a": "x", "b": 2}, {"a": "x", "b": "y"}, {"b": 2}]),
    ({"additionalProperties": False, "properties": {"a": True}}, [{"a": 1}, {"b": 1}, {}]),
    ({"items": {"type": "string"}, "minItems": 1, "maxItems": 2}, [[], ["a"], ["a", 1], ["a", "b", "c"], {}]),
    ({"pattern": "^(national|[0-9]{6})(?![\\s\\S])"}, ["national", "341100", "341100\n", "34110", 341100]),
    ({"minimum": 0, "maximum": 10}, [-1, 0, 10, Decimal("10.5"), True, "5"]),
    ({"$defs": {"n": {"type": "array", "items": {"$ref": "#/$defs/n"}}}, "$ref": "#/$defs/n"},
     [[], [[[]]], [[1]], 1]),
]


@pytest.mark.parametrize(("schema", "values"), SMALL, ids=lambda x: json.dumps(x, default=str)[:40])
def test_each_keyword_answers_as_jsonschema(schema: dict[str, Any], values: list[Any]) -> None:
    check = compile_schema(schema)
    for value in values:
        assert check(value) == _reference(schema, value), value


def test_json_equality_keeps_booleans_apart_from_numbers() -> None:
    assert same(1, Decimal("1.0")) and same([1, {"a": "x"}], [1.0, {"a": "x"}])
    assert not same(True, 1) and not same(0, False) and not same("1", 1) and not same([1], {"0": 1})


def test_a_keyword_it_does_not_implement_leaves_the_schema_to_jsonschema(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(Unsupported, match="contains"):
        compile_schema({"type": "array", "contains": {"const": 1}})
    with pytest.raises(Unsupported, match="points nowhere"):
        compile_schema({"$ref": "#/$defs/missing"})
    schema = {"type": "array", "contains": {"const": 1}}
    monkeypatch.setattr(validation, "schema", lambda name: schema)
    validation.fast_check.cache_clear()
    try:
        assert validation.fast_check("x") is None
        assert validation.validate("x", [2], SourceMap(file="f"))  # jsonschema alone still finds the problem
        assert validation.validate("x", [1], SourceMap(file="f")) == []
    finally:
        validation.fast_check.cache_clear()


def _corpus() -> list[tuple[str, Any]]:
    out = []
    for path in sorted(RULESETS.rglob("*.yaml")):
        out.append(("test" if path.name.endswith(".test.yaml") else "ruleset", load_file(path).data))
    engine = Engine.load(RULESETS)
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        facts = load_file(path).data
        out.append(("facts", _jsonable(facts, "", 0)[0]))
        out.append(("decision", json.loads(engine.decide(facts).to_json())))
    return out


def test_the_ruleset_files_examples_and_decisions_pass_both() -> None:
    cases = _corpus()
    assert {name for name, _ in cases} == {"ruleset", "test", "facts", "decision"}
    for name, data in cases:
        assert validation.fast_check(name) is not None, f"{name}: the fast path is not used"
        assert validation.fast_check(name)(data) and _reference(validation.schema(name), data), name


def test_ruleset_mutants_answer_as_jsonschema() -> None:
    from tests.fuzz import test_ruleset_mutants as mutants

    rng = random.Random(SEED)
    check, reference = validation.fast_check("ruleset"), validation.validator("ruleset")
    answers = []
    for _ in range(300):
        mutation = mutants._random_mutation(rng)
        data = load_yaml_text(mutants.mutate(mutation), mutation.file).data
        if data is None:  # refused by the loader (an alias bomb, too deep): never validated
            continue
        fast = check(data)
        assert fast == (not any(True for _ in reference.iter_errors(data))), mutation.describe()
        answers.append(fast)
    assert len(answers) > 200 and True in answers and False in answers


def test_fact_document_mutants_answer_as_jsonschema(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "tests" / "fuzz"))  # the harness imports its sibling guard.py
    import fact_fuzz

    rng = random.Random(SEED)
    check, reference = validation.fast_check("facts"), validation.validator("facts")
    answers = []
    for _ in range(1500):
        document = fact_fuzz.valid_document(rng)
        if rng.random() < 0.8:
            document = fact_fuzz.mutate(document, rng)
        data = _jsonable(document, "", 0)[0]
        try:
            fast = check(data)
        except RecursionError:  # validate() then asks jsonschema; nothing to compare
            continue
        assert fast == (not any(True for _ in reference.iter_errors(data))), data
        answers.append(fast)
    assert len(answers) > 1000 and True in answers and False in answers
