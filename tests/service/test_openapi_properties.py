"""Property-based API tests generated from /openapi.json: every operation, no 5xx, and every
answer conforms to the schema the document declares for its status and media type.

Bodies are drawn from the operation's request schema (a small JSON Schema -> hypothesis
strategy translator below: hypothesis-jsonschema does not work with current hypothesis), mixed
with arbitrary JSON and mangled near-valid documents; query parameters from their schemas or
arbitrary text. The number of examples is bounded so the module runs in seconds.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core.load import load_file
from tests.conftest import ROOT
from tests.service.conftest import Server

EXAMPLES = 25
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))
SAFE_OPERATIONS = {"decide", "decideBatch", "explain", "rulesets", "matrix", "healthz", "readyz", "metrics"}


@pytest.fixture(scope="module")
def document(server: Server) -> dict[str, Any]:
    with server.client() as client:
        return client.get("/openapi.json").json()


def _generatable(schema: Any) -> Any:
    """The same schema with its lookahead end anchors as ``\\Z``, which the generator understands."""
    if isinstance(schema, dict):
        out = {k: _generatable(v) for k, v in schema.items() if not k.startswith("x-") and k != "examples"}
        if isinstance(out.get("pattern"), str):
            out["pattern"] = out["pattern"].replace("(?![\\s\\S])", "\\Z")
        return out
    if isinstance(schema, list):
        return [_generatable(v) for v in schema]
    return schema


def from_schema(schema: Any) -> st.SearchStrategy[Any]:
    """Values of a JSON Schema (the keywords our schemas use; ``allOf`` conditions are not
    enforced, so some drawn documents are invalid on purpose: they must get a 4xx)."""
    if schema is True or schema == {}:
        return st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    if "anyOf" in schema or "oneOf" in schema:
        return st.one_of([from_schema(s) for s in schema.get("anyOf") or schema["oneOf"]])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([from_schema({**schema, "type": k}) for k in kind])
    if kind == "string":
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        return st.text(min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 16), 16))
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        return st.decimals(schema.get("minimum"), schema.get("maximum"), places=2, allow_nan=False,
                           allow_infinity=False).map(float)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {})), max_size=3)
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        fixed = {k: from_schema(v) for k, v in properties.items() if k in required}
        optional = {k: from_schema(v) for k, v in properties.items() if k not in required}
        extra = schema.get("additionalProperties", True)
        objects = st.fixed_dictionaries(fixed, optional=optional)
        if extra is not False and not properties:
            return st.dictionaries(st.text(max_size=6), from_schema(extra if extra is not True else {}), max_size=3)
        return objects
    return st.none() | st.integers() | st.text(max_size=8)


def _check_conforms(document: dict[str, Any], path: str, method: str, response: httpx.Response) -> None:
    assert response.status_code < 500, (path, response.status_code, response.text[:500])
    declared = document["paths"][path][method]["responses"]
    assert str(response.status_code) in declared, (path, response.status_code, response.text[:300])
    content = declared[str(response.status_code)].get("content", {})
    media = response.headers.get("content-type", "").split(";")[0]
    assert media in content, (path, response.status_code, media)
    spec = content[media]
    if media == "application/json":
        schema = {**spec["schema"], "components": document["components"]}
        jsonschema.Draft202012Validator(schema).validate(response.json())
    elif media == "application/x-ndjson":
        schema = {**spec["itemSchema"], "components": document["components"]}
        validator = jsonschema.Draft202012Validator(schema)
        for line in response.content.splitlines():
            validator.validate(json.loads(line))


def _query(operation: dict[str, Any]) -> st.SearchStrategy[dict[str, str]]:
    parts = {}
    for parameter in operation.get("parameters", []):
        schema = _generatable(parameter["schema"])
        value = st.one_of(from_schema(schema), st.text(max_size=12))
        parts[parameter["name"]] = value if parameter.get("required") else st.one_of(st.none(), value)
    return st.fixed_dictionaries(parts).map(lambda q: {k: v for k, v in q.items() if v is not None})


def _example(name: str) -> dict[str, Any]:
    return load_file(ROOT / "examples" / name).data


def _bodies(document: dict[str, Any]) -> st.SearchStrategy[Any]:
    facts = _generatable(document["components"]["schemas"]["Facts"])
    valid = st.sampled_from(["chuzhou-binding.yaml", "taiyuan-payment.yaml", "yichun-payment.yaml",
                             "baoding-binding.yaml"]).map(_example)
    mangled = st.tuples(valid, st.sampled_from(["as_of", "bound_members", "relationship", "city", "switches",
                                                "authorizer", "expense"]),
                        st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                                         st.text(max_size=5), inner, max_size=3), max_leaves=5)
                        ).map(lambda t: {**t[0], t[1]: t[2]})
    return st.one_of(from_schema(facts), valid, mangled, st.from_type(type(None)),
                     st.dictionaries(st.text(max_size=8), st.integers(), max_size=3))


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in document["paths"].items() for method, op in item.items()]


def test_document_covers_every_route_and_uses_the_schema_files(document: dict[str, Any]) -> None:
    ids = {op["operationId"] for _, _, op in _operations(document)}
    assert ids == SAFE_OPERATIONS | {"reload"}
    schemas = document["components"]["schemas"]
    facts = json.loads((ROOT / "schemas" / "facts.schema.json").read_text(encoding="utf-8"))
    assert schemas["Facts"]["properties"] == facts["properties"]
    jsonschema.Draft202012Validator.check_schema({**schemas["Decision"], "components": document["components"]})


@pytest.mark.parametrize("operation_id", sorted(SAFE_OPERATIONS))
def test_operation_never_5xx_and_conforms(server: Server, document: dict[str, Any], operation_id: str) -> None:
    (path, method, operation), = [o for o in _operations(document) if o[2]["operationId"] == operation_id]
    client = server.client()

    @SETTINGS
    @given(query=_query(operation), body=_bodies(document))
    def check(query: dict[str, str], body: Any) -> None:
        if method == "get":
            response = client.get(path, params=query)
        elif operation_id == "decideBatch":
            lines = "\n".join(json.dumps(b, default=str) for b in (body, body)) + "\n"
            response = client.post(path, params=query, content=lines.encode(),
                                   headers={"content-type": "application/x-ndjson"})
        else:
            response = client.post(path, params=query, content=json.dumps(body, default=str).encode(),
                                   headers={"content-type": "application/json"})
        _check_conforms(document, path, method, response)

    try:
        check()
    finally:
        client.close()


def test_reload_answer_conforms(server: Server, document: dict[str, Any]) -> None:
    with server.client() as client:
        response = client.post("/v1/admin/reload")
        assert response.status_code == 200 and response.json()["reloaded"] is True
        _check_conforms(document, "/v1/admin/reload", "post", response)
