"""JSON Schema validation that reports ALL errors, each as an Issue with a stable code.

``jsonschema`` is the reference validator and error reporter; valid data never needs it (nor its
import): :mod:`engine.core.schemacheck` answers "valid?" first, several times faster.  Each raw error is turned into
one readable issue: unknown keys get "did you mean", ``oneOf`` failures descend to the most
relevant branch (``best_match``), and a subschema's ``x-error`` names the stable code
(``invalid_date``, ``invalid_region_code``, ``unknown_operator`` ...).
"""

from __future__ import annotations

import difflib
import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Iterable

if TYPE_CHECKING:  # jsonschema is imported on first validation: a cached load or a valid fact never needs it
    import jsonschema
    from jsonschema.exceptions import ValidationError

from .errors import Issue
from .load import SourceMap, join_pointer
from .schemacheck import Check, Unsupported, compile_schema

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


@cache
def schema(name: str) -> dict[str, Any]:
    """Load ``schemas/<name>.schema.json``."""
    with open(SCHEMA_DIR / f"{name}.schema.json", encoding="utf-8") as handle:
        return json.load(handle)


@cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    import jsonschema

    return jsonschema.Draft202012Validator(schema(name))


@cache
def fast_check(name: str) -> Check | None:
    """The compiled yes/no check of a schema (None: it uses a keyword only jsonschema knows)."""
    try:
        return compile_schema(schema(name))
    except Unsupported:
        return None


def did_you_mean(word: Any, choices: Iterable[Any]) -> str:
    choices = list(choices)
    for choice in choices:
        if str(choice) == str(word) and type(choice) is not type(word):
            return f"write {choice!r} without quotes" if isinstance(word, str) else f"write {str(choice)!r} in quotes"
    options = [str(c) for c in choices]
    close = difflib.get_close_matches(str(word), options, n=1, cutoff=0.6)
    if not close:
        lowered = {o.lower(): o for o in options}
        if str(word).lower() in lowered:
            close = [lowered[str(word).lower()]]
    return f"did you mean {close[0]!r}?" if close else ""


def _pointer(path: Iterable[Any]) -> str:
    pointer = ""
    for token in path:
        pointer = join_pointer(pointer, token)
    return pointer


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)) or type(value).__name__ == "Decimal":
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _x_error(error: ValidationError) -> str | None:
    return _x(error, "x-error")


def _x(error: ValidationError, key: str) -> str | None:
    """A custom keyword on the failing schema, else on the oneOf/anyOf we descended from."""
    if isinstance(error.schema, dict) and key in error.schema:
        return str(error.schema[key])
    inherited = error.__dict__.get("_inherited") or {}
    return str(inherited[key]) if key in inherited else None


def _leaf(error: ValidationError) -> ValidationError:
    """For oneOf/anyOf errors descend into the branch meant for this kind of value.

    Branches that fail at their top on ``type`` (a mapping offered to the boolean branch of a
    condition, text offered to the null branch of an optional date) were not meant; among the
    others, ``best_match`` picks the error that got furthest."""
    inherited: dict[str, Any] = {}
    while error.validator in ("oneOf", "anyOf") and error.context:
        if isinstance(error.schema, dict):
            for key in ("x-error", "x-expected"):
                if key in error.schema:
                    inherited[key] = error.schema[key]
        by_branch: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            by_branch.setdefault(sub.schema_path[0] if sub.schema_path else None, []).append(sub)
        meant = [sub for branch in by_branch.values()
                 if not any(s.validator == "type" and not s.relative_path for s in branch) for sub in branch]
        if not meant:
            break
        from jsonschema.exceptions import best_match

        deeper = best_match(meant)
        if deeper is None or deeper is error:
            break
        error = deeper
    if inherited:
        error.__dict__.setdefault("_inherited", inherited)
    return error


