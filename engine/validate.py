"""JSON Schema validation that reports ALL errors, each as an Issue with a stable code.

``jsonschema`` is the reference validator and error reporter.  Each raw error is turned into
one readable issue: unknown keys get "did you mean", ``oneOf`` failures descend to the most
relevant branch (``best_match``), and a subschema's ``x-error`` names the stable code
(``invalid_date``, ``invalid_region_code``, ``unknown_operator`` ...).
"""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from .errors import Issue
from .load import SourceMap, join_pointer

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


@lru_cache(maxsize=None)
def schema(name: str) -> dict[str, Any]:
    """Load ``schemas/<name>.schema.json``."""
    with open(SCHEMA_DIR / f"{name}.schema.json", encoding="utf-8") as handle:
        return json.load(handle)


@lru_cache(maxsize=None)
def validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema(name))


def did_you_mean(word: str, choices: Iterable[Any]) -> str:
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
    for candidate in (error.schema, *(getattr(error, "parent_schemas", ()) or ())):
        if isinstance(candidate, dict) and "x-error" in candidate:
            return str(candidate["x-error"])
    return None


def _leaf(error: ValidationError) -> ValidationError:
    """For oneOf/anyOf errors pick the branch that got furthest."""
    while error.validator in ("oneOf", "anyOf") and error.context:
        deeper = best_match(error.context)
        if deeper is None or deeper is error:
            break
        # stay on the composite when every branch fails at the top with a type mismatch
        if deeper.validator == "type" and not deeper.relative_path:
            break
        error = deeper
    return error


def _issues_for(error: ValidationError, smap: SourceMap) -> list[Issue]:
    leaf = _leaf(error)
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
    if validator_name == "false" or (leaf.schema is False):
        return [Issue("unknown_field", f"field {pointer.rsplit('/', 1)[-1]!r} is not allowed here",
                      smap.location(pointer, at_key=True), found=pointer.rsplit("/", 1)[-1])]
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
        described = leaf.schema.get("description") or f"text matching {leaf.validator_value}"
        return [Issue(code, f"{found!r} is not {_article(described)}", smap.location(pointer),
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


def _article(text: str) -> str:
    return text if text[:2].lower() in ("a ", "an") else f"a valid {text}" if not text.startswith(("ISO", "6-")) else f"an {text}" if text.startswith("ISO") else f"a {text}"


def _show(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, default=str)
        return text if len(text) <= 80 else text[:77] + "..."
    if type(value).__name__ == "Decimal":
        return str(value)
    return value


def validate(name: str, data: Any, smap: SourceMap) -> list[Issue]:
    """Validate ``data`` against ``schemas/<name>.schema.json``; every problem as an Issue."""
    issues: list[Issue] = []
    for error in validator(name).iter_errors(data):
        issues.extend(_issues_for(error, smap))
    return issues
