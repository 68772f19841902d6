"""A yes/no JSON Schema check compiled to closures: the fast path of :mod:`engine.core.validate`.

Valid input is the common case (every load of the shipped rulesets), and jsonschema spends most of
a load on it: importing itself, then building error generators nobody reads.  This module compiles
a schema once into nested closures that answer only "valid?", with no error objects.  When it
answers no, :func:`engine.core.validate.validate` runs jsonschema, the reference, for the issues;
so a wrong "no" would cost time, never a message.  A wrong "yes" would let an invalid file
through: ``tests/unit/test_schemacheck.py`` compares the answers with jsonschema's on the shipped
files and on schema-shaped mutants of them.

Only the keywords the project's schemas use are implemented; a schema with any other keyword is
refused (:class:`Unsupported`) and validated by jsonschema alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

ANNOTATIONS = frozenset({"$id", "$schema", "$defs", "$comment", "title", "description", "examples", "default"})


class Unsupported(ValueError):
    """The schema uses a keyword this checker does not implement."""


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and (isinstance(value, (int, float)) or type(value).__name__ == "Decimal")


TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    # as jsonschema's draft 6+ checker: an int, or a float with no fraction (a Decimal is not one)
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
    "number": _is_number,
}


def same(one: Any, two: Any) -> bool:
    """JSON equality: ``true`` is not ``1``, ``1`` is ``1.0``; lists and objects compared deeply."""
    if isinstance(one, bool) or isinstance(two, bool):
        return isinstance(one, bool) and isinstance(two, bool) and one == two
    if isinstance(one, str) or isinstance(two, str):
        return one == two
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(same(a, b) for a, b in zip(one, two))
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(same(value, two[key]) for key, value in one.items())
    if isinstance(one, (list, dict)) or isinstance(two, (list, dict)):
        return False
    return bool(one == two)


class Compiler:
    """Compiles one schema document; ``$ref`` targets (``#/$defs/NAME``) once each, lazily."""

    def __init__(self, root: dict[str, Any]):
        self.root = root
        self.refs: dict[str, Check] = {}

    def ref(self, target: str) -> Check:
        if not target.startswith("#/"):
            raise Unsupported(f"$ref {target!r}")
        if target not in self.refs:
            node: Any = self.root
            for token in target[2:].split("/"):
                token = token.replace("~1", "/").replace("~0", "~")
                if not isinstance(node, dict) or token not in node:
                    raise Unsupported(f"$ref {target!r} points nowhere")
                node = node[token]
            slot: list[Check] = []
            self.refs[target] = lambda value: slot[0](value)  # recursive schemas refer to themselves
            slot.append(self.compile(node))
        return self.refs[target]

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return lambda value: True
        if schema is False:
            return lambda value: False
        if not isinstance(schema, dict):
            raise Unsupported(f"schema {schema!r}")
        checks: list[Check] = []
        unknown = [k for k in schema if k not in ANNOTATIONS and not k.startswith("x-") and k not in KEYWORDS]
        if unknown:
            raise Unsupported(f"keywords {unknown}")
        if "type" in schema:
            names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            tests = [TYPES[name] for name in names]
            checks.append(tests[0] if len(tests) == 1 else (lambda v: any(t(v) for t in tests)))
        if "enum" in schema:
            options = list(schema["enum"])
            hashable = [o for o in options if isinstance(o, str)]
            if len(hashable) == len(options):  # all strings: a set lookup
                allowed = frozenset(hashable)
                checks.append(lambda v: isinstance(v, str) and v in allowed)
            else:
                checks.append(lambda v: any(same(v, o) for o in options))
        if "const" in schema:
            constant = schema["const"]
            checks.append(lambda v: same(v, constant))
        if "$ref" in schema:
            checks.append(self.ref(schema["$ref"]))
        for keyword in ("allOf", "anyOf", "oneOf"):
            if keyword in schema:
                parts = [self.compile(s) for s in schema[keyword]]
                checks.append(_combine(keyword, parts))
        if "not" in schema:
            inner = self.compile(schema["not"])
            checks.append(lambda v: not inner(v))
        if "if" in schema:
            condition = self.compile(schema["if"])
            then = self.compile(schema.get("then", True))
            otherwise = self.compile(schema.get("else", True))
            checks.append(lambda v: then(v) if condition(v) else otherwise(v))
        checks += self._string(schema) + self._number(schema) + self._array(schema) + self._object(schema)
        if not checks:
            return lambda value: True
        if len(checks) == 1:
            return checks[0]
        return lambda value: all(check(value) for check in checks)

    @staticmethod
    def _string(schema: dict[str, Any]) -> list[Check]:
        out: list[Check] = []
        if "pattern" in schema:
            search = re.compile(schema["pattern"]).search
            out.append(lambda v: not isinstance(v, str) or search(v) is not None)
        return out + _bounds(schema, "minLength", "maxLength", TYPES["string"], len)

    @staticmethod
    def _number(schema: dict[str, Any]) -> list[Check]:
        return _bounds(schema, "minimum", "maximum", _is_number, lambda v: v)

    def _array(self, schema: dict[str, Any]) -> list[Check]:
        out: list[Check] = []
        if "items" in schema:
            item = self.compile(schema["items"])
            out.append(lambda v: not isinstance(v, list) or all(item(x) for x in v))
        out += _bounds(schema, "minItems", "maxItems", TYPES["array"], len)
        if schema.get("uniqueItems"):
            out.append(lambda v: not isinstance(v, list) or all(
                not same(v[i], v[j]) for i in range(len(v)) for j in range(i + 1, len(v))))
        return out

    def _object(self, schema: dict[str, Any]) -> list[Check]:
        out: list[Check] = []
        properties = {key: self.compile(sub) for key, sub in schema.get("properties", {}).items()}
        extra = schema.get("additionalProperties", True)
        others = None if extra is True else self.compile(extra)
        if properties or others is not None:
            def members(v: Any) -> bool:
                if not isinstance(v, dict):
                    return True
                for key, value in v.items():
                    check = properties.get(key, others)
                    if check is not None and not check(value):
                        return False
                return True
            out.append(members)
        required = tuple(schema.get("required", ()))
        if required:
            out.append(lambda v: not isinstance(v, dict) or all(key in v for key in required))
        dependent = {key: tuple(needs) for key, needs in schema.get("dependentRequired", {}).items()}
        if dependent:
            out.append(lambda v: not isinstance(v, dict) or all(
                all(n in v for n in needs) for key, needs in dependent.items() if key in v))
        out += _bounds(schema, "minProperties", "maxProperties", TYPES["object"], len)
        if "propertyNames" in schema:
            name = self.compile(schema["propertyNames"])
            out.append(lambda v: not isinstance(v, dict) or all(name(key) for key in v))
        return out


def _bounds(schema: dict[str, Any], low_key: str, high_key: str, applies: Check,
            measure: Callable[[Any], Any]) -> list[Check]:
    """``minLength``/``maxLength`` and their kin: bounds on a measure of the values of one type."""
    low, high = schema.get(low_key), schema.get(high_key)
    if low is None and high is None:
        return []
    return [lambda v: not applies(v) or ((low is None or measure(v) >= low) and (high is None or measure(v) <= high))]


def _combine(keyword: str, parts: list[Check]) -> Check:
    if keyword == "allOf":
        return lambda v: all(p(v) for p in parts)
    if keyword == "anyOf":
        return lambda v: any(p(v) for p in parts)
    return lambda v: sum(1 for p in parts if p(v)) == 1  # oneOf: exactly one


KEYWORDS = frozenset({"type", "enum", "const", "$ref", "allOf", "anyOf", "oneOf", "not", "if", "then", "else",
                      "pattern", "minLength", "maxLength", "minimum", "maximum", "items", "minItems", "maxItems",
                      "uniqueItems", "properties", "additionalProperties", "required", "dependentRequired",
                      "minProperties", "maxProperties", "propertyNames"})


def compile_schema(schema: dict[str, Any]) -> Check:
    """The yes/no check of ``schema`` (raises :class:`Unsupported` for a keyword not implemented)."""
    return Compiler(schema).compile(schema)