def _schema_at(root: Any, path: Iterable[Any]) -> Any:
    node = root
    for token in path:
        try:
            node = node[token]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _expected(error: ValidationError) -> str | None:
    return _x(error, "x-expected")


STRUCTURAL_KEYS = ("all", "any", "not", "fact", "derived", "param")
OPERATOR_ALIASES = {"gte": "ge", "lte": "le", "neq": "ne", "equals": "eq", "==": "eq", "!=": "ne",
                    "<": "lt", "<=": "le", ">": "gt", ">=": "ge", "$gte": "ge", "$lte": "le", "$gt": "gt",
                    "$lt": "lt", "$eq": "eq", "$neq": "ne", "nin": "not_in", "notin": "not_in",
                    "exists": "present", "$in": "in", "$nin": "not_in"}


def _property_name_issue(leaf: ValidationError, smap: SourceMap, root_schema: Any) -> list[Issue] | None:
    """A key refused by ``propertyNames``: report it at the key, with the owning schema's code."""
    path = list(leaf.schema_path)
    if "propertyNames" not in path:
        return None
    cut = len(path) - 1 - path[::-1].index("propertyNames")
    if leaf.parent is not None and isinstance(leaf.parent.schema, dict):
        owner = _schema_at(leaf.parent.schema.get(leaf.parent.validator), path[:cut])  # inside oneOf/anyOf
    else:
        owner = _schema_at(root_schema, path[:cut]) if root_schema is not None else None
    code = owner.get("x-error", "unknown_field") if isinstance(owner, dict) else "unknown_field"
    key = leaf.instance
    allowed = list(leaf.validator_value) if leaf.validator == "enum" else []
    if code == "unknown_operator":
        allowed = [k for k in allowed if k not in STRUCTURAL_KEYS]
    what = {"unknown_operator": "operator", "unknown_function": "function"}.get(code, "field")
    hint = f"did you mean {OPERATOR_ALIASES[key]!r}?" if code == "unknown_operator" and key in OPERATOR_ALIASES \
        else did_you_mean(key, allowed)
    pointer = join_pointer(_pointer(leaf.absolute_path), key)
    article = "an" if what[0] in "aeiou" else "a"
    return [Issue(code, f"{key!r} is not {article} {what}", smap.location(pointer, at_key=True),
                  expected=f"one of {allowed}" if allowed else None, found=key, hint=hint)]


def _issues_for(error: ValidationError, smap: SourceMap, root_schema: Any = None, document: Any = None) -> list[Issue]:
    leaf = _leaf(error)
    named = _property_name_issue(leaf, smap, root_schema)
    if named is not None:
        return named
    pointer = _pointer(leaf.absolute_path)
    found = leaf.instance
    validator_name = leaf.validator
    code = _x_error(leaf)
    if validator_name == "required":
        missing = leaf.message.split("'")[1] if "'" in leaf.message else str(leaf.validator_value)
        return [Issue("missing_field", f"required field {missing!r} is missing", smap.location(pointer),
                      expected=missing)]
    if validator_name == "additionalProperties" and isinstance(found, dict):
        allowed = list((leaf.schema.get("properties") or {}).keys())
        extras = [k for k in found if k not in allowed and not any(
            __import__("re").search(p, str(k)) for p in (leaf.schema.get("patternProperties") or {}))]
        return [Issue("unknown_field", f"unknown field {key!r}", smap.location(join_pointer(pointer, key), at_key=True),
                      expected=f"one of {allowed}", found=key, hint=did_you_mean(key, allowed) or (
                          "a comma inside {...} ends the value: quote text that contains commas"
                          if " " in str(key) else ""))
                for key in extras]
    if validator_name == "propertyNames":
        allowed = (leaf.validator_value or {}).get("enum") if isinstance(leaf.validator_value, dict) else None
        bad = leaf.instance
        owner = pointer
        if allowed is not None:
            bad_keys = [k for k in (leaf.instance if isinstance(leaf.instance, dict) else [bad]) if k not in allowed]
            code = code or "unknown_field"
            what = {"unknown_operator": "operator", "unknown_function": "function"}.get(code, "field")
            return [Issue(code, f"{key!r} is not a{'n' if what[0] in 'aeiou' else ''} {what}",
                          smap.location(join_pointer(owner, key), at_key=True), expected=f"one of {allowed}",
                          found=key, hint=did_you_mean(key, allowed)) for key in bad_keys] or [
                Issue(code, leaf.message, smap.location(owner))]
    if validator_name in ("false", None) or leaf.schema is False:
        # A property whose schema is `false`: jsonschema reports it at the object, so find the key.
        parent = _schema_at(root_schema, list(leaf.schema_path)[:-1]) if root_schema is not None else None
        container = _schema_at(document, list(leaf.absolute_path))
        found_keys: list[Any] = []
        if isinstance(parent, dict) and isinstance(parent.get("properties"), dict) and isinstance(container, dict):
            found_keys = [k for k, v in parent["properties"].items() if v is False and k in container]
        return [Issue("unknown_field", f"field {key!r} is not allowed here"
                      + (f": {parent['x-because']}" if isinstance(parent, dict) and parent.get("x-because") else ""),
                      smap.location(join_pointer(pointer, key), at_key=True), found=key) for key in found_keys] or [
            Issue("unknown_field", "a field is not allowed here", smap.location(pointer))]
    if validator_name == "type":
        expected = leaf.validator_value
        expected_text = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return [Issue(code if code and code.startswith("invalid_") else "wrong_type",
                      f"wrong type: {_type_name(found)} where {expected_text} is expected",
                      smap.location(pointer), expected=expected_text, found=_show(found))]
    if validator_name in ("enum", "const"):
        options = leaf.validator_value if validator_name == "enum" else [leaf.validator_value]
        return [Issue(code or "invalid_value", f"{found!r} is not allowed here", smap.location(pointer),
                      expected=f"one of {options}", found=_show(found), hint=did_you_mean(found, options))]
    if validator_name == "pattern":
        code = code or "invalid_value"
        described = _expected(leaf) or f"text matching {leaf.validator_value}"
        return [Issue(code, f"{found!r} is not {described}", smap.location(pointer),
                      expected=described, found=_show(found))]
    if validator_name in ("minItems", "maxItems", "minProperties", "maxProperties", "minLength", "maxLength",
                          "minimum", "maximum", "uniqueItems", "exclusiveMinimum", "exclusiveMaximum"):
        return [Issue(code if code and code.startswith("invalid_") else "invalid_value", leaf.message,
                      smap.location(pointer), expected=f"{validator_name} {leaf.validator_value}",
                      found=_show(found))]
    if validator_name == "dependentRequired":
        return [Issue("missing_field", leaf.message, smap.location(pointer))]
    if validator_name in ("oneOf", "anyOf"):
        described = leaf.schema.get("description", "")
        return [Issue(code or "invalid_structure",
                      f"{_type_name(found)} does not have an accepted shape" + (f": {described}" if described else ""),
                      smap.location(pointer), found=_show(found))]
    return [Issue(code or "schema_violation", leaf.message, smap.location(pointer))]


def _show(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, default=str)
        return text if len(text) <= 80 else text[:77] + "..."
    if type(value).__name__ == "Decimal":
        return str(value)
    return value


def validate(name: str, data: Any, smap: SourceMap) -> list[Issue]:
    """Validate ``data`` against ``schemas/<name>.schema.json``; every problem as an Issue."""
    check = fast_check(name)
    if check is not None:
        try:
            if check(data):
                return []
        except RecursionError:  # deeper than the loaders allow: jsonschema says what is wrong
            pass
    issues: list[Issue] = []
    for error in validator(name).iter_errors(data):
        issues.extend(_issues_for(error, smap, schema(name), data))
    return issues
